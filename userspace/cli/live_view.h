// Per-workload rates over the last interval (run-queue p99 by reason, throttling, CPU received,
// top aggressor), from the interval's IntervalDelta (computed once by the agent). The agent stores
// them in the status file; `schedwarden top` and `status` render them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "collect/interval_delta.h"

namespace sw {

// {"interval_s": .., "workloads": [{"workload", "cpus", "runq_wakeup_p99_s",
// "runq_preempted_p99_s",
//   "runq_samples", "throttle_wait_p99_s", "throttled_periods", "throttle_events",
//   "preempted_by": {"aggressor": count, ...}}, ...]} sorted by run-queue p99, worst first.
nlohmann::json WorkloadRates(const IntervalDelta& delta);

// What WorkloadRates needs of the snapshot a window of rates starts from, without keeping that
// snapshot: per workload the run of non-zero buckets of each histogram and the counters, ~10x
// smaller than the full-resolution sample (at 1,000 workloads ~0.3 MB instead of ~2.7 MB). The
// agent keeps one between status.json writes.
class RatesBase {
 public:
  RatesBase() = default;
  explicit RatesBase(const Snapshot& snap);
  // Approximate heap bytes held (for tests and sizing notes).
  size_t HeapBytes() const;

 private:
  friend nlohmann::json WorkloadRates(const RatesBase& base, const Snapshot& cur);
  struct Hist {  // buckets [lo, hi) at counts_[offset...]; all others zero
    uint8_t lo = 0, hi = 0;
    uint32_t offset = 0;
    uint64_t sum_ns = 0;
  };
  struct Workload {
    std::string name;
    Hist runq_wakeup, runq_preempted, throttle_wait;
    uint64_t throttle_events = 0;
    std::optional<uint64_t> nr_throttled, throttled_ns, cpu_usage_ns;  // cpu.stat; usage
  };
  Hist Keep(const LatencyHistogram& h);
  LatencyHistogram Restore(const Hist& h) const;
  WorkloadDelta Difference(const WorkloadSample& cur, const Workload* prev) const;

  std::chrono::nanoseconds taken_at_{0};
  std::vector<Workload> workloads_;  // by name, as in Snapshot::workloads
  std::vector<uint64_t> counts_;
  std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>> preemptions_;  // sorted
};

// WorkloadRates(ComputeIntervalDelta(base's snapshot, cur)), byte for byte, computed one workload
// at a time: neither the base snapshot nor a whole IntervalDelta is held.
nlohmann::json WorkloadRates(const RatesBase& base, const Snapshot& cur);

// A terminal table of WorkloadRates output, at most max_rows workloads, at most 80 columns wide;
// "-" for what is unknown (a null or missing value).
std::string FormatWorkloadRates(const nlohmann::json& rates, size_t max_rows = 40);

}  // namespace sw
