// The policy engine's Actuator on top of the enforcement library's Enforcer: this is glue only
// (names, error codes, logging); the rules live in the libraries.
#pragma once

#include <string>

#include "enforce/enforcer.h"
#include "policy/actuator.h"

namespace sw {

class EnforcementActuator final : public Actuator {
 public:
  explicit EnforcementActuator(Enforcer& enforcer) : enforcer_(enforcer) {}

  Result<void> DemoteBestEffort(const std::string& workload,
                                const std::string& cgroup_path) override;
  Result<void> DemoteBestEffortAt(const std::string& workload, const std::string& cgroup_path,
                                  const std::string& idle_cgroup) override;
  Result<void> RestoreBestEffort(const std::string& workload,
                                 const std::string& cgroup_path) override;
  // Capacity refusals come back as kCapacityRefused with the allocator's reason; any other
  // error (a kernel ENOSPC included) as a failure.
  Result<CpuSet> GrantExclusive(const std::string& workload, const std::string& cgroup_path,
                                int cpus) override;
  Result<void> ReleaseExclusive(const std::string& workload,
                                const std::string& cgroup_path) override;

  // Workload labels are paths; cpusets and journal groups need names ([A-Za-z0-9_.-]+), one per
  // label: "/lc/web" -> "lc_web"; a label with '_' or other characters, or an empty segment,
  // gets a hash suffix so it cannot meet another's name: "/lc_web" -> "lc_web__<16 hex>".
  static std::string ActuatorName(const std::string& workload);

 private:
  Enforcer& enforcer_;
};

}  // namespace sw
