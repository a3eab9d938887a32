// SystemWriter: the one door through which the enforcer changes the machine. Every cgroup file
// write, task move, cgroup mkdir/rmdir and scheduling-policy change goes through it, so unit tests
// swap in RecordingWriter (tests/support) and check the exact operations and their order, and the
// journal knows every change before it happens. Reads go directly to files under configurable
// roots.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/cpulist.h"
#include "common/result.h"

namespace sw {

// Policies glibc's <sched.h> does not name (the kernel's uapi values).
inline constexpr int kSchedDeadline = 6;  // SCHED_DEADLINE
inline constexpr int kSchedExt = 7;       // SCHED_EXT

// The parts of struct sched_attr the enforcer changes and restores.
struct SchedAttr {
  int policy = 0;       // SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR, ...
  int nice = 0;         // for SCHED_OTHER/BATCH/IDLE
  int rt_priority = 0;  // for SCHED_FIFO/RR
  uint64_t flags = 0;   // SCHED_FLAG_RESET_ON_FORK and friends
  bool operator==(const SchedAttr&) const = default;
};
std::string SchedPolicyName(int policy);

class SystemWriter {
 public:
  virtual ~SystemWriter() = default;
  // Writes `value` to an existing cgroup/proc file (no O_CREAT: a vanished cgroup is ENOENT).
  virtual Result<void> WriteFile(const std::string& path, const std::string& value) = 0;
  // Moves one thread (v1 "tasks", v2 "cgroup.threads") or process ("cgroup.procs") by writing
  // its id to `membership_file`.
  virtual Result<void> MoveTask(const std::string& membership_file, pid_t id) = 0;
  virtual Result<void> MakeDir(const std::string& path) = 0;    // EEXIST is reported as an error
  virtual Result<void> RemoveDir(const std::string& path) = 0;  // rmdir of an (empty) cgroup
  virtual Result<SchedAttr> GetSchedAttr(pid_t tid) = 0;
  virtual Result<void> SetSchedAttr(pid_t tid, const SchedAttr& attr) = 0;
  // CPU affinity of one thread (sched_getaffinity/sched_setaffinity). The kernel intersects a
  // new mask with the thread's cpuset and refuses (EINVAL) an empty result.
  virtual Result<CpuSet> GetAffinity(pid_t tid) = 0;
  virtual Result<void> SetAffinity(pid_t tid, const CpuSet& cpus) = 0;
};

// Where RealSystemWriter may write: only beneath `roots`, never through a symlink or "..", and
// (require_cgroupfs) only to files and directories on a cgroup filesystem. The journal steers
// `restore`; a tampered journal must not turn it into a write to /etc.
struct WriteConfinement {
  std::vector<std::string> roots = {"/sys/fs/cgroup"};  // canonical directories
  bool require_cgroupfs = true;                         // false only for fake trees in tests
  bool use_openat2 = true;  // false tests the fallback (a component-by-component O_NOFOLLOW walk)
};

// Every cgroup/cgroup2 mount point listed in `mountinfo` (octal escapes decoded) as roots, for
// `restore`, which has no config: a journal written under any cgroup mount can be restored.
// {"/sys/fs/cgroup"} when none is found.
WriteConfinement CgroupMountsConfinement(const std::string& mountinfo = "/proc/self/mountinfo");

// The real thing: write(2), mkdir(2), rmdir(2), and the raw sched_setattr/sched_getattr
// syscalls (glibc 2.36 has no wrappers). Paths are resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS) where the kernel has it (5.6+), else walked one component at a time
// with O_NOFOLLOW.
class RealSystemWriter final : public SystemWriter {
 public:
  explicit RealSystemWriter(WriteConfinement confinement = {});
  Result<void> WriteFile(const std::string& path, const std::string& value) override;
  Result<void> MoveTask(const std::string& membership_file, pid_t id) override;
  Result<void> MakeDir(const std::string& path) override;
  Result<void> RemoveDir(const std::string& path) override;
  Result<SchedAttr> GetSchedAttr(pid_t tid) override;
  Result<void> SetSchedAttr(pid_t tid, const SchedAttr& attr) override;
  Result<CpuSet> GetAffinity(pid_t tid) override;
  Result<void> SetAffinity(pid_t tid, const CpuSet& cpus) override;

 private:
  WriteConfinement confinement_;
};

}  // namespace sw
