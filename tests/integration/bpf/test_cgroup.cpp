#include "test_cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"

namespace sw::test {

Result<std::unique_ptr<TestCgroup>> TestCgroup::Create(const MachineCgroups& machine,
                                                       const std::string& name) {
  std::string path = "/schedwarden-test-" + std::to_string(getpid()) + "-" + name;
  if (Result<void> r = machine.CreateCpuCgroup(path); !r.ok()) return r.error();
  std::string dir = machine.CpuDir(path);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    Error e = Error::FromErrno(errno, "stat " + dir);
    (void)machine.RemoveCpuCgroup(path);
    return e;
  }
  return std::unique_ptr<TestCgroup>(new TestCgroup(machine, path, st.st_ino));
}

TestCgroup::~TestCgroup() {
  KillChildren();
  if (Result<void> r = machine_.RemoveCpuCgroup(path_); !r.ok())
    ADD_FAILURE() << "could not remove test cgroup " << path_ << ": " << r.error().message;
}

Result<void> TestCgroup::SetCfsQuota(uint64_t quota_us, uint64_t period_us) const {
  return machine_.SetCfsQuota(path_, quota_us, period_us);
}

Result<CpuThrottling> TestCgroup::ReadThrottling() const { return machine_.ReadThrottling(path_); }

Result<pid_t> TestCgroup::SpawnBusy(int cpu) {
  // Every cpu hierarchy the cgroup is in (cpu, and cpuacct where separate), resolved before fork.
  std::vector<std::string> procs;
  for (const std::string& root : machine_.CpuRoots())
    procs.push_back(JoinPath(JoinPath(root, path_), MachineCgroups::kProcsFile));
  pid_t pid = fork();
  if (pid < 0) return Error::FromErrno(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls after fork (the test binary has threads).
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test binary
    char buf[32];
    int len = 0;
    for (pid_t p = getpid(); p > 0; p /= 10) buf[len++] = static_cast<char>('0' + p % 10);
    for (int i = 0; i < len / 2; i++) std::swap(buf[i], buf[len - 1 - i]);
    for (const std::string& p : procs) {
      int fd = open(p.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, buf, len) != len) _exit(10);
      close(fd);
    }
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (sched_setaffinity(0, sizeof(set), &set) != 0) _exit(11);
    }
    // Stopped until Start() sends SIGCONT: a signal, not a pipe, so no fd of another test
    // cgroup can be inherited and keep a sibling waiting.
    raise(SIGSTOP);
    for (;;) asm volatile("" ::: "memory");  // spin in user space until SIGKILL
  }
  children_.push_back(pid);
  int status = 0;
  while (waitpid(pid, &status, WUNTRACED) < 0 && errno == EINTR) {
  }
  if (!WIFSTOPPED(status))
    return Error{ECHILD, "busy child " + std::to_string(pid) + " failed to join " +
                             machine_.CpuDir(path_) + " (exit status " +
                             std::to_string(WEXITSTATUS(status)) + ")"};
  return pid;
}

void TestCgroup::Start() {
  for (pid_t p : children_) kill(p, SIGCONT);
}

void TestCgroup::KillChildren() {
  for (pid_t p : children_) kill(p, SIGKILL);
  for (pid_t p : children_) {
    while (waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  children_.clear();
}

}  // namespace sw::test
