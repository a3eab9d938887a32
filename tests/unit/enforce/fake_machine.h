// A fake machine for actuator tests: /proc, a v1 cpuset and cpu hierarchy (or a v2 tree) in a
// temp dir, and a RecordingWriter whose task moves update the fake kernel state (tasks files and
// /proc/<tid>/cgroup) the way the kernel would.
//
// CPU affinities follow kernels before 6.2 (Debian 12's 6.1): a task moved to another cpuset, or
// whose cpuset's CPUs change (v1 cpuset.cpus, v2 effective CPUs after a partition write), gets
// exactly its cpuset's CPUs, whatever mask its owner had set. With `keeps_user_mask` (6.2+) it
// gets the owner's mask within them instead (the cpuset's CPUs when none is left).
#pragma once

#include <sched.h>

#include <map>
#include <string>

#include "cgroup/layout.h"
#include "enforce/system_writer.h"
#include "support/recording_writer.h"
#include "support/temp_tree.h"

namespace sw::test {

class FakeMachine {
 public:
  FakeMachine();
  std::string proc() const { return t.Path("proc"); }
  std::string cpuset() const { return t.Path("cpuset"); }
  std::string cpu() const { return t.Path("cpu"); }
  // The v1 mounts as DetectCgroupMounts reports them: cpu and cpuset hierarchies.
  CgroupMounts mounts() const {
    return {.cpu = {cpu(), CgroupVersion::kV1},
            .cpuset = ControllerMount{cpuset(), CgroupVersion::kV1}};
  }
  std::string cg() const { return t.Path("cg"); }  // a v2 tree (MakeV2Cgroup)
  std::string state() const { return t.Path("state"); }

  struct Task {
    pid_t tgid = 0;
    pid_t ppid = 1;
    bool kthread = false;
    uint64_t start = 0;
    std::string cpuset_cg = "/";
    std::string cpu_cg = "/";
    std::string v2_cg = "/";
  };
  // Adds a thread (and its /proc entries, tasks-file lines, SCHED_OTHER attributes).
  void AddTask(pid_t tid, Task task, SchedAttr attr = {SCHED_OTHER, 0, 0, 0});
  void RemoveTask(pid_t tid);                    // exits: no /proc entry, gone from tasks files
  void SetStartTime(pid_t tid, uint64_t start);  // the id now names another task
  // A v1 cpuset cgroup (writes to cpuset.cpus follow v1's rules, see CheckV1Cpus).
  void MakeCpuset(const std::string& rel, const std::string& cpus, const std::string& mems = "0");
  // A cpu-controller cgroup with cpu.idle and a weight file: "cpu.shares" (v1, default 1024) or
  // "cpu.weight" (v2, default 100). Writes follow the kernel (kernel/sched/core.c): cpu.idle 0->1
  // makes the weight read as the idle weight (v1 3, v2 `v2_idle_weight`), 1->0 resets it to the
  // default (not to what it was), and writes to the weight fail with EINVAL while idle.
  void MakeCpuCgroup(const std::string& rel, const std::string& idle = "0",
                     const std::string& weight_file = "cpu.shares");
  // v2 cpu.weight of an idle group: 0 before Linux 6.12, 1 since (clamped to CGROUP_WEIGHT_MIN).
  std::string v2_idle_weight = "0";
  std::string CpusetOf(pid_t tid) const { return tasks_.at(tid).cpuset_cg; }
  // sched_setaffinity by the task's owner.
  void Pin(pid_t tid, const CpuSet& cpus);
  CpuSet AffinityOf(pid_t tid) const { return w.affinity.at(tid); }
  bool keeps_user_mask = false;
  // A v2 cgroup with the cpuset files (cpuset.cpus, .partition "member", .effective), the root
  // ("/") with `cpus` as its effective CPUs. Writes to cpuset.cpus / .partition recompute every
  // cgroup's effective CPUs (partition CPUs leave their parent and its other children).
  void MakeV2Cgroup(const std::string& rel, const std::string& cpus = "");
  // Rewrites every tasks file from the task table.
  void Sync();

  TempTree t;
  RecordingWriter w;

 private:
  void WriteProc(pid_t tid);
  // v1 cpuset.cpus rules: within the parent's (EINVAL), around every child's (EBUSY), not empty
  // while tasks are in it (ENOSPC).
  Result<void> CheckV1Cpus(const std::string& dir, const std::string& value) const;
  CpuSet CpusOf(pid_t tid) const;  // what the task's cpuset allows now
  void Reset(pid_t tid);           // the kernel's update after a cpuset change
  void RecomputeV2();
  std::map<pid_t, Task> tasks_;
  std::map<pid_t, CpuSet> user_mask_;
  CpuSet v2_all_;
};

}  // namespace sw::test
