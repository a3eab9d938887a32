#include "enforce/best_effort_actuator.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "fake_machine.h"

namespace sw {
namespace {

class BestEffort : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeCpuCgroup("/be");
    m.AddTask(500, {.cpu_cg = "/be"});
    m.AddTask(501, {.tgid = 500, .cpu_cg = "/be"}, {SCHED_BATCH, 5, 0, 0});
    m.AddTask(502, {.tgid = 500, .cpu_cg = "/be"}, {SCHED_OTHER, -3, 0, 1});  // reset-on-fork
    m.AddTask(300, {.cpu_cg = "/be"});  // the agent, misclassified: must be left alone
    rails.agent_pid = 300;
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    journal.emplace(std::move(*j));
    cfg.proc_root = m.proc();
    cfg.cgroup_root = m.cpu();
  }
  test::FakeMachine m;
  SafetyRails rails;
  std::optional<Journal> journal;
  BestEffortActuatorConfig cfg;
};

TEST_F(BestEffort, DemoteSetsCpuIdleThenEveryThreadAndRevertRestoresExactly) {
  BestEffortActuator a(cfg, m.w, *journal, rails);
  const std::string idle = m.cpu() + "/be/cpu.idle";
  auto r = a.Demote({"batch", m.cpu() + "/be"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->cpu_idle_set);
  EXPECT_EQ(r->threads_demoted, 3);
  EXPECT_EQ(r->threads_skipped, 1);
  std::vector<std::string> want = {"write " + idle + " 1", "setattr 500 SCHED_IDLE 0",
                                   "setattr 501 SCHED_IDLE 5", "setattr 502 SCHED_IDLE -3"};
  EXPECT_EQ(m.w.ops, want);
  EXPECT_EQ(m.w.sched[502], (SchedAttr{SCHED_IDLE, -3, 0, 1}));
  EXPECT_EQ(m.w.sched[300].policy, SCHED_OTHER);
  m.w.ops.clear();
  auto rev = a.Revert("batch");
  ASSERT_TRUE(rev.ok());
  EXPECT_TRUE(rev->Complete());
  std::vector<std::string> back = {"setattr 502 SCHED_OTHER -3", "setattr 501 SCHED_BATCH 5",
                                   "setattr 500 SCHED_OTHER 0", "write " + idle + " 0"};
  EXPECT_EQ(m.w.ops, back);
  EXPECT_EQ(m.w.sched[501], (SchedAttr{SCHED_BATCH, 5, 0, 0}));
  EXPECT_EQ(m.w.sched[502], (SchedAttr{SCHED_OTHER, -3, 0, 1}));
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

TEST_F(BestEffort, DeadlineThreadsAreLeftAloneWithAWarning) {
  m.AddTask(504, {.tgid = 500, .cpu_cg = "/be"}, {6 /* SCHED_DEADLINE */, 0, 0, 0});
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"batch", m.cpu() + "/be"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->threads_demoted, 3);
  EXPECT_EQ(r->threads_skipped, 2);  // the agent and the deadline thread
  EXPECT_EQ(m.w.sched[504].policy, 6);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0], "thread 504 is SCHED_DEADLINE; left alone");
  EXPECT_EQ(SchedPolicyName(6), "SCHED_DEADLINE");
}

TEST_F(BestEffort, ThreadsBornIdleFromDemotedOnesAreRevertedTooButNativeIdleStays) {
  m.AddTask(503, {.tgid = 500, .cpu_cg = "/be"}, {SCHED_IDLE, 0, 0, 0});  // idle on its own
  BestEffortActuator a(cfg, m.w, *journal, rails);
  ASSERT_TRUE(a.Demote({"batch", m.cpu() + "/be"}).ok());
  // A new process forked by 501 after the demotion: inherits SCHED_IDLE.
  m.AddTask(510, {.ppid = 500, .cpu_cg = "/be"}, {SCHED_IDLE, 0, 0, 0});
  auto rev = a.Revert("batch");
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(m.w.sched[510].policy, SCHED_OTHER);
  EXPECT_EQ(m.w.sched[503].policy, SCHED_IDLE);
}

TEST_F(BestEffort, SweepDemotesNewThreadsAndVanishedThreadsAreNotErrors) {
  BestEffortActuator a(cfg, m.w, *journal, rails);
  ASSERT_TRUE(a.Demote({"batch", m.cpu() + "/be"}).ok());
  m.AddTask(520, {.cpu_cg = "/be"}, {SCHED_OTHER, 2, 0, 0});  // started by someone else
  auto s = a.Sweep();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->threads_demoted, 1);
  EXPECT_EQ(m.w.sched[520].policy, SCHED_IDLE);
  m.RemoveTask(501);
  auto rev = a.Revert("batch");
  ASSERT_TRUE(rev.ok());
  EXPECT_TRUE(rev->Complete());
  EXPECT_EQ(rev->gone.size(), 1u);
  EXPECT_EQ(m.w.sched[520], (SchedAttr{SCHED_OTHER, 2, 0, 0}));
}

// The kernel facts the fake models: cpu.idle=1 makes the weight read as the idle weight and
// refuses writes to it; cpu.idle=0 resets it to the default, not to what it was.
TEST_F(BestEffort, RevertPutsBackTheCgroupWeightThatCpuIdleReset) {
  m.t.Write("cpu/be/cpu.shares", "2048\n");
  BestEffortActuator a(cfg, m.w, *journal, rails);
  const std::string idle = m.cpu() + "/be/cpu.idle";
  const std::string shares = m.cpu() + "/be/cpu.shares";
  ASSERT_TRUE(a.Demote({"batch", m.cpu() + "/be"}).ok());
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "3");
  // A manager's write while demoted fails, as on the kernel.
  EXPECT_FALSE(m.w.WriteFile(shares, "512").ok());
  m.w.ops.clear();
  auto rev = a.Revert("batch");
  ASSERT_TRUE(rev.ok());
  EXPECT_TRUE(rev->Complete());
  EXPECT_TRUE(rev->skipped.empty()) << rev->skipped[0];
  // cpu.idle cleared first (the weight cannot be written while idle), then the weight.
  std::vector<std::string> back = {"setattr 502 SCHED_OTHER -3", "setattr 501 SCHED_BATCH 5",
                                   "setattr 500 SCHED_OTHER 0", "write " + idle + " 0",
                                   "write " + shares + " 2048"};
  EXPECT_EQ(m.w.ops, back);
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "2048");
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

TEST(BestEffortV2, RevertPutsBackCpuWeightWhateverTheKernelShowsWhileIdle) {
  for (const std::string idle_weight : {"0", "1"}) {  // before / since Linux 6.12
    SCOPED_TRACE("cpu.weight while idle: " + idle_weight);
    test::FakeMachine m;
    m.v2_idle_weight = idle_weight;
    m.MakeCpuCgroup("/be", "0", "cpu.weight");
    m.t.Write("cpu/be/cpu.weight", "500\n");
    m.AddTask(500, {.cpu_cg = "/be"});
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    BestEffortActuatorConfig cfg;
    cfg.proc_root = m.proc();
    cfg.cgroup_root = m.cpu();
    SafetyRails rails;
    rails.agent_pid = 300;
    BestEffortActuator a(cfg, m.w, *j, rails);
    ASSERT_TRUE(a.Demote({"batch", m.cpu() + "/be"}).ok());
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.weight")), idle_weight);
    auto rev = a.Revert("batch");
    ASSERT_TRUE(rev.ok());
    EXPECT_TRUE(rev->Complete());
    EXPECT_TRUE(rev->skipped.empty());
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.weight")), "500");
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
  }
}

TEST_F(BestEffort, AWeightSomeoneElseWroteAfterClearingCpuIdleIsLeftAlone) {
  m.t.Write("cpu/be/cpu.shares", "2048\n");
  BestEffortActuator a(cfg, m.w, *journal, rails);
  ASSERT_TRUE(a.Demote({"batch", m.cpu() + "/be"}).ok());
  // An operator (or systemd re-applying a unit) takes the cgroup back: idle off, own weight.
  ASSERT_TRUE(m.w.WriteFile(m.cpu() + "/be/cpu.idle", "0").ok());
  ASSERT_TRUE(m.w.WriteFile(m.cpu() + "/be/cpu.shares", "512").ok());
  auto rev = a.Revert("batch");
  ASSERT_TRUE(rev.ok());
  EXPECT_TRUE(rev->Complete());
  ASSERT_EQ(rev->skipped.size(), 1u);
  EXPECT_NE(rev->skipped[0].find("cpu.shares reads '512', written by someone else since "
                                 "(journaled '2048'); left alone"),
            std::string::npos)
      << rev->skipped[0];
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "512");
  EXPECT_EQ(m.t.Read("state/journal"), "");  // skipped is settled, not retried
}

TEST_F(BestEffort, AnUnreadableWeightLeavesCpuIdleAloneAndDemotesThreadsOnly) {
  std::remove((m.cpu() + "/be/cpu.shares").c_str());
  m.t.MakeDir("cpu/be/cpu.shares");  // reading it fails (EISDIR)
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"batch", m.cpu() + "/be"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cpu_idle_set);
  EXPECT_EQ(r->threads_demoted, 3);
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings[0].find("would lose the CPU weight"), std::string::npos) << r->warnings[0];
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
}

TEST_F(BestEffort, KubeletQosLevelCgroupsAreNeverDemoted) {
  BestEffortActuator a(cfg, m.w, *journal, rails);
  for (const std::string rel :
       {"/kubepods", "/kubepods/besteffort", "/kubepods/burstable", "/kubepods.slice",
        "/kubepods.slice/kubepods-besteffort.slice", "/kubepods.slice/kubepods-burstable.slice",
        "/kubelet.slice/kubepods/besteffort"}) {
    m.MakeCpuCgroup(rel);
    auto r = a.Demote({"qos", m.cpu() + rel});
    ASSERT_FALSE(r.ok()) << rel;
    EXPECT_EQ(r.error().code, EPERM);
    EXPECT_NE(r.error().message.find("never demoted: a kubelet QoS-level cgroup"),
              std::string::npos)
        << r.error().message;
  }
  EXPECT_TRUE(m.w.ops.empty());
  // Pods and containers below them are demoted as usual.
  for (const std::string rel :
       {"/kubepods/besteffort/pod1", "/kubepods/pod2", "/kubepods/burstable/pod3/ctr",
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod4.slice",
        "/kubepods.slice/kubepods-pod5.slice"}) {
    m.MakeCpuCgroup(rel);
    EXPECT_TRUE(a.Demote({rel, m.cpu() + rel}).ok()) << rel;
    EXPECT_EQ(Trim(m.t.Read("cpu" + rel + "/cpu.idle")), "1") << rel;
  }
  EXPECT_EQ(a.RevertAll().failed.size(), 0u);
}

TEST_F(BestEffort, AllowlistAndRootCgroupAreRefusedWithoutChanges) {
  rails.allowed_cgroups = {"/kubepods"};
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"batch", m.cpu() + "/be"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("allowlist"), std::string::npos);
  BestEffortActuator b(cfg, m.w, *journal, SafetyRails{});
  EXPECT_FALSE(b.Demote({"all", m.cpu()}).ok());
  EXPECT_TRUE(m.w.ops.empty());
  EXPECT_EQ(m.w.sched[500].policy, SCHED_OTHER);
}

TEST_F(BestEffort, NoCpuIdleFileIsAWarningAndMissingCgroupAnError) {
  std::remove((m.cpu() + "/be/cpu.idle").c_str());
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"batch", m.cpu() + "/be"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cpu_idle_set);
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings[0].find("no cpu.idle"), std::string::npos);
  auto bad = a.Demote({"other", m.cpu() + "/missing"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/missing"), std::string::npos);
}

// cpu.idle at the level separating the workload from its victim (an ancestor): set there, that
// ancestor's weight journaled and put back; the workload's own cgroup untouched.
TEST_F(BestEffort, CpuIdleOnAnAncestorLevelIsRevertedWithItsWeight) {
  m.MakeCpuCgroup("/batch");
  m.MakeCpuCgroup("/batch/job");
  m.t.Write("cpu/batch/cpu.shares", "512\n");
  m.AddTask(600, {.cpu_cg = "/batch/job"});
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"job", m.cpu() + "/batch/job", m.cpu() + "/batch"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->cpu_idle_set);
  EXPECT_EQ(r->idle_dir, m.cpu() + "/batch");
  EXPECT_EQ(Trim(m.t.Read("cpu/batch/cpu.idle")), "1");
  EXPECT_EQ(Trim(m.t.Read("cpu/batch/job/cpu.idle")), "0");
  EXPECT_EQ(m.w.sched[600].policy, SCHED_IDLE);
  auto rev = a.Revert("job");
  ASSERT_TRUE(rev.ok());
  EXPECT_TRUE(rev->Complete());
  EXPECT_EQ(Trim(m.t.Read("cpu/batch/cpu.idle")), "0");
  EXPECT_EQ(Trim(m.t.Read("cpu/batch/cpu.shares")), "512");
  EXPECT_EQ(m.w.sched[600].policy, SCHED_OTHER);
}

// "" = SCHED_IDLE threads only: no cgroup file is written (kubelet owns the separating level).
TEST_F(BestEffort, ThreadsOnlyWritesNoCgroupFile) {
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"batch", m.cpu() + "/be", ""});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->cpu_idle_set);
  std::vector<std::string> want = {"setattr 500 SCHED_IDLE 0", "setattr 501 SCHED_IDLE 5",
                                   "setattr 502 SCHED_IDLE -3"};
  EXPECT_EQ(m.w.ops, want);
  ASSERT_TRUE(a.Revert("batch").ok());
  EXPECT_EQ(m.w.sched[501], (SchedAttr{SCHED_BATCH, 5, 0, 0}));
}

// The level must be an ancestor and obey the same rails: never a kubelet QoS level.
TEST_F(BestEffort, AnIdleLevelThatIsNoAncestorOrKubeletsIsRefused) {
  m.MakeCpuCgroup("/kubepods");
  m.MakeCpuCgroup("/kubepods/besteffort");
  m.MakeCpuCgroup("/kubepods/besteffort/pod1");
  m.MakeCpuCgroup("/other");
  BestEffortActuator a(cfg, m.w, *journal, rails);
  auto r = a.Demote({"batch", m.cpu() + "/be", m.cpu() + "/other"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is not an ancestor"), std::string::npos) << r.error().message;
  r = a.Demote({"pod1", m.cpu() + "/kubepods/besteffort/pod1", m.cpu() + "/kubepods/besteffort"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EPERM);
  EXPECT_NE(r.error().message.find("never demoted"), std::string::npos) << r.error().message;
  EXPECT_TRUE(m.w.ops.empty());
}

}  // namespace
}  // namespace sw
