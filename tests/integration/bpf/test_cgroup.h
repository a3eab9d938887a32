// RAII test cgroup on the real machine (any layout MachineCgroups supports) for the privileged BPF
// tests: created under a unique name in every cpu hierarchy, holds only the busy children it
// forked itself, and on destruction (also when an assertion failed) kills them, waits for them and
// removes the cgroup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "support/cgroup_layout.h"

namespace sw::test {

class TestCgroup {
 public:
  // Cgroup /schedwarden-test-<pid>-<name>.
  static Result<std::unique_ptr<TestCgroup>> Create(const MachineCgroups& machine,
                                                    const std::string& name);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  // "/"-rooted cgroup path (MachineCgroups names cgroups so).
  const std::string& path() const { return path_; }
  // The BPF workload id: kernfs id == inode number of the cgroup directory in the cpu hierarchy.
  uint64_t id() const { return id_; }
  Result<void> SetCfsQuota(uint64_t quota_us, uint64_t period_us) const;
  Result<CpuThrottling> ReadThrottling() const;

  // Forks a child that joins this cgroup, pins itself to `cpu` (-1: no pin), stops itself and
  // spins once Start() is called. Returns after the child has joined and is off the run queue.
  Result<pid_t> SpawnBusy(int cpu);
  // Releases every spawned child into its busy loop (SIGCONT).
  void Start();
  // SIGSTOPs every spawned child and returns once each is stopped and off the run queue. It then
  // has no wait in progress (a throttled or preempted child must run again to stop, and stopping
  // is a voluntary switch), so counters read afterwards are final.
  void Stop();
  // SIGKILLs and reaps every spawned child.
  void KillChildren();
  // Moves spawned child `pid` into `to` (every cpu hierarchy), which then owns it.
  Result<void> MoveChild(pid_t pid, TestCgroup& to);

 private:
  TestCgroup(const MachineCgroups& machine, std::string path, uint64_t id)
      : machine_(machine), path_(std::move(path)), id_(id) {}

  MachineCgroups machine_;
  std::string path_;
  uint64_t id_;
  std::vector<pid_t> children_;
};

}  // namespace sw::test
