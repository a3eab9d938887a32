// `schedwarden restore` and the agent's start-up reconcile: undo, newest first, every change a
// journal records that was not undone yet — the exact same undo the actuators use, so a crash
// followed by restore ends where a clean shutdown ends.
#pragma once

#include <string>

#include "common/result.h"
#include "enforce/journal.h"
#include "enforce/safety.h"
#include "enforce/system_writer.h"
#include "enforce/undo.h"

namespace sw {

struct RestoreOptions {
  std::string proc_root = "/proc";
  SafetyRails rails;  // for threads born SCHED_IDLE from demoted ones (never kthreads, PID 1, us)
  // Start-up only: a journal ending with a handover marker (and no corrupt record) is left as it
  // is for Enforcer::Create to adopt. `restore` always undoes everything, marker or not.
  bool may_adopt = false;
};

struct RestoreReport {
  UndoReport undo;             // restored / gone / skipped / failed / corrupt / warnings
  int outstanding_before = 0;  // changes found in the journal
  bool journal_found = false;
  bool handed_over = false;  // left for adoption (RestoreOptions::may_adopt), nothing undone
  bool Complete() const { return undo.Complete(); }
  // Exit code for the CLI: 0 everything restored (or nothing to do), 1 something could not be
  // restored or a journal record was corrupt.
  int ExitCode() const { return Complete() ? 0 : 1; }
  // Human-readable, one line per item, for the CLI and the agent log.
  std::string Summary() const;
};

// Restores through an already open journal (the agent's own, e.g. on SIGTERM). Compacts the
// journal when everything was restored; otherwise keeps the remaining records so a second run
// retries them (restore is idempotent).
RestoreReport RestoreJournal(Journal& journal, SystemWriter& writer, const RestoreOptions& opts);

// `schedwarden restore --state-dir DIR`: opens (and locks) DIR/journal and restores it. An absent
// journal is "nothing to restore" (success). Fails only when the journal cannot be opened or
// locked (an agent still running).
Result<RestoreReport> RestoreFromJournal(const std::string& state_dir, SystemWriter& writer,
                                         const RestoreOptions& opts);

// Agent start-up: a journal left by a previous run (crash, kill -9) is restored before anything
// else; then the agent may open the journal for its own changes. Same as RestoreFromJournal,
// except for a handover journal when opts.may_adopt (then handed_over is set, nothing undone).
Result<RestoreReport> ReconcileAtStartup(const std::string& state_dir, SystemWriter& writer,
                                         const RestoreOptions& opts);

}  // namespace sw
