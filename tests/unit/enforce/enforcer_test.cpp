#include "enforce/enforcer.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "fake_machine.h"

namespace sw {
namespace {

class EnforcerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeCpuCgroup("/lc");
    m.MakeCpuCgroup("/lc2");
    m.MakeCpuCgroup("/be");
    m.t.Write("cpu/be/cpu.shares", "2048\n");
    m.AddTask(1, {});
    m.AddTask(100, {});
    m.AddTask(200, {.cpu_cg = "/lc"});
    m.AddTask(210, {.cpu_cg = "/lc2"});
    m.AddTask(500, {.cpu_cg = "/be"}, {SCHED_OTHER, 3, 0, 0});
    cfg.state_dir = m.state();
    cfg.mounts = m.mounts();
    cfg.proc_root = m.proc();
    auto topo = LoadSyntheticTopology("pack:1 core:2 pu:1");  // this machine
    ASSERT_TRUE(topo.ok());
    cfg.topology = *topo;
    cfg.rails.agent_pid = 300;
  }
  std::unique_ptr<Enforcer> Make() {
    auto e = Enforcer::Create(cfg, m.w);
    EXPECT_TRUE(e.ok()) << e.error().message;
    return e.ok() ? std::move(*e) : nullptr;
  }
  test::FakeMachine m;
  EnforcerConfig cfg;
};

TEST_F(EnforcerTest, PromoteDemoteShutdown) {
  auto e = Make();
  ASSERT_TRUE(e);
  auto p = e->Promote("web", "/lc", 1);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_TRUE(p->granted());
  EXPECT_EQ(p->allocation.cpus, (CpuSet{1}));
  EXPECT_EQ(m.CpusetOf(200), "/schedwarden.x.web");
  EXPECT_EQ(Trim(m.t.Read("cpuset/schedwarden.shared/cpuset.cpus")), "0");
  EXPECT_EQ(e->SharedCpus(), (CpuSet{0}));
  // The floor: a second workload cannot have the last core. Refused with a reason, no error.
  auto p2 = e->Promote("web2", "/lc2", 1);
  ASSERT_TRUE(p2.ok());
  EXPECT_FALSE(p2->granted());
  EXPECT_NE(p2->allocation.reason.find("floor"), std::string::npos);
  EXPECT_EQ(m.CpusetOf(210), "/schedwarden.shared");
  ASSERT_TRUE(e->Demote("batch", "/be").ok());
  EXPECT_EQ(m.w.sched[500].policy, SCHED_IDLE);
  ASSERT_TRUE(e->Sweep().ok());
  RestoreReport r = e->Shutdown();
  EXPECT_TRUE(r.Complete()) << r.Summary();
  for (pid_t p : {1, 100, 200, 210, 500}) EXPECT_EQ(m.CpusetOf(p), "/") << p;
  EXPECT_EQ(m.w.sched[500], (SchedAttr{SCHED_OTHER, 3, 0, 0}));
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.idle")), "0");
  EXPECT_EQ(Trim(m.t.Read("cpu/be/cpu.shares")), "2048");  // cpu.idle=0 alone gives 1024
  EXPECT_FALSE(PathExists(m.cpuset() + "/schedwarden.shared"));
  EXPECT_EQ(e->SharedCpus(), (CpuSet{0, 1}));
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

TEST_F(EnforcerTest, ReleaseGivesTheCoreBackToTheAllocator) {
  auto e = Make();
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->Promote("web", "/lc", 1)->granted());
  auto rel = e->Release("web");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete());
  auto again = e->Promote("web2", "/lc2", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->granted());
  EXPECT_EQ(m.CpusetOf(210), "/schedwarden.x.web2");
  EXPECT_TRUE(e->Shutdown().Complete());
}

TEST_F(EnforcerTest, RefusesToStartOverALeftoverJournalUntilReconciled) {
  {
    auto e = Make();
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->Promote("web", "/lc", 1)->granted());
  }  // the agent dies without Shutdown
  auto e2 = Enforcer::Create(cfg, m.w);
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message.find("schedwarden restore"), std::string::npos);
  RestoreOptions opts;
  opts.proc_root = m.proc();
  auto rec = ReconcileAtStartup(m.state(), m.w, opts);
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->Complete()) << rec->Summary();
  EXPECT_EQ(m.CpusetOf(200), "/");
  EXPECT_TRUE(Make());
}

TEST_F(EnforcerTest, BadLayoutIsAnErrorThatChangesNothing) {
  cfg.mounts.reset();
  cfg.sys_fs_cgroup = m.t.Path("no-such-dir");
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("no-such-dir"), std::string::npos);
  EXPECT_TRUE(m.w.ops.empty());
}

TEST_F(EnforcerTest, NoCpusetHierarchyIsAnErrorThatChangesNothing) {
  cfg.mounts->cpuset.reset();
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("no cpuset controller"), std::string::npos);
  EXPECT_NE(e.error().message.find(m.cpu()), std::string::npos);
  EXPECT_TRUE(m.w.ops.empty());
}

}  // namespace
}  // namespace sw
