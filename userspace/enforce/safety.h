// Safety rails every actuator and restore obey: never touch kernel threads, PID 1 or the agent's
// own process; optionally only cgroups on an allowlist.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "enforce/system_writer.h"

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

// Why the agent must not change the cgroup file or directory at absolute `path`, "" when it
// may: anything in a kubelet QoS-level cgroup (see DemoteVeto) or the cgroup itself, because
// kubelet owns and rewrites those (weights, quota, memory, membership). The one exception is
// cpuset.cpus.exclusive, which kubelet never writes and the kernel requires on every ancestor
// of a nested cpuset partition (exclusive cores for a pod on cgroup v2, Linux 6.7+).
std::string KubeletCgroupVeto(const std::string& path);

// The enforcer's door: every write, move, mkdir and rmdir KubeletCgroupVeto refuses fails with
// EPERM and the reason, whichever actuator or restore asked; the rest goes to `inner`.
class KubeletGuardWriter final : public SystemWriter {
 public:
  explicit KubeletGuardWriter(SystemWriter& inner) : inner_(inner) {}
  Result<void> WriteFile(const std::string& path, const std::string& value) override;
  Result<void> MoveTask(const std::string& membership_file, pid_t id) override;
  Result<void> MakeDir(const std::string& path) override;
  Result<void> RemoveDir(const std::string& path) override;
  Result<SchedAttr> GetSchedAttr(pid_t tid) override { return inner_.GetSchedAttr(tid); }
  Result<void> SetSchedAttr(pid_t tid, const SchedAttr& a) override {
    return inner_.SetSchedAttr(tid, a);
  }
  Result<CpuSet> GetAffinity(pid_t tid) override { return inner_.GetAffinity(tid); }
  Result<void> SetAffinity(pid_t tid, const CpuSet& cpus) override {
    return inner_.SetAffinity(tid, cpus);
  }

 private:
  SystemWriter& inner_;
};

}  // namespace sw
