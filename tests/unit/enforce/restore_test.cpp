#include "enforce/restore.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/fs.h"
#include "enforce/best_effort_actuator.h"
#include "enforce/exclusive_actuator.h"
#include "fake_machine.h"

namespace sw {
namespace {

class Restore : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeCpuCgroup("/lc");
    m.MakeCpuCgroup("/be");
    m.t.Write("cpu/be/cpu.shares", "2048\n");  // not the default: cpu.idle=0 would reset it
    m.MakeCpuset("/docker", "0-1");
    m.AddTask(1, {});
    m.AddTask(100, {});
    m.AddTask(200, {.cpu_cg = "/lc"});
    m.AddTask(500, {.cpu_cg = "/be"}, {SCHED_OTHER, 4, 0, 0});
    m.AddTask(501, {.tgid = 500, .cpu_cg = "/be"}, {SCHED_BATCH, 0, 0, 0});
    m.AddTask(700, {.cpuset_cg = "/docker"});
    rails.agent_pid = 300;
    opts.proc_root = m.proc();
    opts.rails = rails;
  }
  // Promote + demote, then "crash": the actuators and the journal are dropped without undo.
  void ApplyAndCrash() {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    ExclusiveActuatorConfig ec;
    ec.cpuset_root = m.cpuset();
    ec.proc_root = m.proc();
    ec.workload_root = m.cpu();
    ExclusiveCoreActuator ex(ec, m.w, *j, rails);
    ASSERT_TRUE(ex.Init().ok());
    ASSERT_TRUE(ex.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
    BestEffortActuatorConfig bc;
    bc.proc_root = m.proc();
    bc.cgroup_root = m.cpu();
    BestEffortActuator be(bc, m.w, *j, rails);
    ASSERT_TRUE(be.Demote({"batch", m.cpu() + "/be"}).ok());
    ASSERT_EQ(m.CpusetOf(100), "/schedwarden.shared");
    ASSERT_EQ(m.w.sched[501].policy, SCHED_IDLE);
    ASSERT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "1");
    ASSERT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "3");
  }
  void ExpectOriginalState() {
    for (pid_t p : {1, 100, 200, 500, 501}) EXPECT_EQ(m.CpusetOf(p), "/") << p;
    EXPECT_EQ(m.CpusetOf(700), "/docker");
    EXPECT_EQ(Trim(m.t.Read("cpuset/docker/cpuset.cpus")), "0-1");
    EXPECT_EQ(m.w.sched[500], (SchedAttr{SCHED_OTHER, 4, 0, 0}));
    EXPECT_EQ(m.w.sched[501], (SchedAttr{SCHED_BATCH, 0, 0, 0}));
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "2048");
    EXPECT_FALSE(PathExists(m.cpuset() + "/schedwarden.shared"));
    EXPECT_FALSE(PathExists(m.cpuset() + "/schedwarden.x.web"));
  }
  test::FakeMachine m;
  SafetyRails rails;
  RestoreOptions opts;
};

TEST_F(Restore, AfterACrashEverythingIsPutBackAndRestoreIsIdempotent) {
  ApplyAndCrash();
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->Complete()) << r->Summary();
  EXPECT_EQ(r->ExitCode(), 0);
  // 2 mkdir, 4+1 moves, docker cpus, cpu.shares, cpu.idle, 2 threads
  EXPECT_EQ(r->outstanding_before, 12);
  EXPECT_EQ(r->undo.restored, 12);
  ExpectOriginalState();
  // Second run: nothing left, no operation at all.
  m.w.ops.clear();
  auto again = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ExitCode(), 0);
  EXPECT_EQ(again->outstanding_before, 0);
  EXPECT_EQ(again->Summary(), "nothing to restore\n");
  EXPECT_TRUE(m.w.ops.empty());
}

TEST_F(Restore, ThreadsBornIdleBeforeTheCrashAreRestoredToo) {
  ApplyAndCrash();
  // Forked by the demoted process after its last sweep, just before the agent died.
  m.AddTask(502, {.tgid = 500, .cpu_cg = "/be"}, {SCHED_IDLE, 4, 0, 0});
  m.AddTask(510, {.ppid = 500, .cpu_cg = "/be"}, {SCHED_IDLE, 4, 0, 0});
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete()) << r->Summary();
  EXPECT_EQ(r->outstanding_before, 14);
  EXPECT_EQ(m.w.sched[502], (SchedAttr{SCHED_OTHER, 4, 0, 0}));
  EXPECT_EQ(m.w.sched[510], (SchedAttr{SCHED_OTHER, 4, 0, 0}));
  ExpectOriginalState();
}

TEST_F(Restore, ReconcileAtStartupRestoresALeftoverJournal) {
  ApplyAndCrash();
  auto r = ReconcileAtStartup(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete());
  ExpectOriginalState();
}

TEST_F(Restore, NoJournalIsNothingToRestore) {
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ExitCode(), 0);
  EXPECT_TRUE(m.w.ops.empty());
}

TEST_F(Restore, IntentWithoutAppliedMarkIsStillRestored) {
  // kill -9 between "journaled" and "applied": the write may or may not have happened.
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    JournalEntry e;
    e.group = "idle:batch";
    e.kind = ChangeKind::kWriteFile;
    e.path = m.cpu() + "/be/cpu.idle";
    e.original = "0";
    e.value = "1";
    ASSERT_TRUE(j->Begin(e).ok());
  }
  m.t.Write("cpu/be/cpu.idle", "1\n");  // it did happen
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->undo.restored, 1);
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
}

// kill -9 after the weight and cpu.idle were journaled, before or after cpu.idle was written.
TEST_F(Restore, WeightJournaledWithCpuIdleIsRestoredWhereverTheKillLanded) {
  for (bool written : {false, true}) {
    SCOPED_TRACE(written ? "cpu.idle written" : "cpu.idle not written");
    {
      auto j = Journal::Open(m.state());
      ASSERT_TRUE(j.ok());
      JournalEntry w;
      w.group = "idle:batch";
      w.kind = ChangeKind::kWriteFile;
      w.path = m.cpu() + "/be/cpu.shares";
      w.original = "2048";
      w.restore_if = {"1024", "3"};
      JournalEntry e = w;
      e.path = m.cpu() + "/be/cpu.idle";
      e.original = "0";
      e.value = "1";
      e.restore_if.clear();
      ASSERT_TRUE(j->BeginAll({w, e}).ok());
    }
    if (written) {
      ASSERT_TRUE(m.w.WriteFile(m.cpu() + "/be/cpu.idle", "1").ok());
    }
    ASSERT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), written ? "3" : "2048");
    auto r = RestoreFromJournal(m.state(), m.w, opts);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->Complete()) << r->Summary();
    EXPECT_EQ(r->undo.restored, 2) << r->Summary();
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "2048");
    EXPECT_EQ(m.t.Read("state/journal"), "");
  }
}

// A journal written before the weight was journaled (only cpu.idle) still restores: cpu.idle
// goes back to 0 and the weight is what the kernel leaves, the default.
TEST_F(Restore, AnOldJournalWithoutTheWeightRecordStillRestores) {
  m.t.Write("state/journal",
            EncodeJournalLine("{\"group\":\"idle:batch\",\"kind\":\"write_file\",\"original\":"
                              "\"0\",\"path\":\"" +
                              m.cpu() + "/be/cpu.idle\",\"seq\":1,\"value\":\"1\"}") +
                "\n" + EncodeJournalLine("{\"mark\":\"applied\",\"seq\":1}") + "\n");
  ASSERT_TRUE(m.w.WriteFile(m.cpu() + "/be/cpu.idle", "1").ok());
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete()) << r->Summary();
  EXPECT_EQ(r->undo.restored, 1);
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "1024");
}

// cpu.idle cannot be cleared (here: the write fails): the weight cannot be written either while
// the group is idle, so both stay in the journal and the next restore puts both back.
TEST_F(Restore, WeightStaysOutstandingWhileCpuIdleCannotBeCleared) {
  ApplyAndCrash();
  m.w.fail_prefixes = {"write " + m.cpu() + "/be/cpu.idle"};
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ExitCode(), 1);
  ASSERT_EQ(r->undo.failed.size(), 2u) << r->Summary();
  EXPECT_NE(r->Summary().find("cpu.shares"), std::string::npos) << r->Summary();
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "3");
  m.w.fail_prefixes.clear();
  auto again = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ExitCode(), 0) << again->Summary();
  EXPECT_EQ(again->undo.restored, 2);
  ExpectOriginalState();
}

TEST_F(Restore, VanishedTasksAndCgroupsAreReportedNotFailures) {
  ApplyAndCrash();
  m.RemoveTask(501);
  m.RemoveTask(100);
  std::remove((m.cpu() + "/be/cpu.idle").c_str());
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete()) << r->Summary();
  // 501: its shield move and its policy; 100: its shield move; cpu.idle file.
  EXPECT_EQ(r->undo.gone.size(), 4u) << r->Summary();
  EXPECT_NE(r->Summary().find("restored 8 of 12 change(s), 4 target(s) gone"), std::string::npos)
      << r->Summary();
}

TEST_F(Restore, CorruptRecordMakesTheExitCodeNonZeroButTheRestIsRestored) {
  ApplyAndCrash();
  std::string text = m.t.Read("state/journal");
  size_t line3 = text.find('\n', text.find('\n') + 1) + 1;
  text[line3 + 20] ^= 0x04;
  m.t.Write("state/journal", text);
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->Complete());
  EXPECT_EQ(r->ExitCode(), 1);
  ASSERT_EQ(r->undo.corrupt.size(), 1u);
  EXPECT_NE(r->Summary().find("corrupt: "), std::string::npos);
  EXPECT_NE(r->undo.corrupt[0].find("line 3"), std::string::npos) << r->undo.corrupt[0];
  // Everything else is back.
  EXPECT_EQ(m.w.sched[501], (SchedAttr{SCHED_BATCH, 0, 0, 0}));
  EXPECT_EQ(m.CpusetOf(200), "/");
  // The journal is kept for inspection, and a rerun reports the same corruption again.
  auto again = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ExitCode(), 1);
}

TEST_F(Restore, FailedRestoreIsRetriedByTheNextRun) {
  ApplyAndCrash();
  m.w.fail_prefixes = {"setattr 501"};
  m.w.fail_errno = EPERM;
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ExitCode(), 1);
  ASSERT_EQ(r->undo.failed.size(), 1u);
  m.w.fail_prefixes.clear();
  auto again = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ExitCode(), 0) << again->Summary();
  EXPECT_EQ(again->undo.restored, 1);
  ExpectOriginalState();
}

TEST_F(Restore, RefusedWhileTheAgentHoldsTheJournal) {
  auto j = Journal::Open(m.state());
  ASSERT_TRUE(j.ok());
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lock journal"), std::string::npos);
}

}  // namespace
}  // namespace sw
