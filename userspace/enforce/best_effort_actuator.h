// BestEffortActuator: pushes a workload down to SCHED_IDLE so it only runs when nothing else
// wants the CPU.
//  - cpu.idle=1 on the workload's cgroup where the file exists (cgroup v1 cpu controller on
//    recent kernels, v2 since 5.15): the group as a whole competes as idle. The kernel resets the
//    group's weight (cpu.shares / cpu.weight) to the default when cpu.idle goes back to 0, so
//    the weight is journaled before and written back after it;
//  - never a kubelet QoS-level cgroup (DemoteVeto);
//  - SCHED_IDLE for every thread via sched_setattr (nice and flags kept, so the revert is exact).
// Threads created later inherit SCHED_IDLE from their parent; Sweep() journals them with their
// parent's original attributes so that revert and restore put them back too.
// Every change is journaled before it is made (group "idle:<workload>").
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "enforce/journal.h"
#include "enforce/safety.h"
#include "enforce/system_writer.h"
#include "enforce/undo.h"

namespace sw {

struct BestEffortActuatorConfig {
  std::string proc_root = "/proc";
  // Hierarchy holding BestEffortTarget::cgroup_dir (v1: the cpu controller; v2: the unified
  // mount), for the allowlist.
  std::string cgroup_root = "/sys/fs/cgroup/cpu";
  int max_rounds = 8;  // "repeat until stable" bound for threads appearing meanwhile
};

struct BestEffortTarget {
  std::string workload;
  std::string cgroup_dir;  // absolute: the workload's cgroup (v1: in the cpu controller)
  // Where cpu.idle goes (absolute): unset = cgroup_dir; an ancestor of it = the level that
  // separates the workload from its victim; "" = nowhere (SCHED_IDLE threads only, e.g. when
  // that level is one kubelet owns).
  std::optional<std::string> idle_dir;
};

struct DemoteResult {
  int threads_demoted = 0;  // set to SCHED_IDLE by us
  int threads_adopted = 0;  // already SCHED_IDLE by inheritance from a demoted thread
  int threads_skipped = 0;  // vetoed by the safety rails, or already SCHED_IDLE on their own
  int threads_gone = 0;
  bool cpu_idle_set = false;
  std::string idle_dir;  // where cpu.idle was set ("" = not set)
  bool stable = true;
  std::vector<std::string> warnings;
};

class BestEffortActuator {
 public:
  BestEffortActuator(BestEffortActuatorConfig config, SystemWriter& writer, Journal& journal,
                     SafetyRails rails);

  Result<DemoteResult> Demote(const BestEffortTarget& target);
  // Restores every thread's previous policy, priority and nice, and cpu.idle.
  Result<UndoReport> Revert(const std::string& workload);
  UndoReport RevertAll();
  // Demotes threads that appeared since Demote (call every control interval).
  Result<DemoteResult> Sweep();

  std::vector<std::string> Demoted() const;
  // Handover (enforce/handover_state.cpp): workload -> cgroup dir, as json text, and back.
  std::string ExportState() const;
  Result<void> ImportState(const std::string& json_text);
  void Forget(const std::string& workload) { demoted_.erase(workload); }  // its group was undone

 private:
  // Demote's steps.
  Result<void> CheckTarget(const BestEffortTarget& t) const;
  Result<void> CheckDir(const std::string& dir, const std::string& workload) const;
  Result<void> SetCpuIdle(const BestEffortTarget& t, DemoteResult* res);
  Result<void> DemoteThreads(const std::string& workload, const std::string& dir,
                             DemoteResult* res);
  std::vector<JournalEntry> ThreadsToDemote(const std::string& group, const std::string& dir,
                                            const std::vector<pid_t>& tids,
                                            std::set<pid_t>& settled, DemoteResult* res);
  Result<void> ApplyDemotions(const std::vector<JournalEntry>& batch,
                              const std::vector<uint64_t>& seqs, DemoteResult* res);

  BestEffortActuatorConfig cfg_;
  SystemWriter& writer_;
  Journal& journal_;
  SafetyRails rails_;
  std::map<std::string, std::string> demoted_;  // workload -> cgroup dir
};

// Journals threads in `cgroup_dir` that are SCHED_IDLE only because a demoted thread of group
// `group` created them (same process, or a child process), with that thread's original
// attributes. Used by Sweep, Revert and restore. Returns how many were adopted.
int AdoptInheritedIdle(Journal& journal, const std::string& group, const std::string& cgroup_dir,
                       SystemWriter& writer, const std::string& proc_root,
                       const SafetyRails& rails);

}  // namespace sw
