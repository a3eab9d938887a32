// Handover: a stop that leaves every change in place with a marker, and a start that adopts
// them after checking each against the (fake) machine.
#include <gtest/gtest.h>

#include "common/fs.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "fake_machine.h"

namespace sw {
namespace {

class Handover : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeCpuCgroup("/lc");
    m.MakeCpuCgroup("/be");
    m.t.Write("cpu/be/cpu.shares", "2048\n");
    m.AddTask(1, {});
    m.AddTask(100, {});
    m.AddTask(200, {.start = 20, .cpu_cg = "/lc"});
    m.AddTask(500, {.start = 50, .cpu_cg = "/be"}, {SCHED_OTHER, 3, 0, 0});
    m.AddTask(501, {.tgid = 500, .start = 51, .cpu_cg = "/be"}, {SCHED_BATCH, 0, 0, 0});
    cfg.state_dir = m.state();
    cfg.mounts = m.mounts();
    cfg.proc_root = m.proc();
    auto topo = LoadSyntheticTopology("pack:1 core:2 pu:1");
    ASSERT_TRUE(topo.ok());
    cfg.topology = *topo;
    cfg.rails.agent_pid = 300;
    opts.proc_root = m.proc();
    opts.may_adopt = true;
  }
  // The old agent: promote "web", demote "batch", then stop with a handover.
  void RunAndHandOver() {
    auto e = Enforcer::Create(cfg, m.w);
    ASSERT_TRUE(e.ok()) << e.error().message;
    auto p = (*e)->Promote("web", "/lc", 1);
    ASSERT_TRUE(p.ok() && p->granted());
    ASSERT_TRUE((*e)->Demote("batch", "/be").ok());
    ASSERT_TRUE((*e)->Handover(R"({"victims":["x"]})").ok());
  }
  void ExpectApplied() {
    EXPECT_EQ(m.CpusetOf(200), "/schedwarden.x.web");
    EXPECT_EQ(m.CpusetOf(100), "/schedwarden.shared");
    EXPECT_EQ(Trim(m.t.Read("cpuset/schedwarden.shared/cpuset.cpus")), "0");
    EXPECT_EQ(m.w.sched[500].policy, SCHED_IDLE);
    EXPECT_EQ(m.w.sched[501].policy, SCHED_IDLE);
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "1");
  }
  void ExpectOriginal() {
    for (pid_t p : {1, 100, 200, 500, 501}) EXPECT_EQ(m.CpusetOf(p), "/") << p;
    EXPECT_EQ(m.w.sched[500], (SchedAttr{SCHED_OTHER, 3, 0, 0}));
    EXPECT_EQ(m.w.sched[501], (SchedAttr{SCHED_BATCH, 0, 0, 0}));
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
    EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "2048");
    EXPECT_FALSE(PathExists(m.cpuset() + "/schedwarden.shared"));
  }
  test::FakeMachine m;
  EnforcerConfig cfg;
  RestoreOptions opts;
};

TEST_F(Handover, NextStartAdoptsEverythingAndCanReleaseIt) {
  RunAndHandOver();
  ExpectApplied();
  auto rec = ReconcileAtStartup(m.state(), m.w, opts);
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->handed_over);
  ExpectApplied();  // nothing undone by the start-up reconcile
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_TRUE(e.ok()) << e.error().message;
  const AdoptReport& a = (*e)->adopt_report();
  EXPECT_TRUE(a.adopted);
  EXPECT_TRUE(a.undone_groups.empty()) << a.Summary();
  EXPECT_TRUE(a.dropped.empty()) << a.Summary();
  ExpectApplied();
  EXPECT_EQ((*e)->Exclusive(), (std::map<std::string, CpuSet>{{"web", {1}}}));
  EXPECT_EQ((*e)->Demoted(), std::vector<std::string>{"batch"});
  EXPECT_EQ((*e)->SharedCpus(), (CpuSet{0}));
  EXPECT_EQ((*e)->adopted_controller(), R"({"victims":["x"]})");
  // The allocator knows the core is taken: a second workload is refused by the floor.
  m.MakeCpuCgroup("/lc2");
  auto p2 = (*e)->Promote("web2", "/lc2", 1);
  ASSERT_TRUE(p2.ok());
  EXPECT_FALSE(p2->granted());
  // The adopted changes are the new agent's to undo.
  ASSERT_TRUE((*e)->Revert("batch").ok());
  ASSERT_TRUE((*e)->Release("web").ok());
  RestoreReport r = (*e)->Shutdown();
  EXPECT_TRUE(r.Complete()) << r.Summary();
  ExpectOriginal();
}

TEST_F(Handover, RestoreIgnoresTheMarkerAndUndoesEverything) {
  RunAndHandOver();
  RestoreOptions plain;
  plain.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, plain);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete()) << r->Summary();
  ExpectOriginal();
}

TEST_F(Handover, ChangesThatNoLongerHoldAreDroppedOrUndone) {
  RunAndHandOver();
  m.RemoveTask(501);                                            // exited: dropped
  m.t.Write("cpuset/schedwarden.shared/cpuset.cpus", "0-1\n");  // shield widened by someone
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_TRUE(e.ok()) << e.error().message;
  const AdoptReport& a = (*e)->adopt_report();
  EXPECT_TRUE(a.undone_groups.count("shield")) << a.Summary();
  EXPECT_TRUE(a.undone_groups.count("exclusive:web")) << a.Summary();
  EXPECT_FALSE(a.undone_groups.count("idle:batch")) << a.Summary();
  EXPECT_EQ(a.dropped.size(), 2u) << a.Summary();  // 501: its shield move and SCHED_IDLE
  EXPECT_TRUE((*e)->Exclusive().empty());
  EXPECT_EQ((*e)->SharedCpus(), (CpuSet{0, 1}));
  for (pid_t p : {1, 100, 200}) EXPECT_EQ(m.CpusetOf(p), "/") << p;
  EXPECT_EQ((*e)->Demoted(), std::vector<std::string>{"batch"});  // still holds
  EXPECT_EQ(m.w.sched[500].policy, SCHED_IDLE);
  RestoreReport r = (*e)->Shutdown();
  EXPECT_TRUE(r.Complete()) << r.Summary();
  EXPECT_EQ(m.w.sched[500], (SchedAttr{SCHED_OTHER, 3, 0, 0}));
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
}

TEST_F(Handover, RecycledPidIsDroppedNotAdopted) {
  RunAndHandOver();
  m.SetStartTime(500, 99);  // 500 exited, its id now names another task
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_FALSE((*e)->adopt_report().dropped.empty());
  m.w.sched[500] = {SCHED_OTHER, 0, 0, 0};  // the new task's own policy
  RestoreReport r = (*e)->Shutdown();
  EXPECT_EQ(m.w.sched[500], (SchedAttr{SCHED_OTHER, 0, 0, 0}));  // never given 500's nice 3
}

TEST_F(Handover, AnyRecordAfterTheMarkerVoidsIt) {
  RunAndHandOver();
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    EXPECT_FALSE(j->handover().empty());
    ASSERT_TRUE(j->ConsumeHandover("adopted by a test").ok());
  }
  auto rec = ReconcileAtStartup(m.state(), m.w, opts);
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->handed_over);
  EXPECT_TRUE(rec->Complete()) << rec->Summary();
  ExpectOriginal();
}

TEST_F(Handover, AStartThatMayNotAdoptRestores) {
  RunAndHandOver();
  RestoreOptions observe = opts;
  observe.may_adopt = false;  // e.g. the new agent runs in observe mode
  auto rec = ReconcileAtStartup(m.state(), m.w, observe);
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->handed_over);
  ExpectOriginal();
}

TEST_F(Handover, TornMarkerIsRestored) {
  RunAndHandOver();
  std::string text = m.t.Read("state/journal");
  ASSERT_FALSE(text.empty());
  m.t.Write("state/journal", text.substr(0, text.size() - 5));  // killed mid-write
  auto rec = ReconcileAtStartup(m.state(), m.w, opts);
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->handed_over);
  EXPECT_TRUE(rec->Complete()) << rec->Summary();
  ExpectOriginal();
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

// Killed during adoption: the checks' drops and undos are journaled as they go; the first of
// them voids the marker (it is no longer the last line), so the next start undoes what is left,
// as after any crash, and so does `restore`.
void DieDuringAdoption(test::FakeMachine& m) {
  m.t.Write("cpu/be/cpu.idle", "0\n");  // someone undid the demotion's cpu.idle: its group goes
  auto j = Journal::Open(m.state());
  ASSERT_TRUE(j.ok());
  AdoptReport a = VerifyForAdoption(*j, m.w, m.proc());  // ... and the agent dies here
  EXPECT_FALSE(a.undone_groups.empty());
}

TEST_F(Handover, KilledDuringAdoptionIsUndoneAtTheNextStart) {
  RunAndHandOver();
  DieDuringAdoption(m);
  auto rec = ReconcileAtStartup(m.state(), m.w, opts);
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->handed_over);
  EXPECT_TRUE(rec->Complete()) << rec->Summary();
  ExpectOriginal();
}

TEST_F(Handover, KilledDuringAdoptionIsRestored) {
  RunAndHandOver();
  DieDuringAdoption(m);
  RestoreOptions plain;
  plain.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, plain);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete()) << r->Summary();
  ExpectOriginal();
}

}  // namespace
}  // namespace sw
