// What changed between two consecutive Snapshots, computed once per interval by the agent and
// shared by the controller (policy/signals) and the status file's observer rates (cli/live_view).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "collect/histogram.h"
#include "collect/snapshot.h"

namespace sw {

// A counter that went backwards belongs to a recreated cgroup or map entry: it restarted at 0.
uint64_t CounterDelta(uint64_t cur, uint64_t prev);

struct WorkloadDelta {
  // Not in the previous snapshot: the histograms and counters below are the series' cumulative
  // values (a delta from zero), and the cgroup-file deltas are absent.
  bool new_series = false;
  LatencyHistogram runq_wakeup, runq_preempted, throttle_wait;
  uint64_t throttle_events = 0;
  std::optional<uint64_t> nr_throttled;  // cpu.stat in both snapshots
  std::optional<uint64_t> throttled_ns;  // cpu.stat in both snapshots (added at unthrottle)
  std::optional<uint64_t> cpu_usage_ns;  // usage in both snapshots and not gone backwards
};

struct IntervalDelta {
  std::chrono::nanoseconds elapsed{0};             // cur.taken_at - prev.taken_at (may be <= 0)
  std::map<std::string, WorkloadDelta> workloads;  // every workload of the current snapshot
  std::map<std::pair<std::string, std::string>, uint64_t> preemptions;  // (victim, aggressor), > 0
};

IntervalDelta ComputeIntervalDelta(const Snapshot& prev, const Snapshot& cur);
// The delta of a series not in the previous snapshot: its cumulative values, new_series set.
WorkloadDelta NewSeriesDelta(const WorkloadSample& cur);

// Keeps the previous snapshot (shared, not copied) and yields each interval's delta; none for
// the first snapshot, which is only the baseline.
class IntervalTracker {
 public:
  std::shared_ptr<const IntervalDelta> Advance(std::shared_ptr<const Snapshot> cur);
  const std::shared_ptr<const Snapshot>& previous() const { return prev_; }

 private:
  std::shared_ptr<const Snapshot> prev_;
};

}  // namespace sw
