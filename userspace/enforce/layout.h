// Where the cgroup hierarchies the enforcer needs are mounted, and which version they are.
#pragma once

#include <string>

#include "common/result.h"
#include "enforce/exclusive_actuator.h"

namespace sw {

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kV1;
  std::string cpuset_root;  // v1: <root>/cpuset; v2: <root>
  std::string cpu_root;     // v1: <root>/cpu (workload identity, cpu.idle); v2: <root>
};

// Looks at `sys_fs_cgroup` (normally /sys/fs/cgroup): a v1 cpuset hierarchy at <root>/cpuset
// wins (hybrid machines such as the development ones); otherwise a v2 mount whose
// cgroup.controllers lists cpuset. Anything else is an error saying what is missing.
Result<CgroupLayout> DetectCgroupLayout(const std::string& sys_fs_cgroup = "/sys/fs/cgroup");

}  // namespace sw
