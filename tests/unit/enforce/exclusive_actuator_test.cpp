#include "enforce/exclusive_actuator.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "fake_machine.h"

namespace sw {
namespace {

using test::FakeMachine;

// The v1 development-machine layout: 2 CPUs, everything in the root cpuset.
class ExclusiveV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeCpuCgroup("/lc");
    m.AddTask(1, {});                             // PID 1
    m.AddTask(2, {.ppid = 0, .kthread = true});   // kthreadd
    m.AddTask(10, {.ppid = 2, .kthread = true});  // a per-CPU kworker
    m.AddTask(100, {});                           // some daemon
    m.AddTask(101, {.tgid = 100});                // its second thread
    m.AddTask(200, {.cpu_cg = "/lc"});            // the latency-critical workload
    m.AddTask(300, {});                           // the agent
    rails.agent_pid = 300;
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok()) << j.error().message;
    journal.emplace(std::move(*j));
    cfg.version = CgroupVersion::kV1;
    cfg.cpuset_root = m.cpuset();
    cfg.workload_root = m.cpu();
    cfg.proc_root = m.proc();
  }
  ExclusiveCoreActuator Make() {
    ExclusiveCoreActuator a(cfg, m.w, *journal, rails);
    auto init = a.Init();
    EXPECT_TRUE(init.ok()) << init.error().message;
    return a;
  }
  std::string C(const std::string& rel) { return m.cpuset() + rel; }

  FakeMachine m;
  SafetyRails rails;
  std::optional<Journal> journal;
  ExclusiveActuatorConfig cfg;
};

TEST_F(ExclusiveV1, PromoteWritesInAnOrderThatNeverEmptiesACpuset) {
  auto a = Make();
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::vector<std::string> want = {
      "mkdir " + C("/schedwarden.shared"),
      "write " + C("/schedwarden.shared/cpuset.cpus") + " 0-1",  // widest first
      "write " + C("/schedwarden.shared/cpuset.mems") + " 0",    // v1: both before any task
      "move " + C("/schedwarden.shared/tasks") + " 100",
      "move " + C("/schedwarden.shared/tasks") + " 101",
      "move " + C("/schedwarden.shared/tasks") + " 200",
      "mkdir " + C("/schedwarden.x.web"),
      "write " + C("/schedwarden.x.web/cpuset.cpus") + " 1",
      "write " + C("/schedwarden.x.web/cpuset.mems") + " 0",
      "move " + C("/schedwarden.x.web/tasks") + " 200",
      "write " + C("/schedwarden.shared/cpuset.cpus") + " 0",  // narrowed only now
  };
  EXPECT_EQ(m.w.ops, want);
  EXPECT_EQ(r->shield.moved, 3);
  EXPECT_EQ(r->shield.skipped, 4);  // PID 1, kthreadd, kworker, the agent
  EXPECT_EQ(r->workload.moved, 1);
  // Kernel-side state of the fake: who is where.
  EXPECT_EQ(m.CpusetOf(1), "/");
  EXPECT_EQ(m.CpusetOf(10), "/");
  EXPECT_EQ(m.CpusetOf(300), "/");
  EXPECT_EQ(m.CpusetOf(100), "/schedwarden.shared");
  EXPECT_EQ(m.CpusetOf(200), "/schedwarden.x.web");
  EXPECT_EQ(a.SharedCpus(), (CpuSet{0}));
  // Journaled: 2 mkdirs, 4 moves, all applied.
  auto outstanding = journal->Outstanding();
  ASSERT_EQ(outstanding.size(), 6u);
  for (const auto& e : outstanding) EXPECT_TRUE(e.applied);
}

TEST_F(ExclusiveV1, ReleaseWidensFirstThenUndoesEverythingAndCompactsTheJournal) {
  auto a = Make();
  ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  m.w.ops.clear();
  auto r = a.Release("web");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Complete());
  std::vector<std::string> want = {
      "write " + C("/schedwarden.shared/cpuset.cpus") + " 0-1",
      "move " + C("/schedwarden.shared/tasks") + " 200",
      "rmdir " + C("/schedwarden.x.web"),
      "move " + C("/tasks") + " 200",
      "move " + C("/tasks") + " 101",
      "move " + C("/tasks") + " 100",
      "rmdir " + C("/schedwarden.shared"),
  };
  EXPECT_EQ(m.w.ops, want);
  for (pid_t p : {1, 2, 10, 100, 101, 200, 300}) EXPECT_EQ(m.CpusetOf(p), "/") << p;
  EXPECT_FALSE(PathExists(C("/schedwarden.shared")));
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

// A runtime creates children with its node's CPUs, which v1 only accepts while the parent has
// them: only leaves with tasks are narrowed, and a new child can still get every CPU.
TEST_F(ExclusiveV1, OnlyPopulatedLeavesAreNarrowedAndRuntimesCanStillCreateChildren) {
  m.MakeCpuset("/docker", "0-1");
  m.MakeCpuset("/docker/c1", "0-1");
  m.MakeCpuset("/docker/empty", "0-1");
  m.AddTask(400, {.cpuset_cg = "/docker/c1"});
  auto a = Make();
  ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  std::vector<std::string> writes;
  for (const auto& op : m.w.ops)
    if (op.find("/docker") != std::string::npos) writes.push_back(op);
  EXPECT_EQ(writes, (std::vector<std::string>{"write " + C("/docker/c1/cpuset.cpus") + " 0"}));
  EXPECT_EQ(Trim(m.t.Read("cpuset/docker/cpuset.cpus")), "0-1");
  EXPECT_EQ(Trim(m.t.Read("cpuset/docker/empty/cpuset.cpus")), "0-1");
  EXPECT_EQ(m.CpusetOf(400), "/docker/c1");  // tasks of other cpusets stay where they are
  // The runtime creates a container with the node's CPUs (the fake follows v1's rules).
  ASSERT_TRUE(m.w.MakeDir(C("/docker/c2")).ok());
  ASSERT_TRUE(m.w.WriteFile(C("/docker/c2/cpuset.cpus"), "0-1").ok());
  m.w.ops.clear();
  ASSERT_TRUE(a.Release("web").ok());
  writes.clear();
  for (const auto& op : m.w.ops)
    if (op.find("/docker") != std::string::npos) writes.push_back(op);
  EXPECT_EQ(writes, (std::vector<std::string>{"write " + C("/docker/c1/cpuset.cpus") + " 0-1"}));
  EXPECT_EQ(Trim(m.t.Read("cpuset/docker/c1/cpuset.cpus")), "0-1");
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

TEST_F(ExclusiveV1, RefusesWhatWouldEmptyACpusetOrTheSharedPoolAndChangesNothing) {
  m.MakeCpuset("/pinned", "1");
  m.AddTask(500, {.cpuset_cg = "/pinned"});
  auto a = Make();
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cpuset /pinned only has CPUs 1"), std::string::npos)
      << r.error().message;
  auto r2 = a.Promote({"web", m.cpu() + "/lc"}, {0, 1});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("no CPU to the shared pool"), std::string::npos);
  auto r3 = a.Promote({"web", m.cpu() + "/lc"}, {7});
  ASSERT_FALSE(r3.ok());
  auto r4 = a.Promote({"bad/name", m.cpu() + "/lc"}, {1});
  ASSERT_FALSE(r4.ok());
  auto r5 = a.Promote({"web", m.cpu() + "/nope"}, {1});
  ASSERT_FALSE(r5.ok());
  EXPECT_NE(r5.error().message.find("/nope"), std::string::npos);
  EXPECT_TRUE(m.w.ops.empty());
  EXPECT_TRUE(journal->Outstanding().empty());
}

TEST_F(ExclusiveV1, AllowlistGuardsTheWorkloadCgroup) {
  rails.allowed_cgroups = {"/batch"};
  auto a = Make();
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cgroup /lc of 'web' is not in the allowlist"),
            std::string::npos)
      << r.error().message;
  m.t.MakeDir("elsewhere");
  auto outside = a.Promote({"web", m.t.Path("elsewhere")}, {1});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("is not under"), std::string::npos);
  EXPECT_TRUE(m.w.ops.empty());
}

TEST_F(ExclusiveV1, TasksAppearingDuringTheMoveAreCaught) {
  bool forked = false;
  auto base = m.w.on_move;
  m.w.on_move = [&](const std::string& f, pid_t tid) {
    base(f, tid);
    if (!forked) {  // the daemon forks while we move it
      forked = true;
      m.AddTask(102, {.tgid = 100});
    }
  };
  auto a = Make();
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(m.CpusetOf(102), "/schedwarden.shared");
  EXPECT_GE(r->shield.rounds, 2);
  EXPECT_TRUE(r->shield.stable);
}

TEST_F(ExclusiveV1, VanishedTasksAreNotErrorsAndPidReuseIsGuarded) {
  auto a = Make();
  // Task 101 is listed but exits before we look at it.
  m.t.Write("cpuset/tasks", m.t.Read("cpuset/tasks") + "555\n");
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->shield.gone, 1);
  // Task 100 exits and its id is reused by an unrelated task: release must not move the new one.
  m.SetStartTime(100, 99999);
  m.RemoveTask(101);
  m.w.ops.clear();
  auto rel = a.Release("web");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete());
  EXPECT_EQ(rel->gone.size(), 2u);
  bool reported = false;
  for (const auto& g : rel->gone) reported |= g.find("task 100 exited") != std::string::npos;
  EXPECT_TRUE(reported);
  // The impostor is not "restored" by its journal record; it is only evacuated, like any task
  // born in the shared cpuset, right before the shared cpuset is removed.
  std::vector<std::string> with100;
  for (const auto& op : m.w.ops)
    if (op.find(" 100") != std::string::npos) with100.push_back(op);
  ASSERT_EQ(with100.size(), 1u);
  EXPECT_EQ(m.w.ops.end()[-2], "move " + C("/tasks") + " 100");
  EXPECT_EQ(m.w.ops.back(), "rmdir " + C("/schedwarden.shared"));
  EXPECT_EQ(m.CpusetOf(100), "/");
}

TEST_F(ExclusiveV1, TaskMovedElsewhereMeanwhileIsLeftAlone) {
  m.MakeCpuset("/other", "0-1");
  auto a = Make();
  ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  ASSERT_TRUE(m.w.MoveTask(C("/other/tasks"), 100).ok());  // an admin moved it
  auto rel = a.Release("web");
  ASSERT_TRUE(rel.ok());
  ASSERT_EQ(rel->skipped.size(), 1u);
  EXPECT_NE(rel->skipped[0].find("task 100 was moved to /other"), std::string::npos);
  EXPECT_EQ(m.CpusetOf(100), "/other");
}

TEST_F(ExclusiveV1, FailureHalfWayIsRolledBack) {
  m.w.fail_prefixes = {"mkdir " + C("/schedwarden.x.web")};
  auto a = Make();
  auto r = a.Promote({"web", m.cpu() + "/lc"}, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("rolled back"), std::string::npos);
  for (pid_t p : {100, 101, 200}) EXPECT_EQ(m.CpusetOf(p), "/");
  EXPECT_FALSE(PathExists(C("/schedwarden.shared")));
  EXPECT_TRUE(journal->Outstanding().empty());
}

TEST_F(ExclusiveV1, SweepMovesLateArrivals) {
  auto a = Make();
  ASSERT_TRUE(a.Promote({"web", m.cpu() + "/lc"}, {1}).ok());
  m.AddTask(600, {});  // new process in the root cpuset
  m.AddTask(201, {.tgid = 200, .cpuset_cg = "/schedwarden.shared", .cpu_cg = "/lc"});
  auto s = a.Sweep();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->moved, 2);
  EXPECT_EQ(m.CpusetOf(600), "/schedwarden.shared");
  EXPECT_EQ(m.CpusetOf(201), "/schedwarden.x.web");
  ASSERT_TRUE(a.Release("web").ok());
  EXPECT_EQ(m.CpusetOf(600), "/");
  EXPECT_EQ(m.CpusetOf(201), "/");
}

// A cgroup v2 layout: the workload's own cgroup gets the cpuset files.
class ExclusiveV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    t.Write("cg/cgroup.controllers", "cpuset cpu io memory pids\n");
    t.Write("cg/cpuset.cpus.effective", "0-3\n");
    t.Write("cg/kubepods/cpuset.cpus.effective", "0-3\n");
    t.Write("cg/kubepods/cpuset.cpus.exclusive", "\n");
    t.Write("cg/kubepods/pod1/cpuset.cpus", "\n");
    t.Write("cg/kubepods/pod1/cpuset.cpus.exclusive", "\n");
    t.Write("cg/kubepods/pod1/cpuset.cpus.partition", "member\n");
    t.Write("cg/kubepods/pod1/cgroup.procs", "");
    t.MakeDir("proc");
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    journal.emplace(std::move(*j));
    cfg.version = CgroupVersion::kV2;
    cfg.cpuset_root = t.Path("cg");
    cfg.proc_root = t.Path("proc");
  }
  test::TempTree t;
  RecordingWriter w;
  std::optional<Journal> journal;
  ExclusiveActuatorConfig cfg;
};

TEST_F(ExclusiveV2, PartitionRootWithExclusiveCpusWidenedFromTheTop) {
  ExclusiveCoreActuator a(cfg, w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  const std::string pod = t.Path("cg/kubepods/pod1");
  auto r = a.Promote({"pod1", pod}, {2, 3});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->others_excluded);
  // cpuset.cpus is left alone: a populated cgroup's empty cpuset.cpus can never be written back
  // (the kernel answers ENOSPC), and the exclusive CPUs are enough for a partition.
  std::vector<std::string> want = {
      "write " + t.Path("cg/kubepods/cpuset.cpus.exclusive") + " 2-3",
      "write " + pod + "/cpuset.cpus.exclusive 2-3",
      "write " + pod + "/cpuset.cpus.partition root",
  };
  EXPECT_EQ(w.ops, want);
  w.ops.clear();
  auto rel = a.Release("pod1");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete());
  std::vector<std::string> back = {
      "write " + pod + "/cpuset.cpus.partition member",
      "write " + pod + "/cpuset.cpus.exclusive \n",
      "write " + t.Path("cg/kubepods/cpuset.cpus.exclusive") + " \n",
  };
  EXPECT_EQ(w.ops, back);
  EXPECT_EQ(Trim(t.Read("cg/kubepods/pod1/cpuset.cpus.partition")), "member");
}

// A handover on v2: the partition left by the old agent keeps cpuset.cpus empty (6.7+) and takes
// its CPUs out of the root's effective set, as the kernel does. The new agent adopts it (checked
// against the partition's effective CPUs) and still counts those CPUs as the machine's: after
// giving them back it can grant them again.
TEST_F(ExclusiveV2, AdoptedPartitionIsCheckedAndItsCpusStayTheMachines) {
  std::string state;
  {
    ExclusiveCoreActuator old(cfg, w, *journal, SafetyRails{});
    ASSERT_TRUE(old.Init().ok());
    ASSERT_TRUE(old.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {2, 3}).ok());
    state = old.ExportState();
  }
  t.Write("cg/cpuset.cpus.effective", "0-1\n");  // the kernel's doing, for a valid partition
  t.Write("cg/kubepods/pod1/cpuset.cpus.effective", "2-3\n");
  ExclusiveCoreActuator a(cfg, w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  auto r = a.ImportState(state);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(a.SharedCpus(), (CpuSet{0, 1}));
  EXPECT_EQ(a.Promoted(), (std::map<std::string, CpuSet>{{"pod1", {2, 3}}}));
  ASSERT_TRUE(a.Release("pod1").ok());
  t.Write("cg/cpuset.cpus.effective", "0-3\n");
  t.Write("cg/kubepods/pod1/cpuset.cpus.effective", "0-3\n");
  EXPECT_EQ(a.SharedCpus(), (CpuSet{0, 1, 2, 3}));
  auto again = a.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {2, 3});
  ASSERT_TRUE(again.ok()) << again.error().message;
  ASSERT_TRUE(a.Release("pod1").ok());
}

// An invalid partition (the kernel gave it other CPUs) is not adopted.
TEST_F(ExclusiveV2, PartitionWithOtherEffectiveCpusIsNotAdopted) {
  std::string state;
  {
    ExclusiveCoreActuator old(cfg, w, *journal, SafetyRails{});
    ASSERT_TRUE(old.Init().ok());
    ASSERT_TRUE(old.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {2, 3}).ok());
    state = old.ExportState();
  }
  t.Write("cg/kubepods/pod1/cpuset.cpus.effective", "0-3\n");
  ExclusiveCoreActuator a(cfg, w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  auto r = a.ImportState(state);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pod1/cpuset.cpus.effective reads '0-3', not '2-3'"),
            std::string::npos)
      << r.error().message;
}

// Before Linux 6.7 (Debian 12's 6.1) there is no cpuset.cpus.exclusive: the CPUs go to
// cpuset.cpus, and since an empty one cannot be written back while tasks are in the cgroup, the
// undo writes the CPUs the cgroup inherited from its parent. Only a cgroup directly under the
// root (or under a partition) can be a partition there.
TEST_F(ExclusiveV2, WithoutExclusiveFilesCpusetCpusGoesBackToTheInheritedCpus) {
  t.Write("cg/lc/cpuset.cpus", "\n");
  t.Write("cg/lc/cpuset.cpus.partition", "member\n");
  t.Write("cg/lc/cgroup.procs", "");
  ExclusiveCoreActuator a(cfg, w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  const std::string lc = t.Path("cg/lc");
  auto r = a.Promote({"lc", lc}, {2, 3});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->others_excluded);
  std::vector<std::string> want = {"write " + lc + "/cpuset.cpus 2-3",
                                   "write " + lc + "/cpuset.cpus.partition root"};
  EXPECT_EQ(w.ops, want);
  w.ops.clear();
  auto rel = a.Release("lc");
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->Complete());
  std::vector<std::string> back = {"write " + lc + "/cpuset.cpus.partition member",
                                   "write " + lc + "/cpuset.cpus 0-3"};
  EXPECT_EQ(w.ops, back);
}

// The same kernel with a nested cgroup (a pod under kubepods): the kernel would mark it "root
// invalid (Parent is not a partition root)", and making kubepods a partition would take the
// CPUs from every pod. Refused up front, naming the cgroup and the limitation; nothing written.
TEST_F(ExclusiveV2, NestedCgroupWithoutExclusiveFilesIsRefusedAndChangesNothing) {
  std::remove(t.Path("cg/kubepods/pod1/cpuset.cpus.exclusive").c_str());
  std::remove(t.Path("cg/kubepods/cpuset.cpus.exclusive").c_str());
  t.Write("cg/kubepods/cpuset.cpus", "\n");
  t.Write("cg/kubepods/cpuset.cpus.partition", "member\n");
  ExclusiveCoreActuator a(cfg, w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  auto r = a.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {3});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EOPNOTSUPP);
  for (const char* part :
       {"cgroup /kubepods/pod1 of 'pod1'", "no cpuset.cpus.exclusive", "before 6.7",
        "parent /kubepods is not a partition ('member')", "Nothing was changed"})
    EXPECT_NE(r.error().message.find(part), std::string::npos) << r.error().message;
  EXPECT_TRUE(w.ops.empty());
  EXPECT_TRUE(journal->Outstanding().empty());
  // Under a partition root the kernel accepts it.
  t.Write("cg/kubepods/cpuset.cpus.partition", "root\n");
  auto ok = a.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {3});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

// The kernel accepts "root" but may mark the partition invalid (a nested cgroup before 6.7, CPUs
// taken meanwhile): not exclusive, so the promotion is undone and reported.
TEST_F(ExclusiveV2, InvalidPartitionIsReportedAndUndone) {
  class InvalidatingWriter final : public SystemWriter {
   public:
    explicit InvalidatingWriter(RecordingWriter& w) : w_(w) {}
    Result<void> WriteFile(const std::string& p, const std::string& v) override {
      if (p.ends_with("cpuset.cpus.partition") && v == "root")
        return w_.WriteFile(p, "root invalid (Parent is not a partition root)");
      return w_.WriteFile(p, v);
    }
    Result<void> MoveTask(const std::string& f, pid_t id) override { return w_.MoveTask(f, id); }
    Result<void> MakeDir(const std::string& p) override { return w_.MakeDir(p); }
    Result<void> RemoveDir(const std::string& p) override { return w_.RemoveDir(p); }
    Result<SchedAttr> GetSchedAttr(pid_t tid) override { return w_.GetSchedAttr(tid); }
    Result<void> SetSchedAttr(pid_t tid, const SchedAttr& a) override {
      return w_.SetSchedAttr(tid, a);
    }
    Result<CpuSet> GetAffinity(pid_t tid) override { return w_.GetAffinity(tid); }
    Result<void> SetAffinity(pid_t tid, const CpuSet& c) override { return w_.SetAffinity(tid, c); }

   private:
    RecordingWriter& w_;
  } invalidating(w);
  ExclusiveCoreActuator a(cfg, invalidating, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  auto r = a.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {3});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("invalid partition"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("rolled back"), std::string::npos) << r.error().message;
  EXPECT_EQ(Trim(t.Read("cg/kubepods/pod1/cpuset.cpus.partition")), "member");
  EXPECT_EQ(Trim(t.Read("cg/kubepods/pod1/cpuset.cpus.exclusive")), "");
  EXPECT_EQ(Trim(t.Read("cg/kubepods/cpuset.cpus.exclusive")), "");
  EXPECT_TRUE(a.Promoted().empty());
  EXPECT_TRUE(journal->Outstanding().empty());
}

TEST_F(ExclusiveV2, MissingPartitionSupportIsAWarning) {
  std::remove(t.Path("cg/kubepods/pod1/cpuset.cpus.partition").c_str());
  ExclusiveCoreActuator a(cfg, w, *journal, SafetyRails{});
  ASSERT_TRUE(a.Init().ok());
  auto r = a.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {3});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->others_excluded);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("no cpuset partitions"), std::string::npos);
}

TEST_F(ExclusiveV2, NoCpusetControllerOrNotAllowedIsAClearErrorAndChangesNothing) {
  t.MakeDir("cg/plain");
  SafetyRails rails;
  ExclusiveCoreActuator a(cfg, w, *journal, rails);
  ASSERT_TRUE(a.Init().ok());
  auto r = a.Promote({"plain", t.Path("cg/plain")}, {3});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("+cpuset"), std::string::npos) << r.error().message;
  rails.allowed_cgroups = {"/system.slice"};
  ExclusiveCoreActuator b(cfg, w, *journal, rails);
  ASSERT_TRUE(b.Init().ok());
  auto r2 = b.Promote({"pod1", t.Path("cg/kubepods/pod1")}, {3});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("allowlist"), std::string::npos);
  EXPECT_TRUE(w.ops.empty());
}

}  // namespace
}  // namespace sw
