// v1 exclusive cores inside container hierarchies (issue 14): leaves get the CPUs, ancestors a
// runtime creates children under keep them all, no task leaves a cgroup someone else made, and
// every cpuset write is journaled with its previous value.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "enforce/exclusive_actuator.h"
#include "enforce/restore.h"
#include "fake_machine.h"

namespace sw {
namespace {

using test::FakeMachine;

TEST(OrderCpusetWrites, NarrowsChildrenFirst) {
  auto w = OrderCpusetWrites({{"/a", {0, 1}}, {"/a/b", {0, 1}}, {"/a/b/c", {0, 1}}},
                             {{"/a", {0}}, {"/a/b", {0}}, {"/a/b/c", {0}}});
  EXPECT_EQ(w, (std::vector<CpusetWrite>{{"/a/b/c", {0}}, {"/a/b", {0}}, {"/a", {0}}}));
}

TEST(OrderCpusetWrites, WidensParentsFirst) {
  auto w = OrderCpusetWrites({{"/a", {0}}, {"/a/b", {0}}, {"/a/b-x", {0}}},
                             {{"/a", {0, 1}}, {"/a/b", {0, 1}}, {"/a/b-x", {0, 1}}});
  EXPECT_EQ(w, (std::vector<CpusetWrite>{{"/a", {0, 1}}, {"/a/b", {0, 1}}, {"/a/b-x", {0, 1}}}));
}

TEST(OrderCpusetWrites, SwapsGoThroughTheUnionAndLeaveTheRestAlone) {
  // A child moving from CPU 0 to CPU 1 under a parent that moves too: widen both parents-first,
  // then narrow children-first; cgroups already right are not written.
  auto w = OrderCpusetWrites({{"/p", {0}}, {"/p/c", {0}}, {"/q", {0, 1}}},
                             {{"/p", {1}}, {"/p/c", {1}}, {"/q", {0, 1}}});
  EXPECT_EQ(
      w, (std::vector<CpusetWrite>{{"/p", {0, 1}}, {"/p/c", {0, 1}}, {"/p/c", {1}}, {"/p", {1}}}));
  EXPECT_TRUE(OrderCpusetWrites({{"/q", {0}}}, {}).empty());
}

// A node as kubelet + containerd build it, in the cpu and the cpuset hierarchy (same paths),
// 2 CPUs; `driver` picks the cgroupfs or the systemd naming.
class LeafCpusets : public ::testing::TestWithParam<bool> {
 protected:
  bool systemd() const { return GetParam(); }
  std::string Qos() const {
    return systemd() ? "/kubepods.slice/kubepods-burstable.slice" : "/kubepods/burstable";
  }
  std::string Pod(const std::string& uid) const {
    return Qos() + (systemd() ? "/kubepods-burstable-pod" + uid + ".slice" : "/pod" + uid);
  }
  std::string Ctr(const std::string& uid, const std::string& id) const {
    return Pod(uid) + (systemd() ? "/cri-containerd-" + id + ".scope" : "/" + id);
  }
  // A cgroup in both hierarchies, cpuset.cpus copied from the parent (as runc does).
  void Make(const std::string& cg) {
    m.MakeCpuCgroup(cg);
    std::string parent = cg.substr(0, cg.find_last_of('/'));
    m.MakeCpuset(cg, Trim(m.t.Read("cpuset" + parent + "/cpuset.cpus")));
  }
  void SetUp() override {
    m.AddTask(1, {});
    m.AddTask(100, {});  // a daemon in the root cpuset
    m.AddTask(300, {});  // the agent
    rails.agent_pid = 300;
    for (const std::string& part : {Qos().substr(0, Qos().find('/', 1)), Qos()}) Make(part);
    for (const std::string& cg : {Pod("L"), Ctr("L", "l1"), Pod("O"), Ctr("O", "o1")}) Make(cg);
    m.AddTask(200, {.cpuset_cg = Ctr("L", "l1"), .cpu_cg = Ctr("L", "l1")});
    m.AddTask(400, {.cpuset_cg = Ctr("O", "o1"), .cpu_cg = Ctr("O", "o1")});
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok()) << j.error().message;
    journal.emplace(std::move(*j));
    cfg.version = CgroupVersion::kV1;
    cfg.cpuset_root = m.cpuset();
    cfg.workload_root = m.cpu();
    cfg.proc_root = m.proc();
    a.emplace(cfg, m.w, *journal, rails);
    ASSERT_TRUE(a->Init().ok());
  }
  std::string Cpus(const std::string& cg) { return Trim(m.t.Read("cpuset" + cg + "/cpuset.cpus")); }
  // Every cpuset cgroup's cpus and every task's cpuset cgroup.
  std::map<std::string, std::string> Snapshot() {
    std::map<std::string, std::string> s;
    for (const auto& e : std::filesystem::recursive_directory_iterator(m.cpuset())) {
      if (!e.is_directory()) continue;
      const std::string d = e.path().string();
      s[d] = Trim(ReadLine(JoinPath(d, "cpuset.cpus")).value_or("?")) + " " +
             Trim(ReadLine(JoinPath(d, "cpuset.mems")).value_or("?"));
    }
    for (pid_t p : {1, 100, 200, 300, 400}) s["task " + std::to_string(p)] = m.CpusetOf(p);
    return s;
  }

  FakeMachine m;
  SafetyRails rails;
  std::optional<Journal> journal;
  ExclusiveActuatorConfig cfg;
  std::optional<ExclusiveCoreActuator> a;
};

TEST_P(LeafCpusets, LeavesGetTheCpusAncestorsKeepThemAndNoContainerTaskMoves) {
  auto before = Snapshot();
  auto r = a->Promote({"podL", m.cpu() + Pod("L")}, {1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->own_cpuset);
  EXPECT_EQ(Cpus(Ctr("L", "l1")), "1");
  EXPECT_EQ(Cpus(Ctr("O", "o1")), "0");
  for (const std::string& cg : {Qos(), Pod("L"), Pod("O")}) EXPECT_EQ(Cpus(cg), "0-1") << cg;
  EXPECT_EQ(m.CpusetOf(200), Ctr("L", "l1"));  // the runtime's cgroups keep their tasks
  EXPECT_EQ(m.CpusetOf(400), Ctr("O", "o1"));
  EXPECT_EQ(m.CpusetOf(100), "/schedwarden.shared");  // the root cpuset is nobody's
  EXPECT_FALSE(PathExists(m.cpuset() + "/schedwarden.x.podL"));
  EXPECT_EQ(m.w.affinity.at(200), (CpuSet{1}));
  EXPECT_EQ(m.w.affinity.at(400), (CpuSet{0}));
  // Every cpuset write is journaled with its previous value.
  int writes = 0;
  for (const JournalEntry& e : journal->Outstanding()) {
    if (e.kind != ChangeKind::kWriteFile) continue;
    writes++;
    EXPECT_EQ(e.original, "0-1") << e.path;
    EXPECT_EQ(e.restore_if, std::vector<std::string>{e.value}) << e.path;
    EXPECT_TRUE(e.applied);
  }
  EXPECT_EQ(writes, 2);
  // While CPU 1 is exclusive a new pod and its container get every CPU (v1 rules in the fake).
  ASSERT_TRUE(m.w.MakeDir(m.cpuset() + Pod("N")).ok());
  ASSERT_TRUE(m.w.WriteFile(m.cpuset() + Pod("N") + "/cpuset.cpus", "0-1").ok());
  ASSERT_TRUE(m.w.MakeDir(m.cpuset() + Ctr("N", "n1")).ok());
  ASSERT_TRUE(m.w.WriteFile(m.cpuset() + Ctr("N", "n1") + "/cpuset.cpus", "0-1").ok());
  ASSERT_TRUE(m.w.WriteFile(m.cpuset() + Ctr("N", "n1") + "/cpuset.mems", "0").ok());
  ASSERT_TRUE(a->Release("podL").ok());
  std::filesystem::remove_all(m.cpuset() + Pod("N"));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(m.t.Read("state/journal"), "");
}

TEST_P(LeafCpusets, SweepGivesNewLeavesTheirCpusWithinOneInterval) {
  ASSERT_TRUE(a->Promote({"podL", m.cpu() + Pod("L")}, {1}).ok());
  // A container started in the victim's pod and one in another pod, with the node's CPUs.
  Make(Ctr("L", "l2"));
  Make(Ctr("O", "o2"));
  Make(Ctr("O", "idle"));  // no task yet: nothing runs there, nothing to write
  m.AddTask(201, {.cpuset_cg = Ctr("L", "l2"), .cpu_cg = Ctr("L", "l2")});
  m.AddTask(401, {.cpuset_cg = Ctr("O", "o2"), .cpu_cg = Ctr("O", "o2")});
  EXPECT_EQ(m.w.affinity.at(401), (CpuSet{0, 1}));
  auto s = a->Sweep();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Cpus(Ctr("L", "l2")), "1");
  EXPECT_EQ(Cpus(Ctr("O", "o2")), "0");
  EXPECT_EQ(Cpus(Ctr("O", "idle")), "0-1");
  EXPECT_EQ(m.w.affinity.at(201), (CpuSet{1}));
  EXPECT_EQ(m.w.affinity.at(401), (CpuSet{0}));
  // A container that ended: its records are done with, nothing to restore later.
  m.RemoveTask(401);
  std::filesystem::remove_all(m.cpuset() + Ctr("O", "o2"));
  ASSERT_TRUE(a->Sweep().ok());
  for (const JournalEntry& e : journal->Outstanding())
    EXPECT_EQ(e.path.find("o2"), std::string::npos) << e.path;
  ASSERT_TRUE(a->Release("podL").ok());
  EXPECT_EQ(Cpus(Ctr("L", "l2")), "0-1");
  EXPECT_EQ(Cpus(Ctr("O", "idle")), "0-1");
}

TEST_P(LeafCpusets, CrashThenRestoreFromTheJournalPutsEveryCgroupBack) {
  auto before = Snapshot();
  ASSERT_TRUE(a->Promote({"podL", m.cpu() + Pod("L")}, {1}).ok());
  Make(Ctr("O", "o2"));
  m.AddTask(401, {.cpuset_cg = Ctr("O", "o2"), .cpu_cg = Ctr("O", "o2")});
  ASSERT_TRUE(a->Sweep().ok());
  a.reset();  // kill -9: nothing released
  RestoreOptions ro;
  ro.proc_root = m.proc();
  ro.rails = rails;
  RestoreReport rep = RestoreJournal(*journal, m.w, ro);
  EXPECT_TRUE(rep.Complete()) << rep.Summary();
  auto after = Snapshot();
  after.erase(m.cpuset() + Ctr("O", "o2"));
  EXPECT_EQ(after, before);
  EXPECT_EQ(Cpus(Ctr("O", "o2")), "0-1");
  EXPECT_TRUE(journal->Outstanding().empty());
}

TEST_P(LeafCpusets, AValueItsOwnerWroteSinceIsLeftAlone) {
  ASSERT_TRUE(a->Promote({"podL", m.cpu() + Pod("L")}, {1}).ok());
  // The other container's owner pins it to CPU 1 meanwhile (its choice; v1 allows it).
  ASSERT_TRUE(m.w.WriteFile(m.cpuset() + Ctr("O", "o1") + "/cpuset.cpus", "1").ok());
  auto s = a->Sweep();  // cannot narrow it without emptying it: reported once, left alone
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("cpuset " + Ctr("O", "o1") + " only has exclusive CPUs 1"),
            std::string::npos)
      << s.error().message;
  EXPECT_TRUE(a->Sweep().ok());
  EXPECT_EQ(Cpus(Ctr("O", "o1")), "1");
  a.reset();  // kill -9
  RestoreOptions ro;
  ro.proc_root = m.proc();
  RestoreReport rep = RestoreJournal(*journal, m.w, ro);
  EXPECT_TRUE(rep.Complete()) << rep.Summary();
  EXPECT_EQ(Cpus(Ctr("L", "l1")), "0-1");
  EXPECT_EQ(Cpus(Ctr("O", "o1")), "1");
  ASSERT_EQ(rep.undo.skipped.size(), 1u) << rep.Summary();
  EXPECT_NE(rep.undo.skipped[0].find("written by someone else"), std::string::npos);
}

TEST_P(LeafCpusets, RefusesWhatWouldNeedACgroupARuntimeOwnsAndChangesNothing) {
  // The victim's pod was narrowed by someone else: its leaves cannot get CPU 1.
  ASSERT_TRUE(m.w.WriteFile(m.cpuset() + Ctr("L", "l1") + "/cpuset.cpus", "0").ok());
  ASSERT_TRUE(m.w.WriteFile(m.cpuset() + Pod("L") + "/cpuset.cpus", "0").ok());
  m.w.ops.clear();
  auto r = a->Promote({"podL", m.cpu() + Pod("L")}, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("its parent has only 0"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(m.w.ops.empty());
  // A workload whose threads sit in someone else's cpuset cgroup (not at its own path).
  m.MakeCpuCgroup("/svc");
  m.AddTask(500, {.cpuset_cg = Ctr("O", "o1"), .cpu_cg = "/svc"});
  auto r2 = a->Promote({"svc", m.cpu() + "/svc"}, {1});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("thread 500 of 'svc' is in cpuset cgroup " + Ctr("O", "o1")),
            std::string::npos)
      << r2.error().message;
  EXPECT_TRUE(m.w.ops.empty());
  EXPECT_TRUE(journal->Outstanding().empty());
}

TEST_P(LeafCpusets, AWorkloadWithoutACpusetCgroupOfItsOwnGetsTheShield) {
  // A systemd service on systemd's v1 layout: no cpuset cgroup (systemd makes none on v1).
  m.MakeCpuCgroup("/system.slice");
  m.MakeCpuCgroup("/system.slice/db.service");
  m.AddTask(600, {.cpu_cg = "/system.slice/db.service"});
  auto before = Snapshot();
  auto r = a->Promote({"db", m.cpu() + "/system.slice/db.service"}, {1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->own_cpuset);
  EXPECT_EQ(m.CpusetOf(600), "/schedwarden.x.db");
  EXPECT_EQ(Cpus(Ctr("L", "l1")), "0");  // every populated leaf is shared
  EXPECT_EQ(Cpus(Ctr("O", "o1")), "0");
  EXPECT_EQ(Cpus(Pod("L")), "0-1");
  ASSERT_TRUE(a->Release("db").ok());
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(m.CpusetOf(600), "/");
}

INSTANTIATE_TEST_SUITE_P(Drivers, LeafCpusets, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "systemd" : "cgroupfs"; });

}  // namespace
}  // namespace sw
