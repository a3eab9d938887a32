// RAII test cgroup in a real (v1) cpu hierarchy for the privileged BPF tests: created under a
// unique name, holds only the busy children it forked itself, and on destruction (also when an
// assertion failed) kills them, waits for them and removes the directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace sw::test {

inline constexpr const char* kCpuHierarchy = "/sys/fs/cgroup/cpu";

struct CpuStatV1 {
  uint64_t nr_periods = 0;
  uint64_t nr_throttled = 0;
  uint64_t throttled_ns = 0;  // v1 "throttled_time" is in nanoseconds
};

class TestCgroup {
 public:
  // mkdir <hierarchy>/schedwarden-test-<pid>-<name>.
  static Result<std::unique_ptr<TestCgroup>> Create(const std::string& hierarchy,
                                                    const std::string& name);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  const std::string& path() const { return path_; }
  // The BPF workload id: kernfs id == inode number of the cgroup directory.
  uint64_t id() const { return id_; }
  Result<void> Write(const std::string& file, const std::string& value) const;
  Result<CpuStatV1> ReadCpuStat() const;

  // Forks a child that joins this cgroup, pins itself to `cpu` (-1: no pin), stops itself and
  // spins once Start() is called. Returns after the child has joined.
  Result<pid_t> SpawnBusy(int cpu);
  // Releases every spawned child into its busy loop (SIGCONT).
  void Start();
  // SIGKILLs and reaps every spawned child.
  void KillChildren();

 private:
  TestCgroup(std::string path, uint64_t id) : path_(std::move(path)), id_(id) {}

  std::string path_;
  uint64_t id_;
  std::vector<pid_t> children_;
};

}  // namespace sw::test
