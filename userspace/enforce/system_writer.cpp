#include "enforce/system_writer.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/fs.h"
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

constexpr long kCgroupSuperMagic = 0x27e0eb;     // cgroup v1
constexpr long kCgroup2SuperMagic = 0x63677270;  // cgroup2

// The root of `c.roots` that `path` lies beneath, and the part below it ("" for none). Refuses
// relative paths and any "." or ".." component: a path from the journal is taken literally.
Result<std::pair<std::string, std::string>> SplitConfined(const WriteConfinement& c,
                                                          const std::string& path) {
  if (path.empty() || path[0] != '/')
    return Error{EPERM, "refusing to write " + path + ": not an absolute path"};
  for (const std::string& part : Split(path, '/'))
    if (part == ".." || part == ".")
      return Error{EPERM, "refusing to write " + path + ": it has a \"" + part +
                              "\" component (paths are taken literally)"};
  for (const std::string& root : c.roots) {
    std::string r = root.size() > 1 && root.back() == '/' ? root.substr(0, root.size() - 1) : root;
    if (path.size() > r.size() + 1 && path.compare(0, r.size(), r) == 0 && path[r.size()] == '/')
      return std::make_pair(r, path.substr(r.size() + 1));
  }
  std::string list;
  for (const std::string& root : c.roots) list += (list.empty() ? "" : ", ") + root;
  return Error{EPERM, "refusing to write " + path + ": it is outside the cgroup filesystem (" +
                          list + "); the agent writes nowhere else"};
}

Error SymlinkRefused(const std::string& path, int err) {
  return Error{err, "refusing to write " + path +
                        ": a symbolic link (or a mount escaping the cgroup tree) is on the way: "
                        "cgroup files are never reached through one"};
}

// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; ENOSYS on kernels before 5.6.
int OpenAt2(int dirfd, const std::string& rel, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof(how)));
}

// openat(O_NOFOLLOW) reporting a symlink as ELOOP even where O_DIRECTORY made it ENOTDIR.
int OpenNoFollow(int dirfd, const std::string& name, int flags) {
  int fd = ::openat(dirfd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 && errno == ENOTDIR && ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode))
    errno = ELOOP;
  return fd;
}

// Fallback: one component at a time, each opened O_NOFOLLOW relative to the previous one.
int OpenWalk(int dirfd, const std::string& rel, int flags) {
  std::vector<std::string> parts;
  for (const std::string& p : Split(rel, '/'))
    if (!p.empty()) parts.push_back(p);
  if (parts.empty()) return ::openat(dirfd, ".", flags | O_CLOEXEC);
  UniqueFd cur(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; i + 1 < parts.size() && cur.valid(); i++) {
    int next = OpenNoFollow(cur.get(), parts[i], O_PATH | O_DIRECTORY);
    int err = errno;
    cur.reset(next);
    errno = err;
  }
  if (!cur.valid()) return -1;
  return OpenNoFollow(cur.get(), parts.back(), flags);
}

std::atomic<bool> g_openat2_missing{false};

Result<UniqueFd> OpenConfined(const WriteConfinement& c, const std::string& path, int flags) {
  auto split = SplitConfined(c, path);
  if (!split) return split.error();
  const auto& [root, rel] = *split;
  UniqueFd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootfd.valid()) return Error::FromErrno(errno, "open " + root);
  int fd = -1;
  if (c.use_openat2 && !g_openat2_missing.load()) {
    fd = OpenAt2(rootfd.get(), rel, flags);
    if (fd < 0 && (errno == ENOSYS || errno == E2BIG)) g_openat2_missing = true;
  }
  if (fd < 0 && (!c.use_openat2 || g_openat2_missing.load()))
    fd = OpenWalk(rootfd.get(), rel, flags);
  if (fd < 0) {
    if (errno == ELOOP || errno == EXDEV) return SymlinkRefused(path, errno);
    return Error::FromErrno(errno, std::string("open ") + path +
                                       ((flags & O_ACCMODE) == O_WRONLY ? " for writing" : ""));
  }
  UniqueFd out(fd);
  struct statfs fs {};
  if (c.require_cgroupfs && (::fstatfs(out.get(), &fs) != 0 ||
                             (fs.f_type != kCgroupSuperMagic && fs.f_type != kCgroup2SuperMagic)))
    return Error{EPERM, "refusing to write " + path + ": it is not on a cgroup filesystem"};
  return out;
}

// The directory holding `path`, opened O_PATH under the same rules; `leaf` is its last part.
Result<UniqueFd> OpenConfinedParent(const WriteConfinement& c, const std::string& path,
                                    std::string* leaf) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash + 1 == path.size())
    return Error{EINVAL, "refusing " + path + ": no directory name at its end"};
  *leaf = path.substr(slash + 1);
  if (*leaf == "." || *leaf == "..")
    return Error{EPERM, "refusing " + path + ": it ends in \"" + *leaf + "\""};
  // The parent may be a root itself: resolve the leaf's path and open its directory part.
  auto split = SplitConfined(c, path);
  if (!split) return split.error();
  const std::string parent = path.substr(0, slash);
  if (parent == split->first) {
    UniqueFd fd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return Error::FromErrno(errno, "open " + parent);
    return fd;
  }
  return OpenConfined(c, parent, O_PATH | O_DIRECTORY);
}

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

WriteConfinement CgroupMountsConfinement(const std::string& mountinfo) {
  WriteConfinement c;
  c.roots.clear();
  auto text = ReadFile(mountinfo);
  for (const std::string& line : text ? Split(*text, '\n') : std::vector<std::string>{}) {
    // "36 25 0:31 / /sys/fs/cgroup/cpu rw,... shared:1 - cgroup cgroup rw,cpu"
    std::vector<std::string> f = Split(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") dash++;
    if (f.size() < 5 || dash + 1 >= f.size()) continue;
    if (f[dash + 1] != "cgroup" && f[dash + 1] != "cgroup2") continue;
    std::string point;
    for (size_t i = 0; i < f[4].size(); i++) {
      if (f[4][i] == '\\' && i + 3 < f[4].size()) {
        point += static_cast<char>(std::stoi(f[4].substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        point += f[4][i];
      }
    }
    c.roots.push_back(point);
  }
  if (c.roots.empty()) c.roots = {"/sys/fs/cgroup"};
  return c;
}

RealSystemWriter::RealSystemWriter(WriteConfinement confinement)
    : confinement_(std::move(confinement)) {}

Result<void> RealSystemWriter::WriteFile(const std::string& path, const std::string& value) {
  auto fd = OpenConfined(confinement_, path, O_WRONLY);
  if (!fd) return fd.error();
  // cgroupfs takes one value per write(2); a short write would be a partial value.
  ssize_t n = ::write(fd->get(), value.data(), value.size());
  if (n < 0) return Error::FromErrno(errno, "write '" + value + "' to " + path);
  if (static_cast<size_t>(n) != value.size())
    return Error{EIO, "short write of '" + value + "' to " + path};
  return Ok();
}

Result<void> RealSystemWriter::MoveTask(const std::string& membership_file, pid_t id) {
  return WriteFile(membership_file, std::to_string(id));
}

Result<void> RealSystemWriter::MakeDir(const std::string& path) {
  std::string leaf;
  auto dir = OpenConfinedParent(confinement_, path, &leaf);
  if (!dir) return dir.error();
  if (::mkdirat(dir->get(), leaf.c_str(), 0755) != 0)
    return Error::FromErrno(errno, "mkdir " + path);
  return Ok();
}

Result<void> RealSystemWriter::RemoveDir(const std::string& path) {
  std::string leaf;
  auto dir = OpenConfinedParent(confinement_, path, &leaf);
  if (!dir) return dir.error();
  if (::unlinkat(dir->get(), leaf.c_str(), AT_REMOVEDIR) != 0)
    return Error::FromErrno(errno, "rmdir " + path);
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
