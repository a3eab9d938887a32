// Readers of tasks and their cgroups: /proc/<tid>/{stat,status,cgroup}, the thread and process
// lists of cgroup directories, and the names of the processes in a cgroup. Used by the
// actuators, restore and the classifier's sources. Every function takes the /proc root or the
// cgroup directory explicitly so unit tests run on fake trees; none writes anything.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/cpulist.h"
#include "common/result.h"

namespace sw {

struct TaskStat {
  pid_t tid = 0;
  pid_t ppid = 0;
  uint64_t flags = 0;       // PF_* flags (field 9 of /proc/<tid>/stat)
  uint64_t start_time = 0;  // clock ticks since boot (field 22): with tid, identifies a task
  int last_cpu = -1;        // CPU it last ran on (field 39), -1 when absent
  bool IsKernelThread() const { return (flags & 0x00200000) != 0; }  // PF_KTHREAD
  // Kernel threads: PF_KTHREAD, kthreadd (pid 2) and its children.
  bool IsKernelTask() const { return IsKernelThread() || tid == 2 || ppid == 2; }
};

// /proc/<tid>/stat (works for any thread id, listed or not). ENOENT/ESRCH: the task is gone.
Result<TaskStat> ReadTaskStat(const std::string& proc_root, pid_t tid);
// Parses the text of a stat file (the comm field may contain spaces and parentheses).
Result<TaskStat> ParseTaskStat(const std::string& text, pid_t tid);
// Tgid: line of /proc/<tid>/status.
Result<pid_t> ReadTgid(const std::string& proc_root, pid_t tid);
Result<pid_t> ParseTgid(const std::string& status_text, pid_t tid);
// The cgroup path of a task in the hierarchy whose controller list contains `controller`
// ("cpuset", "cpu"), or the v2 path ("0::/x") when `controller` is empty. From /proc/<tid>/cgroup.
Result<std::string> ReadTaskCgroup(const std::string& proc_root, pid_t tid,
                                   const std::string& controller);
// The same on the file's text; `path` names it in the error.
Result<std::string> ParseTaskCgroup(const std::string& text, const std::string& controller,
                                    const std::string& path);
// Thread ids in a cgroup directory ("tasks" on v1, "cgroup.threads" on v2, falling back to the
// threads of every process of "cgroup.procs"), optionally including all descendant cgroups.
// A cgroup that vanished yields ENOENT.
Result<std::vector<pid_t>> ListCgroupThreads(const std::string& cgroup_dir,
                                             const std::string& proc_root, bool recursive);
// Descendant cgroup directories of `dir` (not `dir` itself), parents before children.
std::vector<std::string> ListChildCgroups(const std::string& dir);

// Every thread id under /proc (/proc/<pid>/task/<tid>): one pass over the machine.
std::vector<pid_t> ListAllThreads(const std::string& proc_root);
// The CPUs the cpuset of `tid` allows: the effective CPUs of its cgroup (or of the nearest
// ancestor that has the file) in the hierarchy mounted at `cpuset_root`. `controller` is
// "cpuset" on v1 (cpuset.effective_cpus, else cpuset.cpus) and "" on v2 (cpuset.cpus.effective).
Result<CpuSet> ReadTaskCpusetCpus(const std::string& proc_root, const std::string& cpuset_root,
                                  const std::string& controller, pid_t tid);

// The distinct names (comm, sorted) of the processes in `cgroup_dir` and its descendants, from
// cgroup.procs and <proc_root>/<pid>/comm. Processes and cgroups that vanish while it reads are
// skipped, not errors; at most `max_pids` processes are read, so a huge cgroup cannot stall the
// caller.
std::vector<std::string> ListProcessNames(const std::string& cgroup_dir,
                                          const std::string& proc_root, int max_pids);

// True when `id` currently names the same task as recorded (guards against PID reuse).
bool SameTask(const std::string& proc_root, pid_t tid, uint64_t start_time);

}  // namespace sw
