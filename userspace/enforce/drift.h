// Drift: a cgroup file the agent changed that someone else (kubelet, a runtime, an operator) has
// rewritten since. The rule is that the other writer wins: the change is given up (its journal
// records are marked undone, so neither the agent nor `restore` writes a stale value over the new
// one) and it is never re-applied by this check, so the agent cannot fight in a loop. Each
// rewrite is reported once.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "enforce/journal.h"

namespace sw {

struct DriftRecord {
  std::string group;  // journal group of the change ("idle:<w>", "exclusive:<w>", "shield")
  std::string path;   // the file
  std::string kind;   // its name: "cpu.shares", "cpu.weight", "cpu.idle" or "cpuset.cpus"
  std::string wrote;  // what the agent wrote (journaled "applied" value)
  std::string found;  // what the file reads now
};

// The files checked: those kubelet and container runtimes also write.
bool DriftWatched(const std::string& path);

// Compares each watched file's newest applied, outstanding write with the file (cpu lists as
// sets, other files as trimmed text) and yields every drifted one: all of that file's
// outstanding records are marked undone. A file that vanished (cgroup removed) is not drift.
Result<std::vector<DriftRecord>> YieldDrifted(Journal& journal);

}  // namespace sw
