// Handover, the receiving side: a start whose journal ends with a handover marker keeps the
// previous agent's changes instead of undoing them, but only those still true on the machine.
// Each outstanding change is checked: one that still holds is kept; one whose task exited or
// whose cgroup is gone (or was re-created under the same name) is dropped from the journal; one
// that no longer holds (a file reads something else, our cgroup vanished) has its whole group
// undone, and with it every exclusive group when it is one of them (they share the shield).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "enforce/journal.h"
#include "enforce/system_writer.h"
#include "enforce/undo.h"

namespace sw {

struct AdoptReport {
  bool adopted = false;                 // a handover marker was found and taken
  int held = 0;                         // changes verified in place and kept
  std::vector<std::string> dropped;     // no longer there to undo (exited, removed)
  std::set<std::string> undone_groups;  // undone because a change of theirs no longer held
  std::vector<std::string> broken;      // why, one line per change that no longer held
  UndoReport undo;                      // the undo of those groups
  bool Complete() const { return undo.Complete(); }
  std::string Summary() const;
};

// Whether one outstanding change still holds on the machine.
enum class HoldState { kHolds, kGone, kBroken };
HoldState CheckHeld(const JournalEntry& e, SystemWriter& writer, const std::string& proc_root,
                    std::string* why);

// Checks every outstanding change of `journal` (CheckHeld), drops the gone ones (marked undone)
// and undoes the groups with a broken one. Does not consume the marker.
AdoptReport VerifyForAdoption(Journal& journal, SystemWriter& writer, const std::string& proc_root);

// Undoes rep->undone_groups (every exclusive group when one of them is listed), newest first,
// into rep->undo; rep->held becomes what the journal still holds.
void UndoBrokenGroups(Journal& journal, SystemWriter& writer, const std::string& proc_root,
                      AdoptReport* rep);

bool IsExclusiveGroup(const std::string& group);  // "shield" or "exclusive:<w>"

}  // namespace sw
