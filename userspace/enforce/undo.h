// Undo of one journaled change, shared by the actuators' release/revert and by restore, so a
// normal revert and a post-crash restore do exactly the same thing.
#pragma once

#include <string>
#include <vector>

#include "enforce/journal.h"
#include "enforce/system_writer.h"

namespace sw {

enum class UndoOutcome {
  kRestored,  // the original value is back
  kGone,      // the task or cgroup no longer exists: nothing to restore (reported, not an error)
  kSkipped,   // someone else changed it since; left alone (reported)
  kFailed,    // the original could not be written (an error)
  kPartial,   // affinity: only the CPUs its cpuset allows now were restored (a warning)
};

struct UndoResult {
  UndoOutcome outcome = UndoOutcome::kRestored;
  std::string detail;  // what happened, naming the task/cgroup/file
};

// Applies the original value recorded in `e` through `writer`. Never throws; never touches a
// task whose start time no longer matches (PID reuse).
UndoResult UndoChange(const JournalEntry& e, SystemWriter& writer, const std::string& proc_root);

// Summary of undoing several changes (a release, a revert, a restore).
struct UndoReport {
  int restored = 0;
  std::vector<std::string> gone;     // tasks/cgroups that vanished
  std::vector<std::string> skipped;  // changed by someone else since
  std::vector<std::string> failed;   // could not be restored
  std::vector<std::string> corrupt;  // unreadable journal records
  std::vector<std::string> warnings;
  bool Complete() const { return failed.empty() && corrupt.empty(); }
  void Add(const UndoResult& r);
  void Merge(const UndoReport& o);
};

// Undoes every outstanding change of `group` ("" = all) newest first, marking each undone in
// the journal (failed ones stay outstanding so a later restore retries them). Thread affinities
// come after every other change, whatever their order in the journal.
UndoReport UndoGroup(Journal& journal, const std::string& group, SystemWriter& writer,
                     const std::string& proc_root);
// The same over several groups, each newest first in the order given, affinities of all of them
// last (a release that also tears the v1 shield down).
UndoReport UndoGroups(Journal& journal, const std::vector<std::string>& groups,
                      SystemWriter& writer, const std::string& proc_root);

}  // namespace sw
