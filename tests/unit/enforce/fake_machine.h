// A fake machine for actuator tests: /proc, a v1 cpuset and cpu hierarchy (or a v2 tree) in a
// temp dir, and a RecordingWriter whose task moves update the fake kernel state (tasks files and
// /proc/<tid>/cgroup) the way the kernel would.
#pragma once

#include <sched.h>

#include <map>
#include <string>

#include "enforce/system_writer.h"
#include "support/temp_tree.h"

namespace sw::test {

class FakeMachine {
 public:
  FakeMachine();
  std::string proc() const { return t.Path("proc"); }
  std::string cpuset() const { return t.Path("cpuset"); }
  std::string cpu() const { return t.Path("cpu"); }
  std::string state() const { return t.Path("state"); }

  struct Task {
    pid_t tgid = 0;
    pid_t ppid = 1;
    bool kthread = false;
    uint64_t start = 0;
    std::string cpuset_cg = "/";
    std::string cpu_cg = "/";
  };
  // Adds a thread (and its /proc entries, tasks-file lines, SCHED_OTHER attributes).
  void AddTask(pid_t tid, Task task, SchedAttr attr = {SCHED_OTHER, 0, 0, 0});
  void RemoveTask(pid_t tid);                    // exits: no /proc entry, gone from tasks files
  void SetStartTime(pid_t tid, uint64_t start);  // the id now names another task
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
  // Rewrites every tasks file from the task table.
  void Sync();

  TempTree t;
  RecordingWriter w;

 private:
  void WriteProc(pid_t tid);
  std::map<pid_t, Task> tasks_;
};

}  // namespace sw::test
