// Test cgroups made the way runtimes (systemd, kubelet) make them: the same path in every
// hierarchy the agent reads (cpu, and cpuacct where v1 mounts it apart) and, where cpusets are a
// cgroup2 hierarchy, with the cpuset controller enabled down to them so the agent can make a
// partition (on a v1 cpu hierarchy beside a cgroup2 cpuset one, the same path there too). All are
// removed on destruction, children first; destroy the processes in them before.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "support/cgroup_layout.h"

namespace sw::test {

class ScopedCgroups {
 public:
  explicit ScopedCgroups(const MachineCgroups& m) : m_(m) {}
  ~ScopedCgroups();
  ScopedCgroups(const ScopedCgroups&) = delete;
  ScopedCgroups& operator=(const ScopedCgroups&) = delete;

  // Creates `cgroup` ("/"-rooted; its parent made here before, or the root). Fails the test on
  // error (check with ASSERT_NO_FATAL_FAILURE).
  void Create(const std::string& cgroup);
  // Moves process `pid` into `cgroup` in every hierarchy above.
  void Join(const std::string& cgroup, pid_t pid) const;
  // A file of `cgroup` in the cpu hierarchy (cpu.idle, the weight file, cpu.stat), trimmed; "?"
  // when unreadable. Write fails the test on error.
  std::string ReadCpu(const std::string& cgroup, const std::string& file) const;
  void WriteCpu(const std::string& cgroup, const std::string& file, const std::string& v) const;
  // cgroup2 cpusets: the cpuset files of `cgroup` that exist (cpus, cpus.effective, exclusive,
  // partition) as file -> trimmed content; empty on v1.
  std::vector<std::pair<std::string, std::string>> CpusetFiles(const std::string& cgroup) const;
  // "" when CpusetFiles(cgroup) reads as restored after schedwarden ran, given what it read
  // before; else what differs. Exactly as before, with one exception the kernel forces: before
  // Linux 6.7 (no cpuset.cpus.exclusive) a grant's CPUs go to cpuset.cpus, and an empty one
  // (inherited CPUs) cannot be written back while tasks are in it (ENOSPC), so it may list the
  // CPUs inherited from the parent instead (docs/enforcement.md). cpuset.cpus.effective must be
  // exactly as before in every case.
  std::string CpusetRestoreDiff(
      const std::string& cgroup,
      const std::vector<std::pair<std::string, std::string>>& before) const;

 private:
  const MachineCgroups& m_;
  std::vector<std::string> made_;
  std::vector<std::string> cpuset_dirs_;  // made in a separate cgroup2 cpuset hierarchy
};

}  // namespace sw::test
