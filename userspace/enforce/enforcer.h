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

#include "cgroup/layout.h"
#include "common/result.h"
#include "enforce/adopt.h"
#include "enforce/best_effort_actuator.h"
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
  Result<DemoteResult> Demote(const std::string& workload, const std::string& cgroup);
  Result<UndoReport> Revert(const std::string& workload);
  // Moves / demotes tasks that appeared since; call every control interval.
  Result<void> Sweep();
  // Everything back (SIGTERM). The journal stays open; Complete() tells whether it all worked.
  RestoreReport Shutdown();
  // Handover stop: every change stays; the journal gets a marker with what the actuators and
  // the allocator hold, and `controller_state` (json text, handed back by adopted_controller()).
  Result<void> Handover(const std::string& controller_state);
  const AdoptReport& adopt_report() const { return adopt_; }
  // The controller's state from the adopted marker, minus what the adoption undid ("" = none).
  const std::string& adopted_controller() const { return adopted_controller_; }

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
  SystemWriter* writer_ = nullptr;
  std::optional<Journal> journal_;
  std::optional<CoreAllocator> allocator_;
  std::unique_ptr<ExclusiveCoreActuator> exclusive_;
  std::unique_ptr<BestEffortActuator> best_effort_;
  AdoptReport adopt_;
  std::string adopted_controller_;
};

}  // namespace sw
