#include "bpf/map_decode.h"

#include <cerrno>
#include <cstring>

#include "common/fs.h"

namespace sw {

RawWorkloadStats DecodeWorkloadStats(const sw_workload_stats& v) {
  RawWorkloadStats out;
  for (int r = 0; r < SW_NR_REASONS; r++) {
    uint64_t counts[SW_HIST_BUCKETS];  // __u64 is unsigned long long, uint64_t unsigned long
    for (int b = 0; b < SW_HIST_BUCKETS; b++) counts[b] = v.hist[r][b];
    out.wait[r].AddRaw(counts, v.sum_ns[r]);
  }
  out.throttle_events = v.throttle_events;
  return out;
}

sw_workload_stats SumPerCpuWorkloadStats(const void* buf, int ncpus, size_t stride) {
  sw_workload_stats sum{};
  const auto* bytes = static_cast<const unsigned char*>(buf);
  for (int cpu = 0; cpu < ncpus; cpu++) {
    sw_workload_stats one;
    std::memcpy(&one, bytes + cpu * stride, sizeof(one));  // stride may not align the struct
    for (int r = 0; r < SW_NR_REASONS; r++) {
      for (int b = 0; b < SW_HIST_BUCKETS; b++) sum.hist[r][b] += one.hist[r][b];
      sum.sum_ns[r] += one.sum_ns[r];
    }
    sum.throttle_events += one.throttle_events;
  }
  return sum;
}

uint64_t SumPerCpuU64(const void* buf, int ncpus, size_t stride) {
  uint64_t sum = 0;
  const auto* bytes = static_cast<const unsigned char*>(buf);
  for (int cpu = 0; cpu < ncpus; cpu++) {
    uint64_t v;
    std::memcpy(&v, bytes + cpu * stride, sizeof(v));
    sum += v;
  }
  return sum;
}

std::optional<std::string_view> TracepointOfProgram(std::string_view program_name) {
  for (const ProgramSpec& p : kPrograms)
    if (program_name == p.btf_name || program_name == p.raw_name) return p.tracepoint;
  return std::nullopt;
}

namespace {

constexpr uint64_t kHtabElem = 48;  // struct htab_elem
constexpr uint64_t kBucket = 16;    // struct bucket

uint64_t RoundUpPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

uint64_t HashBytes(uint64_t entries, uint64_t key, uint64_t value, int ncpus) {
  uint64_t elem = kHtabElem + (key + 7) / 8 * 8 + (value + 7) / 8 * 8;
  return (entries + ncpus) * elem + RoundUpPow2(entries) * kBucket;
}

uint64_t PerCpuHashBytes(uint64_t entries, uint64_t key, uint64_t value, int ncpus) {
  uint64_t elem = kHtabElem + (key + 7) / 8 * 8 + 8;  // value is a per-CPU pointer
  return entries * elem + entries * ncpus * ((value + 7) / 8 * 8) + RoundUpPow2(entries) * kBucket;
}

}  // namespace

MapMemoryEstimate EstimateMapMemory(uint32_t workload_entries, bool percpu_workloads,
                                    uint32_t preempt_entries, uint32_t raw_stamp_entries,
                                    int ncpus) {
  MapMemoryEstimate m;
  m.workloads = percpu_workloads
                    ? PerCpuHashBytes(workload_entries, 8, sizeof(sw_workload_stats), ncpus)
                    : HashBytes(workload_entries, 8, sizeof(sw_workload_stats), ncpus);
  m.preemptions = HashBytes(preempt_entries, sizeof(sw_preempt_key), 8, ncpus);
  m.drops = static_cast<uint64_t>(SW_NR_DROPS) * 8 * ncpus;
  m.raw_stamps =
      raw_stamp_entries ? HashBytes(raw_stamp_entries, 8, sizeof(sw_task_stamp), ncpus) : 0;
  return m;
}

Result<bool> ReadBpfStatsEnabled(const std::string& proc_root) {
  std::string path = JoinPath(proc_root, "sys/kernel/bpf_stats_enabled");
  Result<std::string> line = ReadLine(path);
  if (!line.ok()) {
    if (line.error().code == ENOENT) return false;
    return line.error();
  }
  std::string v = Trim(*line);
  if (v == "0") return false;
  if (v == "1") return true;
  return Error{EINVAL, path + ": expected 0 or 1, got \"" + v + "\""};
}

}  // namespace sw
