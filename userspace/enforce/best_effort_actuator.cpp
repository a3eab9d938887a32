#include "enforce/best_effort_actuator.h"

#include <sched.h>

#include <optional>
#include <set>

#include "cgroup/tasks.h"
#include "common/fs.h"

namespace sw {
namespace {

std::string Group(const std::string& workload) { return "idle:" + workload; }

// The cgroup's CPU weight file and the values the kernel itself leaves there around cpu.idle:
// the default after cpu.idle 1 -> 0, and the idle weight while cpu.idle=1 (v2: 0 before Linux
// 6.12, 1 since). Any other value after cpu.idle was cleared was written by someone else.
struct WeightFile {
  std::string path;
  std::vector<std::string> kernel_values;
};
std::optional<WeightFile> CgroupWeightFile(const std::string& dir) {
  if (std::string p = JoinPath(dir, "cpu.shares"); PathExists(p))
    return WeightFile{p, {"1024", "3"}};
  if (std::string p = JoinPath(dir, "cpu.weight"); PathExists(p))
    return WeightFile{p, {"100", "0", "1"}};
  return std::nullopt;
}

// The journal entry of a scheduling-attribute change of thread `st` in `dir`.
JournalEntry SchedAttrEntry(const std::string& group, const TaskStat& st, const std::string& dir,
                            const SchedAttr& original, const SchedAttr& now) {
  JournalEntry e;
  e.group = group;
  e.kind = ChangeKind::kSchedAttr;
  e.tid = st.tid;
  e.start_time = st.start_time;
  e.cgroup_to = dir;
  e.original_attr = original;
  e.new_attr = now;
  return e;
}

}  // namespace

BestEffortActuator::BestEffortActuator(BestEffortActuatorConfig config, SystemWriter& writer,
                                       Journal& journal, SafetyRails rails)
    : cfg_(std::move(config)), writer_(writer), journal_(journal), rails_(std::move(rails)) {}

std::vector<std::string> BestEffortActuator::Demoted() const {
  std::vector<std::string> out;
  for (const auto& [n, d] : demoted_) out.push_back(n);
  return out;
}

int AdoptInheritedIdle(Journal& journal, const std::string& group, const std::string& cgroup_dir,
                       SystemWriter& writer, const std::string& proc, const SafetyRails& rails) {
  // Original attributes by process (tgid) of every thread we demoted in this group.
  std::map<pid_t, SchedAttr> by_tgid;
  std::set<pid_t> journaled;
  // A thread with any record, undone too (a partial revert), is never adopted: one that is
  // still SCHED_IDLE after its record was undone was idle on its own.
  for (const JournalEntry& e : journal.All(group))
    if (e.kind == ChangeKind::kSchedAttr) journaled.insert(e.tid);
  for (const JournalEntry& e : journal.Outstanding(group)) {
    if (e.kind != ChangeKind::kSchedAttr) continue;
    if (e.original_attr.policy == SCHED_IDLE) continue;  // a thread that was idle on its own
    auto tg = ReadTgid(proc, e.tid);
    if (tg && SameTask(proc, e.tid, e.start_time))
      by_tgid.emplace(*tg, e.original_attr);
    else if (e.tid > 0)
      by_tgid.emplace(e.tid, e.original_attr);  // exited leader: its tid was the tgid
  }
  auto tids = ListCgroupThreads(cgroup_dir, proc, true);
  if (!tids) return 0;
  std::vector<JournalEntry> batch;
  for (pid_t tid : *tids) {
    if (journaled.count(tid) || !rails.TaskVeto(proc, tid).allowed()) continue;
    auto attr = writer.GetSchedAttr(tid);
    auto st = ReadTaskStat(proc, tid);
    auto tg = ReadTgid(proc, tid);
    if (!attr || !st || !tg || attr->policy != SCHED_IDLE) continue;
    // Same process as a demoted thread, or a process forked by one.
    auto it = by_tgid.find(*tg);
    if (it == by_tgid.end()) {
      auto leader = ReadTaskStat(proc, *tg);
      if (leader) it = by_tgid.find(leader->ppid);
    }
    if (it == by_tgid.end()) continue;  // idle on its own account: not ours to restore
    batch.push_back(SchedAttrEntry(group, *st, cgroup_dir, it->second, *attr));
  }
  if (batch.empty()) return 0;
  auto seqs = journal.BeginAll(batch);
  if (!seqs) return 0;
  (void)journal.MarkAllApplied(*seqs);  // nothing to apply: the kernel already did it
  return static_cast<int>(batch.size());
}

// The journal entries for the threads of `tids` not yet settled: SCHED_IDLE with their nice and
// flags kept. Vetoed, vanished and SCHED_DEADLINE threads are counted in `res`, not returned.
std::vector<JournalEntry> BestEffortActuator::ThreadsToDemote(const std::string& g,
                                                              const std::string& dir,
                                                              const std::vector<pid_t>& tids,
                                                              std::set<pid_t>& settled,
                                                              DemoteResult* res) {
  const std::string& proc = cfg_.proc_root;
  std::vector<JournalEntry> batch;
  for (pid_t tid : tids) {
    if (settled.count(tid)) continue;
    settled.insert(tid);
    const TaskVerdict veto = rails_.TaskVeto(proc, tid);
    if (!veto.allowed()) {
      (veto.gone() ? res->threads_gone : res->threads_skipped)++;
      continue;
    }
    auto attr = writer_.GetSchedAttr(tid);
    auto st = ReadTaskStat(proc, tid);
    if (!attr || !st) {
      res->threads_gone++;
      continue;
    }
    if (attr->policy == kSchedDeadline) {  // runtime/deadline/period would be lost
      res->threads_skipped++;
      res->warnings.push_back("thread " + std::to_string(tid) + " is SCHED_DEADLINE; left alone");
      continue;
    }
    // SCHED_IDLE ignores priority; nice and reset-on-fork are kept so revert is exact.
    // Already idle on its own: journaled as a no-op so it is never mistaken for a thread that
    // inherited SCHED_IDLE from us (its restore writes SCHED_IDLE back: harmless).
    batch.push_back(
        SchedAttrEntry(g, *st, dir, *attr, SchedAttr{SCHED_IDLE, attr->nice, 0, attr->flags}));
  }
  return batch;
}

// Applies a journaled batch (seqs in the same order): each thread is checked to still be the one
// journaled, then set; entries are marked applied or undone.
Result<void> BestEffortActuator::ApplyDemotions(const std::vector<JournalEntry>& batch,
                                                const std::vector<uint64_t>& seqs,
                                                DemoteResult* res) {
  const std::string& proc = cfg_.proc_root;
  std::vector<uint64_t> applied, not_done;
  for (size_t i = 0; i < batch.size(); i++) {
    const JournalEntry& e = batch[i];
    if (!SameTask(proc, e.tid, e.start_time)) {
      res->threads_gone++;
      not_done.push_back(seqs[i]);
      continue;
    }
    auto r = e.original_attr.policy == SCHED_IDLE ? Ok() : writer_.SetSchedAttr(e.tid, e.new_attr);
    if (r && e.original_attr.policy == SCHED_IDLE) {
      res->threads_skipped++;
      applied.push_back(seqs[i]);
    } else if (r) {
      res->threads_demoted++;
      applied.push_back(seqs[i]);
    } else if (r.error().code == ESRCH && !SameTask(proc, e.tid, e.start_time)) {
      res->threads_gone++;
      not_done.push_back(seqs[i]);
    } else {
      not_done.push_back(seqs[i]);
      res->warnings.push_back(r.error().message);
      res->threads_skipped++;
    }
  }
  if (auto r = journal_.MarkAllApplied(applied); !r) return r;
  return journal_.MarkAllUndone(not_done);
}

Result<void> BestEffortActuator::DemoteThreads(const std::string& workload, const std::string& dir,
                                               DemoteResult* res) {
  const std::string g = Group(workload);
  const std::string& proc = cfg_.proc_root;
  std::set<pid_t> settled;
  for (const JournalEntry& e : journal_.Outstanding(g))
    if (e.kind == ChangeKind::kSchedAttr) settled.insert(e.tid);
  for (int round = 1; round <= cfg_.max_rounds; round++) {
    res->threads_adopted += AdoptInheritedIdle(journal_, g, dir, writer_, proc, rails_);
    for (const JournalEntry& e : journal_.Outstanding(g))
      if (e.kind == ChangeKind::kSchedAttr) settled.insert(e.tid);
    auto tids = ListCgroupThreads(dir, proc, true);
    if (!tids) {
      if (tids.error().code == ENOENT) return Ok();  // the workload's cgroup vanished
      return tids.error();
    }
    std::vector<JournalEntry> batch = ThreadsToDemote(g, dir, *tids, settled, res);
    if (batch.empty()) return Ok();
    auto seqs = journal_.BeginAll(batch);
    if (!seqs) return seqs.error();
    if (auto r = ApplyDemotions(batch, *seqs, res); !r) return r;
  }
  res->stable = false;
  res->warnings.push_back("threads kept appearing after " + std::to_string(cfg_.max_rounds) +
                          " rounds; Sweep() will demote the rest");
  return Ok();
}

// Where Demote may act: an existing cgroup under the hierarchy root, not the root itself, on the
// allowlist, and not one the kubelet manages (DemoteVeto).
Result<void> BestEffortActuator::CheckDir(const std::string& dir, const std::string& w) const {
  if (!PathExists(dir)) return Error{ENOENT, "cgroup " + dir + " of '" + w + "' does not exist"};
  std::string r = cfg_.cgroup_root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (dir.compare(0, r.size(), r) != 0 || (dir.size() > r.size() && dir[r.size()] != '/'))
    return Error{EINVAL, "cgroup " + dir + " of '" + w + "' is not under " + r};
  std::string rel = dir.size() == r.size() ? "/" : dir.substr(r.size());
  if (rel == "/") return Error{EINVAL, "the root cgroup cannot be demoted as a workload"};
  if (!rails_.CgroupAllowed(rel))
    return Error{EPERM, "cgroup " + rel + " of '" + w +
                            "' is not in the allowlist of cgroups that may be touched"};
  if (std::string why = DemoteVeto(rel); !why.empty())
    return Error{EPERM, "cgroup " + rel + " of '" + w + "' is never demoted: " + why};
  return Ok();
}

// The workload's own cgroup must pass; cpu.idle at another level must be an ancestor of it that
// passes too.
Result<void> BestEffortActuator::CheckTarget(const BestEffortTarget& t) const {
  if (auto r = CheckDir(t.cgroup_dir, t.workload); !r) return r;
  if (!t.idle_dir || t.idle_dir->empty() || *t.idle_dir == t.cgroup_dir) return Ok();
  const std::string& up = *t.idle_dir;
  if (t.cgroup_dir.compare(0, up.size(), up) != 0 || t.cgroup_dir[up.size()] != '/')
    return Error{EINVAL, "cpu.idle level " + up + " of '" + t.workload +
                             "' is not an ancestor of its cgroup " + t.cgroup_dir};
  return CheckDir(up, t.workload);
}

// cpu.idle=1 with the CPU weight journaled before it (the kernel resets the weight when cpu.idle
// goes back to 0). Left alone, with a warning, when the file is missing or the weight unreadable.
Result<void> BestEffortActuator::SetCpuIdle(const BestEffortTarget& t, DemoteResult* res) {
  const std::string dir = t.idle_dir.value_or(t.cgroup_dir);
  if (dir.empty()) return Ok();  // threads only, by the caller's choice
  const std::string idle_file = JoinPath(dir, "cpu.idle");
  if (!PathExists(idle_file)) {
    res->warnings.push_back("no cpu.idle in " + dir +
                            " (kernel < 5.15 or no cpu controller): threads only");
    return Ok();
  }
  auto orig = ReadLine(idle_file);
  if (!orig || Trim(*orig) == "1") return Ok();
  // cpu.idle=1 turns the group's weight into the idle weight and cpu.idle=0 resets it to the
  // default, so the weight is journaled too, before cpu.idle: undone newest first, cpu.idle is
  // cleared before the weight is written back (writes to it fail while idle).
  std::vector<JournalEntry> batch;
  if (auto wf = CgroupWeightFile(dir)) {
    auto weight = ReadInt(wf->path);
    if (!weight) {
      res->warnings.push_back("cpu.idle of " + dir +
                              " left alone: setting it would lose the CPU weight, which "
                              "cannot be read (" +
                              weight.error().message + "); threads only");
      return Ok();
    }
    JournalEntry w;
    w.group = Group(t.workload);
    w.kind = ChangeKind::kWriteFile;
    w.path = wf->path;
    w.original = std::to_string(*weight);
    w.restore_if = wf->kernel_values;
    batch.push_back(std::move(w));
  }
  JournalEntry e;
  e.group = Group(t.workload);
  e.kind = ChangeKind::kWriteFile;
  e.path = idle_file;
  e.original = Trim(*orig);
  e.value = "1";
  batch.push_back(std::move(e));
  auto seqs = journal_.BeginAll(batch);
  if (!seqs) return seqs.error();
  if (auto r = writer_.WriteFile(idle_file, "1"); !r) {
    (void)journal_.MarkAllUndone(*seqs);
    res->warnings.push_back(r.error().message);
    return Ok();
  }
  (void)journal_.MarkAllApplied(*seqs);
  res->cpu_idle_set = true;
  res->idle_dir = dir;
  return Ok();
}

Result<DemoteResult> BestEffortActuator::Demote(const BestEffortTarget& t) {
  if (demoted_.count(t.workload)) return Error{EEXIST, "'" + t.workload + "' is already demoted"};
  if (auto r = CheckTarget(t); !r) return r.error();
  DemoteResult res;
  demoted_[t.workload] = t.cgroup_dir;
  // cpu.idle first: from then on the group competes as idle, including threads not yet seen.
  if (auto r = SetCpuIdle(t, &res); !r) {
    demoted_.erase(t.workload);
    return r.error();
  }
  if (auto r = DemoteThreads(t.workload, t.cgroup_dir, &res); !r) {
    auto undo = Revert(t.workload);
    return Error{r.error().code,
                 "demote '" + t.workload + "' failed and was reverted: " + r.error().message};
  }
  return res;
}

Result<DemoteResult> BestEffortActuator::Sweep() {
  DemoteResult total;
  for (const auto& [name, dir] : demoted_) {
    DemoteResult r;
    if (auto s = DemoteThreads(name, dir, &r); !s) return s.error();
    total.threads_demoted += r.threads_demoted;
    total.threads_adopted += r.threads_adopted;
    total.threads_gone += r.threads_gone;
    total.stable = total.stable && r.stable;
  }
  if (auto r = journal_.MaybeCompact(cfg_.proc_root); !r) return r.error();
  return total;
}

Result<UndoReport> BestEffortActuator::Revert(const std::string& workload) {
  auto it = demoted_.find(workload);
  if (it == demoted_.end()) return Error{ENOENT, "'" + workload + "' is not demoted"};
  const std::string g = Group(workload);
  // Threads born idle from demoted parents since the last sweep are reverted too.
  AdoptInheritedIdle(journal_, g, it->second, writer_, cfg_.proc_root, rails_);
  demoted_.erase(it);
  UndoReport rep = UndoGroup(journal_, g, writer_, cfg_.proc_root);
  if (demoted_.empty() && rep.Complete())
    if (auto r = journal_.CompactIfClean(); !r) rep.warnings.push_back(r.error().message);
  return rep;
}

UndoReport BestEffortActuator::RevertAll() {
  UndoReport rep;
  std::vector<std::string> names = Demoted();
  for (const std::string& n : names) {
    auto r = Revert(n);
    if (r) rep.Merge(*r);
  }
  return rep;
}

}  // namespace sw
