#include "enforce/adopt.h"

#include <map>
#include <sstream>

#include "cgroup/tasks.h"
#include "common/cpulist.h"
#include "common/fs.h"
#include "common/text.h"

namespace sw {
namespace {

bool SameValue(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto ca = ParseCpuList(a), cb = ParseCpuList(b);  // "0-1" and "0,1" are the same cpuset
  return ca && cb && !a.empty() && !b.empty() && *ca == *cb;
}

HoldState CheckWrite(const JournalEntry& e, std::string* why) {
  const std::string dir = DirOf(e.path);
  const uint64_t id = CgroupDirId(dir);
  if (id == 0 || !PathExists(e.path)) {
    *why = e.path + " no longer exists";
    return HoldState::kGone;
  }
  if (e.cgroup_id != 0 && id != e.cgroup_id) {
    *why = "cgroup " + dir + " was re-created since";
    return HoldState::kGone;
  }
  if (e.value.empty()) return HoldState::kHolds;  // the kernel's doing: nothing to compare
  auto cur = ReadLine(e.path);
  if (!cur) {
    *why = "read " + e.path + ": " + cur.error().message;
    return HoldState::kBroken;
  }
  if (SameValue(Trim(*cur), e.value)) return HoldState::kHolds;
  *why = e.path + " reads '" + Trim(*cur) + "', not '" + e.value + "'";
  return HoldState::kBroken;
}

HoldState CheckTask(const JournalEntry& e, SystemWriter& w, const std::string& proc,
                    std::string* why) {
  const std::string who = "task " + std::to_string(e.tid);
  if (!SameTask(proc, e.tid, e.start_time)) {
    *why = who + " exited (or its id names another task)";
    return HoldState::kGone;
  }
  if (e.kind == ChangeKind::kMoveTask) {
    auto cur = ReadTaskCgroup(proc, e.tid, e.controller);
    if (cur && *cur == e.cgroup_to) return HoldState::kHolds;
    *why = who + " is no longer in " + e.cgroup_to;
    return HoldState::kGone;  // moved on by someone else (or never moved): nothing to undo
  }
  if (e.kind == ChangeKind::kSchedAttr) {
    auto cur = w.GetSchedAttr(e.tid);
    if (cur && cur->policy == e.new_attr.policy) return HoldState::kHolds;
    *why = who + " is no longer " + SchedPolicyName(e.new_attr.policy);
    return HoldState::kGone;
  }
  return HoldState::kHolds;  // affinity: a guard of the owner's mask, kept while the task lives
}

// What a record changes: later records of the same subject supersede it.
std::string Subject(const JournalEntry& e) {
  switch (e.kind) {
    case ChangeKind::kWriteFile:
    case ChangeKind::kMakeDir:
      return "f:" + e.path;
    case ChangeKind::kMoveTask:
      return "m:" + e.controller + ":" + std::to_string(e.tid);
    default:  // each sched/affinity record is checked on its own
      return "s:" + std::to_string(e.seq);
  }
}

}  // namespace

bool IsExclusiveGroup(const std::string& g) {
  return g == "shield" || g.rfind("exclusive:", 0) == 0;
}

HoldState CheckHeld(const JournalEntry& e, SystemWriter& w, const std::string& proc,
                    std::string* why) {
  switch (e.kind) {
    case ChangeKind::kWriteFile:
      return CheckWrite(e, why);
    case ChangeKind::kMakeDir: {
      const uint64_t id = CgroupDirId(e.path);
      if (id != 0 && (e.cgroup_id == 0 || id == e.cgroup_id)) return HoldState::kHolds;
      *why = id == 0 ? e.path + " was removed" : e.path + " was re-created by someone else";
      return HoldState::kBroken;
    }
    default:
      return CheckTask(e, w, proc, why);
  }
}

AdoptReport VerifyForAdoption(Journal& journal, SystemWriter& w, const std::string& proc) {
  AdoptReport rep;
  rep.adopted = true;
  const std::vector<JournalEntry> out = journal.Outstanding();
  // A file written twice, a task moved twice: only the newest record says what the machine
  // should show now; the older ones hold when it does (their undo runs after its undo).
  std::map<std::string, uint64_t> newest;
  for (const JournalEntry& e : out) newest[Subject(e)] = e.seq;
  std::vector<uint64_t> gone;
  for (const JournalEntry& e : out) {
    std::string why;
    HoldState s = newest[Subject(e)] != e.seq ? HoldState::kHolds : CheckHeld(e, w, proc, &why);
    const std::string tag = "[" + e.group + " #" + std::to_string(e.seq) + "] ";
    if (s == HoldState::kHolds) rep.held++;
    if (s == HoldState::kGone) {
      gone.push_back(e.seq);
      rep.dropped.push_back(tag + why);
    }
    if (s == HoldState::kBroken) {
      rep.undone_groups.insert(e.group);
      rep.broken.push_back(tag + why);
    }
  }
  if (auto m = journal.MarkAllUndone(gone); !m) rep.undo.failed.push_back(m.error().message);
  UndoBrokenGroups(journal, w, proc, &rep);
  return rep;
}

void UndoBrokenGroups(Journal& journal, SystemWriter& w, const std::string& proc,
                      AdoptReport* rep) {
  // The exclusive groups share the shield and the leaves: one broken, all of them go.
  bool exclusive_broken = false;
  for (const auto& g : rep->undone_groups) exclusive_broken |= IsExclusiveGroup(g);
  if (exclusive_broken)
    for (const JournalEntry& e : journal.Outstanding())
      if (IsExclusiveGroup(e.group)) rep->undone_groups.insert(e.group);
  std::vector<std::string> order;  // workloads' groups before the shield, as a release does
  for (const auto& g : rep->undone_groups)
    if (g != "shield") order.push_back(g);
  if (rep->undone_groups.count("shield")) order.push_back("shield");
  if (!order.empty()) rep->undo.Merge(UndoGroups(journal, order, w, proc));
  rep->held = static_cast<int>(journal.Outstanding().size());
}

std::string AdoptReport::Summary() const {
  std::ostringstream o;
  o << "adopted " << held << " change(s) left by a handover; " << dropped.size()
    << " dropped (gone), " << undone_groups.size() << " group(s) undone\n";
  for (const auto& s : broken) o << "no longer held: " << s << "\n";
  for (const auto& s : dropped) o << "dropped: " << s << "\n";
  for (const auto& s : undo.failed) o << "failed: " << s << "\n";
  for (const auto& s : undo.skipped) o << "skipped: " << s << "\n";
  return o.str();
}

}  // namespace sw
