// FaultInjectingWriter: a SystemWriter decorator for fault-injection tests. It numbers every
// changing call (WriteFile, MoveTask, MakeDir, RemoveDir, SetSchedAttr, SetAffinity; reads pass
// through uncounted) and fails the chosen ones with a chosen errno without passing them on, so
// the machine (fake tree or real kernel) is left exactly as a refused write leaves it. A hook
// runs before each changing call, for privileged tests that kill a task or remove a cgroup
// between two steps of an action.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "enforce/system_writer.h"

namespace sw {

class FaultInjectingWriter final : public SystemWriter {
 public:
  explicit FaultInjectingWriter(SystemWriter& inner) : inner_(inner) {}

  Result<void> WriteFile(const std::string& path, const std::string& value) override;
  Result<void> MoveTask(const std::string& membership_file, pid_t id) override;
  Result<void> MakeDir(const std::string& path) override;
  Result<void> RemoveDir(const std::string& path) override;
  Result<SchedAttr> GetSchedAttr(pid_t tid) override { return inner_.GetSchedAttr(tid); }
  Result<void> SetSchedAttr(pid_t tid, const SchedAttr& attr) override;
  Result<CpuSet> GetAffinity(pid_t tid) override { return inner_.GetAffinity(tid); }
  Result<void> SetAffinity(pid_t tid, const CpuSet& cpus) override;

  // Which changing calls fail: the `fail_at`-th (1-based; 0 = none) and/or every one whose
  // description ("write <path> <value>", "move <file> <id>", "mkdir <path>", "rmdir <path>",
  // "setattr <tid> <policy> <nice>", "affinity <tid> <cpus>") the predicate accepts.
  int fail_at = 0;
  std::function<bool(const std::string& op)> fail_if;
  int fail_errno = EBUSY;
  // Runs before every changing call with its (1-based) number and description.
  std::function<void(int n, const std::string& op)> before;

  // Every changing call so far, in order (failed ones prefixed "FAILED ").
  std::vector<std::string> ops;
  int calls() const { return static_cast<int>(ops.size()); }
  int failures() const { return failures_; }
  // Starts counting again from 1 (the injection settings stay).
  void ResetCount() {
    ops.clear();
    failures_ = 0;
  }

 private:
  // Numbers the call, runs the hook; returns the injected error, if this one fails.
  Result<void> Step(const std::string& op, const std::string& what);

  SystemWriter& inner_;
  int failures_ = 0;
};

}  // namespace sw
