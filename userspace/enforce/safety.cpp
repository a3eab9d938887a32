#include "enforce/safety.h"

#include <cerrno>

#include "cgroup/container.h"
#include "cgroup/tasks.h"

namespace sw {

TaskVerdict SafetyRails::TaskVeto(const std::string& proc_root, pid_t tid) const {
  using K = TaskVerdict::Kind;
  auto st = ReadTaskStat(proc_root, tid);
  if (!st) return {K::kGone, "gone"};
  // kthreadd is pid 2 and the parent of every kernel thread; PF_KTHREAD covers the rest.
  if (st->IsKernelTask()) return {K::kProtected, "kernel thread"};
  auto tgid = ReadTgid(proc_root, tid);
  if (!tgid) return {K::kGone, "gone"};
  if (*tgid == 1) return {K::kProtected, "PID 1"};
  if (*tgid == agent_pid) return {K::kProtected, "the agent itself"};
  return {};
}

bool SafetyRails::CgroupAllowed(const std::string& cg) const {
  if (allowed_cgroups.empty()) return true;
  for (const std::string& a : allowed_cgroups) {
    if (a == "/" || cg == a) return true;
    if (cg.size() > a.size() && cg.compare(0, a.size(), a) == 0 && cg[a.size()] == '/') return true;
  }
  return false;
}

std::string DemoteVeto(const std::string& cg) {
  if (IsKubeletQosLevel(cg))
    return "a kubelet QoS-level cgroup (kubelet keeps writing its CPU weight, which fails while "
           "it is idle); demote the pod cgroups below it instead (workload_depth at the pod "
           "level, e.g. 3 for /kubepods/besteffort/pod<uid>)";
  return "";
}

namespace {

std::string Dirname(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

std::string Basename(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

Result<void> Refused(const std::string& what, const std::string& path, const std::string& why) {
  return Error{EPERM, "refusing to " + what + " " + path + ": " + why};
}

}  // namespace

std::string KubeletCgroupVeto(const std::string& path) {
  if (IsKubeletQosLevel(path))
    return "a kubelet QoS-level cgroup (kubelet creates, removes and rewrites it)";
  if (!IsKubeletQosLevel(Dirname(path)) || Basename(path) == "cpuset.cpus.exclusive") return "";
  return "a file of a kubelet QoS-level cgroup (kubelet owns " + Basename(path) +
         " there and rewrites it; the agent acts on pod cgroups below it)";
}

Result<void> KubeletGuardWriter::WriteFile(const std::string& path, const std::string& value) {
  if (std::string why = KubeletCgroupVeto(path); !why.empty()) return Refused("write", path, why);
  return inner_.WriteFile(path, value);
}

Result<void> KubeletGuardWriter::MoveTask(const std::string& membership_file, pid_t id) {
  if (std::string why = KubeletCgroupVeto(membership_file); !why.empty())
    return Refused("move task " + std::to_string(id) + " into", membership_file, why);
  return inner_.MoveTask(membership_file, id);
}

Result<void> KubeletGuardWriter::MakeDir(const std::string& path) {
  if (std::string why = KubeletCgroupVeto(path); !why.empty()) return Refused("create", path, why);
  return inner_.MakeDir(path);
}

Result<void> KubeletGuardWriter::RemoveDir(const std::string& path) {
  if (std::string why = KubeletCgroupVeto(path); !why.empty()) return Refused("remove", path, why);
  return inner_.RemoveDir(path);
}

}  // namespace sw
