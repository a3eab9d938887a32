// The real machine's cgroup layout as the privileged tests see it, from the product's own
// detection (sw::DetectCgroupMounts), and the few files that differ between v1 and v2. Supported:
// cgroup v2 only (cpu and cpuset on one cgroup2 mount), v1 cpu,cpuacct co-mounted and v1 cpu,
// cpuacct as separate hierarchies (both with or without a cgroup2 "unified" mount beside them).
// The cpu and cpuset versions can differ: a kernel without CONFIG_CPUSETS_V1 (Debian's 6.12) has
// cpuset only on the unified cgroup2 mount next to v1 cpu,cpuacct.
//
// A test cgroup is named by its "/"-rooted path relative to a hierarchy root ("/sw-test-42-x"),
// the path /proc/<pid>/cgroup shows and the agent uses. It exists at that path in every hierarchy
// of CpuRoots(): the cpu hierarchy, plus the cpuacct one on v1 when it is mounted separately
// (CPU usage is only counted there). The readers parse the kernel's files themselves, not with
// the product's parsers: they are the ground truth tests compare the product against.
//
//   auto m = MachineCgroups::Detect();                    // ASSERT_TRUE(m.ok())
//   const std::string cg = "/sw-test-" + std::to_string(getpid());
//   m->CreateCpuCgroup(cg);  m->JoinCpuCgroup(cg, pid);   // (Result<void>: check them)
//   m->SetCfsQuota(cg, 20000, 100000);  m->ReadThrottling(cg);  m->ReadUsageNs(cg);
//   ... kill the tasks ...  m->RemoveCpuCgroup(cg);
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cgroup/layout.h"
#include "common/result.h"

namespace sw::test {

// CFS bandwidth counters of a cgroup's cpu.stat.
struct CpuThrottling {
  uint64_t nr_periods = 0;
  uint64_t nr_throttled = 0;
  uint64_t throttled_ns = 0;  // v1 throttled_time (ns); v2 throttled_usec * 1000
};

class MachineCgroups {
 public:
  // DetectCgroupMounts() (on /sys/fs/cgroup and /proc unless told otherwise, e.g. a fake tree);
  // its error when no cpu controller is mounted.
  static Result<MachineCgroups> Detect(const CgroupMountsOptions& options = {});

  // What was detected, e.g. to construct the product's readers on the real machine.
  const CgroupMounts& mounts() const { return mounts_; }
  bool cpu_v2() const { return mounts_.cpu.version == CgroupVersion::kV2; }
  // /sys/fs/cgroup/cpu, /sys/fs/cgroup/cpu,cpuacct or /sys/fs/cgroup (v2).
  const std::string& cpu_root() const { return mounts_.cpu.path; }
  // v1: the cpuacct hierarchy (== cpu_root() when co-mounted; "" if not mounted); v2: "".
  std::string cpuacct_root() const;
  // "" when no cpuset controller is mounted. On v2 the same mount as cpu_root().
  std::string cpuset_root() const;
  bool cpuset_v2() const;
  // The distinct hierarchies a test cgroup is created in and its tasks join: cpu_root(), plus
  // cpuacct_root() on v1 when it is a separate hierarchy.
  std::vector<std::string> CpuRoots() const;

  // Directory of `cgroup` in the cpu / cpuacct (v2: cpu) / cpuset hierarchy.
  std::string CpuDir(const std::string& cgroup) const;
  std::string CpuacctDir(const std::string& cgroup) const;
  std::string CpusetDir(const std::string& cgroup) const;

  // File names that differ. Weights are on different scales: v1 cpu.shares (default 1024,
  // 2..262144), v2 cpu.weight (default 100, 1..10000).
  const char* weight_file() const { return cpu_v2() ? "cpu.weight" : "cpu.shares"; }
  // A valid weight that is not the kernel default, so a reset to the default shows.
  const char* non_default_weight() const { return cpu_v2() ? "500" : "2048"; }
  // Whether `value` is what the kernel shows as the weight of an idle group (cpu.idle=1): 3 for
  // cpu.shares; 0 (before Linux 6.12) or 1 (since) for cpu.weight.
  bool IsIdleWeight(const std::string& value) const;
  // The threads of a cgroup (v1 "tasks", v2 "cgroup.threads") of the cpu / cpuset hierarchy.
  const char* threads_file() const { return cpu_v2() ? "cgroup.threads" : "tasks"; }
  const char* cpuset_threads_file() const { return cpuset_v2() ? "cgroup.threads" : "tasks"; }
  static constexpr const char* kProcsFile = "cgroup.procs";  // its processes, v1 and v2

  // Creates `cgroup` (if absent; its parent must exist) in every CpuRoots() hierarchy. On v2
  // first enables the cpu controller for the parent's children ("+cpu" in its
  // cgroup.subtree_control): the parent must be a cgroup the test created, without tasks, or the
  // root, which must have "+cpu" already (it is not changed).
  Result<void> CreateCpuCgroup(const std::string& cgroup) const;
  // Moves process `pid` (all its threads) into `cgroup` in every CpuRoots() hierarchy.
  Result<void> JoinCpuCgroup(const std::string& cgroup, pid_t pid) const;
  // Removes `cgroup` (no tasks, no children left) from every CpuRoots() hierarchy; absent is
  // fine. Retries for up to 2 s: a cgroup whose last task just exited can be busy for a moment.
  Result<void> RemoveCpuCgroup(const std::string& cgroup) const;

  // The weight_file() of `cgroup` in the cpu hierarchy: trimmed content ("" when unreadable),
  // and a write of `value` to it.
  std::string ReadWeight(const std::string& cgroup) const;
  Result<void> WriteWeight(const std::string& cgroup, const std::string& value) const;
  // CFS bandwidth limit: v1 cpu.cfs_period_us + cpu.cfs_quota_us, v2 cpu.max "QUOTA PERIOD".
  Result<void> SetCfsQuota(const std::string& cgroup, uint64_t quota_us, uint64_t period_us) const;
  // cpu.stat bandwidth counters (error if the cgroup has none, e.g. v2 without +cpu above it).
  Result<CpuThrottling> ReadThrottling(const std::string& cgroup) const;
  // CPU time used by the cgroup's tasks (ns): v1 cpuacct.usage in the cpuacct hierarchy, v2
  // cpu.stat usage_usec * 1000.
  Result<uint64_t> ReadUsageNs(const std::string& cgroup) const;

 private:
  explicit MachineCgroups(CgroupMounts m) : mounts_(std::move(m)) {}
  CgroupMounts mounts_;
};

}  // namespace sw::test
