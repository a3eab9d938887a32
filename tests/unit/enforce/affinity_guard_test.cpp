// The affinity guard against kernels before 6.2, which reset a task's CPU affinity to its
// cpuset's CPUs on every cpuset change (FakeMachine models that).
#include <gtest/gtest.h>

#include "common/fs.h"
#include "enforce/exclusive_actuator.h"
#include "enforce/restore.h"
#include "enforce/undo.h"
#include "fake_machine.h"

namespace sw {
namespace {

using test::FakeMachine;

bool Has(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

class AffinityV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    m.t.Write("cpuset/cpuset.cpus", "0-3\n");
    m.MakeCpuCgroup("/lc");
    m.MakeCpuset("/docker", "0-3");
    m.AddTask(1, {});
    m.AddTask(2, {.ppid = 0, .kthread = true});
    m.AddTask(100, {});                              // pinned to the CPU about to become exclusive
    m.AddTask(101, {});                              // pinned to it and another
    m.AddTask(102, {});                              // not pinned
    m.AddTask(200, {.cpu_cg = "/lc"});               // the workload, not pinned
    m.AddTask(201, {.tgid = 200, .cpu_cg = "/lc"});  // a workload thread pinned inside the grant
    m.AddTask(700, {.cpuset_cg = "/docker"});        // in a foreign cpuset
    m.Pin(100, {1});
    m.Pin(101, {0, 1});
    m.Pin(201, {1});
    m.Pin(700, {2, 3});
    rails.agent_pid = 300;
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok()) << j.error().message;
    journal.emplace(std::move(*j));
    cfg.cpuset_root = m.cpuset();
    cfg.workload_root = m.cpu();
    cfg.proc_root = m.proc();
  }
  ExclusiveCoreActuator Make() {
    ExclusiveCoreActuator a(cfg, m.w, *journal, rails);
    EXPECT_TRUE(a.Init().ok());
    return a;
  }
  void ExpectAsBefore() {
    EXPECT_EQ(m.AffinityOf(1), (CpuSet{0, 1, 2, 3}));
    EXPECT_EQ(m.AffinityOf(100), (CpuSet{1}));
    EXPECT_EQ(m.AffinityOf(101), (CpuSet{0, 1}));
    EXPECT_EQ(m.AffinityOf(102), (CpuSet{0, 1, 2, 3}));
    EXPECT_EQ(m.AffinityOf(200), (CpuSet{0, 1, 2, 3}));
    EXPECT_EQ(m.AffinityOf(201), (CpuSet{1}));
    EXPECT_EQ(m.AffinityOf(700), (CpuSet{2, 3}));
  }
  FakeMachine m;
  SafetyRails rails;
  std::optional<Journal> journal;
  ExclusiveActuatorConfig cfg;
};

TEST_F(AffinityV1, GrantKeepsOwnMasksWithinWhatIsLeftAndReleasePutsThemBack) {
  auto a = Make();
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  // What a 6.2+ kernel gives them: their own mask within the CPUs allowed now.
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{0}));
  EXPECT_EQ(m.AffinityOf(700), (CpuSet{2, 3}));
  EXPECT_EQ(m.AffinityOf(201), (CpuSet{1}));
  EXPECT_EQ(m.AffinityOf(102), (CpuSet{0, 2, 3}));  // not pinned: the shared CPUs
  EXPECT_EQ(m.AffinityOf(200), (CpuSet{1}));
  // Pinned only to the exclusive CPU: runs on the shared ones meanwhile, reported.
  EXPECT_EQ(m.AffinityOf(100), (CpuSet{0, 2, 3}));
  EXPECT_TRUE(Has(r->warnings, "thread 100 was pinned to CPUs 1, all exclusive now"))
      << ::testing::PrintToString(r->warnings);
  int guards = 0;
  for (const auto& e : journal->Outstanding())
    if (e.kind == ChangeKind::kAffinity) {
      guards++;
      EXPECT_EQ(e.group, "exclusive:web");
    }
  EXPECT_EQ(guards, 4);  // 100, 101, 201, 700; nobody with the whole cpuset, no kernel thread
  m.w.ops.clear();
  auto rel = a.Release("web");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete()) << ::testing::PrintToString(rel->failed);
  ExpectAsBefore();
  // The masks go back after every cpuset change, or the next change would reset them again.
  size_t last_cgroup_op = 0, first_affinity = m.w.ops.size();
  for (size_t i = 0; i < m.w.ops.size(); i++) {
    if (m.w.ops[i].rfind("affinity ", 0) == 0)
      first_affinity = std::min(first_affinity, i);
    else
      last_cgroup_op = i;
  }
  EXPECT_LT(last_cgroup_op, first_affinity) << ::testing::PrintToString(m.w.ops);
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

TEST_F(AffinityV1, TwoGrantsReleasedInEitherOrderKeepTheOwnersMask) {
  m.Pin(101, {1, 2});
  auto a = Make();
  ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  m.MakeCpuCgroup("/db");
  m.AddTask(400, {.cpu_cg = "/db"});
  ASSERT_TRUE(a.Promote({"db", m.cpu() + "/db"}, {2}).ok());
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{0, 3}));  // both of its CPUs exclusive
  ASSERT_TRUE(a.Release("web").ok());
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{1}));  // CPU 2 still held by db
  EXPECT_EQ(m.AffinityOf(700), (CpuSet{3}));
  auto rel = a.Release("db");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete());
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{1, 2}));
  EXPECT_EQ(m.AffinityOf(700), (CpuSet{2, 3}));
  EXPECT_EQ(m.AffinityOf(100), (CpuSet{1}));
  EXPECT_EQ(m.AffinityOf(400), (CpuSet{0, 1, 2, 3}));
}

TEST_F(AffinityV1, RestoreAfterACrashPutsMasksBackLast) {
  {
    auto a = Make();
    ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  }  // killed: no release
  journal.reset();
  RestoreOptions opts;
  opts.proc_root = m.proc();
  opts.rails = rails;
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->Complete()) << r->Summary();
  ExpectAsBefore();
  for (pid_t p : {100, 101, 102, 200, 201}) EXPECT_EQ(m.CpusetOf(p), "/");
  // Old journals (without affinity records) stay readable; the new kind reads back.
  auto again = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outstanding_before, 0);
}

TEST_F(AffinityV1, VanishedThreadIsGoneNotAFailure) {
  auto a = Make();
  ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  m.RemoveTask(100);        // exited
  m.w.affinity.erase(101);  // exits between the identity check and the syscall: ESRCH
  auto rel = a.Release("web");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete()) << ::testing::PrintToString(rel->failed);
  EXPECT_TRUE(Has(rel->gone, "thread 100 exited"));
  EXPECT_TRUE(Has(rel->gone, "thread 101 exited"));
  EXPECT_EQ(m.AffinityOf(700), (CpuSet{2, 3}));
}

TEST_F(AffinityV1, CpusNoLongerAllowedGetWhatIsLeftWithAWarning) {
  m.MakeCpuset("/narrow", "0,2");
  m.AddTask(800, {.cpuset_cg = "/narrow"});
  JournalEntry e;
  e.kind = ChangeKind::kAffinity;
  e.tid = 800;
  e.start_time = 1800;
  e.original = "1-2";
  e.path = m.cpuset();
  e.controller = "cpuset";
  // A kernel that refuses a mask with CPUs outside the cpuset: the part it allows.
  m.w.fail_prefixes = {"affinity 800 1-2"};
  UndoResult r = UndoChange(e, m.w, m.proc());
  EXPECT_EQ(r.outcome, UndoOutcome::kPartial) << r.detail;
  EXPECT_NE(r.detail.find("now allows CPUs 0,2"), std::string::npos) << r.detail;
  EXPECT_EQ(m.AffinityOf(800), (CpuSet{2}));
  // None of them allowed (the kernel's EINVAL): left as it is, a warning, not a failure.
  m.w.fail_prefixes.clear();
  e.original = "1";
  r = UndoChange(e, m.w, m.proc());
  EXPECT_EQ(r.outcome, UndoOutcome::kPartial) << r.detail;
  EXPECT_NE(r.detail.find("none of them"), std::string::npos) << r.detail;
  EXPECT_EQ(m.AffinityOf(800), (CpuSet{2}));
  // Another task now under that id: not touched.
  e.start_time = 1;
  EXPECT_EQ(UndoChange(e, m.w, m.proc()).outcome, UndoOutcome::kGone);
}

TEST_F(AffinityV1, FailedPromotionRollsTheMasksBackToo) {
  m.w.fail_prefixes = {"mkdir " + m.cpuset() + "/schedwarden.x.web"};
  auto a = Make();
  ASSERT_FALSE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  ExpectAsBefore();
  EXPECT_TRUE(journal->Outstanding().empty());
}

// cgroup v2 on 6.1: the partition changes the root's and the siblings' effective CPUs.
class AffinityV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeV2Cgroup("/", "0-3");
    m.MakeV2Cgroup("/system");
    m.MakeV2Cgroup("/pod");
    m.AddTask(100, {.v2_cg = "/system"});
    m.AddTask(101, {});
    m.AddTask(102, {});
    m.AddTask(200, {.v2_cg = "/pod"});
    m.Pin(100, {1, 3});
    m.Pin(101, {3});
    m.Pin(200, {2});
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    journal.emplace(std::move(*j));
    cfg.version = CgroupVersion::kV2;
    cfg.cpuset_root = m.cg();
    cfg.workload_root = m.cg();
    cfg.proc_root = m.proc();
  }
  FakeMachine m;
  std::optional<Journal> journal;
  ExclusiveActuatorConfig cfg;
};

TEST_F(AffinityV2, PartitionGrantAndRelease) {
  ExclusiveCoreActuator a(cfg, m.w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  auto r = a.Promote({"pod", m.cg() + "/pod"}, {2, 3});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(m.AffinityOf(100), (CpuSet{1}));
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{0, 1}));
  EXPECT_EQ(m.AffinityOf(102), (CpuSet{0, 1}));
  EXPECT_EQ(m.AffinityOf(200), (CpuSet{2}));
  auto rel = a.Release("pod");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete()) << ::testing::PrintToString(rel->failed);
  EXPECT_EQ(m.AffinityOf(100), (CpuSet{1, 3}));
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{3}));
  EXPECT_EQ(m.AffinityOf(102), (CpuSet{0, 1, 2, 3}));
  EXPECT_EQ(m.AffinityOf(200), (CpuSet{2}));
}

// 6.2+ kernels keep the owner's mask themselves: the guard journals but sets nothing.
TEST_F(AffinityV2, KernelsThatKeepTheMaskNeedNoWrite) {
  m.keeps_user_mask = true;
  ExclusiveCoreActuator a(cfg, m.w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  ASSERT_TRUE(a.Promote({"pod", m.cg() + "/pod"}, {2, 3}).ok());
  EXPECT_EQ(m.AffinityOf(100), (CpuSet{1}));
  ASSERT_TRUE(a.Release("pod").ok());
  EXPECT_EQ(m.AffinityOf(100), (CpuSet{1, 3}));
  EXPECT_EQ(m.AffinityOf(101), (CpuSet{3}));
  for (const auto& op : m.w.ops) EXPECT_EQ(op.rfind("affinity ", 0), std::string::npos) << op;
}

}  // namespace
}  // namespace sw
