#include "enforce/exclusive_actuator.h"

#include <algorithm>
#include <set>

#include "cgroup/tasks.h"
#include "common/fs.h"

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

// A refused move: ESRCH from a task that exited is "gone", EINVAL from a per-CPU thread
// (PF_NO_SETAFFINITY) "skipped"; anything else, or a task still there, is reported.
void CountFailedMove(const std::string& proc, const JournalEntry& e, const Error& err,
                     MoveStats* st) {
  auto now = ReadTaskStat(proc, e.tid);
  const bool alive = now && now->start_time == e.start_time;
  const bool per_cpu = now && (now->flags & 0x04000000) != 0;
  if (err.code == ESRCH && !alive) {
    st->gone++;
    return;
  }
  st->skipped++;
  if (!(err.code == EINVAL && per_cpu)) st->failed.push_back(err.message);
}

// The dirs among `dirs` that have a child cgroup (whatever order the walk listed them in).
std::set<std::string> Parents(const std::vector<std::string>& dirs) {
  std::set<std::string> out;
  for (const std::string& d : dirs) out.insert(d.substr(0, d.find_last_of('/')));
  return out;
}
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
    // A partition takes its CPUs out of the root's effective set: those a previous agent's
    // partitions hold (a handover journal) are ours to keep or to give back.
    for (int c : JournaledPartitionCpus()) all_cpus_.insert(c);
  }
  if (all_cpus_.empty()) return Error{EINVAL, "no CPUs in the root cpuset of " + cfg_.cpuset_root};
  return Ok();
}

CpuSet ExclusiveCoreActuator::JournaledPartitionCpus() const {
  CpuSet cpus;
  for (const JournalEntry& e : journal_.Outstanding()) {
    if (e.kind != ChangeKind::kWriteFile || e.group.rfind("exclusive:", 0) != 0) continue;
    const std::string file = e.path.substr(e.path.find_last_of('/') + 1);
    if (file != "cpuset.cpus" && file != "cpuset.cpus.exclusive") continue;
    if (auto c = ParseCpuList(e.value)) cpus.insert(c->begin(), c->end());
  }
  return cpus;
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
        CountFailedMove(proc, e, r.error(), &st);
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

std::vector<CpusetWrite> OrderCpusetWrites(const std::map<std::string, CpuSet>& current,
                                           const std::map<std::string, CpuSet>& desired) {
  // A path sorts before every path below it, so map order is parents before children.
  std::vector<CpusetWrite> out;
  std::map<std::string, CpuSet> now = current;
  for (auto& [dir, cur] : now) {
    auto it = desired.find(dir);
    if (it == desired.end()) continue;
    CpuSet wider = cur;
    wider.insert(it->second.begin(), it->second.end());
    if (wider == cur) continue;
    out.push_back({dir, wider});
    cur = wider;
  }
  for (auto it = now.rbegin(); it != now.rend(); ++it) {
    auto d = desired.find(it->first);
    if (d == desired.end() || d->second == it->second) continue;
    out.push_back({it->first, d->second});
  }
  return out;
}

Result<std::string> ExclusiveCoreActuator::OwnCpuset(const ExclusiveTarget& t) const {
  std::string root = cfg_.workload_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  const std::string rel = t.cgroup_dir.size() > root.size() ? t.cgroup_dir.substr(root.size()) : "";
  if (!rel.empty() && PathExists(JoinPath(cfg_.cpuset_root + rel, "cpuset.cpus")))
    return cfg_.cpuset_root + rel;
  // No cpuset cgroup of its own: its threads must be in the root cpuset (or already in ours),
  // never in a cgroup someone else created and owns the membership of.
  auto tids = ListCgroupThreads(t.cgroup_dir, cfg_.proc_root, true);
  if (!tids) return tids.error();
  for (pid_t tid : *tids) {
    auto cg = ReadTaskCgroup(cfg_.proc_root, tid, "cpuset");
    if (!cg || *cg == "/" || cg->rfind("/" + cfg_.prefix + ".", 0) == 0) continue;
    return Error{EPERM, "thread " + std::to_string(tid) + " of '" + t.workload +
                            "' is in cpuset cgroup " + *cg + ", which is not " +
                            (rel.empty() ? "/" : rel) +
                            " (the workload's own) nor the root cpuset: schedwarden never moves "
                            "tasks out of cgroups others created. Give the workload a cpuset "
                            "cgroup at its own path (as kubelet and container runtimes do)"};
  }
  return std::string();
}

CpuSet ExclusiveCoreActuator::WantedCpus(const std::string& dir, bool populated_leaf,
                                         const CpuSet& base,
                                         std::vector<std::string>* failed) const {
  if (!populated_leaf) return base;  // never narrow a cgroup others create children under
  for (const auto& [name, h] : held_) {
    if (!h.own_cpuset || (dir != h.cpuset_dir && dir.rfind(h.cpuset_dir + "/", 0) != 0)) continue;
    auto parent = ReadCpus(JoinPath(dir.substr(0, dir.find_last_of('/')), "cpuset.cpus"));
    if (parent && Minus(h.cpus, *parent).empty()) return h.cpus;
    failed->push_back("cpuset " + Rel(dir) + " of '" + name + "' cannot get CPUs " +
                      FormatCpuList(h.cpus) + ": its parent does not have them");
    return base;
  }
  CpuSet want = Minus(base, AllExclusive());
  if (want == base) return base;
  if (want.empty()) {
    failed->push_back("cpuset " + Rel(dir) + " only has exclusive CPUs " + FormatCpuList(base) +
                      "; left as it is");
    return base;
  }
  if (!rails_.CgroupAllowed(Rel(dir))) return base;  // refused at promotion; new ones: left
  return want;
}

Result<bool> ExclusiveCoreActuator::WriteLeafCpus(const std::string& dir, const CpuSet& cpus,
                                                  const CpuSet& now,
                                                  std::vector<std::string>* failed) {
  const std::string file = JoinPath(dir, "cpuset.cpus");
  auto refused = [&](const Error& err) -> Result<bool> {
    if (err.code != ENOENT)  // else removed meanwhile
      failed->push_back("cpuset " + Rel(dir) + " = " + FormatCpuList(cpus) + ": " + err.message);
    return false;
  };
  auto it = touched_.find(dir);
  if (it != touched_.end() && cpus == it->second.base) {
    // Back to what it had: the write is the undo of its records.
    if (auto r = writer_.WriteFile(file, FormatCpuList(cpus)); !r) return refused(r.error());
    auto seqs = std::move(it->second.seqs);
    touched_.erase(it);
    if (auto r = journal_.MarkAllUndone(seqs); !r) return r.error();
    return true;
  }
  JournalEntry e;
  e.group = kShieldGroup;
  e.kind = ChangeKind::kWriteFile;
  e.path = file;
  e.original = FormatCpuList(now);
  e.value = FormatCpuList(cpus);
  e.restore_if = {e.value};  // anything else was written by its owner since: left alone
  auto seq = journal_.Begin(e);
  if (!seq) return seq.error();
  if (auto r = writer_.WriteFile(file, e.value); !r) {
    (void)journal_.MarkUndone(*seq);  // never happened
    return refused(r.error());
  }
  Touched& t = touched_.try_emplace(dir, Touched{now, {}, {}}).first->second;
  t.last = cpus;
  t.seqs.push_back(*seq);
  if (auto r = journal_.MarkApplied(*seq); !r) return r.error();
  return true;
}

Result<void> ExclusiveCoreActuator::ReconcileLeaves(std::vector<std::string>* failed) {
  const std::vector<std::string> dirs = ForeignCpusets();
  const std::set<std::string> parents = Parents(dirs);
  std::map<std::string, CpuSet> current, desired;
  for (const std::string& d : dirs) {
    auto cur = ReadCpus(JoinPath(d, "cpuset.cpus"));
    if (!cur) continue;  // vanished
    CpuSet base = *cur;
    if (auto it = touched_.find(d); it != touched_.end()) {
      if (*cur == it->second.last)
        base = it->second.base;
      else
        it->second.base = *cur;  // its owner wrote it since: that is what it has now
    }
    bool populated_leaf = !parents.count(d);
    if (populated_leaf) {
      auto tids = ListCgroupThreads(d, cfg_.proc_root, false);
      populated_leaf = tids && !tids->empty();
    }
    current[d] = *cur;
    desired[d] = WantedCpus(d, populated_leaf, base, failed);
  }
  // Cgroups removed since (a container that ended): nothing left to restore.
  for (auto it = touched_.begin(); it != touched_.end();) {
    if (current.count(it->first)) {
      ++it;
      continue;
    }
    if (auto r = journal_.MarkAllUndone(it->second.seqs); !r) return r;
    it = touched_.erase(it);
  }
  for (const CpusetWrite& w : OrderCpusetWrites(current, desired)) {
    auto written = WriteLeafCpus(w.dir, w.cpus, current[w.dir], failed);
    if (!written) return written.error();  // the journal
    if (*written) current[w.dir] = w.cpus;
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
  // A leaf cpuset of others is narrowed and widened when it has some of the CPUs (a parent
  // never is: guarding its threads too costs nothing).
  const std::string dir = JoinPath(cfg_.cpuset_root, cg);
  auto it = touched_.find(dir);
  auto cur = ReadCpus(JoinPath(dir, "cpuset.cpus"));
  CpuSet original = it != touched_.end() ? it->second.base : cur.value_or(CpuSet{});
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
    if (auto r = writer_.SetAffinity(p.tid, want);
        !r && (r.error().code != ESRCH || SameTask(cfg_.proc_root, p.tid, p.start_time)))
      warnings->push_back("re-pin thread " + std::to_string(p.tid) + ": " + r.error().message);
  }
}

Result<void> ExclusiveCoreActuator::CheckV1(const ExclusiveTarget& t, const CpuSet& cpus,
                                            const std::string& own) {
  CpuSet excl = AllExclusive();
  excl.insert(cpus.begin(), cpus.end());
  if (Minus(all_cpus_, excl).empty())
    return Error{EINVAL, "promoting '" + t.workload + "' to CPUs " + FormatCpuList(cpus) +
                             " would leave no CPU to the shared pool (CPUs " +
                             FormatCpuList(all_cpus_) + ")"};
  const std::vector<std::string> dirs = ForeignCpusets();
  const std::set<std::string> parents = Parents(dirs);
  for (const std::string& d : dirs) {
    if (parents.count(d)) continue;  // not a leaf
    auto tids = ListCgroupThreads(d, cfg_.proc_root, false);
    auto cur = ReadCpus(JoinPath(d, "cpuset.cpus"));
    if (!tids || tids->empty() || !cur) continue;  // nothing runs there: nothing to narrow
    auto it = touched_.find(d);
    const CpuSet original = it != touched_.end() ? it->second.base : *cur;
    if (!own.empty() && (d == own || d.rfind(own + "/", 0) == 0)) {
      auto parent = ReadCpus(JoinPath(d.substr(0, d.find_last_of('/')), "cpuset.cpus"));
      if (parent && !Minus(cpus, *parent).empty())
        return Error{EINVAL, "cpuset " + Rel(d) + " of '" + t.workload + "' cannot get CPUs " +
                                 FormatCpuList(cpus) + ": its parent has only " +
                                 FormatCpuList(*parent) +
                                 " (schedwarden never widens a cgroup a runtime owns)"};
      continue;
    }
    if (Minus(original, excl).empty())
      return Error{EBUSY, "cpuset " + Rel(d) + " only has CPUs " + FormatCpuList(original) +
                              "; taking " + FormatCpuList(cpus) + " for '" + t.workload +
                              "' would leave it empty. Pick other CPUs (reserved_cpus) or move "
                              "that cpuset's tasks first"};
    if (!Intersect(original, excl).empty() && !rails_.CgroupAllowed(Rel(d)))
      return Error{EPERM, "promoting '" + t.workload + "' needs to narrow cpuset " + Rel(d) +
                              ", which is not in the allowlist of cgroups that may be touched"};
  }
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
      touched_.clear();
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
  auto own = OwnCpuset(t);
  if (!own) return own.error();
  if (auto r = CheckV1(t, cpus, *own); !r) return r.error();
  PromoteResult res;
  res.cpus = cpus;
  res.own_cpuset = !own->empty();
  auto pinned = GuardAffinities(Group(t.workload), cpus, t.cgroup_dir, &res.warnings);
  if (!pinned) return pinned.error();
  const std::string root_tasks = JoinPath(cfg_.cpuset_root, "tasks");
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
  // 3. Its CPUs: the leaves of its own cpuset cgroup get them (below), or, without one, a
  //    cpuset of ours, filled before its threads move in from the root cpuset.
  if (res.own_cpuset) {
    held_[t.workload] = Held{cpus, t.cgroup_dir, *own, true};
  } else if (auto moved = MoveIntoOurCpuset(t, cpus); !moved) {
    return moved.error();
  } else {
    res.workload = *moved;
  }
  // 4. Only now the others lose the CPUs: the shared cpuset, then every populated leaf.
  if (auto r = writer_.WriteFile(JoinPath(shared_dir_, "cpuset.cpus"), FormatCpuList(SharedCpus()));
      !r)
    return r.error();
  std::vector<std::string> failed;
  if (auto r = ReconcileLeaves(&failed); !r) return r.error();
  if (!failed.empty()) return Error{EBUSY, failed.front()};
  // 5. Tasks forked into the root cpuset meanwhile.
  auto late = MoveInto(kShieldGroup, cfg_.cpuset_root, false, shared_dir_);
  if (!late) return late.error();
  res.shield.moved += late->moved;
  res.shield.gone += late->gone;
  res.shield.stable = res.shield.stable && late->stable;
  for (const MoveStats* m : {&res.shield, &*late, &res.workload})
    for (const std::string& f : m->failed) res.warnings.push_back("not moved: " + f);
  if (!res.shield.stable || !res.workload.stable)
    res.warnings.push_back("tasks kept appearing after " + std::to_string(cfg_.max_move_rounds) +
                           " rounds; Sweep() will move the rest");
  if (!res.own_cpuset && res.workload.moved == 0)
    res.warnings.push_back("no movable task of '" + t.workload + "' found in " + t.cgroup_dir);
  ReapplyAffinities(*pinned, &res.warnings);
  return res;
}

Result<MoveStats> ExclusiveCoreActuator::MoveIntoOurCpuset(const ExclusiveTarget& t,
                                                           const CpuSet& cpus) {
  const std::string dir = JoinPath(cfg_.cpuset_root, cfg_.prefix + ".x." + t.workload);
  if (auto r = JournaledMkdir(Group(t.workload), dir, JoinPath(shared_dir_, "tasks")); !r)
    return r.error();
  held_[t.workload] = Held{cpus, t.cgroup_dir, dir, false};
  if (auto r = writer_.WriteFile(JoinPath(dir, "cpuset.cpus"), FormatCpuList(cpus)); !r)
    return r.error();
  if (auto r = writer_.WriteFile(JoinPath(dir, "cpuset.mems"), mems_); !r) return r.error();
  return MoveInto(Group(t.workload), t.cgroup_dir, true, dir);
}

Result<void> ExclusiveCoreActuator::CheckNestedPartition(
    const ExclusiveTarget& t, bool has_excl, bool has_part,
    const std::vector<std::string>& ancestors) const {
  if (has_excl || !has_part || ancestors.empty()) return Ok();
  // Before Linux 6.7 a partition root needs a partition root as parent; making the ancestors
  // partitions would take the CPUs from every cgroup under them, where runtimes create theirs.
  const std::string& parent = ancestors.back();
  auto state = ReadLine(JoinPath(parent, "cpuset.cpus.partition"));
  const std::string st = state ? Trim(*state) : "?";
  if (st == "root" || st == "isolated") return Ok();
  return Error{EOPNOTSUPP,
               "cgroup " + Rel(t.cgroup_dir) + " of '" + t.workload +
                   "' cannot be made exclusive on this kernel: it has no cpuset.cpus.exclusive "
                   "(Linux before 6.7), where a cpuset partition must be directly under the "
                   "root cgroup or under another partition, and its parent " +
                   Rel(parent) + " is not a partition ('" + st +
                   "'). schedwarden does not turn ancestors into partitions (their other "
                   "children, and any a runtime creates, would lose the CPUs). Nothing was "
                   "changed; Linux 6.7+ supports nested cgroups"};
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
  const bool has_excl = PathExists(JoinPath(t.cgroup_dir, "cpuset.cpus.exclusive"));
  const bool has_part = PathExists(JoinPath(t.cgroup_dir, "cpuset.cpus.partition"));
  if (auto r = CheckNestedPartition(t, has_excl, has_part, ancestors); !r) return r.error();
  PromoteResult res;
  res.cpus = cpus;
  const std::string g = Group(t.workload);
  auto pinned = GuardAffinities(g, cpus, t.cgroup_dir, &res.warnings);
  if (!pinned) return pinned.error();
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
    // Widen first, so the workload's tasks find the CPUs in the shared cpuset when they return;
    // then every leaf gets what it should have now (its own CPUs back once nothing is held).
    if (auto r =
            writer_.WriteFile(JoinPath(shared_dir_, "cpuset.cpus"), FormatCpuList(SharedCpus()));
        !r)
      rep.failed.push_back(r.error().message);
    if (auto r = ReconcileLeaves(&rep.failed); !r) rep.failed.push_back(r.error().message);
  }
  // With the last workload the shield comes down too; affinities go back after both.
  const bool teardown = cfg_.version == CgroupVersion::kV1 && held_.empty() && shield_up_;
  std::vector<std::string> groups{Group(workload)};
  if (teardown) groups.push_back(kShieldGroup);
  rep.Merge(UndoGroups(journal_, groups, writer_, cfg_.proc_root));
  if (teardown) {
    shield_up_ = false;
    touched_.clear();
    reported_.clear();
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
    total.failed.insert(total.failed.end(), m.failed.begin(), m.failed.end());
  };
  for (const auto& [name, h] : held_) {
    if (h.own_cpuset) continue;  // its threads stay where their runtime put them
    auto m = MoveInto(Group(name), h.source_dir, true, h.cpuset_dir);
    if (!m) return m.error();
    add(*m);
  }
  auto m = MoveInto(kShieldGroup, cfg_.cpuset_root, false, shared_dir_);
  if (!m) return m.error();
  add(*m);
  // New leaves (a container started, a pod created) and leaves that got their first task.
  std::vector<std::string> failed;
  if (auto r = ReconcileLeaves(&failed); !r) return r.error();
  std::set<std::string> now(failed.begin(), failed.end()), fresh;
  for (const std::string& f : now)
    if (!reported_.count(f)) fresh.insert(f);
  reported_ = std::move(now);  // each problem is reported once, not every interval
  if (!fresh.empty()) {
    std::string msg;
    for (const std::string& f : fresh) msg += (msg.empty() ? "" : "; ") + f;
    return Error{EBUSY, msg};
  }
  if (auto r = journal_.MaybeCompact(cfg_.proc_root); !r) return r.error();
  return total;
}

}  // namespace sw
