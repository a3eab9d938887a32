// Test helpers that start and always reap child processes and remove test cgroups, so a failing
// privileged test leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace sw::test {

// A child process killed (SIGKILL) and reaped on destruction.
class ChildProcess {
 public:
  // Runs fn() in a forked child; the child exits when fn returns.
  static ChildProcess Fork(const std::function<void()>& fn);
  // Executes argv; with capture_stdout the child's stdout is readable via ReadAvailable().
  static ChildProcess Exec(const std::vector<std::string>& argv, bool capture_stdout = false);

  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Sends sig and waits up to timeout_ms for exit; returns the wait status or -1 on timeout.
  int Signal(int sig, int timeout_ms);
  // Non-blocking read of whatever the child has written to stdout so far.
  std::string ReadAvailable();

 private:
  ChildProcess(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {}
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
};

// A cgroup directory in a v1 hierarchy (e.g. /sys/fs/cgroup/cpu/<name>) created for a test; on
// destruction its tasks are killed and it is removed (children first).
class CgroupDir {
 public:
  CgroupDir(const std::string& hierarchy_root, const std::string& rel_path);
  ~CgroupDir();
  CgroupDir(const CgroupDir&) = delete;
  CgroupDir& operator=(const CgroupDir&) = delete;

  const std::string& path() const { return path_; }
  void Write(const std::string& file, const std::string& value) const;  // throws on failure
  std::string Read(const std::string& file) const;
  void AddProcess(pid_t pid) const;

 private:
  std::string path_;
};

// "Cpus_allowed_list" of /proc/<pid>/status, e.g. "0-1" ("" if the task is gone).
std::string CpusAllowed(pid_t pid);
// Every thread id of a process (from /proc/<pid>/task).
std::vector<pid_t> ThreadsOf(pid_t pid);
// The scheduling policy of a thread from sched_getattr (SCHED_OTHER, SCHED_IDLE...), -1 if gone.
int PolicyOf(pid_t tid);

}  // namespace sw::test
