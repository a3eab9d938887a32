#include "bpf/bpf_event_source.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "bpf/map_decode.h"

namespace sw {

BpfEventSource::BpfEventSource(SchedObserverBpf bpf, std::string proc_root)
    : bpf_(std::move(bpf)), proc_root_(std::move(proc_root)) {
  int n = libbpf_num_possible_cpus();
  ncpus_ = n > 0 ? n : 1;
}

Result<RawEvents> BpfEventSource::Read() {
  if (!bpf_.loaded()) return Error{EINVAL, "BPF event source read before the programs were loaded"};
  RawEvents out;
  if (auto r = ReadWorkloads(out); !r.ok()) return r.error();
  if (auto r = ReadPreemptions(out); !r.ok()) return r.error();
  if (auto r = ReadDrops(out); !r.ok()) return r.error();
  if (auto r = ReadPrograms(out); !r.ok()) return r.error();
  Result<bool> stats = ReadBpfStatsEnabled(proc_root_);
  if (!stats.ok()) return stats.error();
  // The sysctl does not show a BPF_ENABLE_STATS reference: ours counts too.
  out.bpf_stats_enabled = *stats || bpf_.holds_bpf_stats();
  return out;
}

Result<void> BpfEventSource::ReadWorkloads(RawEvents& out) {
  int fd = bpf_.workload_map_fd();
  bool percpu = bpf_.workload_map_kind() == WorkloadMapKind::kPerCpu;
  size_t stride = PerCpuStride(sizeof(sw_workload_stats));
  std::vector<unsigned char> buf(percpu ? stride * ncpus_ : sizeof(sw_workload_stats));
  __u64 key = 0, next = 0;
  const void* prev = nullptr;
  // Entries deleted concurrently (Forget) simply end or restart the walk at the next key.
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, buf.data()) != 0) {
      if (errno == ENOENT) continue;
      return Error::FromErrno(errno, "reading BPF map workloads");
    }
    sw_workload_stats v;
    if (percpu)
      v = SumPerCpuWorkloadStats(buf.data(), ncpus_, stride);
    else
      std::memcpy(&v, buf.data(), sizeof(v));
    out.workloads[key] = DecodeWorkloadStats(v);
  }
  return Ok();
}

Result<void> BpfEventSource::ReadPreemptions(RawEvents& out) {
  int fd = bpf_.preempt_map_fd();
  sw_preempt_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    __u64 count = 0;
    if (bpf_map_lookup_elem(fd, &key, &count) != 0) {
      if (errno == ENOENT) continue;
      return Error::FromErrno(errno, "reading BPF map preemptions");
    }
    out.preemptions[{key.victim_cgid, key.aggressor_cgid}] = count;
  }
  return Ok();
}

Result<void> BpfEventSource::ReadDrops(RawEvents& out) {
  int fd = bpf_.drops_map_fd();
  size_t stride = PerCpuStride(sizeof(__u64));
  std::vector<unsigned char> buf(stride * ncpus_);
  for (__u32 i = 0; i < SW_NR_DROPS; i++) {
    if (bpf_map_lookup_elem(fd, &i, buf.data()) != 0)
      return Error::FromErrno(errno, "reading BPF map drops");
    out.dropped[i] = SumPerCpuU64(buf.data(), ncpus_, stride);
  }
  return Ok();
}

Result<void> BpfEventSource::ReadPrograms(RawEvents& out) {
  for (const LoadedProgram& p : bpf_.programs()) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(p.fd, &info, &len) != 0)
      return Error::FromErrno(errno, "reading BPF program info of " + p.name);
    BpfProgramStats s;
    s.name = p.tracepoint;
    s.run_time_ns = info.run_time_ns;
    s.run_count = info.run_cnt;
    s.recursion_misses = info.recursion_misses;
    out.programs.push_back(std::move(s));
  }
  return Ok();
}

void BpfEventSource::Forget(const std::vector<uint64_t>& cgroup_ids) {
  if (!bpf_.loaded() || cgroup_ids.empty()) return;
  int wfd = bpf_.workload_map_fd();
  for (uint64_t id : cgroup_ids) {
    __u64 key = id;
    bpf_map_delete_elem(wfd, &key);  // ENOENT: never seen or already gone, both fine
  }
  std::set<uint64_t> gone(cgroup_ids.begin(), cgroup_ids.end());
  int pfd = bpf_.preempt_map_fd();
  std::vector<sw_preempt_key> doomed;
  sw_preempt_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(pfd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (gone.count(key.victim_cgid) || gone.count(key.aggressor_cgid)) doomed.push_back(key);
  }
  // Deleted after the walk: deleting the current key would restart iteration from the start.
  for (const sw_preempt_key& k : doomed) bpf_map_delete_elem(pfd, &k);
}

}  // namespace sw
