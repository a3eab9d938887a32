// Where the cgroup hierarchies the enforcer needs are mounted, and which version they are.
#pragma once

#include <string>

#include "cgroup/layout.h"
#include "common/result.h"
#include "enforce/exclusive_actuator.h"

namespace sw {

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kV1;
  std::string cpuset_root;  // v1: <root>/cpuset; v2: <root>
  std::string cpu_root;     // v1: <root>/cpu (workload identity, cpu.idle); v2: <root>
};

// The enforcer's view of the mounts the cgroup module detected (one detection for the agent).
Result<CgroupLayout> LayoutFromMounts(const CgroupMounts& mounts);

// DetectCgroupMounts under `sys_fs_cgroup` (normally /sys/fs/cgroup), then LayoutFromMounts.
Result<CgroupLayout> DetectCgroupLayout(const std::string& sys_fs_cgroup = "/sys/fs/cgroup",
                                        const std::string& proc_root = "/proc");

}  // namespace sw
