// Safety rails every actuator and restore obey: never touch kernel threads, PID 1 or the agent's
// own process; optionally only cgroups on an allowlist.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace sw {

// SafetyRails::TaskVeto's answer: whether the task may be touched and, if not, why.
struct TaskVerdict {
  enum class Kind {
    kAllowed,
    kGone,       // exited (no /proc entry): counted as gone, not as skipped
    kProtected,  // a kernel thread, PID 1 or the agent itself
  };
  Kind kind = Kind::kAllowed;
  const char* reason = "";  // for kProtected: "kernel thread", "PID 1", "the agent itself"

  bool allowed() const { return kind == Kind::kAllowed; }
  bool gone() const { return kind == Kind::kGone; }
};

struct SafetyRails {
  pid_t agent_pid = ::getpid();
  // Cgroup paths (as in /proc/<pid>/cgroup, e.g. "/kubepods/burstable") whose subtrees may be
  // touched. Empty = every cgroup. The v1 shield's own cpusets are always allowed.
  std::vector<std::string> allowed_cgroups;

  // Whether the task may be touched; a task that vanished is Kind::kGone.
  TaskVerdict TaskVeto(const std::string& proc_root, pid_t tid) const;
  bool CgroupAllowed(const std::string& cgroup_path) const;
};

// Why the cgroup at `cgroup_path` (as in /proc/<pid>/cgroup) must never be demoted, "" when it
// may be. Kubelet's QoS-level cgroups (kubepods, kubepods/besteffort, kubepods/burstable and the
// systemd driver's kubepods.slice, kubepods-besteffort.slice, kubepods-burstable.slice): kubelet
// rewrites their CPU weight all the time, and those writes fail while cpu.idle=1.
std::string DemoteVeto(const std::string& cgroup_path);

}  // namespace sw
