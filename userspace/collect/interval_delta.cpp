#include "collect/interval_delta.h"

namespace sw {

uint64_t CounterDelta(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : cur; }

WorkloadDelta NewSeriesDelta(const WorkloadSample& cur) {
  WorkloadDelta d;
  d.new_series = true;
  d.runq_wakeup = cur.runq_wakeup;
  d.runq_preempted = cur.runq_preempted;
  d.throttle_wait = cur.throttle_wait;
  d.throttle_events = cur.throttle_events;
  return d;
}

namespace {

WorkloadDelta Difference(const WorkloadSample& cur, const WorkloadSample* prev) {
  if (!prev) return NewSeriesDelta(cur);
  WorkloadDelta d;
  d.runq_wakeup = cur.runq_wakeup.Delta(prev->runq_wakeup);
  d.runq_preempted = cur.runq_preempted.Delta(prev->runq_preempted);
  d.throttle_wait = cur.throttle_wait.Delta(prev->throttle_wait);
  d.throttle_events = CounterDelta(cur.throttle_events, prev->throttle_events);
  if (cur.cpu_stat && prev->cpu_stat) {
    d.nr_throttled = CounterDelta(cur.cpu_stat->nr_throttled, prev->cpu_stat->nr_throttled);
    d.throttled_ns = CounterDelta(cur.cpu_stat->throttled_ns, prev->cpu_stat->throttled_ns);
  }
  // Usage that went backwards (cgroup recreated) gives no rate for this interval.
  if (cur.cpu_usage_ns && prev->cpu_usage_ns && *cur.cpu_usage_ns >= *prev->cpu_usage_ns)
    d.cpu_usage_ns = *cur.cpu_usage_ns - *prev->cpu_usage_ns;
  return d;
}

}  // namespace

// Both snapshots' maps are sorted by the same keys: one pass over them together, appending to
// the result in order (no lookups, no string comparisons beyond the merge's).
IntervalDelta ComputeIntervalDelta(const Snapshot& prev, const Snapshot& cur) {
  IntervalDelta r;
  r.elapsed = cur.taken_at - prev.taken_at;
  auto old = prev.workloads.begin();
  for (const auto& [name, w] : cur.workloads) {
    while (old != prev.workloads.end() && old->first < name) ++old;
    const bool had = old != prev.workloads.end() && old->first == name;
    r.workloads.emplace_hint(r.workloads.end(), name, Difference(w, had ? &old->second : nullptr));
  }
  auto before = prev.preemptions.begin();
  for (const auto& [key, count] : cur.preemptions) {
    while (before != prev.preemptions.end() && before->first < key) ++before;
    const bool had = before != prev.preemptions.end() && before->first == key;
    if (uint64_t d = CounterDelta(count, had ? before->second : 0))
      r.preemptions.emplace_hint(r.preemptions.end(), key, d);
  }
  return r;
}

std::shared_ptr<const IntervalDelta> IntervalTracker::Advance(std::shared_ptr<const Snapshot> cur) {
  std::shared_ptr<const IntervalDelta> d;
  if (prev_ && cur) d = std::make_shared<const IntervalDelta>(ComputeIntervalDelta(*prev_, *cur));
  prev_ = std::move(cur);
  return d;
}

}  // namespace sw
