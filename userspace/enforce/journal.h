// Crash-safe journal of every change the enforcer makes, under the state dir
// (default /var/lib/schedwarden/journal). Write-ahead: before a change, an intent record holding
// the ORIGINAL value is appended and fsynced; after the change an "applied" mark is appended.
// Undoing a change appends an "undone" mark. Whatever kills the agent, every change that may
// have reached the kernel has an intent record, so `schedwarden restore` can put it back.
//
// Format: one record per line, "<crc32 of json, 8 hex digits> <compact json>\n". A line whose
// checksum does not match is reported as corrupt (never dropped silently); a last line without
// its newline is a torn write: intents are fsynced before the change, so a torn intent was never
// acted on; it is reported as a warning and cut off (with a note record) before new appends.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "enforce/system_writer.h"

namespace sw {

enum class ChangeKind {
  kWriteFile,  // a cgroup file: path, original, value
  kMoveTask,   // a task's cgroup membership: tid, start_time, from/to membership files
  kMakeDir,    // a cgroup we created: path; leftovers go to evacuate_to before rmdir
  kSchedAttr,  // a thread's policy/nice/priority: tid, start_time, original_attr, new_attr
  // A thread's CPU affinity that cpuset changes reset (kernels before 6.2 forget the mask a
  // user set): tid, start_time, original and value (cpu lists), path = cpuset mount root and
  // controller ("cpuset" on v1, "" on v2) to find the CPUs its cpuset allows.
  kAffinity,
};
const char* ChangeKindName(ChangeKind k);

struct JournalEntry {
  uint64_t seq = 0;
  std::string group;  // what the change belongs to: "shield", "exclusive:<workload>", "idle:<w>"
  ChangeKind kind = ChangeKind::kWriteFile;
  std::string path;      // file written / membership file moved to / directory created
  std::string original;  // file: previous content; move: membership file moved from
  std::string value;     // file: new content ("" when the kernel changed it, not us)
  // file: restore only while the file reads one of these (what the kernel leaves there) or the
  // original already; any other value was written by someone else since and is left alone.
  // Empty: always restore (every record written before this field existed).
  std::vector<std::string> restore_if;
  std::string controller;  // move: hierarchy ("cpuset") used to check current membership
  // move: cgroup paths as in /proc/<tid>/cgroup; sched: cgroup_to = the workload's cgroup dir
  std::string cgroup_from, cgroup_to;
  std::string evacuate_to;  // mkdir: membership file for leftover tasks
  pid_t tid = 0;
  uint64_t start_time = 0;  // of tid, guards PID reuse
  // Inode (= cgroup id on cgroupfs) of the cgroup changed, taken when the change was journaled,
  // so no undo writes into a cgroup removed and re-created under the same name since. file: the
  // file's directory; move: the cgroup moved to (cgroup_from_id: moved from); mkdir: the new
  // directory (on its "applied" mark). 0: unknown (records written before these fields).
  uint64_t cgroup_id = 0;
  uint64_t cgroup_from_id = 0;
  SchedAttr original_attr, new_attr;
  // Derived from later marks when read back.
  bool applied = false;
  bool undone = false;
  int line = 0;  // line number in the file (for reports)
};

struct JournalReadReport {
  std::vector<JournalEntry> entries;  // intents in file order, with applied/undone set
  std::vector<std::string> corrupt;   // "journal line 7: checksum mismatch ..." (errors)
  std::vector<std::string> warnings;  // torn tail, notes
  size_t valid_bytes = 0;             // length of the file up to the last complete line
  size_t lines = 0;                   // complete lines (records, marks, notes)
  // The state a handover stop left (json text) when its marker is the journal's last line;
  // empty otherwise (no handover, or records written after it: the marker no longer holds).
  std::string handover;
  bool missing_newline = false;  // the last record is whole but its newline is not
};

// One record line (without the newline) <-> json text, checked.
std::string EncodeJournalLine(const std::string& json_text);
Result<std::string> DecodeJournalLine(const std::string& line);
uint32_t Crc32(const std::string& data);

// Inode of `dir` (its cgroup id on cgroupfs), 0 when it cannot be read.
uint64_t CgroupDirId(const std::string& dir);
// Directory part of a path ("/a/b/c" -> "/a/b").
std::string DirOf(const std::string& path);

// Parses a whole journal file. A missing file is an empty report.
Result<JournalReadReport> ReadJournalFile(const std::string& path);
// The same on a file's text; `path` names it in the report's messages.
JournalReadReport ParseJournalText(const std::string& text, const std::string& path);

// Operator escape hatch for a journal that cannot be restored (corrupt records that were
// inspected): renames <state_dir>/journal to journal.aside-<unix seconds> under the lock and
// returns the new path, so the agent can start with an empty journal.
Result<std::string> SetJournalAside(const std::string& state_dir);

class Journal {
 public:
  static constexpr const char* kFileName = "journal";

  // Creates the state dir if needed, takes an exclusive lock on the journal (a second agent or
  // a `restore` while the agent runs fails with EWOULDBLOCK naming the file) and loads it.
  static Result<Journal> Open(const std::string& state_dir);

  Journal(Journal&&) = default;
  Journal& operator=(Journal&&) = default;

  // Appends the intent (with the original value) and fsyncs it; returns its sequence number.
  Result<uint64_t> Begin(JournalEntry entry);
  Result<void> MarkApplied(uint64_t seq);
  Result<void> MarkUndone(uint64_t seq);
  // Batched forms: one write(2) and one fsync for many records (moving a hundred tasks into the
  // shield would otherwise cost two hundred fsyncs).
  Result<std::vector<uint64_t>> BeginAll(std::vector<JournalEntry> entries);
  Result<void> MarkAllApplied(const std::vector<uint64_t>& seqs);
  Result<void> MarkAllUndone(const std::vector<uint64_t>& seqs);

  // Handover stop: appends (fsynced) a marker holding `state_json`, the actuators' state, so
  // the next start adopts the outstanding changes instead of undoing them. The marker is a note
  // to older versions, which restore as usual. Any later line makes it void.
  Result<void> WriteHandover(const std::string& state_json);
  // The marker's state while it is still the last line ("" when none).
  const std::string& handover() const { return handover_; }
  // Appends a note saying the changes were adopted (by this pid): the marker no longer holds,
  // so a crash from here on is reconciled (undone) by the next start.
  Result<void> ConsumeHandover(const std::string& note);

  // Intents not yet undone, in the order they were made; optionally only one group.
  std::vector<JournalEntry> Outstanding(const std::string& group = "") const;
  // Every intent still in the file, undone ones too.
  std::vector<JournalEntry> All(const std::string& group = "") const;
  // Truncates the file when nothing is outstanding and nothing was corrupt.
  Result<void> CompactIfClean();
  // Rewrites the file with only what a restore still needs: outstanding records whose task
  // still exists (same start time) and every non-task record, each with its "applied" mark.
  // Atomic (temp file, fsync, rename, fsync dir). Skipped when corrupt records were loaded, so
  // they stay for inspection. The shield moves every new process of the machine, so a long-lived
  // promotion would otherwise grow the journal without bound.
  Result<void> Compact(const std::string& proc_root);
  // Compact() once the file holds more than `max_lines` lines (called by the actuators' Sweep).
  Result<void> MaybeCompact(const std::string& proc_root, size_t max_lines = 8192);
  size_t lines_in_file() const { return lines_; }

  const JournalReadReport& load_report() const { return loaded_; }
  const std::string& path() const { return path_; }

 private:
  Journal() = default;
  Result<void> Append(const std::vector<std::string>& json_texts);
  Result<void> Mark(const char* mark, const std::vector<uint64_t>& seqs);

  std::string path_;
  std::string state_dir_;
  UniqueFd lock_fd_;  // flock on <state_dir>/journal.lock: one agent or restore at a time
  UniqueFd fd_;
  size_t lines_ = 0;
  uint64_t next_seq_ = 1;
  std::vector<JournalEntry> entries_;
  JournalReadReport loaded_;
  std::string handover_;
};

}  // namespace sw
