#include "enforce/exclusive_actuator.h"

#include <algorithm>
#include <set>

#include "common/fs.h"
#include "cgroup/tasks.h"

namespace sw {
namespace {

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 100) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

CpuSet Minus(const CpuSet& a, const CpuSet& b) {
  CpuSet out;
  for (int c : a)
    if (!b.count(c)) out.insert(c);
  return out;
}

CpuSet Intersect(const CpuSet& a, const CpuSet& b) {
  CpuSet out;
  for (int c : a)
    if (b.count(c)) out.insert(c);
  return out;
}

Result<CpuSet> ReadCpus(const std::string& file) {
  auto line = ReadLine(file);
  if (!line) return line.error();
  auto s = ParseCpuList(*line);
  if (!s) return s.error().WithContext(file);
  return s;
}

std::string Group(const std::string& workload) { return "exclusive:" + workload; }
constexpr const char* kShieldGroup = "shield";

}  // namespace

ExclusiveCoreActuator::ExclusiveCoreActuator(ExclusiveActuatorConfig config, SystemWriter& writer,
                                             Journal& journal, SafetyRails rails)
    : cfg_(std::move(config)), writer_(writer), journal_(journal), rails_(std::move(rails)) {
  shared_dir_ = JoinPath(cfg_.cpuset_root, cfg_.prefix + ".shared");
}

std::string ExclusiveCoreActuator::Rel(const std::string& dir) const {
  std::string root = cfg_.cpuset_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (dir.size() <= root.size()) return "/";
  return dir.substr(root.size());
}

Result<void> ExclusiveCoreActuator::CheckWorkloadCgroup(const ExclusiveTarget& t) const {
  const std::string& root =
      cfg_.version == CgroupVersion::kV1 ? cfg_.workload_root : cfg_.cpuset_root;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (t.cgroup_dir.compare(0, r.size(), r) != 0 ||
      (t.cgroup_dir.size() > r.size() && t.cgroup_dir[r.size()] != '/'))
    return Error{EINVAL, "cgroup " + t.cgroup_dir + " of '" + t.workload + "' is not under " + r};
  std::string rel = t.cgroup_dir.size() == r.size() ? "/" : t.cgroup_dir.substr(r.size());
  if (!rails_.CgroupAllowed(rel))
    return Error{EPERM, "cgroup " + rel + " of '" + t.workload +
                            "' is not in the allowlist of cgroups that may be touched"};
  return Ok();
}

Result<void> ExclusiveCoreActuator::Init() {
  if (cfg_.version == CgroupVersion::kV1) {
    auto cpus = ReadCpus(JoinPath(cfg_.cpuset_root, "cpuset.cpus"));
    if (!cpus)
      return cpus.error().WithContext("cgroup v1 cpuset hierarchy not usable at " +
                                      cfg_.cpuset_root);
    auto mems = ReadLine(JoinPath(cfg_.cpuset_root, "cpuset.mems"));
    if (!mems) return mems.error();
    all_cpus_ = *cpus;
    mems_ = Trim(*mems);
  } else {
    auto cpus = ReadCpus(JoinPath(cfg_.cpuset_root, "cpuset.cpus.effective"));
    if (!cpus)
      return cpus.error().WithContext("cgroup v2 cpuset controller not usable at " +
                                      cfg_.cpuset_root);
    all_cpus_ = *cpus;
  }
  if (all_cpus_.empty()) return Error{EINVAL, "no CPUs in the root cpuset of " + cfg_.cpuset_root};
  return Ok();
}

CpuSet ExclusiveCoreActuator::AllExclusive() const {
  CpuSet s;
  for (const auto& [n, h] : held_) s.insert(h.cpus.begin(), h.cpus.end());
  return s;
}

CpuSet ExclusiveCoreActuator::SharedCpus() const { return Minus(all_cpus_, AllExclusive()); }

std::map<std::string, CpuSet> ExclusiveCoreActuator::Promoted() const {
  std::map<std::string, CpuSet> m;
  for (const auto& [n, h] : held_) m[n] = h.cpus;
  return m;
}

Result<void> ExclusiveCoreActuator::JournaledWrite(const std::string& group,
                                                   const std::string& path,
                                                   const std::string& value,
                                                   const std::string& restore_if_empty) {
  auto orig = ReadLine(path);
  if (!orig) return orig.error();
  JournalEntry e;
  e.group = group;
  e.kind = ChangeKind::kWriteFile;
  e.path = path;
  e.original = Trim(*orig);
  if (e.original.empty()) e.original = restore_if_empty;
  e.value = value;
  auto seq = journal_.Begin(e);
  if (!seq) return seq.error();
  auto r = writer_.WriteFile(path, value);
  if (!r) {
    (void)journal_.MarkUndone(*seq);  // never happened
    return r;
  }
  return journal_.MarkApplied(*seq);
}

Result<void> ExclusiveCoreActuator::JournaledMkdir(const std::string& group,
                                                   const std::string& path,
                                                   const std::string& evacuate_to) {
  JournalEntry e;
  e.group = group;
  e.kind = ChangeKind::kMakeDir;
  e.path = path;
  e.evacuate_to = evacuate_to;
  auto seq = journal_.Begin(e);
  if (!seq) return seq.error();
  auto r = writer_.MakeDir(path);
  if (!r) {
    (void)journal_.MarkUndone(*seq);
    return r;
  }
  return journal_.MarkApplied(*seq);
}

Result<MoveStats> ExclusiveCoreActuator::MoveInto(const std::string& group,
                                                  const std::string& source_dir, bool recursive,
                                                  const std::string& target_dir) {
  MoveStats st;
  const std::string proc = cfg_.proc_root;
  const std::string target_rel = Rel(target_dir);
  const std::string target_tasks = JoinPath(target_dir, "tasks");
  std::set<pid_t> settled;  // handled (moved, vetoed, unmovable) in an earlier round
  for (st.rounds = 1; st.rounds <= cfg_.max_move_rounds; st.rounds++) {
    auto tids = ListCgroupThreads(source_dir, proc, recursive);
    if (!tids) {
      if (tids.error().code == ENOENT) return st;  // the workload's cgroup vanished
      return tids.error();
    }
    std::vector<JournalEntry> batch;
    for (pid_t tid : *tids) {
      if (settled.count(tid)) continue;
      const TaskVerdict veto = rails_.TaskVeto(proc, tid);
      if (!veto.allowed()) {
        settled.insert(tid);
        (veto.gone() ? st.gone : st.skipped)++;
        continue;
      }
      auto cur = ReadTaskCgroup(proc, tid, "cpuset");
      auto ts = ReadTaskStat(proc, tid);
      if (!cur || !ts) {
        settled.insert(tid);
        st.gone++;
        continue;
      }
      if (*cur == target_rel) {
        settled.insert(tid);
        continue;
      }
      JournalEntry e;
      e.group = group;
      e.kind = ChangeKind::kMoveTask;
      e.tid = tid;
      e.start_time = ts->start_time;
      e.controller = "cpuset";
      e.cgroup_from = *cur;
      e.cgroup_to = target_rel;
      e.original = JoinPath(JoinPath(cfg_.cpuset_root, *cur), "tasks");
      e.path = target_tasks;
      batch.push_back(std::move(e));
    }
    if (batch.empty()) return st;  // stable: nothing new showed up
    auto seqs = journal_.BeginAll(batch);
    if (!seqs) return seqs.error();
    std::vector<uint64_t> applied, not_done;
    for (size_t i = 0; i < batch.size(); i++) {
      const JournalEntry& e = batch[i];
      settled.insert(e.tid);
      // Re-check identity right before the write: the id may have been recycled meanwhile.
      if (!SameTask(proc, e.tid, e.start_time)) {
        st.gone++;
        not_done.push_back((*seqs)[i]);
        continue;
      }
      auto r = writer_.MoveTask(e.path, e.tid);
      if (r) {
        st.moved++;
        applied.push_back((*seqs)[i]);
      } else {
        // ESRCH: exited. EINVAL: per-CPU thread (PF_NO_SETAFFINITY) that cannot change cpuset.
        (r.error().code == ESRCH ? st.gone : st.skipped)++;
        not_done.push_back((*seqs)[i]);
      }
    }
    if (auto r = journal_.MarkAllApplied(applied); !r) return r.error();
    if (auto r = journal_.MarkAllUndone(not_done); !r) return r.error();
  }
  st.stable = false;
  return st;
}

std::vector<std::string> ExclusiveCoreActuator::ForeignCpusets() const {
  std::vector<std::string> out;
  for (const std::string& d : ListChildCgroups(cfg_.cpuset_root)) {
    std::string rel = Rel(d);
    if (rel.rfind("/" + cfg_.prefix + ".", 0) == 0) continue;  // ours
    out.push_back(d);
  }
  return out;  // parents before children
}

Result<void> ExclusiveCoreActuator::SetForeignCpus(const CpuSet& exclusive, bool narrowing) {
  std::vector<std::string> dirs = ForeignCpusets();
  // A child's cpus must stay inside its parent's: narrow children first, widen parents first.
  if (narrowing) std::reverse(dirs.begin(), dirs.end());
  for (const std::string& d : dirs) {
    std::string file = JoinPath(d, "cpuset.cpus");
    auto cur = ReadCpus(file);
    if (!cur) continue;  // vanished
    auto it = foreign_original_.find(d);
    CpuSet original = it != foreign_original_.end() ? it->second : *cur;
    CpuSet want = Minus(original, exclusive);
    if (want == *cur || want.empty()) continue;
    if (it == foreign_original_.end()) {
      // First change of this cpuset: journal its original once, in the shield group, so that a
      // restore puts back exactly what it had before the shield.
      if (auto r = JournaledWrite(kShieldGroup, file, FormatCpuList(want)); !r) return r;
      foreign_original_[d] = original;
    } else if (auto r = writer_.WriteFile(file, FormatCpuList(want)); !r) {
      return r;
    }
  }
  return Ok();
}

bool ExclusiveCoreActuator::CpusetChangeTouches(pid_t tid, const std::string& cg,
                                                const CpuSet& cpus,
                                                const std::set<pid_t>& workload) const {
  // v2: a partition changes the effective CPUs of the root and of every sibling.
  if (cfg_.version == CgroupVersion::kV2 || workload.count(tid)) return true;
  if (cg == "/") return rails_.TaskVeto(cfg_.proc_root, tid).allowed();  // the shield moves it
  if (cg.rfind("/" + cfg_.prefix + ".", 0) == 0) return true;            // ours
  // A foreign cpuset is narrowed and widened when it has some of the CPUs.
  const std::string dir = JoinPath(cfg_.cpuset_root, cg);
  auto it = foreign_original_.find(dir);
  auto cur = ReadCpus(JoinPath(dir, "cpuset.cpus"));
  CpuSet original = it != foreign_original_.end() ? it->second : cur.value_or(CpuSet{});
  return !Intersect(original, cpus).empty();
}

Result<std::vector<ExclusiveCoreActuator::Pinned>> ExclusiveCoreActuator::GuardAffinities(
    const std::string& group, const CpuSet& cpus, const std::string& workload_dir,
    std::vector<std::string>* warnings) {
  const std::string& proc = cfg_.proc_root;
  const std::string controller = cfg_.version == CgroupVersion::kV1 ? "cpuset" : "";
  std::set<pid_t> workload;
  if (auto w = ListCgroupThreads(workload_dir, proc, true); w)
    workload.insert(w->begin(), w->end());
  // Masks already guarded (by any group): the one recorded first is the owner's.
  std::map<pid_t, std::pair<uint64_t, std::string>> guarded;
  std::set<pid_t> in_group;
  for (const JournalEntry& e : journal_.Outstanding()) {
    if (e.kind != ChangeKind::kAffinity) continue;
    guarded.emplace(e.tid, std::make_pair(e.start_time, e.original));
    if (e.group == group) in_group.insert(e.tid);
  }
  std::map<std::string, Result<CpuSet>> allowed_by_cg;
  std::vector<Pinned> out;
  std::vector<JournalEntry> batch;
  for (pid_t tid : ListAllThreads(proc)) {
    auto st = ReadTaskStat(proc, tid);
    if (!st || st->IsKernelTask()) continue;
    auto cg = ReadTaskCgroup(proc, tid, controller);
    if (!cg || !CpusetChangeTouches(tid, *cg, cpus, workload)) continue;
    auto cur = writer_.GetAffinity(tid);
    if (!cur) {
      if (cur.error().code == ENOSYS) {
        warnings->push_back("CPU affinities are not guarded: " + cur.error().message);
        return std::vector<Pinned>{};
      }
      continue;  // exited
    }
    Pinned p{tid, st->start_time, *cur};
    auto g = guarded.find(tid);
    if (g != guarded.end() && g->second.first == st->start_time) {
      auto user = ParseCpuList(g->second.second);
      if (!user) continue;
      p.user = *user;
    } else {
      auto [it, fresh] = allowed_by_cg.try_emplace(*cg, Error{});
      if (fresh) it->second = ReadTaskCpusetCpus(proc, cfg_.cpuset_root, controller, tid);
      if (!it->second || *cur == *it->second) continue;  // the whole cpuset: nothing to keep
    }
    out.push_back(p);
    if (in_group.count(tid) && g->second.first == st->start_time) continue;
    JournalEntry e;
    e.group = group;
    e.kind = ChangeKind::kAffinity;
    e.tid = tid;
    e.start_time = st->start_time;
    e.original = FormatCpuList(p.user);
    e.path = cfg_.cpuset_root;
    e.controller = controller;
    batch.push_back(std::move(e));
  }
  if (batch.empty()) return out;
  auto seqs = journal_.BeginAll(batch);
  if (!seqs) return seqs.error();
  // "Applied" at once: any of the cpuset writes that follow may reset the masks.
  if (auto r = journal_.MarkAllApplied(*seqs); !r) return r.error();
  return out;
}

void ExclusiveCoreActuator::ReapplyAffinities(const std::vector<Pinned>& pinned,
                                              std::vector<std::string>* warnings) {
  const std::string controller = cfg_.version == CgroupVersion::kV1 ? "cpuset" : "";
  for (const Pinned& p : pinned) {
    if (!SameTask(cfg_.proc_root, p.tid, p.start_time)) continue;
    auto allowed = ReadTaskCpusetCpus(cfg_.proc_root, cfg_.cpuset_root, controller, p.tid);
    if (!allowed) continue;
    CpuSet want = Intersect(p.user, *allowed);
    if (want.empty()) {
      warnings->push_back("thread " + std::to_string(p.tid) + " was pinned to CPUs " +
                          FormatCpuList(p.user) + ", all exclusive now: it runs on " +
                          FormatCpuList(*allowed) + " until they are given back");
      continue;
    }
    auto cur = writer_.GetAffinity(p.tid);
    if (!cur || *cur == want) continue;  // exited, or the kernel kept the mask (6.2+)
    if (auto r = writer_.SetAffinity(p.tid, want); !r && r.error().code != ESRCH)
      warnings->push_back("re-pin thread " + std::to_string(p.tid) + ": " + r.error().message);
  }
}

Result<void> ExclusiveCoreActuator::CheckV1(const ExclusiveTarget& t, const CpuSet& cpus,
                                            CpuSet* all_excl) {
  CpuSet excl = AllExclusive();
  excl.insert(cpus.begin(), cpus.end());
  if (Minus(all_cpus_, excl).empty())
    return Error{EINVAL, "promoting '" + t.workload + "' to CPUs " + FormatCpuList(cpus) +
                             " would leave no CPU to the shared pool (CPUs " +
                             FormatCpuList(all_cpus_) + ")"};
  for (const std::string& d : ForeignCpusets()) {
    auto it = foreign_original_.find(d);
    auto cur = ReadCpus(JoinPath(d, "cpuset.cpus"));
    if (!cur) continue;
    CpuSet original = it != foreign_original_.end() ? it->second : *cur;
    if (original.empty()) continue;  // unconfigured cpuset: holds no task, nothing to narrow
    if (Minus(original, excl).empty())
      return Error{EBUSY, "cpuset " + Rel(d) + " only has CPUs " + FormatCpuList(original) +
                              "; taking " + FormatCpuList(cpus) + " for '" + t.workload +
                              "' would leave it empty. Pick other CPUs (reserved_cpus) or move "
                              "that cpuset's tasks first"};
    if (!Intersect(original, excl).empty() && !rails_.CgroupAllowed(Rel(d)))
      return Error{EPERM, "promoting '" + t.workload + "' needs to narrow cpuset " + Rel(d) +
                              ", which is not in the allowlist of cgroups that may be touched"};
  }
  *all_excl = excl;
  return Ok();
}

Result<PromoteResult> ExclusiveCoreActuator::Promote(const ExclusiveTarget& t, const CpuSet& cpus) {
  if (!ValidName(t.workload))
    return Error{EINVAL, "workload name '" + t.workload + "' must be [A-Za-z0-9_.-]+"};
  if (all_cpus_.empty()) return Error{EINVAL, "ExclusiveCoreActuator::Init() was not called"};
  if (cpus.empty()) return Error{EINVAL, "no CPUs given for '" + t.workload + "'"};
  if (!Minus(cpus, all_cpus_).empty())
    return Error{EINVAL, "CPUs " + FormatCpuList(Minus(cpus, all_cpus_)) + " for '" + t.workload +
                             "' are not in the root cpuset (" + FormatCpuList(all_cpus_) + ")"};
  if (held_.count(t.workload))
    return Error{EEXIST, "'" + t.workload + "' already holds CPUs " +
                             FormatCpuList(held_[t.workload].cpus) + "; release it first"};
  if (!Intersect(cpus, AllExclusive()).empty())
    return Error{EBUSY, "CPUs " + FormatCpuList(Intersect(cpus, AllExclusive())) +
                            " are already exclusive to another workload"};
  if (!PathExists(t.cgroup_dir)) {
    if (cfg_.version == CgroupVersion::kV2 && cfg_.workload_root != cfg_.cpuset_root)
      return Error{ENOENT, "cgroup " + t.cgroup_dir + " of '" + t.workload +
                               "' does not exist: the cpu controller is a v1 hierarchy (" +
                               cfg_.workload_root +
                               ") but the cpuset controller exists only on "
                               "the cgroup2 hierarchy " +
                               cfg_.cpuset_root +
                               " (kernel without v1 cpusets), where the workload needs a cgroup "
                               "at the same path holding its tasks (systemd units have one)"};
    return Error{ENOENT, "cgroup " + t.cgroup_dir + " of '" + t.workload + "' does not exist"};
  }
  if (auto r = CheckWorkloadCgroup(t); !r) return r.error();
  auto res = cfg_.version == CgroupVersion::kV1 ? PromoteV1(t, cpus) : PromoteV2(t, cpus);
  if (!res) {
    // Half a promotion is worse than none: undo whatever was done, from the journal.
    std::string undo_note;
    if (held_.count(t.workload)) {
      auto r = Release(t.workload);
      if (r && !r->Complete()) undo_note = "; rollback incomplete: " + r->failed.front();
    } else if (held_.empty() && shield_up_) {
      UndoReport r =
          UndoGroups(journal_, {Group(t.workload), kShieldGroup}, writer_, cfg_.proc_root);
      shield_up_ = false;
      foreign_original_.clear();
      if (!r.Complete()) undo_note = "; rollback incomplete: " + r.failed.front();
    } else {  // affinities journaled before the first change
      UndoReport r = UndoGroup(journal_, Group(t.workload), writer_, cfg_.proc_root);
      if (!r.Complete()) undo_note = "; rollback incomplete: " + r.failed.front();
    }
    return Error{res.error().code, "promote '" + t.workload + "' failed and was rolled back: " +
                                       res.error().message + undo_note};
  }
  return res;
}

Result<PromoteResult> ExclusiveCoreActuator::PromoteV1(const ExclusiveTarget& t,
                                                       const CpuSet& cpus) {
  CpuSet all_excl;
  if (auto r = CheckV1(t, cpus, &all_excl); !r) return r.error();
  PromoteResult res;
  res.cpus = cpus;
  auto pinned = GuardAffinities(Group(t.workload), cpus, t.cgroup_dir, &res.warnings);
  if (!pinned) return pinned.error();
  const std::string root_tasks = JoinPath(cfg_.cpuset_root, "tasks");
  const std::string shared_tasks = JoinPath(shared_dir_, "tasks");
  if (!shield_up_) {
    // 1. The shared cpuset, first with every CPU so nothing moved there loses a CPU yet.
    //    v1 refuses tasks in a cpuset until both cpus and mems are set.
    if (auto r = JournaledMkdir(kShieldGroup, shared_dir_, root_tasks); !r) return r.error();
    shield_up_ = true;
    if (auto r = writer_.WriteFile(JoinPath(shared_dir_, "cpuset.cpus"), FormatCpuList(all_cpus_));
        !r)
      return r.error();
    if (auto r = writer_.WriteFile(JoinPath(shared_dir_, "cpuset.mems"), mems_); !r)
      return r.error();
    // 2. Every movable task of the root cpuset into it.
    auto moved = MoveInto(kShieldGroup, cfg_.cpuset_root, false, shared_dir_);
    if (!moved) return moved.error();
    res.shield = *moved;
  }
  // 3. The workload's cpuset, filled before any task arrives.
  const std::string dir = JoinPath(cfg_.cpuset_root, cfg_.prefix + ".x." + t.workload);
  if (auto r = JournaledMkdir(Group(t.workload), dir, shared_tasks); !r) return r.error();
  held_[t.workload] = Held{cpus, t.cgroup_dir, dir};
  if (auto r = writer_.WriteFile(JoinPath(dir, "cpuset.cpus"), FormatCpuList(cpus)); !r)
    return r.error();
  if (auto r = writer_.WriteFile(JoinPath(dir, "cpuset.mems"), mems_); !r) return r.error();
  // 4. Its threads move in.
  auto moved = MoveInto(Group(t.workload), t.cgroup_dir, true, dir);
  if (!moved) return moved.error();
  res.workload = *moved;
  // 5. Only now the others lose the CPUs: shared cpuset, then foreign cpusets.
  if (auto r = writer_.WriteFile(JoinPath(shared_dir_, "cpuset.cpus"),
                                 FormatCpuList(Minus(all_cpus_, all_excl)));
      !r)
    return r.error();
  if (auto r = SetForeignCpus(all_excl, true); !r) return r.error();
  // 6. Tasks forked into the root cpuset meanwhile.
  auto late = MoveInto(kShieldGroup, cfg_.cpuset_root, false, shared_dir_);
  if (!late) return late.error();
  res.shield.moved += late->moved;
  res.shield.gone += late->gone;
  res.shield.stable = res.shield.stable && late->stable;
  if (!res.shield.stable || !res.workload.stable)
    res.warnings.push_back("tasks kept appearing after " + std::to_string(cfg_.max_move_rounds) +
                           " rounds; Sweep() will move the rest");
  if (res.workload.moved == 0)
    res.warnings.push_back("no movable task of '" + t.workload + "' found in " + t.cgroup_dir);
  ReapplyAffinities(*pinned, &res.warnings);
  return res;
}

Result<PromoteResult> ExclusiveCoreActuator::PromoteV2(const ExclusiveTarget& t,
                                                       const CpuSet& cpus) {
  const std::string rel = Rel(t.cgroup_dir);
  if (rel == "/") return Error{EINVAL, "the root cgroup cannot be promoted"};
  const std::string cpus_file = JoinPath(t.cgroup_dir, "cpuset.cpus");
  if (!PathExists(cpus_file))
    return Error{ENOENT, "cgroup " + rel +
                             " has no cpuset.cpus: enable the cpuset controller "
                             "('+cpuset' in its parent's cgroup.subtree_control)"};
  if (Minus(all_cpus_, AllExclusive()).size() <= cpus.size())
    return Error{EINVAL, "promoting '" + t.workload + "' to " + FormatCpuList(cpus) +
                             " would leave no CPU to the shared pool"};
  // Ancestors (top down) must allow the CPUs; with exclusive CPUs they must list them too.
  std::vector<std::string> ancestors;
  for (std::string d = t.cgroup_dir;;) {
    size_t s = d.find_last_of('/');
    d = d.substr(0, s);
    if (d.size() <= cfg_.cpuset_root.size()) break;
    ancestors.insert(ancestors.begin(), d);
  }
  for (const std::string& a : ancestors) {
    auto eff = ReadCpus(JoinPath(a, "cpuset.cpus.effective"));
    if (eff && !Minus(cpus, *eff).empty())
      return Error{EINVAL, "ancestor cgroup " + Rel(a) + " does not allow CPUs " +
                               FormatCpuList(Minus(cpus, *eff))};
  }
  PromoteResult res;
  res.cpus = cpus;
  const std::string g = Group(t.workload);
  auto pinned = GuardAffinities(g, cpus, t.cgroup_dir, &res.warnings);
  if (!pinned) return pinned.error();
  const bool has_excl = PathExists(JoinPath(t.cgroup_dir, "cpuset.cpus.exclusive"));
  const bool has_part = PathExists(JoinPath(t.cgroup_dir, "cpuset.cpus.partition"));
  held_[t.workload] = Held{cpus, t.cgroup_dir, t.cgroup_dir};
  if (has_excl && has_part) {
    // Linux 6.7+: a partition can be made of cpuset.cpus.exclusive alone, leaving cpuset.cpus as
    // it was. That matters: the kernel refuses to empty the cpuset.cpus of a cgroup with tasks
    // (ENOSPC), so a cgroup that inherited its CPUs could never be given that state back.
    for (const std::string& a : ancestors) {  // widen parents before the child claims them
      std::string f = JoinPath(a, "cpuset.cpus.exclusive");
      auto cur = ReadCpus(f);
      if (!cur) return cur.error();
      CpuSet want = *cur;
      want.insert(cpus.begin(), cpus.end());
      if (want != *cur)
        if (auto r = JournaledWrite(g, f, FormatCpuList(want)); !r) return r.error();
    }
    if (auto r =
            JournaledWrite(g, JoinPath(t.cgroup_dir, "cpuset.cpus.exclusive"), FormatCpuList(cpus));
        !r)
      return r.error();
  } else {
    // Older kernels (Debian 12's 6.1) take the CPUs from cpuset.cpus. An empty cpuset.cpus (the
    // parent's CPUs) cannot be written back while tasks are in the cgroup, so the undo writes
    // what the parent has now: the same effective CPUs.
    std::string parent = t.cgroup_dir.substr(0, t.cgroup_dir.find_last_of('/'));
    auto inherited = ReadLine(JoinPath(parent, "cpuset.cpus.effective"));
    if (!inherited) return inherited.error();
    if (auto r = JournaledWrite(g, cpus_file, FormatCpuList(cpus), Trim(*inherited)); !r)
      return r.error();
  }
  if (has_part) {
    std::string f = JoinPath(t.cgroup_dir, "cpuset.cpus.partition");
    if (auto r = JournaledWrite(g, f, "root"); !r) return r.error();
    // The kernel accepts the write but may mark the partition invalid, e.g. "root invalid
    // (Parent is not a partition root)" for a nested cgroup on kernels before 6.7: then the
    // CPUs are not exclusive, and Promote undoes everything.
    auto state = ReadLine(f);
    if (!state) return state.error();
    if (Trim(*state) != "root")
      return Error{EINVAL, "the kernel made " + rel + " an invalid partition ('" + Trim(*state) +
                               "'): its CPUs would not be exclusive"};
  } else {
    res.others_excluded = false;
    res.warnings.push_back("kernel has no cpuset partitions: '" + t.workload + "' is confined to " +
                           FormatCpuList(cpus) + " but other cgroups may still run there");
  }
  ReapplyAffinities(*pinned, &res.warnings);
  return res;
}

Result<UndoReport> ExclusiveCoreActuator::Release(const std::string& workload) {
  auto it = held_.find(workload);
  if (it == held_.end()) return Error{ENOENT, "'" + workload + "' holds no exclusive CPUs"};
  UndoReport rep;
  // Before any cpuset changes back: masks set during the grant, and threads guarded by other
  // workloads (the undo gives them their mask within what is allowed then).
  if (auto g =
          GuardAffinities(Group(workload), it->second.cpus, it->second.source_dir, &rep.warnings);
      !g)
    rep.failed.push_back("guard CPU affinities: " + g.error().message);
  held_.erase(it);
  if (cfg_.version == CgroupVersion::kV1 && shield_up_) {
    // Widen first, so the workload's tasks find the CPUs in the shared cpuset when they return.
    CpuSet excl = AllExclusive();
    if (auto r = writer_.WriteFile(JoinPath(shared_dir_, "cpuset.cpus"),
                                   FormatCpuList(Minus(all_cpus_, excl)));
        !r)
      rep.failed.push_back(r.error().message);
    // Foreign cpusets get their journaled originals back when the shield comes down.
    if (!held_.empty())
      if (auto r = SetForeignCpus(excl, false); !r) rep.failed.push_back(r.error().message);
  }
  // With the last workload the shield comes down too; affinities go back after both.
  const bool teardown = cfg_.version == CgroupVersion::kV1 && held_.empty() && shield_up_;
  std::vector<std::string> groups{Group(workload)};
  if (teardown) groups.push_back(kShieldGroup);
  rep.Merge(UndoGroups(journal_, groups, writer_, cfg_.proc_root));
  if (teardown) {
    shield_up_ = false;
    foreign_original_.clear();
  }
  if (held_.empty() && rep.Complete())
    if (auto r = journal_.CompactIfClean(); !r) rep.warnings.push_back(r.error().message);
  return rep;
}

UndoReport ExclusiveCoreActuator::ReleaseAll() {
  UndoReport rep;
  std::vector<std::string> names;
  for (const auto& [n, h] : held_) names.push_back(n);
  for (const std::string& n : names) {
    auto r = Release(n);
    if (r) rep.Merge(*r);
  }
  return rep;
}

Result<MoveStats> ExclusiveCoreActuator::Sweep() {
  MoveStats total;
  if (cfg_.version != CgroupVersion::kV1 || !shield_up_) return total;
  auto add = [&](const MoveStats& m) {
    total.moved += m.moved;
    total.skipped += m.skipped;
    total.gone += m.gone;
    total.rounds += m.rounds;
    total.stable = total.stable && m.stable;
  };
  for (const auto& [name, h] : held_) {
    auto m = MoveInto(Group(name), h.source_dir, true, h.cpuset_dir);
    if (!m) return m.error();
    add(*m);
  }
  auto m = MoveInto(kShieldGroup, cfg_.cpuset_root, false, shared_dir_);
  if (!m) return m.error();
  add(*m);
  if (auto r = journal_.MaybeCompact(cfg_.proc_root); !r) return r.error();
  return total;
}

}  // namespace sw
