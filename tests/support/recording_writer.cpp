// See recording_writer.h.
#include "support/recording_writer.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace sw {

bool RecordingWriter::ShouldFail(const std::string& op) const {
  for (const auto& p : fail_prefixes)
    if (op.rfind(p, 0) == 0) return true;
  return false;
}

Result<void> RecordingWriter::WriteFile(const std::string& path, const std::string& value) {
  std::string op = "write " + path + " " + value;
  if (ShouldFail(op)) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(fail_errno, "write '" + value + "' to " + path);
  }
  // Like cgroupfs: the file must already exist.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(ENOENT, "open " + path + " for writing");
  }
  if (on_write) {
    if (auto r = on_write(path, value); !r) {
      ops.push_back("FAILED " + op);
      return Error{r.error().code, "write '" + value + "' to " + path + ": " + r.error().message};
    }
  }
  ops.push_back(op);
  std::ofstream(path, std::ios::trunc) << value << "\n";
  return Ok();
}

Result<void> RecordingWriter::MoveTask(const std::string& membership_file, pid_t id) {
  std::string op = "move " + membership_file + " " + std::to_string(id);
  struct stat st;
  if (ShouldFail(op) || ::stat(membership_file.c_str(), &st) != 0) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(ShouldFail(op) ? fail_errno : ENOENT,
                            "write " + std::to_string(id) + " to " + membership_file);
  }
  ops.push_back(op);
  if (on_move) on_move(membership_file, id);
  return Ok();
}

Result<void> RecordingWriter::MakeDir(const std::string& path) {
  std::string op = "mkdir " + path;
  if (ShouldFail(op)) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(fail_errno, "mkdir " + path);
  }
  ops.push_back(op);
  if (::mkdir(path.c_str(), 0755) != 0) return Error::FromErrno(errno, "mkdir " + path);
  // Like cgroupfs, a new cgroup comes with the control files of its parent, empty.
  std::string parent = path.substr(0, path.find_last_of('/'));
  if (DIR* d = ::opendir(parent.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string src = parent + "/" + e->d_name;
      struct stat st;
      if (::stat(src.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        std::ofstream(path + "/" + e->d_name, std::ios::trunc);
    }
    ::closedir(d);
  }
  return Ok();
}

Result<void> RecordingWriter::RemoveDir(const std::string& path) {
  std::string op = "rmdir " + path;
  if (ShouldFail(op)) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(fail_errno, "rmdir " + path);
  }
  ops.push_back(op);
  // cgroupfs directories hold only virtual files, so rmdir removes them; a fake tree holds real
  // files, which are removed first to mimic that.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error::FromErrno(ENOENT, "rmdir " + path);
  DIR* d = ::opendir(path.c_str());
  if (d) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string p = path + "/" + n;
      if (::unlink(p.c_str()) != 0) {
        ::closedir(d);
        return Error::FromErrno(ENOTEMPTY, "rmdir " + path);  // a child cgroup: like the kernel
      }
    }
    ::closedir(d);
  }
  if (::rmdir(path.c_str()) != 0) return Error::FromErrno(errno, "rmdir " + path);
  return Ok();
}

Result<SchedAttr> RecordingWriter::GetSchedAttr(pid_t tid) {
  auto it = sched.find(tid);
  if (it == sched.end())
    return Error::FromErrno(ESRCH, "sched_getattr of thread " + std::to_string(tid));
  return it->second;
}

Result<void> RecordingWriter::SetSchedAttr(pid_t tid, const SchedAttr& attr) {
  std::string op = "setattr " + std::to_string(tid) + " " + SchedPolicyName(attr.policy) + " " +
                   std::to_string(attr.nice);
  if (ShouldFail(op)) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(fail_errno, "sched_setattr on thread " + std::to_string(tid));
  }
  auto it = sched.find(tid);
  if (it == sched.end()) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(ESRCH, "sched_setattr on thread " + std::to_string(tid));
  }
  ops.push_back(op);
  it->second = attr;
  return Ok();
}

Result<CpuSet> RecordingWriter::GetAffinity(pid_t tid) {
  auto it = affinity.find(tid);
  if (it == affinity.end())
    return Error::FromErrno(ESRCH, "sched_getaffinity of thread " + std::to_string(tid));
  return it->second;
}

Result<void> RecordingWriter::SetAffinity(pid_t tid, const CpuSet& cpus) {
  std::string op = "affinity " + std::to_string(tid) + " " + FormatCpuList(cpus);
  const std::string what =
      "sched_setaffinity(" + FormatCpuList(cpus) + ") on thread " + std::to_string(tid);
  if (ShouldFail(op)) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(fail_errno, what);
  }
  auto it = affinity.find(tid);
  if (it == affinity.end()) {
    ops.push_back("FAILED " + op);
    return Error::FromErrno(ESRCH, what);
  }
  CpuSet got = cpus;
  if (on_set_affinity) {
    auto r = on_set_affinity(tid, cpus);
    if (!r) {
      ops.push_back("FAILED " + op);
      return Error{r.error().code, what + ": " + r.error().message};
    }
    got = *r;
  }
  ops.push_back(op);
  it->second = got;
  return Ok();
}

}  // namespace sw
