// IntervalDelta: the one per-interval difference the controller and the status file share.
#include "collect/interval_delta.h"

#include <gtest/gtest.h>

namespace sw {
namespace {

using namespace std::chrono_literals;

WorkloadSample W(const std::string& name) {
  WorkloadSample w;
  w.workload = name;
  w.cgroup_path = name;
  return w;
}

TEST(IntervalDelta, DifferencesOfEverySeries) {
  Snapshot a, b;
  a.taken_at = 10s;
  b.taken_at = 10500ms;
  WorkloadSample lc = W("/lc");
  lc.runq_wakeup.Record(5'000, 100);
  lc.throttle_wait.Record(1'000'000, 2);
  lc.throttle_events = 4;
  lc.cpu_stat = CpuStatSample{10, 3, 0};
  lc.cpu_usage_ns = 1'000'000'000;
  a.workloads["/lc"] = lc;
  a.preemptions[{"/lc", "/be"}] = 7;
  a.preemptions[{"/lc", "/x"}] = 5;

  lc.runq_wakeup.Record(5'000, 3);
  lc.runq_preempted.Record(3'000'000, 10);
  lc.throttle_wait.Record(1'000'000, 1);
  lc.throttle_events = 6;
  lc.cpu_stat = CpuStatSample{15, 5, 0};
  lc.cpu_usage_ns = 1'250'000'000;
  b.workloads["/lc"] = lc;
  WorkloadSample fresh = W("/new");
  fresh.runq_wakeup.Record(2'000, 4);
  fresh.cpu_usage_ns = 5;
  b.workloads["/new"] = fresh;
  b.preemptions[{"/lc", "/be"}] = 19;
  b.preemptions[{"/lc", "/x"}] = 5;  // unchanged: not listed

  IntervalDelta d = ComputeIntervalDelta(a, b);
  EXPECT_EQ(d.elapsed, 500ms);
  ASSERT_EQ(d.workloads.size(), 2u);
  const WorkloadDelta& l = d.workloads.at("/lc");
  EXPECT_FALSE(l.new_series);
  EXPECT_EQ(l.runq_wakeup.Count(), 3u);
  EXPECT_EQ(l.runq_preempted.Count(), 10u);
  EXPECT_EQ(l.throttle_wait.Count(), 1u);
  EXPECT_EQ(l.throttle_events, 2u);
  EXPECT_EQ(l.nr_throttled, 2u);
  EXPECT_EQ(l.cpu_usage_ns, 250'000'000u);
  const WorkloadDelta& n = d.workloads.at("/new");
  EXPECT_TRUE(n.new_series);
  EXPECT_EQ(n.runq_wakeup.Count(), 4u);  // cumulative: a delta from zero
  EXPECT_FALSE(n.cpu_usage_ns.has_value());
  EXPECT_FALSE(n.nr_throttled.has_value());
  ASSERT_EQ(d.preemptions.size(), 1u);
  EXPECT_EQ((d.preemptions.at({"/lc", "/be"})), 12u);
}

TEST(IntervalDelta, CountersThatWentBackwardsRestartedAtZero) {
  Snapshot a, b;
  WorkloadSample w = W("/w");
  w.throttle_events = 100;
  w.cpu_stat = CpuStatSample{50, 40, 0};
  w.cpu_usage_ns = 9'000;
  a.workloads["/w"] = w;
  a.preemptions[{"/w", "/v"}] = 50;
  w.throttle_events = 3;
  w.cpu_stat = CpuStatSample{5, 2, 0};
  w.cpu_usage_ns = 1'000;
  b.workloads["/w"] = w;
  b.preemptions[{"/w", "/v"}] = 4;
  IntervalDelta d = ComputeIntervalDelta(a, b);
  EXPECT_EQ(d.workloads.at("/w").throttle_events, 3u);
  EXPECT_EQ(d.workloads.at("/w").nr_throttled, 2u);
  EXPECT_FALSE(d.workloads.at("/w").cpu_usage_ns.has_value());  // no rate from a reset
  EXPECT_EQ((d.preemptions.at({"/w", "/v"})), 4u);
}

TEST(IntervalTracker, SharesSnapshotsAndDeltasFromTheSecondOn) {
  IntervalTracker t;
  auto first = std::make_shared<const Snapshot>();
  EXPECT_EQ(t.Advance(first), nullptr);
  EXPECT_EQ(t.previous().get(), first.get());  // kept, not copied
  Snapshot s;
  s.taken_at = 2s;
  auto second = std::make_shared<const Snapshot>(s);
  auto d = t.Advance(second);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->elapsed, 2s);
  EXPECT_EQ(t.previous().get(), second.get());
}

}  // namespace
}  // namespace sw
