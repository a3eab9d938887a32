// ExclusiveCoreActuator: gives a workload CPUs nobody else runs on.
//
// cgroup v1 (the development machines): a shield in the cpuset hierarchy, in the spirit of
// `cset shield`. On the first promotion a shared cpuset <root>/<prefix>.shared is created and
// every movable task of the root cpuset goes there; each promoted workload gets
// <root>/<prefix>.x.<workload> holding its threads; the shared cpuset is then narrowed to the
// CPUs not held exclusively, and other (foreign) cpusets are narrowed the same way, children
// first. Kernel threads, PID 1 and the agent stay in the root cpuset (see SafetyRails).
//
// cgroup v2: the workload's own cgroup becomes a cpuset partition root (cpuset.cpus.partition),
// which removes its CPUs from every other cgroup. Its CPUs come from cpuset.cpus.exclusive (and
// its ancestors') where the kernel has it (6.7+), else from cpuset.cpus. A partition the kernel
// marks invalid is undone and reported; without partitions at all the workload is confined but
// others are not excluded (a warning).
//
// Every change is journaled first (see journal.h). Writes never leave a cpuset empty or invalid:
// new cpusets are filled before tasks arrive, shared CPUs are narrowed only after the workload
// moved, widened before it comes back. Task moves repeat until no new task shows up (bounded).
// Tasks that vanish mid-way are counted, not errors.
//
// Affinity guard: kernels before 6.2 reset the CPU affinity of every task whose cpuset changes
// (moved, narrowed, widened, partition made or unmade) to the cpuset's CPUs, forgetting a mask
// its owner set. Before the first cgroup change of a Promote or Release, one pass over /proc
// journals the affinity of each user thread the change can touch whose mask is narrower than
// its cpuset (or already guarded); the undo puts it back after every cpuset change. After a
// promotion such threads get what 6.2+ kernels give them: their own mask minus the CPUs taken.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cgroup/layout.h"
#include "common/cpulist.h"
#include "common/result.h"
#include "enforce/journal.h"
#include "enforce/safety.h"
#include "enforce/system_writer.h"
#include "enforce/undo.h"

namespace sw {

struct ExclusiveActuatorConfig {
  CgroupVersion version = CgroupVersion::kV1;  // of the cpuset hierarchy
  // v1: the cpuset hierarchy's mount; v2: the unified mount.
  std::string cpuset_root = "/sys/fs/cgroup/cpuset";
  // Hierarchy holding the workloads' cgroups (ExclusiveTarget::cgroup_dir), for the allowlist:
  // v1 the cpu controller, v2 the same as cpuset_root.
  std::string workload_root = "/sys/fs/cgroup/cpu";
  std::string proc_root = "/proc";
  std::string prefix = "schedwarden";  // v1 names: <prefix>.shared, <prefix>.x.<workload>
  int max_move_rounds = 8;             // "repeat until stable" bound
};

struct ExclusiveTarget {
  std::string workload;  // a name: [A-Za-z0-9_.-]+
  // Absolute directory whose threads make up the workload (recursively): on v1 its cgroup in the
  // cpu controller, on v2 its cgroup (which also receives the cpuset files).
  std::string cgroup_dir;
};

struct MoveStats {
  int moved = 0;
  int skipped = 0;  // vetoed by the safety rails or not movable (per-CPU threads)
  int gone = 0;     // exited while being moved
  int rounds = 0;
  bool stable = true;  // false: tasks were still appearing after max_move_rounds
};

struct PromoteResult {
  CpuSet cpus;
  MoveStats shield;             // v1: root tasks moved into the shared cpuset
  MoveStats workload;           // v1: workload threads moved into its cpuset
  bool others_excluded = true;  // v2 without partition support: false
  std::vector<std::string> warnings;
};

class ExclusiveCoreActuator {
 public:
  ExclusiveCoreActuator(ExclusiveActuatorConfig config, SystemWriter& writer, Journal& journal,
                        SafetyRails rails);

  // Reads the CPUs and memory nodes of the root cpuset. Call once before Promote.
  Result<void> Init();
  // Gives `cpus` (normally from CoreAllocator::Allocate; call CoreAllocator::Release when this
  // fails) to the workload. Checks everything first (CPUs exist, the shared pool keeps at least
  // one CPU, no foreign cpuset would be left empty, the allowlist) and changes nothing when a
  // check fails; a failure half-way (e.g. a cgroup removed under us) is rolled back.
  Result<PromoteResult> Promote(const ExclusiveTarget& target, const CpuSet& cpus);
  // Gives the workload's CPUs back and undoes its changes; tears the v1 shield down with the
  // last promoted workload.
  Result<UndoReport> Release(const std::string& workload);
  // Everything, e.g. on SIGTERM.
  UndoReport ReleaseAll();
  // v1: moves tasks that appeared since (new processes in the root cpuset, new threads of
  // promoted workloads). Call every control interval while something is promoted.
  Result<MoveStats> Sweep();

  CpuSet SharedCpus() const;
  std::map<std::string, CpuSet> Promoted() const;

 private:
  struct Held {
    CpuSet cpus;
    std::string source_dir;  // where its threads are listed
    std::string cpuset_dir;  // v1: its cpuset; v2: == source_dir
  };
  Result<void> CheckV1(const ExclusiveTarget& t, const CpuSet& cpus, CpuSet* all_excl);
  Result<PromoteResult> PromoteV1(const ExclusiveTarget& t, const CpuSet& cpus);
  Result<PromoteResult> PromoteV2(const ExclusiveTarget& t, const CpuSet& cpus);
  // Journals the file's current content, then writes `value`. The undo writes the content back,
  // or `restore_if_empty` when it was empty.
  Result<void> JournaledWrite(const std::string& group, const std::string& path,
                              const std::string& value, const std::string& restore_if_empty = "");
  Result<void> JournaledMkdir(const std::string& group, const std::string& path,
                              const std::string& evacuate_to);
  // Moves every movable thread listed in `source_dir` (or the root's own "tasks" when
  // source_dir is the root) into the cpuset `target_dir`, round after round.
  Result<MoveStats> MoveInto(const std::string& group, const std::string& source_dir,
                             bool recursive, const std::string& target_dir);
  Result<void> SetForeignCpus(const CpuSet& exclusive, bool narrowing);
  std::vector<std::string> ForeignCpusets() const;
  std::string Rel(const std::string& dir) const;
  Result<void> CheckWorkloadCgroup(const ExclusiveTarget& t) const;
  // A user thread whose own affinity mask a cpuset change may reset.
  struct Pinned {
    pid_t tid = 0;
    uint64_t start_time = 0;
    CpuSet user;  // the mask its owner set
  };
  // Whether granting or giving back `cpus` changes the cpuset of thread `tid` (in cpuset cgroup
  // `cg`), directly or by moving it; `workload` holds the threads of the workload concerned.
  bool CpusetChangeTouches(pid_t tid, const std::string& cg, const CpuSet& cpus,
                           const std::set<pid_t>& workload) const;
  // The one /proc pass: journals in `group` (applied) the affinity of every touched user thread
  // that is pinned or guarded by another group, before the cpusets change.
  Result<std::vector<Pinned>> GuardAffinities(const std::string& group, const CpuSet& cpus,
                                              const std::string& workload_dir,
                                              std::vector<std::string>* warnings);
  // What 6.2+ kernels do themselves: each thread's own mask within the CPUs allowed now.
  void ReapplyAffinities(const std::vector<Pinned>& pinned, std::vector<std::string>* warnings);
  CpuSet AllExclusive() const;

  ExclusiveActuatorConfig cfg_;
  SystemWriter& writer_;
  Journal& journal_;
  SafetyRails rails_;
  CpuSet all_cpus_;
  std::string mems_;
  bool shield_up_ = false;
  std::string shared_dir_;
  std::map<std::string, Held> held_;
  std::map<std::string, CpuSet> foreign_original_;  // v1 foreign cpuset -> cpus before the shield
};

}  // namespace sw
