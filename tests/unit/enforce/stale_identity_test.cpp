// Issue 13 part 6: an undo never writes into a cgroup removed and re-created under the same
// name, never touches a recycled pid, and an old journal (no cgroup ids) still restores.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "enforce/journal.h"
#include "enforce/restore.h"
#include "enforce/undo.h"
#include "fake_machine.h"

namespace sw {
namespace {

// Re-creates `rel` (a directory of the fake tree) with the same files: the new directory is
// made while the old one still exists, so its inode is necessarily another one.
void Recreate(test::FakeMachine& m, const std::string& rel) {
  namespace fs = std::filesystem;
  const std::string p = m.t.Path(rel);
  fs::rename(p, p + ".old");
  fs::create_directories(p);
  for (const auto& f : fs::directory_iterator(p + ".old"))
    fs::copy_file(f.path(), p + "/" + f.path().filename().string());
  fs::remove_all(p + ".old");
}

JournalEntry SharesWrite(const std::string& path) {
  JournalEntry e;
  e.group = "idle:x";
  e.kind = ChangeKind::kWriteFile;
  e.path = path;
  e.original = "2048";
  e.value = "512";
  return e;
}

TEST(StaleIdentity, WriteIntoARecreatedCgroupIsNotUndone) {
  test::FakeMachine m;
  m.t.MakeDir("cpu/x");
  m.t.Write("cpu/x/cpu.shares", "2048\n");
  const std::string path = m.cpu() + "/x/cpu.shares";
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok()) << j.error().message;
    auto seq = j->Begin(SharesWrite(path));
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(m.w.WriteFile(path, "512").ok());
    ASSERT_TRUE(j->MarkApplied(*seq).ok());
  }
  const uint64_t id_before = CgroupDirId(m.cpu() + "/x");
  Recreate(m, "cpu/x");  // someone else's cgroup now, which happens to read 512 too
  ASSERT_NE(CgroupDirId(m.cpu() + "/x"), id_before);
  RestoreOptions opts;
  opts.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Trim(m.t.Read("cpu/x/cpu.shares")), "512");  // not our 2048
  ASSERT_EQ(r->undo.gone.size(), 1u) << r->Summary();
  EXPECT_NE(r->undo.gone[0].find("re-created"), std::string::npos) << r->Summary();
  EXPECT_TRUE(r->Complete()) << r->Summary();
}

TEST(StaleIdentity, WriteIntoTheSameCgroupIsUndone) {
  test::FakeMachine m;
  m.t.MakeDir("cpu/x");
  m.t.Write("cpu/x/cpu.shares", "512\n");
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j->Begin(SharesWrite(m.cpu() + "/x/cpu.shares")).ok());
  }
  RestoreOptions opts;
  opts.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Trim(m.t.Read("cpu/x/cpu.shares")), "2048") << r->Summary();
}

TEST(StaleIdentity, MoveBackIntoARecreatedCgroupIsNotDone) {
  test::FakeMachine m;
  m.MakeCpuset("/from", "0-1");
  m.MakeCpuset("/to", "0-1");
  m.AddTask(42, {.start = 7, .cpuset_cg = "/from"});
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    JournalEntry e;
    e.group = "exclusive:x";
    e.kind = ChangeKind::kMoveTask;
    e.tid = 42;
    e.start_time = 7;
    e.controller = "cpuset";
    e.path = m.cpuset() + "/to/tasks";
    e.original = m.cpuset() + "/from/tasks";
    e.cgroup_from = "/from";
    e.cgroup_to = "/to";
    auto seq = j->Begin(e);
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(m.w.MoveTask(e.path, 42).ok());
    ASSERT_TRUE(j->MarkApplied(*seq).ok());
  }
  ASSERT_EQ(m.CpusetOf(42), "/to");
  Recreate(m, "cpuset/from");
  RestoreOptions opts;
  opts.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(m.CpusetOf(42), "/to") << r->Summary();
  ASSERT_EQ(r->undo.gone.size(), 1u) << r->Summary();
  EXPECT_NE(r->undo.gone[0].find("re-created"), std::string::npos) << r->Summary();
}

TEST(StaleIdentity, RecycledPidKeepsItsPolicy) {
  test::FakeMachine m;
  m.AddTask(42, {.start = 7}, {SCHED_IDLE, 0, 0, 0});
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    JournalEntry e;
    e.group = "idle:x";
    e.kind = ChangeKind::kSchedAttr;
    e.tid = 42;
    e.start_time = 7;
    e.original_attr = {SCHED_OTHER, 0, 0, 0};
    e.new_attr = {SCHED_IDLE, 0, 0, 0};
    ASSERT_TRUE(j->Begin(e).ok());
  }
  m.SetStartTime(42, 9);  // the demoted thread exited; a new task got its id, SCHED_IDLE itself
  RestoreOptions opts;
  opts.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(m.w.sched[42].policy, SCHED_IDLE) << r->Summary();
  EXPECT_EQ(r->undo.gone.size(), 1u) << r->Summary();
}

TEST(StaleIdentity, OldJournalWithoutCgroupIdsStillRestores) {
  test::FakeMachine m;
  m.t.MakeDir("cpu/x");
  m.t.Write("cpu/x/cpu.shares", "512\n");
  // A record as written before cg_id existed.
  const std::string body = R"({"group":"idle:x","kind":"write_file","original":"2048","path":")" +
                           m.cpu() + R"(/x/cpu.shares","seq":1,"value":"512"})";
  m.t.Write("state/journal", EncodeJournalLine(body) + "\n" +
                                 EncodeJournalLine(R"({"mark":"applied","seq":1})") + "\n");
  RestoreOptions opts;
  opts.proc_root = m.proc();
  auto r = RestoreFromJournal(m.state(), m.w, opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->Complete()) << r->Summary();
  EXPECT_EQ(Trim(m.t.Read("cpu/x/cpu.shares")), "2048") << r->Summary();
}

TEST(StaleIdentity, CgroupIdsRoundTripThroughTheJournal) {
  test::FakeMachine m;
  m.t.MakeDir("cpu/x");
  m.t.Write("cpu/x/cpu.shares", "512\n");
  {
    auto j = Journal::Open(m.state());
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j->Begin(SharesWrite(m.cpu() + "/x/cpu.shares")).ok());
  }
  auto rep = ReadJournalFile(m.state() + "/journal");
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->entries.size(), 1u);
  EXPECT_EQ(rep->entries[0].cgroup_id, CgroupDirId(m.cpu() + "/x"));
  EXPECT_NE(rep->entries[0].cgroup_id, 0u);
}

}  // namespace
}  // namespace sw
