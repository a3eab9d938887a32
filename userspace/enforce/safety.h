// Safety rails every actuator and restore obey: never touch kernel threads, PID 1 or the agent's
// own process; optionally only cgroups on an allowlist.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace sw {

struct SafetyRails {
  pid_t agent_pid = ::getpid();
  // Cgroup paths (as in /proc/<pid>/cgroup, e.g. "/kubepods/burstable") whose subtrees may be
  // touched. Empty = every cgroup. The v1 shield's own cpusets are always allowed.
  std::vector<std::string> allowed_cgroups;

  // Why the task must be left alone ("" when it may be touched). A task that vanished is
  // reported as "gone".
  std::string TaskVeto(const std::string& proc_root, pid_t tid) const;
  bool CgroupAllowed(const std::string& cgroup_path) const;
};

// Why the cgroup at `cgroup_path` (as in /proc/<pid>/cgroup) must never be demoted, "" when it
// may be. Kubelet's QoS-level cgroups (kubepods, kubepods/besteffort, kubepods/burstable and the
// systemd driver's kubepods.slice, kubepods-besteffort.slice, kubepods-burstable.slice): kubelet
// rewrites their CPU weight all the time, and those writes fail while cpu.idle=1.
std::string DemoteVeto(const std::string& cgroup_path);

}  // namespace sw
