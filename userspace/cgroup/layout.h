// Where the cgroup controllers the agent needs are mounted: the cpu controller (workload identity,
// cpu.stat, PSI), cpuacct (v1 CPU usage) and cpuset (exclusive cores). cgroup v1, v2 and the
// hybrid layout (v1 controllers beside a v2 "unified" mount) are all supported. Detection reads
// <proc_root>/self/mountinfo and falls back to probing well-known directories under
// <cgroup_root>, so it runs unchanged against fake trees in tests.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace sw {

enum class CgroupVersion { kV1, kV2 };

const char* CgroupVersionName(CgroupVersion v);

struct ControllerMount {
  std::string path;  // absolute directory of the hierarchy's root cgroup
  CgroupVersion version = CgroupVersion::kV2;
};

struct CgroupMounts {
  ControllerMount cpu;                     // always present (detection fails otherwise)
  std::optional<ControllerMount> cpuacct;  // v1 only; on v2 usage comes from cpu.stat
  std::optional<ControllerMount> cpuset;
};

struct CgroupMountsOptions {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
};

// Finds the cpu, cpuacct and cpuset hierarchies. Error (naming every place looked at) when no cpu
// controller is mounted.
Result<CgroupMounts> DetectCgroupMounts(const CgroupMountsOptions& options = {});

// The cpuset hierarchy exclusive cores need; error (naming the cpu controller's place) when none
// is mounted.
Result<ControllerMount> CpusetMount(const CgroupMounts& mounts);

}  // namespace sw
