#include "enforce/restore.h"

#include <map>
#include <sstream>

#include "enforce/best_effort_actuator.h"

namespace sw {

std::string RestoreReport::Summary() const {
  std::ostringstream o;
  if (!journal_found || (outstanding_before == 0 && undo.corrupt.empty())) {
    o << "nothing to restore\n";
  } else {
    o << "restored " << undo.restored << " of " << outstanding_before << " change(s)";
    if (!undo.gone.empty()) o << ", " << undo.gone.size() << " target(s) gone";
    if (!undo.skipped.empty()) o << ", " << undo.skipped.size() << " changed by others since";
    if (!undo.failed.empty()) o << ", " << undo.failed.size() << " FAILED";
    if (!undo.corrupt.empty()) o << ", " << undo.corrupt.size() << " corrupt record(s)";
    o << "\n";
  }
  for (const auto& s : undo.failed) o << "failed: " << s << "\n";
  for (const auto& s : undo.corrupt) o << "corrupt: " << s << "\n";
  for (const auto& s : undo.warnings) o << "warning: " << s << "\n";
  for (const auto& s : undo.skipped) o << "skipped: " << s << "\n";
  for (const auto& s : undo.gone) o << "gone: " << s << "\n";
  return o.str();
}

RestoreReport RestoreJournal(Journal& journal, SystemWriter& writer, const RestoreOptions& opts) {
  RestoreReport rep;
  rep.journal_found = true;
  rep.undo.corrupt = journal.load_report().corrupt;
  rep.undo.warnings = journal.load_report().warnings;
  // Threads born SCHED_IDLE from demoted threads after the last sweep: journal them first so
  // they are restored along with their parents.
  std::map<std::string, std::string> idle_groups;  // group -> cgroup dir
  for (const JournalEntry& e : journal.Outstanding())
    if (e.kind == ChangeKind::kSchedAttr && !e.cgroup_to.empty())
      idle_groups[e.group] = e.cgroup_to;
  for (const auto& [g, dir] : idle_groups)
    AdoptInheritedIdle(journal, g, dir, writer, opts.proc_root, opts.rails);
  rep.outstanding_before = static_cast<int>(journal.Outstanding().size());
  UndoReport undo = UndoGroup(journal, "", writer, opts.proc_root);
  rep.undo.restored = undo.restored;
  rep.undo.gone = undo.gone;
  rep.undo.skipped = undo.skipped;
  rep.undo.failed = undo.failed;
  rep.undo.warnings.insert(rep.undo.warnings.end(), undo.warnings.begin(), undo.warnings.end());
  if (rep.Complete())
    if (auto r = journal.CompactIfClean(); !r) rep.undo.failed.push_back(r.error().message);
  return rep;
}

Result<RestoreReport> RestoreFromJournal(const std::string& state_dir, SystemWriter& writer,
                                         const RestoreOptions& opts) {
  auto journal = Journal::Open(state_dir);
  if (!journal) return journal.error();
  return RestoreJournal(*journal, writer, opts);
}

Result<RestoreReport> ReconcileAtStartup(const std::string& state_dir, SystemWriter& writer,
                                         const RestoreOptions& opts) {
  auto journal = Journal::Open(state_dir);
  if (!journal) return journal.error();
  if (opts.may_adopt && !journal->handover().empty() && journal->load_report().corrupt.empty()) {
    RestoreReport rep;
    rep.journal_found = true;
    rep.handed_over = true;
    rep.outstanding_before = static_cast<int>(journal->Outstanding().size());
    return rep;
  }
  return RestoreJournal(*journal, writer, opts);
}

}  // namespace sw
