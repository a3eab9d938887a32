#include "enforce/safety.h"

#include "enforce/task_info.h"

namespace sw {

std::string SafetyRails::TaskVeto(const std::string& proc_root, pid_t tid) const {
  auto st = ReadTaskStat(proc_root, tid);
  if (!st) return "gone";
  // kthreadd is pid 2 and the parent of every kernel thread; PF_KTHREAD covers the rest.
  if (st->IsKernelThread() || tid == 2 || st->ppid == 2) return "kernel thread";
  auto tgid = ReadTgid(proc_root, tid);
  if (!tgid) return "gone";
  if (*tgid == 1) return "PID 1";
  if (*tgid == agent_pid) return "the agent itself";
  return "";
}

bool SafetyRails::CgroupAllowed(const std::string& cg) const {
  if (allowed_cgroups.empty()) return true;
  for (const std::string& a : allowed_cgroups) {
    if (a == "/" || cg == a) return true;
    if (cg.size() > a.size() && cg.compare(0, a.size(), a) == 0 && cg[a.size()] == '/') return true;
  }
  return false;
}

}  // namespace sw
