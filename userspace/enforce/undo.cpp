#include "enforce/undo.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "cgroup/tasks.h"
#include "common/fs.h"

namespace sw {
namespace {

constexpr int kRmdirAttempts = 10;  // 2 + 4 + ... + 512 ms of back-off at most

bool Vanished(int code) { return code == ENOENT || code == ESRCH || code == ENODEV; }
// A "vanished" error is believed only when the task is really gone: otherwise the change is
// still there and must be reported, not counted as nothing left to restore.
bool TaskGone(int code, const std::string& proc, const JournalEntry& e) {
  return Vanished(code) && !SameTask(proc, e.tid, e.start_time);
}

// Empty when `dir` is still the cgroup journaled with id `id` (0: not journaled), else why not:
// a cgroup removed and re-created under the same name is someone else's and never written.
std::string Recreated(const std::string& dir, uint64_t id) {
  if (id == 0) return "";
  const uint64_t now = CgroupDirId(dir);
  if (now == 0 || now == id) return "";  // gone: the caller's own check reports it
  return "cgroup " + dir + " was removed and re-created since (id " + std::to_string(id) +
         ", now " + std::to_string(now) + "); left alone";
}

UndoResult UndoWrite(const JournalEntry& e, SystemWriter& w) {
  if (!PathExists(e.path)) return {UndoOutcome::kGone, e.path + " no longer exists"};
  if (auto why = Recreated(DirOf(e.path), e.cgroup_id); !why.empty())
    return {UndoOutcome::kGone, why};
  if (!e.restore_if.empty()) {
    auto cur = ReadLine(e.path);
    if (!cur) {
      if (Vanished(cur.error().code)) return {UndoOutcome::kGone, e.path + " vanished"};
      return {UndoOutcome::kFailed, "read " + e.path + ": " + cur.error().message};
    }
    const std::string now = Trim(*cur);
    if (now == e.original) return {UndoOutcome::kRestored, e.path + " already '" + now + "'"};
    if (std::find(e.restore_if.begin(), e.restore_if.end(), now) == e.restore_if.end())
      return {UndoOutcome::kSkipped, e.path + " reads '" + now +
                                         "', written by someone else since (journaled '" +
                                         e.original + "'); left alone"};
  }
  // cgroupfs ignores a zero-length write; a lone newline resets a file to "empty".
  std::string v = e.original.empty() ? "\n" : e.original;
  auto r = w.WriteFile(e.path, v);
  if (!r) {
    if (Vanished(r.error().code) && !PathExists(e.path))
      return {UndoOutcome::kGone, e.path + " vanished"};
    return {UndoOutcome::kFailed, "restore '" + e.original + "': " + r.error().message};
  }
  return {UndoOutcome::kRestored, e.path + " = '" + e.original + "'"};
}

UndoResult UndoMove(const JournalEntry& e, SystemWriter& w, const std::string& proc) {
  std::string who = "task " + std::to_string(e.tid);
  if (!SameTask(proc, e.tid, e.start_time)) return {UndoOutcome::kGone, who + " exited"};
  auto cur = ReadTaskCgroup(proc, e.tid, e.controller);
  if (!cur) return {UndoOutcome::kGone, who + " exited"};
  // Journaled but never applied (a kill between the two): already where it belongs.
  if (*cur == e.cgroup_from) return {UndoOutcome::kRestored, who + " already in " + e.cgroup_from};
  if (*cur != e.cgroup_to)
    return {UndoOutcome::kSkipped,
            who + " was moved to " + *cur + " by someone else since; left there"};
  if (!PathExists(e.original))
    return {UndoOutcome::kGone, who + ": its original cgroup " + e.cgroup_from + " was removed"};
  if (auto why = Recreated(DirOf(e.original), e.cgroup_from_id); !why.empty())
    return {UndoOutcome::kGone, who + ": " + why};
  auto r = w.MoveTask(e.original, e.tid);
  if (!r) {
    if (TaskGone(r.error().code, proc, e)) return {UndoOutcome::kGone, who + " exited"};
    return {UndoOutcome::kFailed,
            "move " + who + " back to " + e.cgroup_from + ": " + r.error().message};
  }
  return {UndoOutcome::kRestored, who + " back in " + e.cgroup_from};
}

UndoResult UndoMkdir(const JournalEntry& e, SystemWriter& w, const std::string& proc) {
  if (!PathExists(e.path)) return {UndoOutcome::kRestored, e.path + " already removed"};
  if (auto why = Recreated(e.path, e.cgroup_id); !why.empty()) return {UndoOutcome::kGone, why};
  // Tasks that arrived after the moves were journaled (forked children) are evacuated first.
  // A task exiting in it keeps rmdir failing with EBUSY until it is reaped, which on a busy
  // machine (children forked into the cgroup and exiting) takes a while: back off, up to ~1 s.
  Error last;
  for (int attempt = 0; attempt < kRmdirAttempts; attempt++) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
    auto tids = ListCgroupThreads(e.path, proc, false);
    if (tids)
      for (pid_t t : *tids) (void)w.MoveTask(e.evacuate_to, t);
    auto r = w.RemoveDir(e.path);
    if (r) return {UndoOutcome::kRestored, "removed " + e.path};
    if (Vanished(r.error().code) && !PathExists(e.path))
      return {UndoOutcome::kRestored, e.path + " already removed"};
    last = r.error();
  }
  return {UndoOutcome::kFailed, last.message};
}

UndoResult UndoSched(const JournalEntry& e, SystemWriter& w, const std::string& proc) {
  std::string who = "thread " + std::to_string(e.tid);
  if (!SameTask(proc, e.tid, e.start_time)) return {UndoOutcome::kGone, who + " exited"};
  auto cur = w.GetSchedAttr(e.tid);
  if (!cur) return {UndoOutcome::kGone, who + " exited"};
  if (*cur == e.original_attr) return {UndoOutcome::kRestored, who + " already as it was"};
  if (cur->policy != e.new_attr.policy)
    return {UndoOutcome::kSkipped, who + " was changed to " + SchedPolicyName(cur->policy) +
                                       " by someone else since; left alone"};
  if (e.original_attr == e.new_attr) return {UndoOutcome::kRestored, who + " unchanged"};
  auto r = w.SetSchedAttr(e.tid, e.original_attr);
  if (!r) {
    if (TaskGone(r.error().code, proc, e)) return {UndoOutcome::kGone, who + " exited"};
    return {UndoOutcome::kFailed, r.error().message};
  }
  return {UndoOutcome::kRestored, who + " back to " + SchedPolicyName(e.original_attr.policy) +
                                      " nice " + std::to_string(e.original_attr.nice)};
}

UndoResult UndoAffinity(const JournalEntry& e, SystemWriter& w, const std::string& proc) {
  std::string who = "thread " + std::to_string(e.tid);
  if (!SameTask(proc, e.tid, e.start_time)) return {UndoOutcome::kGone, who + " exited"};
  auto original = ParseCpuList(e.original);
  if (!original || original->empty())
    return {UndoOutcome::kFailed, who + ": journaled affinity '" + e.original + "' is unreadable"};
  auto cur = w.GetAffinity(e.tid);
  if (!cur) {
    if (Vanished(cur.error().code)) return {UndoOutcome::kGone, who + " exited"};
    return {UndoOutcome::kFailed, cur.error().message};
  }
  if (*cur == *original) return {UndoOutcome::kRestored, who + " already on CPUs " + e.original};
  auto r = w.SetAffinity(e.tid, *original);
  if (r) return {UndoOutcome::kRestored, who + " back on CPUs " + e.original};
  if (TaskGone(r.error().code, proc, e)) return {UndoOutcome::kGone, who + " exited"};
  if (r.error().code != EINVAL) return {UndoOutcome::kFailed, r.error().message};
  // Its cpuset no longer allows those CPUs (another workload still holds them, or someone
  // narrowed the cpuset): give it what is left of them.
  auto allowed = ReadTaskCpusetCpus(proc, e.path, e.controller, e.tid);
  if (!allowed) return {UndoOutcome::kFailed, r.error().message + "; " + allowed.error().message};
  CpuSet part;
  for (int c : *original)
    if (allowed->count(c)) part.insert(c);
  std::string why = who + ": its cpuset now allows CPUs " + FormatCpuList(*allowed) +
                    ", not all of its original " + e.original;
  if (part.empty())
    return {UndoOutcome::kPartial, why + "; none of them, left on " + FormatCpuList(*cur)};
  if (auto p = w.SetAffinity(e.tid, part); !p) {
    if (TaskGone(p.error().code, proc, e)) return {UndoOutcome::kGone, who + " exited"};
    return {UndoOutcome::kFailed, p.error().message};
  }
  return {UndoOutcome::kPartial, why + "; set to " + FormatCpuList(part)};
}

}  // namespace

UndoResult UndoChange(const JournalEntry& e, SystemWriter& w, const std::string& proc_root) {
  switch (e.kind) {
    case ChangeKind::kWriteFile:
      return UndoWrite(e, w);
    case ChangeKind::kMoveTask:
      return UndoMove(e, w, proc_root);
    case ChangeKind::kMakeDir:
      return UndoMkdir(e, w, proc_root);
    case ChangeKind::kSchedAttr:
      return UndoSched(e, w, proc_root);
    case ChangeKind::kAffinity:
      return UndoAffinity(e, w, proc_root);
  }
  return {UndoOutcome::kFailed, "unknown change kind"};
}

void UndoReport::Add(const UndoResult& r) {
  switch (r.outcome) {
    case UndoOutcome::kRestored:
      restored++;
      break;
    case UndoOutcome::kGone:
      gone.push_back(r.detail);
      break;
    case UndoOutcome::kSkipped:
      skipped.push_back(r.detail);
      break;
    case UndoOutcome::kFailed:
      failed.push_back(r.detail);
      break;
    case UndoOutcome::kPartial:
      restored++;
      warnings.push_back(r.detail);
      break;
  }
}

void UndoReport::Merge(const UndoReport& o) {
  restored += o.restored;
  gone.insert(gone.end(), o.gone.begin(), o.gone.end());
  skipped.insert(skipped.end(), o.skipped.begin(), o.skipped.end());
  failed.insert(failed.end(), o.failed.begin(), o.failed.end());
  corrupt.insert(corrupt.end(), o.corrupt.begin(), o.corrupt.end());
  warnings.insert(warnings.end(), o.warnings.begin(), o.warnings.end());
}

UndoReport UndoGroups(Journal& journal, const std::vector<std::string>& groups,
                      SystemWriter& writer, const std::string& proc_root) {
  UndoReport rep;
  std::vector<JournalEntry> todo, affinities;
  for (const std::string& g : groups) {
    std::vector<JournalEntry> out = journal.Outstanding(g);
    std::reverse(out.begin(), out.end());
    for (JournalEntry& e : out)
      (e.kind == ChangeKind::kAffinity ? affinities : todo).push_back(std::move(e));
  }
  // Affinities last: every cpuset change before them resets the threads' masks on old kernels.
  todo.insert(todo.end(), affinities.begin(), affinities.end());
  // A cpuset change that failed now and succeeds on the next restore resets the threads' masks
  // again (kernels before 6.2): the affinities stay outstanding then, to be put back after it.
  bool cpuset_failed = false;
  for (const JournalEntry& e : todo) {
    UndoResult r = UndoChange(e, writer, proc_root);
    r.detail = "[" + e.group + " #" + std::to_string(e.seq) + "] " + r.detail;
    rep.Add(r);
    if (r.outcome == UndoOutcome::kFailed &&
        (e.kind == ChangeKind::kMoveTask || e.kind == ChangeKind::kMakeDir ||
         (e.kind == ChangeKind::kWriteFile && e.path.find("/cpuset.") != std::string::npos)))
      cpuset_failed = true;
    if (e.kind == ChangeKind::kAffinity && cpuset_failed) continue;
    if (r.outcome != UndoOutcome::kFailed) {
      if (auto m = journal.MarkUndone(e.seq); !m) rep.failed.push_back(m.error().message);
    }
  }
  return rep;
}

UndoReport UndoGroup(Journal& journal, const std::string& group, SystemWriter& writer,
                     const std::string& proc_root) {
  return UndoGroups(journal, {group}, writer, proc_root);
}

}  // namespace sw
