#include "enforce/safety.h"

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

}  // namespace sw
