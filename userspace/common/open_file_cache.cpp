#include "common/open_file_cache.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sw {
namespace {

constexpr long kCgroupSuperMagic = 0x27e0eb;
constexpr long kCgroup2SuperMagic = 0x63677270;
constexpr long kSysfsMagic = 0x62656572;

bool OnKernfs(int fd) {
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0) return false;
  const long t = static_cast<long>(fs.f_type);
  return t == kCgroupSuperMagic || t == kCgroup2SuperMagic || t == kSysfsMagic;
}

// A regular file that was removed or replaced by a rename has no links left.
bool Unlinked(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

}  // namespace

OpenFileCache::OpenFileCache(size_t max_open) : max_open_(max_open) {}

size_t OpenFileCache::DefaultMaxOpen() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  return std::min<size_t>(4096, static_cast<size_t>(rl.rlim_cur) / 2);
}

bool OpenFileCache::ReadAll(int fd, std::string* out) {
  out->clear();
  char buf[4096];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    out->append(buf, static_cast<size_t>(n));
    off += n;
  }
}

Result<std::string> OpenFileCache::Read(const std::string& path) {
  std::string text;
  if (auto it = open_.find(path); it != open_.end()) {
    Entry& e = it->second;
    const bool read = ReadAll(e.fd.get(), &text);
    const int err = read ? 0 : errno;
    if (read && (e.kernfs || !Unlinked(e.fd.get()))) {
      e.used = true;
      return text;
    }
    open_.erase(it);  // removed, replaced or failing: reopen below, once
    if (!read && err != ENODEV && err != ENOENT && err != ESTALE)
      return Error::FromErrno(err, "read " + path);
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::FromErrno(errno, "open " + path);
  if (!ReadAll(fd.get(), &text)) return Error::FromErrno(errno, "read " + path);
  if (open_.size() < max_open_) {
    const bool kernfs = OnKernfs(fd.get());
    open_.emplace(path, Entry{std::move(fd), kernfs, true});
  }
  return text;
}

void OpenFileCache::Sweep() {
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second.used) {
      it->second.used = false;
      ++it;
    } else {
      it = open_.erase(it);
    }
  }
}

}  // namespace sw
