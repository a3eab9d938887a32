#include "collect/interval_delta.h"

namespace sw {

uint64_t CounterDelta(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : cur; }

namespace {

WorkloadDelta Difference(const WorkloadSample& cur, const WorkloadSample* prev) {
  WorkloadDelta d;
  if (!prev) {
    d.new_series = true;
    d.runq_wakeup = cur.runq_wakeup;
    d.runq_preempted = cur.runq_preempted;
    d.throttle_wait = cur.throttle_wait;
    d.throttle_events = cur.throttle_events;
    return d;
  }
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

IntervalDelta ComputeIntervalDelta(const Snapshot& prev, const Snapshot& cur) {
  IntervalDelta r;
  r.elapsed = cur.taken_at - prev.taken_at;
  for (const auto& [name, w] : cur.workloads) {
    auto old = prev.workloads.find(name);
    r.workloads.emplace(name, Difference(w, old == prev.workloads.end() ? nullptr : &old->second));
  }
  for (const auto& [key, count] : cur.preemptions) {
    auto old = prev.preemptions.find(key);
    uint64_t d = CounterDelta(count, old == prev.preemptions.end() ? 0 : old->second);
    if (d) r.preemptions[key] = d;
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
