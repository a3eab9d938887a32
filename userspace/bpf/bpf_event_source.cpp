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

namespace {

// 1: done (fn called for every entry), 0: the kernel does not do batch lookups on this map.
Result<bool> ForEachBatched(int fd, size_t key_size, size_t value_size, const char* what,
                            const std::function<void(const void*, const void*)>& fn) {
  uint32_t chunk = 512;
  // The batch token is opaque (a bucket index for hashes): room for a key is always enough.
  std::vector<unsigned char> in(std::max<size_t>(key_size, 8)), out(in.size()), keys, values;
  DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
  bool first = true;
  for (;;) {
    keys.resize(size_t{chunk} * key_size);
    values.resize(size_t{chunk} * value_size);
    __u32 count = chunk;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : in.data(), out.data(), keys.data(),
                                   values.data(), &count, &opts);
    int e = err ? errno : 0;
    if (err && e == ENOSPC && count == 0) {  // one hash bucket holds more than a chunk
      chunk *= 2;
      continue;
    }
    if (err && e != ENOENT) {
      if (first && (e == EINVAL || e == ENOTSUP || e == 524 /* kernel ENOTSUPP */)) return false;
      return Error::FromErrno(e, std::string("reading BPF map ") + what + " (batch lookup)");
    }
    for (__u32 i = 0; i < count; i++)
      fn(keys.data() + size_t{i} * key_size, values.data() + size_t{i} * value_size);
    if (err) return true;  // ENOENT: no more entries
    in = out;
    first = false;
  }
}

}  // namespace

Result<void> BpfEventSource::ForEachEntry(int fd, size_t key_size, size_t value_size,
                                          const char* what, const EntryFn& fn) {
  last_batched_ = false;
  if (mode_ == MapReadMode::kBatch || (mode_ == MapReadMode::kAuto && !batch_unsupported_)) {
    Result<bool> r = ForEachBatched(fd, key_size, value_size, what, fn);
    if (!r.ok()) return r.error();
    if (*r) {
      last_batched_ = true;
      return Ok();
    }
    if (mode_ == MapReadMode::kBatch)
      return Error{EOPNOTSUPP, std::string("reading BPF map ") + what +
                                   ": this kernel has no batch lookups for it"};
    batch_unsupported_ = true;
  }
  std::vector<unsigned char> key(key_size), next(key_size), value(value_size);
  const void* prev = nullptr;
  // Entries deleted concurrently (Forget) simply end or restart the walk at the next key.
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    key = next;
    prev = key.data();
    if (bpf_map_lookup_elem(fd, key.data(), value.data()) != 0) {
      if (errno == ENOENT) continue;
      return Error::FromErrno(errno, std::string("reading BPF map ") + what);
    }
    fn(key.data(), value.data());
  }
  return Ok();
}

Result<void> BpfEventSource::ReadWorkloads(RawEvents& out) {
  bool percpu = bpf_.workload_map_kind() == WorkloadMapKind::kPerCpu;
  size_t stride = PerCpuStride(sizeof(sw_workload_stats));
  size_t value_size = percpu ? stride * ncpus_ : sizeof(sw_workload_stats);
  return ForEachEntry(bpf_.workload_map_fd(), sizeof(__u64), value_size, "workloads",
                      [&](const void* k, const void* v) {
                        __u64 key;
                        std::memcpy(&key, k, sizeof(key));
                        sw_workload_stats s;
                        if (percpu)
                          s = SumPerCpuWorkloadStats(v, ncpus_, stride);
                        else
                          std::memcpy(&s, v, sizeof(s));
                        out.workloads[key] = DecodeWorkloadStats(s);
                      });
}

Result<void> BpfEventSource::ReadPreemptions(RawEvents& out) {
  return ForEachEntry(bpf_.preempt_map_fd(), sizeof(sw_preempt_key), sizeof(__u64), "preemptions",
                      [&](const void* k, const void* v) {
                        sw_preempt_key key;
                        __u64 count;
                        std::memcpy(&key, k, sizeof(key));
                        std::memcpy(&count, v, sizeof(count));
                        out.preemptions[{key.victim_cgid, key.aggressor_cgid}] = count;
                      });
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
