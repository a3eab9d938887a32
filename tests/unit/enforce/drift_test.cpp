// Drift: a file the agent changed, rewritten by its owner (kubelet) behind the agent's back. The
// ground truth is the fake cgroup files and the journal as read back from disk.
#include "enforce/drift.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/fs.h"
#include "enforce/enforcer.h"
#include "fake_machine.h"

namespace sw {
namespace {

bool Wrote(const std::vector<std::string>& ops, const std::string& path) {
  return std::any_of(ops.begin(), ops.end(), [&](const std::string& op) {
    return op.rfind("write " + path + " ", 0) == 0;
  });
}

class DriftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m.MakeCpuCgroup("/kubepods");
    m.MakeCpuCgroup("/kubepods/besteffort");
    m.MakeCpuCgroup("/kubepods/besteffort/podhog");
    m.t.Write("cpu/kubepods/besteffort/podhog/cpu.shares", "2\n");  // kubelet's besteffort weight
    m.AddTask(1, {});
    m.AddTask(500, {.cpu_cg = "/kubepods/besteffort/podhog"});
    cfg.state_dir = m.state();
    cfg.mounts = m.mounts();
    cfg.proc_root = m.proc();
    auto topo = LoadSyntheticTopology("pack:1 core:2 pu:1");
    ASSERT_TRUE(topo.ok());
    cfg.topology = *topo;
    cfg.rails.agent_pid = 300;
  }
  std::string Pod() const { return m.cpu() + "/kubepods/besteffort/podhog"; }
  test::FakeMachine m;
  EnforcerConfig cfg;
};

// kubelet clears cpu.idle and writes its weight back: noticed once on the next Sweep, the
// journal no longer holds the cpu.idle change, and neither Revert nor Shutdown writes cpu.idle
// or the weight over kubelet's values.
TEST_F(DriftTest, KubeletRewriteIsNoticedOnceYieldedAndNeverWrittenBack) {
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE((*e)->Demote("hog", "/kubepods/besteffort/podhog").ok());
  ASSERT_EQ(Trim(m.t.Read("cpu/kubepods/besteffort/podhog/cpu.idle")), "1");
  ASSERT_TRUE((*e)->Sweep().ok());
  EXPECT_TRUE((*e)->TakeDrift().empty());  // nothing rewritten yet
  // kubelet (through the fake kernel): cpu.idle 0 resets the weight, then kubelet's own weight.
  ASSERT_TRUE(m.w.WriteFile(Pod() + "/cpu.idle", "0").ok());
  ASSERT_TRUE(m.w.WriteFile(Pod() + "/cpu.shares", "4").ok());
  ASSERT_TRUE((*e)->Sweep().ok());
  auto d = (*e)->TakeDrift();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, "cpu.idle");
  EXPECT_EQ(d[0].group, "idle:hog");
  EXPECT_EQ(d[0].wrote, "1");
  EXPECT_EQ(d[0].found, "0");
  ASSERT_TRUE((*e)->Sweep().ok());
  EXPECT_TRUE((*e)->TakeDrift().empty());  // reported once, not every interval
  auto j = ReadJournalFile(m.state() + "/journal");
  ASSERT_TRUE(j.ok());
  for (const JournalEntry& x : j->entries) {
    if (x.path == Pod() + "/cpu.idle") {
      EXPECT_TRUE(x.undone) << "cpu.idle still journaled";
    }
  }
  m.w.ops.clear();
  RestoreReport r = (*e)->Shutdown();
  EXPECT_TRUE(r.Complete()) << r.Summary();
  EXPECT_FALSE(Wrote(m.w.ops, Pod() + "/cpu.idle"));
  EXPECT_FALSE(Wrote(m.w.ops, Pod() + "/cpu.shares"));
  EXPECT_EQ(Trim(m.t.Read("cpu/kubepods/besteffort/podhog/cpu.idle")), "0");
  EXPECT_EQ(Trim(m.t.Read("cpu/kubepods/besteffort/podhog/cpu.shares")), "4");
  EXPECT_EQ(m.w.sched[500].policy, SCHED_OTHER);  // the threads are still the agent's to undo
}

// The same file written twice by the agent (a leaf cpuset narrowed twice): the newest write is
// compared; cpu lists compare as sets; a removed cgroup and a kernel-made change are no drift.
TEST(Drift, NewestWriteComparedAsCpuSetsAndVanishedFilesIgnored) {
  test::TempTree t;
  t.Write("cg/a/cpuset.cpus", "0-1\n");
  t.Write("cg/b/cpuset.cpus", "0,1\n");
  t.Write("cg/c/cpu.shares", "3\n");
  auto j = Journal::Open(t.Path("state"));
  ASSERT_TRUE(j.ok());
  auto write = [&](const std::string& path, const std::string& orig, const std::string& value) {
    JournalEntry e;
    e.group = "shield";
    e.kind = ChangeKind::kWriteFile;
    e.path = path;
    e.original = orig;
    e.value = value;
    auto seq = j->Begin(e);
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(j->MarkApplied(*seq).ok());
  };
  write(t.Path("cg/a/cpuset.cpus"), "0-3", "0-2");
  write(t.Path("cg/a/cpuset.cpus"), "0-2", "0-1");   // newest: matches
  write(t.Path("cg/b/cpuset.cpus"), "0-3", "0-1");   // "0,1" is the same set
  write(t.Path("cg/gone/cpuset.cpus"), "0-3", "0");  // cgroup removed since
  write(t.Path("cg/c/cpu.shares"), "1024", "");      // the kernel's change (cpu.idle)
  write(t.Path("cg/c/cpuset.mems"), "0", "1");       // not a watched file
  auto d = YieldDrifted(*j);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
  EXPECT_EQ(j->Outstanding().size(), 6u);
  t.Write("cg/a/cpuset.cpus", "0-3\n");  // its owner put every CPU back
  d = YieldDrifted(*j);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].kind, "cpuset.cpus");
  EXPECT_EQ((*d)[0].wrote, "0-1");
  EXPECT_EQ((*d)[0].found, "0-3");
  // Both records of that file are given up, so restore writes neither stale value.
  EXPECT_EQ(j->Outstanding().size(), 4u);
  for (const JournalEntry& e : j->Outstanding()) EXPECT_NE(e.path, t.Path("cg/a/cpuset.cpus"));
}

// A record given up to drift may be marked undone again later by its actuator (a leaf cpuset's
// records when it goes back to its base), also after a compaction dropped it: no mark for an
// unknown record may reach the file (a warning at every later load).
TEST(Drift, MarkingAGivenUpRecordAgainWritesNothing) {
  test::TempTree t;
  t.Write("cg/a/cpuset.cpus", "0-3\n");
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    JournalEntry e;
    e.group = "shield";
    e.path = t.Path("cg/a/cpuset.cpus");
    e.original = "0-3";
    e.value = "0-1";
    auto seq = j->Begin(e);
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(j->MarkApplied(*seq).ok());
    ASSERT_TRUE(YieldDrifted(*j).ok());
    ASSERT_TRUE(j->Compact(t.Path("proc")).ok());
    const size_t lines = j->lines_in_file();
    ASSERT_TRUE(j->MarkAllUndone({*seq}).ok());
    EXPECT_EQ(j->lines_in_file(), lines);
  }
  auto r = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->warnings.empty()) << r->warnings[0];
  EXPECT_TRUE(r->corrupt.empty());
}

}  // namespace
}  // namespace sw
