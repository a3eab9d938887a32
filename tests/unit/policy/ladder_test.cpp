// The escalation ladder's transitions, the streak and the governor, each on its own (the
// controller tests drive them together).
#include "policy/ladder.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "policy/governor.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

Verification Verify(uint64_t baseline) { return Verification{baseline, {}, 2}; }

TEST(Ladder, DemotionVerifiedThenRestoredStartsOver) {
  Ladder l;
  l.Demoted("/be-a");
  l.DemotionApplied(Verify(5000000));
  EXPECT_EQ(l.demotion, RungState::kVerifying);
  ASSERT_TRUE(l.Verifying());
  LatencyHistogram h;
  h.Record(100000, 10);
  l.MeasuredAfter(h);
  EXPECT_EQ(l.verification->intervals_left, 1);
  EXPECT_EQ(l.verification->after.Count(), 10u);
  l.Verified(/*demotion_step=*/true, /*improved=*/true);
  EXPECT_EQ(l.demotion, RungState::kHeld);
  EXPECT_FALSE(l.Verifying());
  l.Restored();
  EXPECT_EQ(l.demotion, RungState::kUntried);
  EXPECT_TRUE(l.demoted.empty());
}

TEST(Ladder, NotImprovedDemotionFailsUntilTheEpisodeEnds) {
  Ladder l;
  l.Demoted("/be-a");
  l.DemotionApplied(Verify(5000000));
  l.Restored();  // the caller reverts first
  l.Verified(true, false);
  EXPECT_EQ(l.demotion, RungState::kFailed);
  EXPECT_FALSE(l.Verifying());
  l.exhausted_reported = true;
  l.EpisodeOver();
  EXPECT_EQ(l.demotion, RungState::kUntried);
  EXPECT_FALSE(l.exhausted_reported);
}

TEST(Ladder, DryRunHoldsWithoutVerification) {
  Ladder l;
  l.Demoted("/be-a");
  l.DemotionApplied(std::nullopt);
  EXPECT_EQ(l.demotion, RungState::kHeld);
  l.Granted({}, 2, std::nullopt);
  EXPECT_EQ(l.exclusive, RungState::kHeld);
  EXPECT_EQ(l.exclusive_count, 2);
  EXPECT_FALSE(l.Verifying());
}

TEST(Ladder, LastDemotedNeighbourGoneMakesTheRungUntried) {
  Ladder l;
  l.Demoted("/be-a");
  l.Demoted("/be-b");
  l.DemotionApplied(std::nullopt);
  l.NeighbourGone("/be-a");
  EXPECT_EQ(l.demotion, RungState::kHeld);
  l.NeighbourGone("/be-b");
  EXPECT_EQ(l.demotion, RungState::kUntried);
}

TEST(Ladder, VerifiedDemotionWithNoNeighbourLeftIsUntried) {
  Ladder l;
  l.Demoted("/be-a");
  l.DemotionApplied(Verify(1));
  l.NeighbourGone("/be-a");
  EXPECT_EQ(l.demotion, RungState::kVerifying);  // still judged
  l.Verified(true, true);
  EXPECT_EQ(l.demotion, RungState::kUntried);
}

TEST(Ladder, ExclusiveGrantVerifyReleaseAndRefusal) {
  Ladder l;
  l.Granted(CpuSet{2, 3}, 2, Verify(5000000));
  EXPECT_EQ(l.exclusive, RungState::kVerifying);
  l.Verified(/*demotion_step=*/false, true);
  EXPECT_EQ(l.exclusive, RungState::kHeld);
  l.Released();
  EXPECT_EQ(l.exclusive, RungState::kUntried);
  EXPECT_EQ(l.exclusive_count, 0);
  EXPECT_TRUE(l.cpus.empty());
  l.GrantRefused();
  EXPECT_EQ(l.exclusive, RungState::kFailed);
  l.Released();  // nothing held: a failed rung stays failed
  EXPECT_EQ(l.exclusive, RungState::kFailed);
  l.EpisodeOver();
  EXPECT_EQ(l.exclusive, RungState::kUntried);
}

TEST(Ladder, NotImprovedExclusiveFails) {
  Ladder l;
  l.Granted(CpuSet{3}, 1, Verify(5000000));
  l.Released();
  l.Verified(false, false);
  EXPECT_EQ(l.exclusive, RungState::kFailed);
}

TEST(Ladder, AbandonDropsTheVerification) {
  Ladder l;
  l.Granted(CpuSet{3}, 1, Verify(5000000));
  l.Released();
  l.Abandon();
  EXPECT_FALSE(l.Verifying());
  EXPECT_EQ(l.exclusive, RungState::kUntried);
  EXPECT_STREQ(RungStateName(l.exclusive), "untried");
}

IntervalSignals Interval(uint64_t p99_ns, uint64_t samples, bool violated, bool evidence,
                         uint64_t throttled = 0) {
  IntervalSignals s;
  s.p99_ns = p99_ns;
  s.samples = samples;
  s.violated = violated;
  s.evidence = evidence;
  s.throttled = throttled;
  s.elapsed = 500ms;
  return s;
}

TEST(Streak, InterferenceAfterKViolationsWithEvidenceAnywhereInTheStreak) {
  Streak st;
  st.Observe(Interval(5000000, 10, true, true), 2ms, 0.2, 1s);
  EXPECT_FALSE(st.Interfered(2));
  EXPECT_STREQ(st.Name(Interval(5000000, 10, true, true), 2), "violated");
  auto second = Interval(5000000, 10, true, false);
  st.Observe(second, 2ms, 0.2, 1500ms);
  EXPECT_TRUE(st.Interfered(2));
  EXPECT_STREQ(st.Name(second, 2), "interfered");
  EXPECT_EQ(st.violation_intervals_total, 2u);
  EXPECT_FALSE(st.calm_since);
  st.rate_limit_reported = st.self_throttled_reported = true;
  auto ok = Interval(1000000, 10, false, false);
  st.Observe(ok, 2ms, 0.2, 2s);
  EXPECT_EQ(st.violations, 0);
  EXPECT_FALSE(st.rate_limit_reported || st.self_throttled_reported);
  // 1ms <= 2ms * 0.8: calm since the start of that interval.
  ASSERT_TRUE(st.calm_since);
  EXPECT_EQ(*st.calm_since, 1500ms);
  EXPECT_STREQ(st.Name(ok, 2), "ok");
  // 1.8ms meets the objective but not with the margin: the calm clock stops.
  st.Observe(Interval(1800000, 10, false, false), 2ms, 0.2, 2500ms);
  EXPECT_FALSE(st.calm_since);
  EXPECT_EQ(st.violation_intervals_total, 2u);
}

TEST(Streak, SelfThrottledAndNoSamples) {
  Streak st;
  auto t = Interval(5000000, 10, true, false, 3);
  st.Observe(t, 2ms, 0.2, 1s);
  EXPECT_TRUE(st.SelfThrottled(1));
  EXPECT_FALSE(st.Interfered(1));
  EXPECT_STREQ(st.Name(t, 1), "self-throttled");
  auto none = Interval(0, 0, false, false);
  st.Observe(none, 2ms, 0.2, 1500ms);
  EXPECT_STREQ(st.Name(none, 1), "no-samples");
  ASSERT_TRUE(st.calm_since);  // no waits at all counts as calm
  EXPECT_EQ(*st.calm_since, 1s);
}

TEST(Governor, CooldownPerVictimAndRateLimitPerMinute) {
  Governor g(1s, 3);
  g.SetNow(10s);
  EXPECT_TRUE(g.CooledDown("/a"));
  EXPECT_EQ(g.Budget(), 3);
  EXPECT_FALSE(g.AnyRecent());
  g.NoteAction("/a");
  g.NoteAction();  // on no victim's behalf: rate only
  EXPECT_FALSE(g.CooledDown("/a"));
  EXPECT_TRUE(g.CooledDown("/b"));
  EXPECT_EQ(g.Budget(), 1);
  EXPECT_TRUE(g.AnyRecent());
  g.SetNow(11s);
  EXPECT_TRUE(g.CooledDown("/a"));  // exactly the cool-down later
  g.Pace("/b");                     // a refusal: cool-down without using the budget
  EXPECT_FALSE(g.CooledDown("/b"));
  EXPECT_EQ(g.Budget(), 1);
  g.NoteAction("/b");
  EXPECT_EQ(g.Budget(), 0);
  g.SetNow(70s);  // the first two are a minute old
  EXPECT_EQ(g.Budget(), 2);
  g.SetNow(71s);
  EXPECT_EQ(g.Budget(), 3);
  EXPECT_FALSE(g.AnyRecent());
  g.Pace("/c");
  g.Forget("/c");
  EXPECT_TRUE(g.CooledDown("/c"));
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

// cpu.idle ranks a cgroup among its siblings only: it goes on the child of the lowest common
// ancestor on the aggressor's side, never on a level kubelet owns.
TEST(DemotionLevel, ChildOfTheLowestCommonAncestorOnTheAggressorsSide) {
  // Same QoS branch: the pods are siblings, the aggressor's pod is the level.
  auto same = DemotionLevelFor("/kubepods/burstable/podv", "/kubepods/burstable/poda", {});
  EXPECT_EQ(same.idle_cgroup, "/kubepods/burstable/poda");
  EXPECT_EQ(same.note, "");
  // Container workloads of two pods in one branch: the aggressor's pod.
  auto ctr = DemotionLevelFor("/kubepods/burstable/podv/c1", "/kubepods/burstable/poda/c2", {});
  EXPECT_EQ(ctr.idle_cgroup, "/kubepods/burstable/poda");
  EXPECT_NE(ctr.note.find("separating it from the victim"), std::string::npos);
  // Different branches, both drivers: the separating level is kubelet's; threads only.
  for (const auto& [v, a, qos] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"/kubepods/burstable/podv", "/kubepods/besteffort/poda", "/kubepods/besteffort"},
           {"/kubepods/podv", "/kubepods/besteffort/poda", "/kubepods/besteffort"},
           {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podv.slice",
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poda.slice",
            "/kubepods.slice/kubepods-besteffort.slice"}}) {
    auto l = DemotionLevelFor(v, a, {});
    EXPECT_EQ(l.idle_cgroup, "") << a;
    EXPECT_NE(l.note.find(qos + ", which kubelet owns"), std::string::npos) << l.note;
  }
  // A Guaranteed aggressor pod beside a burstable victim: its pod is directly under kubepods.
  EXPECT_EQ(DemotionLevelFor("/kubepods/burstable/podv", "/kubepods/poda", {}).idle_cgroup,
            "/kubepods/poda");
  // Outside Kubernetes: the aggressor's top-level group, unless it holds another workload.
  EXPECT_EQ(DemotionLevelFor("/lc/web", "/be/grp/job", {"/lc/web", "/be-x"}).idle_cgroup, "/be");
  auto shared = DemotionLevelFor("/lc/web", "/be/grp/job", {"/be/other"});
  EXPECT_EQ(shared.idle_cgroup, "/be/grp/job");
  EXPECT_NE(shared.note.find("also holds /be/other"), std::string::npos);
  // Workloads inside the aggressor are demoted with it: no reason to step down.
  EXPECT_EQ(DemotionLevelFor("/lc", "/be/grp", {"/be/grp/ctr"}).idle_cgroup, "/be");
  // The victim inside the aggressor's cgroup: nothing separates them.
  auto inside = DemotionLevelFor("/be/web", "/be", {});
  EXPECT_EQ(inside.idle_cgroup, "");
  EXPECT_NE(inside.note.find("inside /be"), std::string::npos);
  // The victim above the aggressor: its own child on the aggressor's side.
  EXPECT_EQ(DemotionLevelFor("/lc", "/lc/batch/x", {}).idle_cgroup, "/lc/batch");
}

}  // namespace
}  // namespace sw
