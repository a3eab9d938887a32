#include "enforce/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cgroup/tasks.h"
#include "common/fs.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

JournalEntry WriteEntry(const std::string& path, const std::string& orig, const std::string& v) {
  JournalEntry e;
  e.group = "idle:batch";
  e.kind = ChangeKind::kWriteFile;
  e.path = path;
  e.original = orig;
  e.value = v;
  return e;
}

TEST(Journal, Crc32KnownValue) { EXPECT_EQ(Crc32("123456789"), 0xCBF43926u); }

TEST(Journal, LineEncodeDecode) {
  std::string line = EncodeJournalLine("{\"a\":1}");
  EXPECT_EQ(line.substr(8), " {\"a\":1}");
  auto body = DecodeJournalLine(line);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, "{\"a\":1}");
  std::string bad = line;
  bad[10] = 'b';
  auto r = DecodeJournalLine(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("checksum mismatch"), std::string::npos);
  EXPECT_FALSE(DecodeJournalLine("garbage").ok());
}

TEST(Journal, RoundTripsEveryKindWithMarks) {
  test::TempTree t;
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok()) << j.error().message;
    auto s1 = j->Begin(WriteEntry("/x/cpu.idle", "0", "1"));
    ASSERT_TRUE(s1.ok());
    ASSERT_TRUE(j->MarkApplied(*s1).ok());
    JournalEntry mv;
    mv.group = "shield";
    mv.kind = ChangeKind::kMoveTask;
    mv.tid = 42;
    mv.start_time = 777;
    mv.path = "/cs/s/tasks";
    mv.original = "/cs/tasks";
    mv.controller = "cpuset";
    mv.cgroup_from = "/";
    mv.cgroup_to = "/s";
    JournalEntry mk;
    mk.group = "shield";
    mk.kind = ChangeKind::kMakeDir;
    mk.path = "/cs/s";
    mk.evacuate_to = "/cs/tasks";
    JournalEntry sa;
    sa.group = "idle:batch";
    sa.kind = ChangeKind::kSchedAttr;
    sa.tid = 43;
    sa.start_time = 9;
    sa.original_attr = {0, 5, 0, 1};
    sa.new_attr = {5, 5, 0, 1};
    sa.cgroup_to = "/cpu/batch";
    auto seqs = j->BeginAll({mk, mv, sa});
    ASSERT_TRUE(seqs.ok());
    ASSERT_TRUE(j->MarkAllApplied({(*seqs)[0], (*seqs)[1]}).ok());
    ASSERT_TRUE(j->MarkUndone((*seqs)[0]).ok());
  }
  auto rep = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->corrupt.empty());
  ASSERT_EQ(rep->entries.size(), 4u);
  const auto& e = rep->entries;
  EXPECT_EQ(e[0].original, "0");
  EXPECT_TRUE(e[0].applied);
  EXPECT_EQ(e[1].kind, ChangeKind::kMakeDir);
  EXPECT_TRUE(e[1].undone);
  EXPECT_EQ(e[2].tid, 42);
  EXPECT_EQ(e[2].start_time, 777u);
  EXPECT_EQ(e[2].cgroup_to, "/s");
  EXPECT_TRUE(e[2].applied);
  EXPECT_FALSE(e[3].applied);  // journaled, never marked applied (as after a kill -9)
  EXPECT_EQ(e[3].original_attr, (SchedAttr{0, 5, 0, 1}));
  EXPECT_EQ(e[3].cgroup_to, "/cpu/batch");
  // Reopen: sequence numbers continue, outstanding excludes the undone one.
  auto j = Journal::Open(t.Path("state"));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->Outstanding().size(), 3u);
  EXPECT_EQ(j->Outstanding("idle:batch").size(), 2u);
  EXPECT_EQ(*j->Begin(WriteEntry("/y", "a", "b")), 5u);
}

TEST(Journal, RestoreIfRoundTripsAndIsAbsentFromRecordsWithoutIt) {
  test::TempTree t;
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    JournalEntry w = WriteEntry("/x/cpu.shares", "2048", "");
    w.restore_if = {"1024", "3"};
    ASSERT_TRUE(j->BeginAll({w, WriteEntry("/x/cpu.idle", "0", "1")}).ok());
    ASSERT_TRUE(j->Compact("/proc").ok());  // rewritten records keep it too
  }
  const std::string text = t.Read("state/journal");
  EXPECT_NE(text.find("\"restore_if\":[\"1024\",\"3\"]"), std::string::npos) << text;
  EXPECT_EQ(text.find("restore_if"), text.rfind("restore_if")) << text;  // cpu.idle: no field
  auto rep = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->entries.size(), 2u);
  EXPECT_EQ(rep->entries[0].restore_if, (std::vector<std::string>{"1024", "3"}));
  EXPECT_TRUE(rep->entries[1].restore_if.empty());
}

TEST(Journal, CorruptRecordIsReportedWithLineNumberNotDropped) {
  test::TempTree t;
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    for (int i = 0; i < 3; i++)
      ASSERT_TRUE(j->Begin(WriteEntry("/f" + std::to_string(i), "0", "1")).ok());
  }
  std::string text = t.Read("state/journal");
  size_t second = text.find('\n') + 1;
  text[second + 30] ^= 0x01;  // one bit flipped inside record 2
  t.Write("state/journal", text);
  auto rep = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->corrupt.size(), 1u);
  // Which record and where in the file: the second line starts after the first newline.
  EXPECT_NE(rep->corrupt[0].find("line 2 (bytes " + std::to_string(second) + "-"),
            std::string::npos)
      << rep->corrupt[0];
  EXPECT_NE(rep->corrupt[0].find("): checksum mismatch"), std::string::npos) << rep->corrupt[0];
  EXPECT_EQ(rep->entries.size(), 2u);
  // A corrupt journal is never compacted away.
  auto j = Journal::Open(t.Path("state"));
  ASSERT_TRUE(j.ok());
  for (const auto& e : j->Outstanding()) ASSERT_TRUE(j->MarkUndone(e.seq).ok());
  ASSERT_TRUE(j->CompactIfClean().ok());
  EXPECT_FALSE(t.Read("state/journal").empty());
}

TEST(Journal, TornTailIsAWarningAndCutBeforeAppending) {
  test::TempTree t;
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j->Begin(WriteEntry("/f", "0", "1")).ok());
  }
  std::string whole = EncodeJournalLine("{\"seq\":2,\"group\":\"g\",\"kind\":\"write_file\"}");
  {
    std::ofstream(t.Path("state/journal"), std::ios::app) << whole.substr(0, 20);  // no newline
  }
  auto rep = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->corrupt.empty());
  ASSERT_EQ(rep->warnings.size(), 1u);
  EXPECT_NE(rep->warnings[0].find("torn record of 20 bytes"), std::string::npos);
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->load_report().warnings.size(), 1u);
    ASSERT_TRUE(j->Begin(WriteEntry("/g", "0", "1")).ok());
  }
  // The new record is intact, and the cut is recorded as a note.
  auto rep2 = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(rep2.ok());
  EXPECT_TRUE(rep2->corrupt.empty());
  EXPECT_EQ(rep2->entries.size(), 2u);
  ASSERT_EQ(rep2->warnings.size(), 1u);
  EXPECT_NE(rep2->warnings[0].find("removed a torn record of 20 bytes"), std::string::npos);
}

// A whole last record whose newline is missing or bit-flipped may have been acted on: kept (it
// used to be cut as a torn write, and its change never restored), and the next append starts on
// its own line.
TEST(Journal, LastRecordWithADamagedNewlineIsKeptNotCut) {
  for (const char* tail : {"", "\x0b"}) {  // newline missing; newline with one bit flipped
    test::TempTree t;
    {
      auto j = Journal::Open(t.Path("state"));
      ASSERT_TRUE(j.ok());
      ASSERT_TRUE(j->Begin(WriteEntry("/f", "0", "1")).ok());
      ASSERT_TRUE(j->Begin(WriteEntry("/g", "0", "1")).ok());
    }
    std::string text = t.Read("state/journal");
    text.pop_back();
    t.Write("state/journal", text + tail);
    auto rep = ReadJournalFile(t.Path("state/journal"));
    ASSERT_TRUE(rep.ok());
    EXPECT_TRUE(rep->corrupt.empty());
    ASSERT_EQ(rep->entries.size(), 2u) << "the last record was dropped";
    ASSERT_EQ(rep->warnings.size(), 1u);
    EXPECT_NE(rep->warnings[0].find("line 2 (bytes "), std::string::npos) << rep->warnings[0];
    {
      auto j = Journal::Open(t.Path("state"));
      ASSERT_TRUE(j.ok());
      EXPECT_EQ(j->Outstanding().size(), 2u);
      ASSERT_TRUE(j->Begin(WriteEntry("/h", "0", "1")).ok());
    }
    auto after = ReadJournalFile(t.Path("state/journal"));
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->corrupt.empty()) << after->corrupt[0];
    EXPECT_EQ(after->entries.size(), 3u);
  }
}

TEST(Journal, CompactKeepsOnlyWhatARestoreStillNeeds) {
  test::TempTree t;
  auto self = ReadTaskStat("/proc", getpid());
  ASSERT_TRUE(self.ok());
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    JournalEntry alive, gone;
    alive.group = gone.group = "shield";
    alive.kind = gone.kind = ChangeKind::kMoveTask;
    alive.tid = getpid();
    alive.start_time = self->start_time;
    gone.tid = getpid();
    gone.start_time = self->start_time + 1;  // an earlier task with the same id: exited
    auto seqs = j->BeginAll({alive, gone, WriteEntry("/f", "0", "1"), WriteEntry("/g", "0", "1")});
    ASSERT_TRUE(seqs.ok());
    ASSERT_TRUE(j->MarkAllApplied({(*seqs)[0], (*seqs)[1], (*seqs)[2]}).ok());
    ASSERT_TRUE(j->MarkUndone((*seqs)[3]).ok());
    EXPECT_EQ(j->lines_in_file(), 8u);
    ASSERT_TRUE(j->MaybeCompact("/proc", 100).ok());  // below the threshold: untouched
    EXPECT_EQ(j->lines_in_file(), 8u);
    ASSERT_TRUE(j->Compact("/proc").ok());
    EXPECT_EQ(j->lines_in_file(), 4u);                       // 2 records + their applied marks
    ASSERT_TRUE(j->Begin(WriteEntry("/h", "0", "1")).ok());  // appends still work
  }
  auto rep = ReadJournalFile(t.Path("state/journal"));
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->corrupt.empty());
  ASSERT_EQ(rep->entries.size(), 3u);
  EXPECT_EQ(rep->entries[0].tid, getpid());
  EXPECT_TRUE(rep->entries[0].applied);
  EXPECT_EQ(rep->entries[1].path, "/f");
  EXPECT_TRUE(rep->entries[1].applied);
  EXPECT_EQ(rep->entries[2].path, "/h");
  EXPECT_FALSE(rep->entries[2].applied);
  EXPECT_EQ(rep->entries[2].seq, 5u);
}

TEST(Journal, SetAsideMovesTheFileUnderTheLock) {
  test::TempTree t;
  {
    auto j = Journal::Open(t.Path("state"));
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j->Begin(WriteEntry("/f", "0", "1")).ok());
    EXPECT_FALSE(SetJournalAside(t.Path("state")).ok());  // the agent holds it
  }
  auto moved = SetJournalAside(t.Path("state"));
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_FALSE(PathExists(t.Path("state/journal")));
  auto rep = ReadJournalFile(*moved);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->entries.size(), 1u);
}

TEST(Journal, SecondWriterIsRefused) {
  test::TempTree t;
  auto a = Journal::Open(t.Path("state"));
  ASSERT_TRUE(a.ok());
  auto b = Journal::Open(t.Path("state"));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("another schedwarden agent"), std::string::npos);
}

TEST(Journal, UnreadableStateDirIsAClearError) {
  test::TempTree t;
  t.Write("file", "x");
  auto j = Journal::Open(t.Path("file/state"));
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("--state-dir"), std::string::npos) << j.error().message;
}

}  // namespace
}  // namespace sw
