#include "common/file_trust.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "common/fs.h"

namespace sw {
namespace {

std::string Octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Path of the directory holding `path` after resolving symlinks ("/" for "/").
std::string ParentOf(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
  if (ec) p = std::filesystem::path(path).lexically_normal();
  std::filesystem::path parent = p.parent_path();
  return parent.empty() ? "/" : parent.string();
}

Result<void> CheckOne(const std::string& path, const std::string& what, uid_t agent_uid,
                      bool is_parent, bool follow = true) {
  struct stat st {};
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0)
    return Error::FromErrno(errno, "stat " + what + " " + path);
  if (S_ISLNK(st.st_mode))
    return Error{ELOOP, what + " " + path +
                            " is a symbolic link: the agent writes its state only to files it "
                            "created in the state dir; refusing it (fix: remove it)"};
  const bool owner_ok = st.st_uid == 0 || st.st_uid == agent_uid;
  const bool sticky_dir = is_parent && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
  const bool writable = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !sticky_dir;
  if (owner_ok && !writable) return Ok();
  std::string owner = agent_uid == 0 ? "root" : "root or uid " + std::to_string(agent_uid);
  std::string fix;
  if (writable) fix += "chmod go-w " + path;
  if (!owner_ok) fix += std::string(fix.empty() ? "" : " and ") + "chown root " + path;
  return Error{EPERM, what + " " + path + " is mode " + Octal(st.st_mode) + ", owner uid " +
                          std::to_string(st.st_uid) + ": it must be owned by " + owner +
                          " and not writable by group or others, since whoever can change it " +
                          "steers a privileged agent; refusing it (fix: " + fix + ")"};
}

}  // namespace

Result<void> CheckTrustedPath(const std::string& path, const std::string& what, uid_t agent_uid) {
  if (auto r = CheckOne(path, what, agent_uid, false); !r) return r;
  const std::string parent = ParentOf(path);
  return CheckOne(parent, "directory of the " + what, agent_uid, true);
}

Result<void> PrepareStateDir(const std::string& dir, uid_t agent_uid) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return Error::FromErrno(errno, "cannot create state dir " + dir);
  }
  return CheckStateDir(dir, agent_uid);
}

Result<void> CheckStateDir(const std::string& dir, uid_t agent_uid) {
  if (auto r = CheckTrustedPath(dir, "state dir", agent_uid); !r) return r;
  auto entries = ListDir(dir);
  if (!entries) return entries.error();
  for (const std::string& name : *entries)
    if (auto r = CheckOne(JoinPath(dir, name), "state file", agent_uid, false, false); !r) return r;
  return Ok();
}

}  // namespace sw
