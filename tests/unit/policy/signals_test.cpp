// The pure signal step on two hand-built snapshots.
#include "policy/signals.h"

#include <gtest/gtest.h>

#include "policy_fakes.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

class SignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* w : {"/lc", "/be", "/be/inner", "/"}) m.Add(w);
    m.snap.taken_at = 1s;
    prev = m.snap;
    m.snap.taken_at = 1s + test::Machine::kInterval;
    views["/lc"] = {"/lc", WorkloadClass::kLatencyCritical, 2ms};
    views["/be"] = {"/be", WorkloadClass::kBestEffort, std::nullopt};
    views["/be/inner"] = {"/be/inner", WorkloadClass::kBestEffort, std::nullopt};
    views["/"] = {"/", WorkloadClass::kNormal, std::nullopt};
  }
  IntervalDeltas Compute(double threshold = 10) {
    return ComputeSignals(ComputeIntervalDelta(prev, m.snap), views, 500ms, threshold);
  }
  test::Machine m;
  Snapshot prev;
  std::map<std::string, WorkloadView> views;
};

TEST_F(SignalsTest, NestedCpusCountedOnceAndOnlyLowerClassesBlamed) {
  m.Cpu("/lc", 1.0);
  m.Cpu("/be", 3.0);        // includes /be/inner's 1.0
  m.Cpu("/be/inner", 1.0);  // nested in /be
  m.Cpu("/", 6.0);          // the whole machine: /lc and /be included
  m.Wakeups("/lc", 100us, 90);
  m.Preempted("/lc", 5ms, 10);
  m.Preempt("/lc", "/be/inner", 4);
  m.Preempt("/lc", "/", 7);    // a higher class than best-effort, same rank as normal
  m.Preempt("/lc", "/lc", 3);  // itself: never counted
  IntervalDeltas d = Compute();
  EXPECT_EQ(d.elapsed, 500ms);
  EXPECT_DOUBLE_EQ(d.cpus_received.at("/be"), 3.0);
  EXPECT_DOUBLE_EQ(d.own_cpus.at("/be"), 2.0);
  EXPECT_DOUBLE_EQ(d.own_cpus.at("/be/inner"), 1.0);
  EXPECT_DOUBLE_EQ(d.own_cpus.at("/"), 2.0);  // 6 - 1 (/lc) - 3 (/be)
  ASSERT_EQ(d.signals.size(), 1u);            // only /lc is watched
  const IntervalSignals& s = d.signals.at("/lc");
  EXPECT_EQ(s.samples, 100u);
  EXPECT_EQ(s.p99_ns, LatencyHistogram::UpperEdgeNs(LatencyHistogram::BucketOf(5000000)));
  // kNormal and kBestEffort both rank below latency-critical.
  EXPECT_EQ(s.preemptions_by_lower, 11u);
  EXPECT_DOUBLE_EQ(s.lower_class_cpus, 5.0);  // own CPUs: 2 + 1 + 2
  EXPECT_DOUBLE_EQ(s.cpus_received, 1.0);
  EXPECT_TRUE(s.violated);
  EXPECT_TRUE(s.evidence);
  EXPECT_EQ(d.preemptions.at({"/lc", "/lc"}), 3u);
}

TEST_F(SignalsTest, EvidenceFromNeighbourCpusAloneNeedsTheThreshold) {
  m.Wakeups("/lc", 5ms, 100);
  m.Cpu("/be", 1.5);
  EXPECT_FALSE(Compute(/*threshold=*/2.0).signals.at("/lc").evidence);
  const IntervalSignals s = Compute(/*threshold=*/1.5).signals.at("/lc");
  EXPECT_TRUE(s.violated);
  EXPECT_TRUE(s.evidence);
}

TEST_F(SignalsTest, RestartedCountersAndFrozenClock) {
  m.Throttled("/lc", 1ms, 4);
  prev = m.snap;
  prev.taken_at = m.snap.taken_at;  // no time passed: the configured interval is used
  m.snap.workloads.at("/lc").throttle_events = 1;  // recreated: restarted from 0
  m.snap.workloads.at("/lc").cpu_stat->nr_throttled = 2;
  IntervalDeltas d = Compute();
  EXPECT_EQ(d.elapsed, 500ms);
  EXPECT_EQ(d.signals.at("/lc").throttled, 2u);  // max(1, 2)
  EXPECT_FALSE(d.signals.at("/lc").violated);    // no waits at all
}

// observer.bpf_throttle: off. A throttled switch-out reaches BPF as a preemption by whoever ran
// next, its wait as a preempted one; cpu.stat (nr_throttled at the throttle, throttled time at the
// unthrottle) says the interval was the workload's own quota: no evidence against others.
TEST_F(SignalsTest, CpuStatThrottlingDiscountsPreemptionsWhenBpfCannotTellThrottles) {
  auto throttle_like_preemption = [&](uint64_t nr_throttled, uint64_t throttled_ns) {
    m.Wakeups("/lc", 100us, 90);
    m.Preempted("/lc", 50ms, 10);
    m.Preempt("/lc", "/be", 10);
    m.Cpu("/be", 1.5);
    m.snap.workloads.at("/lc").cpu_stat->nr_throttled += nr_throttled;
    m.snap.workloads.at("/lc").cpu_stat->throttled_ns += throttled_ns;
  };
  auto compute = [&](bool bpf_throttle) {
    return ComputeSignals(ComputeIntervalDelta(prev, m.snap), views, 500ms, 10, bpf_throttle)
        .signals.at("/lc");
  };
  throttle_like_preemption(4, 300'000'000);
  IntervalSignals off = compute(false), on = compute(true);
  EXPECT_TRUE(off.violated);
  EXPECT_EQ(off.preemptions_by_lower, 10u);  // still reported, as counted
  EXPECT_EQ(off.throttled, 4u);
  EXPECT_FALSE(off.evidence) << "its own throttling blamed on /be";
  EXPECT_TRUE(on.evidence) << "with the BPF check, preempted waits are not throttles";

  // The tail of a throttle that began in the previous interval: throttled time only.
  prev = m.snap;
  throttle_like_preemption(0, 80'000'000);
  EXPECT_FALSE(compute(false).evidence);

  // No throttling in cpu.stat: the preemptions are others' doing even without the BPF check.
  prev = m.snap;
  throttle_like_preemption(0, 0);
  EXPECT_TRUE(compute(false).evidence);
}

TEST(CpuWindows, LastKAgainstTheKBefore) {
  std::deque<double> history;
  IntervalSignals s;
  for (double c : {4.0, 4.0, 2.0, 1.0, 3.0}) {
    s.cpus_received = c;
    UpdateCpuWindows(history, /*k=*/2, s);
  }
  EXPECT_EQ(history.size(), 4u);              // at most 2k
  EXPECT_DOUBLE_EQ(s.cpus_window, 2.0);       // (1 + 3) / 2
  EXPECT_DOUBLE_EQ(s.cpus_prev_window, 3.0);  // (4 + 2) / 2
  EXPECT_TRUE(s.has_prev_window);
  std::deque<double> fresh;
  s.cpus_received = 5;
  UpdateCpuWindows(fresh, 2, s);
  EXPECT_DOUBLE_EQ(s.cpus_window, 5.0);
  EXPECT_FALSE(s.has_prev_window);
}

}  // namespace
}  // namespace sw
