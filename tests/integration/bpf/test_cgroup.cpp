#include "test_cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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

namespace {
// waitpid reports a stop before the child's last switch-out (in which it may still be preempted
// or throttled and wait): wait until the kernel has dequeued it (/proc/<pid>/wchan turns from
// "0" to a function once the task is blocked and off its run queue).
void WaitDequeued(pid_t pid) {
  std::string file = "/proc/" + std::to_string(pid) + "/wchan";
  for (int n = 0; n < 5000; n++) {
    auto text = ReadFile(file);
    if (text.ok() && !text->empty() && *text != "0") return;
    usleep(1000);
  }
  ADD_FAILURE() << "busy child " << pid << " reported stopped but stayed runnable (" << file << ")";
}

// voluntary_ctxt_switches of /proc/<pid>/status, or -1.
long long VoluntarySwitches(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return -1;
  const std::string key = "\nvoluntary_ctxt_switches:";
  size_t at = text->find(key);
  return at == std::string::npos ? -1 : std::atoll(text->c_str() + at + key.size());
}
}  // namespace

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
  WaitDequeued(pid);
  return pid;
}

void TestCgroup::Start() {
  for (pid_t p : children_) kill(p, SIGCONT);
}

void TestCgroup::Stop() {
  std::vector<long long> before;
  for (pid_t p : children_) before.push_back(VoluntarySwitches(p));
  for (pid_t p : children_) kill(p, SIGSTOP);
  for (size_t i = 0; i < children_.size(); i++) {
    pid_t p = children_[i];
    int status = 0;
    while (waitpid(p, &status, WUNTRACED) < 0 && errno == EINTR) {
    }
    if (!WIFSTOPPED(status)) ADD_FAILURE() << "busy child " << p << " did not stop";
    // A busy loop's only voluntary switch is the one into the stop, its last (a wakeup
    // dequeue alone, as WaitDequeued checks, can be a throttle taken on the way to stopping).
    for (int n = 0; VoluntarySwitches(p) <= before[i]; n++) {
      if (n == 5000) {
        ADD_FAILURE() << "busy child " << p << " reported stopped but never switched out";
        break;
      }
      usleep(1000);
    }
  }
}

void TestCgroup::KillChildren() {
  for (pid_t p : children_) kill(p, SIGKILL);
  for (pid_t p : children_) {
    while (waitpid(p, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  children_.clear();
}

Result<void> TestCgroup::MoveChild(pid_t pid, TestCgroup& to) {
  auto it = std::find(children_.begin(), children_.end(), pid);
  if (it == children_.end())
    return Error{ESRCH, "pid " + std::to_string(pid) + " is not a child of " + path_};
  for (const std::string& root : to.machine_.CpuRoots()) {
    std::string procs = JoinPath(JoinPath(root, to.path_), MachineCgroups::kProcsFile);
    std::string text = std::to_string(pid);
    int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    int err = errno;
    if (fd >= 0) close(fd);
    if (!ok) return Error::FromErrno(err, "moving pid " + text + " into " + procs);
  }
  children_.erase(it);
  to.children_.push_back(pid);
  return {};
}

}  // namespace sw::test
