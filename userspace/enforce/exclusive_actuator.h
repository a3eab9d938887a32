// ExclusiveCoreActuator: gives a workload CPUs nobody else runs on.
//
// cgroup v1: runtimes (kubelet, containerd, systemd) own the cpuset cgroups they create and their
// membership, and create children with their node's CPUs, which v1 only accepts while the
// parent has them. So the agent never narrows a cgroup that has children and never moves a task
// out of a cgroup someone else created:
//  - leaves: every cpuset cgroup without children that holds tasks gets the shared CPUs; the
//    leaves under the workload's own cpuset cgroup (same path as in the cpu hierarchy, as
//    kubelet and runtimes make them) get its exclusive CPUs. Ancestors keep all their CPUs.
//    Sweep() catches leaves that appeared or got tasks since;
//  - the root cpuset, which no runtime owns, is emptied into <root>/<prefix>.shared (a shield in
//    the spirit of `cset shield`); a workload without a cpuset cgroup of its own (a systemd
//    service on systemd's v1 layout) has its threads in the root cpuset and is moved into
//    <root>/<prefix>.x.<workload>. One whose threads sit in someone else's cpuset cgroup is
//    refused. Kernel threads, PID 1 and the agent stay in the root cpuset (see SafetyRails).
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

// One cpuset.cpus write of a v1 plan.
struct CpusetWrite {
  std::string dir;
  CpuSet cpus;
  bool operator==(const CpusetWrite&) const = default;
};
// The writes that take v1 cpuset cgroups (absolute dirs of one hierarchy) from `current` to
// `desired` CPUs while every child's CPUs stay within its parent's after each write, as v1
// demands: first each cgroup that gains CPUs gets current + desired, parents before children;
// then each gets `desired`, children before parents. Dirs only in `desired` are ignored.
std::vector<CpusetWrite> OrderCpusetWrites(const std::map<std::string, CpuSet>& current,
                                           const std::map<std::string, CpuSet>& desired);

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
  bool stable = true;               // false: tasks were still appearing after max_move_rounds
  std::vector<std::string> failed;  // moves the kernel refused, with the reason (not moved)
};

struct PromoteResult {
  CpuSet cpus;
  MoveStats shield;             // v1: root tasks moved into the shared cpuset
  MoveStats workload;           // v1: workload threads moved into its cpuset
  bool others_excluded = true;  // v2 without partition support: false
  bool own_cpuset = false;      // v1: its own cpuset cgroup's leaves got the CPUs (no moves)
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
  // promoted workloads without a cpuset cgroup of their own) and gives new or newly populated
  // leaf cpuset cgroups their CPUs. Call every control interval while something is promoted.
  // Leaves it cannot change (only exclusive CPUs, a write the kernel refused) are an error,
  // each reported once; everything else is still done.
  Result<MoveStats> Sweep();

  CpuSet SharedCpus() const;
  std::map<std::string, CpuSet> Promoted() const;
  // Handover (enforce/handover_state.cpp): what this actuator holds, as json text, and taking it
  // back in a new agent whose journal still holds those changes (Init first).
  std::string ExportState() const;
  Result<void> ImportState(const std::string& json_text);

 private:
  // v2: the CPUs written to our partitions' cpuset files by records still outstanding.
  CpuSet JournaledPartitionCpus() const;
  struct Held {
    CpuSet cpus;
    std::string source_dir;   // where its threads are listed
    std::string cpuset_dir;   // v1: its own cpuset cgroup or <prefix>.x.<w>; v2: == source_dir
    bool own_cpuset = false;  // v1: cpuset_dir is the workload's own cgroup (leaves get cpus)
  };
  // A v1 cpuset cgroup of someone else whose cpuset.cpus the agent changed.
  struct Touched {
    CpuSet base;                 // what it had before (or what someone else wrote since)
    CpuSet last;                 // what the agent wrote last
    std::vector<uint64_t> seqs;  // its journal records, all in the shield group
  };
  // v1 leaves: populated leaf cpusets get the shared CPUs, the leaves of workloads with their
  // own cpuset cgroup their exclusive CPUs, every other cgroup changed before its base again;
  // written in OrderCpusetWrites' order. Failed writes are listed in `failed`.
  Result<void> ReconcileLeaves(std::vector<std::string>* failed);
  // Where cpuset cgroup `dir` should be (empty: leave it as it is), with `base` its CPUs
  // without the agent.
  CpuSet WantedCpus(const std::string& dir, bool populated_leaf, const CpuSet& base,
                    std::vector<std::string>* failed) const;
  // One journaled write (or the undo of its records when `cpus` is its base again); false when
  // the kernel refused it (listed in `failed`), an error only when the journal fails.
  Result<bool> WriteLeafCpus(const std::string& dir, const CpuSet& cpus, const CpuSet& now,
                             std::vector<std::string>* failed);
  // The workload's own cpuset cgroup ("" when it has none: the root-cpuset shield applies).
  Result<std::string> OwnCpuset(const ExclusiveTarget& t) const;
  Result<void> CheckV1(const ExclusiveTarget& t, const CpuSet& cpus, const std::string& own);
  Result<PromoteResult> PromoteV1(const ExclusiveTarget& t, const CpuSet& cpus);
  // v1 without a cpuset cgroup of its own: <prefix>.x.<workload>, its threads moved in.
  Result<MoveStats> MoveIntoOurCpuset(const ExclusiveTarget& t, const CpuSet& cpus);
  // v2 before Linux 6.7 (no cpuset.cpus.exclusive): a nested cgroup whose parent is not a
  // partition root cannot become one; refused before anything is written.
  Result<void> CheckNestedPartition(const ExclusiveTarget& t, bool has_excl, bool has_part,
                                    const std::vector<std::string>& ancestors) const;
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
  // v1 cpuset cgroups not made by the agent, parents before children.
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
  std::map<std::string, Touched> touched_;  // v1 cpuset cgroups of others, by dir
  std::set<std::string> reported_;          // Sweep problems already reported
};

}  // namespace sw
