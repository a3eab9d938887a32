#include "cgroup/resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/fs.h"
#include "common/unique_fd.h"

namespace sw {
namespace {

// Recursively indexes every directory below dir_fd (whose cgroup path is `path`) by inode.
// Directories that vanish mid-walk are skipped: cgroups come and go while we look.
void Walk(int dir_fd, const std::string& path, std::unordered_map<uint64_t, std::string>* out,
          int depth) {
  // cgroupfs has no loops, but a fake tree could have; and the kernel caps nesting anyway.
  if (depth > 64) return;
  int dup_fd = dup(dir_fd);
  if (dup_fd < 0) return;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dup_fd), closedir);
  if (!dir) {
    close(dup_fd);
    return;
  }
  while (dirent* e = readdir(dir.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    int fd = openat(dir_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;  // not a directory, or gone
    UniqueFd child(fd);
    struct stat st;
    if (fstat(child.get(), &st) != 0) continue;
    std::string child_path = path == "/" ? "/" + name : path + "/" + name;
    (*out)[static_cast<uint64_t>(st.st_ino)] = child_path;
    Walk(child.get(), child_path, out, depth + 1);
  }
}

}  // namespace

CgroupResolver::CgroupResolver(std::string hierarchy_root, CgroupResolverOptions options)
    : root_(std::move(hierarchy_root)), options_(options) {}

Result<void> CgroupResolver::Refresh(std::chrono::nanoseconds now) {
  // Rate limits count attempts, so a hierarchy that fails to open is not retried per unknown id.
  last_attempt_ = now;
  int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Error::FromErrno(
        errno, "open cgroup hierarchy " + root_ + " (is the cpu controller still mounted?)");
  UniqueFd root(fd);
  struct stat st;
  if (fstat(root.get(), &st) != 0) return Error::FromErrno(errno, "stat " + root_);
  std::unordered_map<uint64_t, std::string> fresh;
  fresh.try_emplace(static_cast<uint64_t>(st.st_ino), 1,
                    '/');  // "/", built so g++ 12 sees no -Wrestrict false positive
  Walk(root.get(), "/", &fresh, 0);
  for (const auto& [id, path] : by_id_)
    if (!fresh.count(id)) removed_.push_back(id);
  by_id_ = std::move(fresh);
  last_walk_ = now;
  walks_++;
  return Ok();
}

std::optional<std::string> CgroupResolver::Lookup(uint64_t id) const {
  // Id 0: a task group without a cgroup, i.e. an autogroup (CONFIG_SCHED_AUTOGROUP, one per
  // session of tasks in the root cgroup). Those tasks live in the root cgroup.
  if (id == 0) return std::string("/");
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<std::string>> CgroupResolver::Resolve(uint64_t id,
                                                           std::chrono::nanoseconds now) {
  if (auto p = Lookup(id)) return p;
  if (last_attempt_ && now - *last_attempt_ < options_.min_refresh_interval)
    return std::optional<std::string>();
  if (auto r = Refresh(now); !r) return r.error();
  return Lookup(id);
}

Result<void> CgroupResolver::MaybeCollectGarbage(std::chrono::nanoseconds now) {
  if (last_attempt_ && now - *last_attempt_ < options_.gc_interval) return Ok();
  return Refresh(now);
}

std::vector<uint64_t> CgroupResolver::TakeRemoved() {
  std::vector<uint64_t> out;
  out.swap(removed_);
  return out;
}

bool CgroupResolver::PathExists(const std::string& cgroup_path) const {
  struct stat st;
  return stat(JoinPath(root_, cgroup_path).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace sw
