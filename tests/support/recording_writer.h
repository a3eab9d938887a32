// RecordingWriter: the SystemWriter of the unit tests (enforce, cli).
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "enforce/system_writer.h"

namespace sw {

// Test double. Records every call in order as one line ("write <path> <value>", "move <file>
// <id>", "mkdir <path>", "rmdir <path>", "setattr <tid> <policy> <nice>", "affinity <tid> <list>"),
// applies file writes and directory changes to the (fake, temp-dir) tree so later reads see them (a
// new directory gets its parent's files, empty, as in cgroupfs), keeps scheduling attributes and
// affinities in maps, and can be told to fail an operation.
class RecordingWriter final : public SystemWriter {
 public:
  Result<void> WriteFile(const std::string& path, const std::string& value) override;
  Result<void> MoveTask(const std::string& membership_file, pid_t id) override;
  Result<void> MakeDir(const std::string& path) override;
  Result<void> RemoveDir(const std::string& path) override;
  Result<SchedAttr> GetSchedAttr(pid_t tid) override;
  Result<void> SetSchedAttr(pid_t tid, const SchedAttr& attr) override;
  Result<CpuSet> GetAffinity(pid_t tid) override;
  Result<void> SetAffinity(pid_t tid, const CpuSet& cpus) override;

  // Known threads and their attributes; an unknown tid is ESRCH (a vanished task).
  std::map<pid_t, SchedAttr> sched;
  // Threads' CPU affinities; an unknown tid is ESRCH.
  std::map<pid_t, CpuSet> affinity;
  // Operations recorded so far, in order.
  std::vector<std::string> ops;
  // Any operation whose recorded line starts with one of these prefixes fails with `fail_errno`
  // (and is still recorded, prefixed with "FAILED ").
  std::vector<std::string> fail_prefixes;
  int fail_errno = EINVAL;
  // Optional hook run on every MoveTask with the file and id, to mimic kernel side effects
  // (e.g. updating fake /proc/<id>/cgroup).
  std::function<void(const std::string&, pid_t)> on_move;
  // Optional hook run on every WriteFile to an existing file, before the value is stored: an
  // error fails the write (like a kernel refusing it); it may change other files (side effects).
  std::function<Result<void>(const std::string& path, const std::string& value)> on_write;
  // Optional hook run on every SetAffinity of a known tid: returns the mask the thread gets
  // (e.g. the request intersected with its cpuset) or an error (EINVAL: none of them allowed).
  std::function<Result<CpuSet>(pid_t tid, const CpuSet& requested)> on_set_affinity;

 private:
  bool ShouldFail(const std::string& op) const;
};

}  // namespace sw
