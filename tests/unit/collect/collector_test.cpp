#include "collect/collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "support/fake_event_source.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using test::TempTree;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr const char* kPod1 = "/kubepods/burstable/pod1";
constexpr const char* kPod2 = "/kubepods/besteffort/pod2";

// A fake v1 hybrid machine: cpu and cpuacct hierarchies, a few pods. Ids are inode numbers.
class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCgroup("/kubepods/burstable/pod1/c1");
    MakeCgroup("/kubepods/burstable/pod1/c2");
    MakeCgroup("/kubepods/besteffort/pod2/c1");
    MakeCgroup("/kubepods/besteffort/pod2/c2");
    t_.Write(
        std::string("cpu") + kPod1 + "/cpu.stat",
        "nr_periods 50\nnr_throttled 7\nthrottled_time 123456789\nnr_bursts 0\nburst_time 0\n");
    t_.Write(std::string("cpuacct") + kPod1 + "/cpuacct.usage", "987654321\n");
    layout_ = CgroupMounts{{t_.Path("cpu"), CgroupVersion::kV1},
                           ControllerMount{t_.Path("cpuacct"), CgroupVersion::kV1},
                           std::nullopt};
  }
  void MakeCgroup(const std::string& path) {
    t_.Write("cpu" + path + "/cpu.stat",
             "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n");
    t_.Write("cpuacct" + path + "/cpuacct.usage", "0\n");
  }
  uint64_t Id(const std::string& path) {
    struct stat st;
    EXPECT_EQ(stat(t_.Path("cpu" + path).c_str(), &st), 0) << path;
    return st.st_ino;
  }

  TempTree t_;
  CgroupMounts layout_;
  FakeEventSource source_;
};

TEST_F(CollectorTest, FoldsIdsIntoWorkloadsByDepth) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  uint64_t c1 = Id("/kubepods/burstable/pod1/c1"), c2 = Id("/kubepods/burstable/pod1/c2");
  uint64_t be = Id("/kubepods/besteffort/pod2/c1");
  source_.AddWait(c1, SW_REASON_WAKEUP, 5000, 10);        // 10 x 5 us
  source_.AddWait(c2, SW_REASON_WAKEUP, 2000000, 3);      // 3 x 2 ms
  source_.AddWait(c1, SW_REASON_PREEMPTED, 4000000, 4);   // 4 x 4 ms
  source_.AddWait(c2, SW_REASON_THROTTLED, 80000000, 2);  // 2 x 80 ms throttled
  source_.AddThrottleEvents(c2, 2);
  source_.AddWait(be, SW_REASON_PREEMPTED, 9000000, 1);

  auto snap = c.Collect(10s);
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->workloads.size(), 2u);
  const WorkloadSample& p1 = snap->workloads.at(kPod1);
  EXPECT_EQ(p1.workload, kPod1);
  EXPECT_EQ(p1.cgroup_path, kPod1);
  EXPECT_EQ(p1.runq_wakeup.Count(), 13u);
  EXPECT_EQ(p1.runq_wakeup.SumNs(), 10u * 5000 + 3u * 2000000);
  EXPECT_EQ(p1.runq_wakeup.BucketCount(LatencyHistogram::BucketOf(5000)), 10u);
  EXPECT_EQ(p1.runq_preempted.Count(), 4u);
  EXPECT_EQ(p1.throttle_wait.Count(), 2u);  // throttled waits stay out of run-queue latency
  EXPECT_EQ(p1.throttle_wait.SumNs(), 160000000u);
  EXPECT_EQ(p1.throttle_events, 2u);
  // cgroupfs ground truth of the workload's own cgroup.
  ASSERT_TRUE(p1.cpu_stat);
  EXPECT_EQ(p1.cpu_stat->nr_periods, 50u);
  EXPECT_EQ(p1.cpu_stat->nr_throttled, 7u);
  EXPECT_EQ(p1.cpu_stat->throttled_ns, 123456789u);
  EXPECT_EQ(p1.cpu_usage_ns, 987654321u);
  EXPECT_FALSE(p1.psi);  // v1: no per-cgroup PSI
  EXPECT_EQ(snap->workloads.at(kPod2).runq_preempted.Count(), 1u);
  EXPECT_TRUE(c.warnings().empty());
  EXPECT_EQ(snap->tracked_workloads, 2u);
  EXPECT_EQ(snap->taken_at, 10s);
}

TEST_F(CollectorTest, PreemptionPairsFoldByLabel) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  uint64_t a1 = Id("/kubepods/burstable/pod1/c1"), a2 = Id("/kubepods/burstable/pod1/c2");
  uint64_t b1 = Id("/kubepods/besteffort/pod2/c1"), b2 = Id("/kubepods/besteffort/pod2/c2");
  source_.AddPreemptions(a1, b1, 5);
  source_.AddPreemptions(a2, b2, 7);
  source_.AddPreemptions(b1, a1, 2);
  source_.AddPreemptions(a1, a2, 3);  // inside one workload at this depth
  auto snap = c.Collect(10s);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->preemptions.size(), 3u);
  EXPECT_EQ((snap->preemptions[{kPod1, kPod2}]), 12u);
  EXPECT_EQ((snap->preemptions[{kPod2, kPod1}]), 2u);
  EXPECT_EQ((snap->preemptions[{kPod1, kPod1}]), 3u);
}

// Pairs are accounted by their increments: a quiet pair keeps its series (and its ids stay live),
// a pair that moves adds only what it gained, a recreated entry (count went down) adds its new
// count, and a pair gone from the map keeps its total.
TEST_F(CollectorTest, PreemptionPairSeriesAddIncrementsAcrossIntervals) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  uint64_t a1 = Id("/kubepods/burstable/pod1/c1"), a2 = Id("/kubepods/burstable/pod1/c2");
  uint64_t b1 = Id("/kubepods/besteffort/pod2/c1"), b2 = Id("/kubepods/besteffort/pod2/c2");
  source_.AddPreemptions(a1, b1, 5);
  source_.AddPreemptions(a2, b2, 7);
  source_.AddPreemptions(b1, a1, 2);
  auto first = c.Collect(10s);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((first->preemptions.at({kPod1, kPod2})), 12u);
  for (auto now : {11s, 12s}) {  // nothing moved: same series, nothing forgotten
    auto quiet = c.Collect(now);
    ASSERT_TRUE(quiet.ok());
    EXPECT_EQ(quiet->preemptions, first->preemptions);
  }
  EXPECT_EQ(c.forgotten_ids(), 0u);
  source_.AddPreemptions(a2, b2, 4);           // 7 -> 11
  source_.events().preemptions[{a1, b1}] = 1;  // entry recreated: 5 -> 1
  auto moved = c.Collect(13s);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ((moved->preemptions.at({kPod1, kPod2})), 12u + 4 + 1);
  EXPECT_EQ((moved->preemptions.at({kPod2, kPod1})), 2u);
  source_.events().preemptions.erase({a2, b2});  // gone from the map: its total stays
  source_.events().preemptions.erase({b1, a1});
  auto gone = c.Collect(14s);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ((gone->preemptions.at({kPod1, kPod2})), 17u);
  EXPECT_EQ((gone->preemptions.at({kPod2, kPod1})), 2u);
  source_.AddPreemptions(a2, b2, 3);  // back, from 0
  auto back = c.Collect(15s);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((back->preemptions.at({kPod1, kPod2})), 20u);
}

TEST_F(CollectorTest, UnresolvableIdsShareOneUnknownSeriesAndAreForgotten) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader);
  for (uint64_t bogus = 1ull << 40; bogus < (1ull << 40) + 100; bogus++)
    source_.AddWait(bogus, SW_REASON_WAKEUP, 3000);
  source_.AddPreemptions(1ull << 40, Id("/kubepods/burstable/pod1/c1"), 4);
  auto snap = c.Collect(10s);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->workloads.size(), 1u);
  const WorkloadSample& u = snap->workloads.at(kUnknownWorkload);
  EXPECT_EQ(u.runq_wakeup.Count(), 100u);
  EXPECT_EQ(u.cgroup_path, "");
  EXPECT_FALSE(u.cpu_stat);
  EXPECT_EQ((snap->preemptions[{kUnknownWorkload, "/kubepods/burstable/pod1"}]), 4u);
  // A walk after they were first seen did not find them: their kernel entries are dropped...
  EXPECT_TRUE(source_.WasForgotten(1ull << 40));
  EXPECT_EQ(c.forgotten_ids(), 100u);
  EXPECT_EQ(source_.events().workloads.size(), 0u);
  // ...and the unknown series keeps what they counted (monotonic), next interval and after.
  for (auto now : {11s, 20s, 40s}) {
    auto again = c.Collect(now);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->workloads.at(kUnknownWorkload).runq_wakeup.Count(), 100u);
    EXPECT_EQ((again->preemptions[{kUnknownWorkload, "/kubepods/burstable/pod1"}]), 4u);
  }
  EXPECT_EQ(c.forgotten_ids(), 100u);  // forgotten once each
}

// CPU usage is read every interval; cpu.stat every interval only where CFS bandwidth is in use,
// else at least every kSlowReadIntervals (the last reading stands in between).
TEST_F(CollectorTest, CpuStatWithoutBandwidthIsReadEveryFewIntervals) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  source_.AddWait(Id("/kubepods/burstable/pod1/c1"), SW_REASON_WAKEUP, 1000);
  source_.AddWait(Id("/kubepods/besteffort/pod2/c1"), SW_REASON_WAKEUP, 1000);
  ASSERT_TRUE(c.Collect(1s).ok());
  const std::string stat = "nr_periods 60\nnr_throttled 9\nthrottled_time 5\n";
  t_.Write(std::string("cpu") + kPod1 + "/cpu.stat", stat);  // had bandwidth (50 periods)
  t_.Write(std::string("cpu") + kPod2 + "/cpu.stat", stat);  // had none: a quota was set
  t_.Write(std::string("cpuacct") + kPod2 + "/cpuacct.usage", "42\n");
  int seen_after = 0;
  for (int i = 1; i <= static_cast<int>(kSlowReadIntervals); i++) {
    auto snap = c.Collect(std::chrono::seconds(1 + i));
    ASSERT_TRUE(snap.ok());
    EXPECT_EQ(snap->workloads.at(kPod1).cpu_stat->nr_throttled, 9u) << i;
    EXPECT_EQ(snap->workloads.at(kPod2).cpu_usage_ns, 42u) << i;
    // pod2 had no cpu.stat of its own at first (absent, not zero) until it is read again.
    const auto& stat = snap->workloads.at(kPod2).cpu_stat;
    const uint64_t periods = stat ? stat->nr_periods : 0;
    EXPECT_TRUE(periods == 0 || periods == 60) << periods;
    if (periods == 60 && !seen_after) seen_after = i;
    if (seen_after) {
      EXPECT_EQ(periods, 60u) << i;  // then every interval: it has bandwidth
    }
  }
  EXPECT_GE(seen_after, 1);
}

TEST_F(CollectorTest, CountersStayMonotonicWhenACgroupIsRemoved) {
  CgroupResolver resolver(layout_.cpu.path, {.min_refresh_interval = 1s, .gc_interval = 5s});
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  uint64_t gone = Id("/kubepods/besteffort/pod2/c1"), stays = Id("/kubepods/besteffort/pod2/c2");
  uint64_t victim = Id("/kubepods/burstable/pod1/c1");
  source_.AddWait(gone, SW_REASON_PREEMPTED, 6000000, 8);
  source_.AddThrottleEvents(gone, 3);
  source_.AddWait(stays, SW_REASON_PREEMPTED, 6000000, 1);
  source_.AddPreemptions(victim, gone, 6);
  auto s1 = c.Collect(10s);
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->workloads.at(kPod2).runq_preempted.Count(), 9u);

  std::filesystem::remove_all(t_.Path("cpu/kubepods/besteffort/pod2/c1"));
  auto s2 = c.Collect(16s);  // past gc_interval: the walk notices the removal
  ASSERT_TRUE(s2.ok());
  EXPECT_TRUE(source_.WasForgotten(gone));
  EXPECT_FALSE(source_.WasForgotten(stays));
  EXPECT_EQ(source_.events().workloads.count(gone), 0u);
  source_.AddWait(stays, SW_REASON_PREEMPTED, 6000000, 2);
  auto s3 = c.Collect(17s);
  ASSERT_TRUE(s3.ok());
  for (const Snapshot* s : {&*s2, &*s3}) {
    const WorkloadSample& p2 = s->workloads.at(kPod2);
    EXPECT_GE(p2.runq_preempted.Count(), 9u);
    EXPECT_EQ(p2.throttle_events, 3u);
    EXPECT_EQ((s->preemptions.at({kPod1, kPod2})), 6u);
  }
  EXPECT_EQ(s3->workloads.at(kPod2).runq_preempted.Count(), 11u);
  EXPECT_EQ(s3->workloads.at(kPod2).runq_preempted.SumNs(), 11u * 6000000);
}

TEST_F(CollectorTest, RemovedWorkloadGivesItsSlotBack) {
  CgroupResolver resolver(layout_.cpu.path, {.min_refresh_interval = 1s, .gc_interval = 5s});
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 1});
  source_.AddWait(Id("/kubepods/besteffort/pod2/c1"), SW_REASON_WAKEUP, 3000);
  source_.AddWait(Id("/kubepods/burstable/pod1/c1"), SW_REASON_WAKEUP, 3000);
  auto s1 = c.Collect(10s);
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->workloads.size(), 2u);  // one real series, one overflow
  EXPECT_TRUE(s1->workloads.count(kOverflowWorkload));
  EXPECT_EQ(s1->overflowed_workloads, 1u);
  std::string first = s1->workloads.begin()->first == kOverflowWorkload
                          ? std::next(s1->workloads.begin())->first
                          : s1->workloads.begin()->first;
  std::filesystem::remove_all(t_.Path("cpu" + first));
  ASSERT_TRUE(c.Collect(16s).ok());  // walk: forgotten
  auto s3 = c.Collect(22s);          // entries gone, label released
  ASSERT_TRUE(s3.ok());
  EXPECT_FALSE(s3->workloads.count(first));
  EXPECT_EQ(s3->tracked_workloads, 0u);
  // A new workload now gets the free slot; the overflowed one stays in overflow (no jumps).
  MakeCgroup("/newpod");
  source_.AddWait(Id("/newpod"), SW_REASON_WAKEUP, 3000);
  auto s4 = c.Collect(24s);
  ASSERT_TRUE(s4.ok());
  EXPECT_TRUE(s4->workloads.count("/newpod"));
  EXPECT_EQ(s4->workloads.at(kOverflowWorkload).runq_wakeup.Count(), 1u);
}

TEST_F(CollectorTest, IdSeenBeforeItsDirectoryWasWalkedMovesFromUnknownWithoutLoss) {
  CgroupResolver resolver(layout_.cpu.path, {.min_refresh_interval = 1s, .gc_interval = 60s});
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  source_.AddWait(Id("/kubepods/burstable/pod1/c1"), SW_REASON_WAKEUP, 3000);
  ASSERT_TRUE(c.Collect(10s).ok());  // walk at 10 s
  MakeCgroup("/kubepods/burstable/pod9/c1");
  uint64_t late = Id("/kubepods/burstable/pod9/c1");
  source_.AddWait(late, SW_REASON_WAKEUP, 3000, 5);
  auto s1 = c.Collect(10s + 500ms);  // rate-limited: no walk yet
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->workloads.at(kUnknownWorkload).runq_wakeup.Count(), 5u);
  EXPECT_FALSE(source_.WasForgotten(late));  // no walk since: not known to be gone
  source_.AddWait(late, SW_REASON_WAKEUP, 3000, 2);
  auto s2 = c.Collect(12s);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->workloads.at(kUnknownWorkload).runq_wakeup.Count(), 5u);  // never decreases
  EXPECT_EQ(s2->workloads.at("/kubepods/burstable/pod9").runq_wakeup.Count(), 2u);
  source_.AddWait(late, SW_REASON_WAKEUP, 3000, 1);
  auto s3 = c.Collect(13s);
  EXPECT_EQ(s3->workloads.at("/kubepods/burstable/pod9").runq_wakeup.Count(), 3u);
}

TEST_F(CollectorTest, RecreatedMapEntryDoesNotMakeCountersGoBackwards) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 3, .max_workloads = 100});
  uint64_t id = Id("/kubepods/burstable/pod1/c1");
  source_.AddWait(id, SW_REASON_WAKEUP, 3000, 10);
  ASSERT_TRUE(c.Collect(10s).ok());
  source_.events().workloads[id] = RawWorkloadStats{};  // deleted and recreated in the kernel
  source_.AddWait(id, SW_REASON_WAKEUP, 3000, 4);
  auto s = c.Collect(11s);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->workloads.at(kPod1).runq_wakeup.Count(), 14u);
}

TEST_F(CollectorTest, CardinalityIsBoundedWithThousandsOfCgroups) {
  constexpr size_t kMax = 25;
  // Directories only (the ids are what matters here): keeps the test fast on a busy disk.
  for (int i = 0; i < 2000; i++) t_.MakeDir("cpu/batch/job" + std::to_string(i) + "/task");
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader, {.depth = 2, .max_workloads = kMax});
  uint64_t total = 0;
  for (int i = 0; i < 2000; i++) {
    source_.AddWait(Id("/batch/job" + std::to_string(i) + "/task"), SW_REASON_WAKEUP, 3000, 2);
    total += 2;
  }
  for (uint64_t bogus = 1ull << 41; bogus < (1ull << 41) + 500; bogus++) {
    source_.AddWait(bogus, SW_REASON_WAKEUP, 3000);
    total += 1;
  }
  auto snap = c.Collect(10s);
  ASSERT_TRUE(snap.ok());
  EXPECT_LE(snap->workloads.size(), kMax + 2);
  EXPECT_TRUE(snap->workloads.count(kOverflowWorkload));
  EXPECT_TRUE(snap->workloads.count(kUnknownWorkload));
  EXPECT_EQ(snap->tracked_workloads, kMax);
  EXPECT_EQ(snap->overflowed_workloads, 2000 - kMax);
  // Folding loses nothing: every event is in exactly one series.
  uint64_t sum = 0;
  for (const auto& [label, s] : snap->workloads) sum += s.runq_wakeup.Count();
  EXPECT_EQ(sum, total);
  EXPECT_EQ(snap->workloads.at(kOverflowWorkload).runq_wakeup.Count(), (2000 - kMax) * 2);
}

TEST_F(CollectorTest, PreemptionPairSeriesAreCapped) {
  for (int i = 0; i < 60; i++) t_.MakeDir("cpu/w" + std::to_string(i));
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader,
              {.depth = 1, .max_workloads = 100, .max_preemption_pairs = 40});
  uint64_t total = 0;
  for (int v = 0; v < 60; v++)
    for (int a = 0; a < 60; a++) {
      source_.AddPreemptions(Id("/w" + std::to_string(v)), Id("/w" + std::to_string(a)), 2);
      total += 2;
    }
  auto snap = c.Collect(1s);
  ASSERT_TRUE(snap.ok());
  EXPECT_LE(snap->preemptions.size(), 41u);
  uint64_t sum = 0;
  for (const auto& [pair, n] : snap->preemptions) sum += n;
  EXPECT_EQ(sum, total);  // folded, not lost
  EXPECT_TRUE(snap->preemptions.count({kOverflowWorkload, kOverflowWorkload}));
  // Stable across intervals: a pair never moves between series.
  auto again = c.Collect(2s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->preemptions, snap->preemptions);
}

TEST_F(CollectorTest, PassesThroughDropsAndProgramStats) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader);
  source_.AddDropped(SW_DROP_NEGATIVE_DELTA, 3);
  source_.AddDropped(SW_DROP_WORKLOAD_MAP_FULL, 11);
  source_.SetPrograms({{"handle_sched_switch", 5500, 100}, {"handle_sched_wakeup", 1200, 20}},
                      true);
  auto snap = c.Collect(1s);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->dropped[SW_DROP_NEGATIVE_DELTA], 3u);
  EXPECT_EQ(snap->dropped[SW_DROP_WORKLOAD_MAP_FULL], 11u);
  EXPECT_TRUE(snap->bpf_stats_enabled);
  ASSERT_EQ(snap->programs.size(), 2u);
  EXPECT_EQ(snap->programs[0].run_time_ns, 5500u);
}

TEST_F(CollectorTest, MalformedCpuStatIsAWarningNotAFailure) {
  t_.Write(std::string("cpu") + kPod1 + "/cpu.stat", "nr_periods many\n");
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader);
  source_.AddWait(Id("/kubepods/burstable/pod1/c1"), SW_REASON_WAKEUP, 3000);
  auto snap = c.Collect(1s);
  ASSERT_TRUE(snap.ok());
  EXPECT_FALSE(snap->workloads.at(kPod1).cpu_stat);
  EXPECT_EQ(snap->workloads.at(kPod1).cpu_usage_ns, 987654321u);
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_THAT(c.warnings()[0].message, HasSubstr(t_.Path("cpu/kubepods/burstable/pod1/cpu.stat")));
}

TEST_F(CollectorTest, EventSourceFailureIsAnError) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  Collector c(source_, resolver, reader);
  source_.FailNextRead(Error{EBADF, "bpf map lookup: Bad file descriptor"});
  auto snap = c.Collect(1s);
  ASSERT_FALSE(snap.ok());
  EXPECT_THAT(snap.error().message, HasSubstr("reading BPF counters"));
  EXPECT_THAT(snap.error().message, HasSubstr("Bad file descriptor"));
  EXPECT_TRUE(c.Collect(2s).ok());
}

TEST(CollectorV2, ReadsCpuStatUsageAndPsiOfEachWorkload) {
  TempTree t;
  t.Write("cg/cgroup.controllers", "cpuset cpu io memory pids\n");
  t.Write("cg/cpu.stat", "usage_usec 9000000\nuser_usec 8000000\nsystem_usec 1000000\n");
  t.Write("cg/lc/cpu.stat",
          "usage_usec 6255311\nuser_usec 6250931\nsystem_usec 4379\n"
          "core_sched.force_idle_usec 0\nnr_periods 312\nnr_throttled 298\n"
          "throttled_usec 23847112\nnr_bursts 0\nburst_usec 0\n");
  t.Write("cg/lc/cpu.pressure",
          "some avg10=1.00 avg60=0.50 avg300=0.10 total=4242\n"
          "full avg10=0.00 avg60=0.00 avg300=0.00 total=42\n");
  t.MakeDir("cg/lc/worker");
  CgroupMounts layout{{t.Path("cg"), CgroupVersion::kV2}, std::nullopt, std::nullopt};
  auto ino = [&](const std::string& rel) {
    struct stat st;
    EXPECT_EQ(stat(t.Path(rel).c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_ino);
  };
  FakeEventSource source;
  source.AddWait(ino("cg/lc/worker"), SW_REASON_PREEMPTED, 3000000, 2);
  source.AddWait(ino("cg"), SW_REASON_WAKEUP, 3000, 1);
  CgroupResolver resolver(layout.cpu.path);
  CgroupStatReader reader(layout);
  Collector c(source, resolver, reader, {.depth = 1, .max_workloads = 10});
  auto snap = c.Collect(1s);
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->workloads.size(), 2u);
  const WorkloadSample& lc = snap->workloads.at("/lc");
  EXPECT_EQ(lc.runq_preempted.Count(), 2u);
  ASSERT_TRUE(lc.cpu_stat);
  EXPECT_EQ(lc.cpu_stat->nr_throttled, 298u);
  EXPECT_EQ(lc.cpu_stat->throttled_ns, 23847112000u);
  EXPECT_EQ(lc.cpu_usage_ns, 6255311000u);
  ASSERT_TRUE(lc.psi);
  EXPECT_EQ(lc.psi->some_total_ns, 4242000u);
  EXPECT_EQ(lc.psi->full_total_ns, 42000u);
  const WorkloadSample& root = snap->workloads.at("/");
  EXPECT_FALSE(root.cpu_stat);  // the v2 root has no bandwidth fields
  EXPECT_EQ(root.cpu_usage_ns, 9000000000u);
  EXPECT_FALSE(root.psi);  // no cpu.pressure: PSI off, not an error
  EXPECT_TRUE(c.warnings().empty());
}

// An event source whose Read takes at least `delay` (the BPF map read the timings must see).
class SlowSource final : public EventSource {
 public:
  SlowSource(EventSource& inner, std::chrono::nanoseconds delay) : inner_(inner), delay_(delay) {}
  Result<RawEvents> Read() override {
    std::this_thread::sleep_for(delay_);
    return inner_.Read();
  }
  void Forget(const std::vector<uint64_t>& ids) override { inner_.Forget(ids); }

 private:
  EventSource& inner_;
  std::chrono::nanoseconds delay_;
};

// The phase timings of the last Collect: the source's read lands in source_read, cgroupfs reads
// in cgroup_read, and the phases fit in the total, measured on the monotonic clock.
TEST_F(CollectorTest, LastTimingsSplitSourceReadFromCgroupReads) {
  CgroupResolver resolver(layout_.cpu.path);
  CgroupStatReader reader(layout_);
  SlowSource slow(source_, 20ms);
  Collector c(slow, resolver, reader, {.depth = 3, .max_workloads = 100});
  EXPECT_EQ(c.last_timings().total, 0ns);
  source_.AddWait(Id("/kubepods/burstable/pod1/c1"), SW_REASON_WAKEUP, 5000, 10);
  const auto before = std::chrono::steady_clock::now().time_since_epoch();
  ASSERT_TRUE(c.Collect(10s).ok());
  const auto after = std::chrono::steady_clock::now().time_since_epoch();
  const CollectTimings& t = c.last_timings();
  EXPECT_GE(t.source_read, 20ms);
  EXPECT_LT(t.cgroup_read, 20ms);
  EXPECT_GT(t.cgroup_read, 0ns);  // one series with a cgroup: its files were read
  EXPECT_EQ(t.total, t.source_read + t.accounting + t.cgroup_read);
  EXPECT_LE(t.total, after - before);
  EXPECT_GE(t.finished_at, before + t.total);
  EXPECT_LE(t.finished_at, after);
}

}  // namespace
}  // namespace sw
