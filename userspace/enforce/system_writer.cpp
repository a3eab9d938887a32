#include "enforce/system_writer.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace sw {
namespace {

// Kernel ABI of sched_attr (include/uapi/linux/sched/types.h), version 1 (48 bytes, with the
// utilisation clamps). Declared here because glibc 2.36 has neither the struct nor a wrapper.
struct KernelSchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

// Flags that only make sense when set, never to be restored from a sched_getattr result.
constexpr uint64_t kSchedFlagKeepAll = 0x08 | 0x10;  // SCHED_FLAG_KEEP_POLICY | KEEP_PARAMS
constexpr uint64_t kSchedFlagUtilClamp = 0x20 | 0x40;

}  // namespace

std::string SchedPolicyName(int policy) {
  switch (policy) {
    case SCHED_OTHER:
      return "SCHED_OTHER";
    case SCHED_FIFO:
      return "SCHED_FIFO";
    case SCHED_RR:
      return "SCHED_RR";
    case SCHED_BATCH:
      return "SCHED_BATCH";
    case SCHED_IDLE:
      return "SCHED_IDLE";
    case kSchedDeadline:
      return "SCHED_DEADLINE";
    case kSchedExt:
      return "SCHED_EXT";
    default:
      return "policy " + std::to_string(policy);
  }
}

Result<void> RealSystemWriter::WriteFile(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::FromErrno(errno, "open " + path + " for writing");
  // cgroupfs takes one value per write(2); a short write would be a partial value.
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return Error::FromErrno(errno, "write '" + value + "' to " + path);
  if (static_cast<size_t>(n) != value.size())
    return Error{EIO, "short write of '" + value + "' to " + path};
  return Ok();
}

Result<void> RealSystemWriter::MoveTask(const std::string& membership_file, pid_t id) {
  return WriteFile(membership_file, std::to_string(id));
}

Result<void> RealSystemWriter::MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0) return Error::FromErrno(errno, "mkdir " + path);
  return Ok();
}

Result<void> RealSystemWriter::RemoveDir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return Error::FromErrno(errno, "rmdir " + path);
  return Ok();
}

Result<SchedAttr> RealSystemWriter::GetSchedAttr(pid_t tid) {
  KernelSchedAttr a{};
  if (::syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) != 0)
    return Error::FromErrno(errno, "sched_getattr of thread " + std::to_string(tid));
  SchedAttr out;
  out.policy = static_cast<int>(a.sched_policy);
  out.nice = a.sched_nice;
  out.rt_priority = static_cast<int>(a.sched_priority);
  out.flags = a.sched_flags & ~(kSchedFlagKeepAll | kSchedFlagUtilClamp);
  return out;
}

Result<void> RealSystemWriter::SetSchedAttr(pid_t tid, const SchedAttr& attr) {
  KernelSchedAttr a{};
  a.size = sizeof(a);
  a.sched_policy = static_cast<uint32_t>(attr.policy);
  a.sched_flags = attr.flags & ~(kSchedFlagKeepAll | kSchedFlagUtilClamp);
  a.sched_nice = attr.nice;
  a.sched_priority = static_cast<uint32_t>(attr.rt_priority);
  if (::syscall(SYS_sched_setattr, tid, &a, 0) != 0)
    return Error::FromErrno(errno, "sched_setattr(" + SchedPolicyName(attr.policy) + ", nice " +
                                       std::to_string(attr.nice) + ") on thread " +
                                       std::to_string(tid));
  return Ok();
}

Result<CpuSet> RealSystemWriter::GetAffinity(pid_t tid) {
  // A fixed cpu_set_t covers 1024 CPUs; size the mask from the CPU count for bigger machines.
  const long n = std::max<long>(CPU_SETSIZE, ::sysconf(_SC_NPROCESSORS_CONF));
  cpu_set_t* set = CPU_ALLOC(n);
  if (!set) return Error{ENOMEM, "allocate a CPU mask"};
  const size_t size = CPU_ALLOC_SIZE(n);
  CPU_ZERO_S(size, set);
  if (::sched_getaffinity(tid, size, set) != 0) {
    int err = errno;
    CPU_FREE(set);
    return Error::FromErrno(err, "sched_getaffinity of thread " + std::to_string(tid));
  }
  CpuSet out;
  for (long c = 0; c < n; c++)
    if (CPU_ISSET_S(c, size, set)) out.insert(static_cast<int>(c));
  CPU_FREE(set);
  return out;
}

Result<void> RealSystemWriter::SetAffinity(pid_t tid, const CpuSet& cpus) {
  if (cpus.empty()) return Error{EINVAL, "empty CPU affinity for thread " + std::to_string(tid)};
  const long n = std::max<long>(CPU_SETSIZE, *cpus.rbegin() + 1);
  cpu_set_t* set = CPU_ALLOC(n);
  if (!set) return Error{ENOMEM, "allocate a CPU mask"};
  const size_t size = CPU_ALLOC_SIZE(n);
  CPU_ZERO_S(size, set);
  for (int c : cpus) CPU_SET_S(c, size, set);
  int rc = ::sched_setaffinity(tid, size, set);
  int err = errno;
  CPU_FREE(set);
  if (rc != 0)
    return Error::FromErrno(
        err, "sched_setaffinity(" + FormatCpuList(cpus) + ") on thread " + std::to_string(tid));
  return Ok();
}

}  // namespace sw
