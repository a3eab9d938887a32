// The controller's hands, as an interface: the agent adapts it to the enforcement library
// (CoreAllocator, ExclusiveCoreActuator, best-effort actuator, journal); tests use a recording
// fake. The controller never touches the machine any other way.
#pragma once

#include <cerrno>
#include <string>

#include "common/cpulist.h"
#include "common/result.h"

namespace sw {

// Error code of GrantExclusive's capacity refusal. The controller records such an error as
// "refused" (a policy outcome, tried again later) and any other code as "failed".
inline constexpr int kCapacityRefused = ENOSPC;

class Actuator {
 public:
  virtual ~Actuator() = default;
  // SCHED_IDLE for every thread of the workload and cpu.idle=1 on its cgroup.
  virtual Result<void> DemoteBestEffort(const std::string& workload,
                                        const std::string& cgroup_path) = 0;
  // The same, with cpu.idle on `idle_cgroup` instead of the workload's own cgroup: an ancestor
  // of it (the level that separates it from its victim), or "" for none (SCHED_IDLE threads
  // only). The default ignores the level.
  virtual Result<void> DemoteBestEffortAt(const std::string& workload,
                                          const std::string& cgroup_path,
                                          const std::string& idle_cgroup) {
    (void)idle_cgroup;
    return DemoteBestEffort(workload, cgroup_path);
  }
  // Undoes DemoteBestEffort (each thread's previous policy and nice, cpu.idle).
  virtual Result<void> RestoreBestEffort(const std::string& workload,
                                         const std::string& cgroup_path) = 0;
  // Exclusive CPUs for the workload; may grant a different count (whole cores on SMT machines).
  // A refusal because of capacity (caps, shared-pool floor, reserved CPUs, no whole core free)
  // is an Error with code kCapacityRefused whose message says why; any other code is a failure.
  virtual Result<CpuSet> GrantExclusive(const std::string& workload, const std::string& cgroup_path,
                                        int cpus) = 0;
  // Returns the workload's exclusive CPUs to the shared pool.
  virtual Result<void> ReleaseExclusive(const std::string& workload,
                                        const std::string& cgroup_path) = 0;
};

}  // namespace sw
