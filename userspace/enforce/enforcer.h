// Enforcer: the one object the agent holds. It wires the pieces of this module together —
// cgroup layout, CoreAllocator, journal, ExclusiveCoreActuator, BestEffortActuator — so the
// policy engine's adapter only says "promote this workload to N CPUs", "demote that one",
// "undo", and the CLI only says "reconcile", "sweep", "restore everything".
//
// Lifecycle (agent):  ReconcileAtStartup(state_dir)  →  Enforcer::Create(config)  →
//                     Promote / Demote / Release / Revert / Sweep every interval  →
//                     Shutdown() on SIGTERM/SIGINT (restores every journaled change), or
//                     Handover() (leaves them, with a marker; the next Create adopts them).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cgroup/layout.h"
#include "common/result.h"
#include "enforce/adopt.h"
#include "enforce/best_effort_actuator.h"
#include "enforce/drift.h"
#include "enforce/exclusive_actuator.h"
#include "enforce/journal.h"
#include "enforce/restore.h"
#include "enforce/safety.h"
#include "enforce/system_writer.h"
#include "topology/core_allocator.h"

namespace sw {

struct EnforcerConfig {
  std::string state_dir = "/var/lib/schedwarden";
  std::string sys_fs_cgroup = "/sys/fs/cgroup";  // used when `mounts` is not given
  std::optional<CgroupMounts> mounts;            // the agent's detection; tests pass fake roots
  std::string proc_root = "/proc";
  std::optional<Topology> topology;  // default: the live machine via hwloc
  AllocatorConfig allocator;         // shared_pool_min_cores, reserved_cpus, max fraction
  SafetyRails rails;                 // allowlist; the agent's pid
};

struct PromoteOutcome {
  Allocation allocation;  // what the allocator decided (warnings, reason when refused)
  std::optional<PromoteResult> applied;  // set when CPUs were granted and applied
  bool granted() const { return applied.has_value(); }
};

class Enforcer {
 public:
  // Detects the layout, loads the topology, opens (and locks) the journal. Does not change the
  // machine, except when the journal ends with a handover marker: then the previous agent's
  // changes are checked and adopted (see adopt.h; adopt_report() tells what happened). Fails
  // when a previous run left outstanding changes without a marker: call ReconcileAtStartup.
  static Result<std::unique_ptr<Enforcer>> Create(EnforcerConfig config, SystemWriter& writer);

  // `cgroup` is the workload's path in the cpu controller (v1) or the unified tree (v2), as the
  // collector reports it ("/lc1", "/kubepods/burstable/pod..."). `want_cpus` is the demand in
  // CPUs; the allocator rounds it to whole cores (or refuses, with a reason).
  Result<PromoteOutcome> Promote(const std::string& workload, const std::string& cgroup,
                                 int want_cpus);
  Result<UndoReport> Release(const std::string& workload);
  // idle_cgroup: where cpu.idle goes (a path like `cgroup`, an ancestor of it): unset = the
  // workload's own cgroup, "" = nowhere (SCHED_IDLE threads only).
  Result<DemoteResult> Demote(const std::string& workload, const std::string& cgroup,
                              const std::optional<std::string>& idle_cgroup = std::nullopt);
  Result<UndoReport> Revert(const std::string& workload);
  // Moves / demotes tasks that appeared since; call every control interval. First gives up every
  // change someone else rewrote since (drift.h); TakeDrift() returns those once.
  Result<void> Sweep();
  std::vector<DriftRecord> TakeDrift() { return std::exchange(drift_, {}); }
  // Everything back (SIGTERM). The journal stays open; Complete() tells whether it all worked.
  RestoreReport Shutdown();
  // Handover stop: every change stays; the journal gets a marker with what the actuators and
  // the allocator hold, and `controller_state` (json text, handed back by adopted_controller()).
  Result<void> Handover(const std::string& controller_state);
  const AdoptReport& adopt_report() const { return adopt_; }
  // The controller's state from the adopted marker, minus what the adoption undid ("" = none).
  const std::string& adopted_controller() const { return adopted_controller_; }

  // CPUs assigned outside the agent (kubelet's CPU manager: `who` says so in refusals): never
  // granted from now on. Returns the workloads that hold any of them; the controller releases
  // those (its ladder must know), so nothing is taken back here.
  std::vector<std::string> SetUnavailableCpus(CpuSet cpus, std::string who);

  CpuSet SharedCpus() const { return allocator_->SharedPool(); }
  std::map<std::string, CpuSet> Exclusive() const { return exclusive_->Promoted(); }
  std::vector<std::string> Demoted() const { return best_effort_->Demoted(); }
  const CgroupMounts& mounts() const { return mounts_; }
  const CoreAllocator& allocator() const { return *allocator_; }

 private:
  Enforcer() = default;
  std::string Dir(const std::string& cgroup) const;        // in the cpu hierarchy
  std::string CpusetDir(const std::string& cgroup) const;  // what the exclusive actuator takes
  Result<void> Adopt();  // Create's step when the journal ends with a handover marker
  Result<void> AdoptExclusive(const nlohmann::json& state);

  EnforcerConfig cfg_;
  CgroupMounts mounts_;  // cpuset always set
  std::unique_ptr<KubeletGuardWriter> guard_;
  SystemWriter* writer_ = nullptr;  // guard_

  std::optional<Journal> journal_;
  std::optional<CoreAllocator> allocator_;
  std::unique_ptr<ExclusiveCoreActuator> exclusive_;
  std::unique_ptr<BestEffortActuator> best_effort_;
  std::vector<DriftRecord> drift_;  // found by Sweep, not yet taken
  AdoptReport adopt_;
  std::string adopted_controller_;
};

}  // namespace sw
