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
#include <chrono>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "common/fs.h"

namespace sw::test {

Result<std::unique_ptr<TestCgroup>> TestCgroup::Create(const std::string& hierarchy,
                                                       const std::string& name) {
  if (!PathExists(JoinPath(hierarchy, "cpu.cfs_quota_us")))
    return Error{ENOENT, hierarchy + " is not a cgroup v1 cpu hierarchy (no cpu.cfs_quota_us)"};
  std::string path =
      JoinPath(hierarchy, "schedwarden-test-" + std::to_string(getpid()) + "-" + name);
  if (mkdir(path.c_str(), 0755) != 0) return Error::FromErrno(errno, "mkdir " + path);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int e = errno;
    rmdir(path.c_str());
    return Error::FromErrno(e, "stat " + path);
  }
  return std::unique_ptr<TestCgroup>(new TestCgroup(path, st.st_ino));
}

TestCgroup::~TestCgroup() {
  KillChildren();
  // A cgroup whose last task just exited can refuse rmdir (EBUSY) for a moment.
  for (int i = 0; i < 100; i++) {
    if (rmdir(path_.c_str()) == 0 || errno == ENOENT) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "could not remove test cgroup " << path_ << ": " << strerror(errno);
}

Result<void> TestCgroup::Write(const std::string& file, const std::string& value) const {
  std::string p = JoinPath(path_, file);
  int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open " + p);
  ssize_t n = write(fd, value.data(), value.size());
  int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) return Error::FromErrno(e, "write " + p);
  return Ok();
}

Result<CpuStatV1> TestCgroup::ReadCpuStat() const {
  Result<std::string> text = ReadFile(JoinPath(path_, "cpu.stat"));
  if (!text.ok()) return text.error();
  CpuStatV1 s;
  std::istringstream in(*text);
  std::string key;
  uint64_t v;
  while (in >> key >> v) {
    if (key == "nr_periods") s.nr_periods = v;
    if (key == "nr_throttled") s.nr_throttled = v;
    if (key == "throttled_time") s.throttled_ns = v;
  }
  return s;
}

Result<pid_t> TestCgroup::SpawnBusy(int cpu) {
  std::string procs = JoinPath(path_, "cgroup.procs");
  pid_t pid = fork();
  if (pid < 0) return Error::FromErrno(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls after fork (the test binary has threads).
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test binary
    char buf[32];
    int len = 0;
    for (pid_t p = getpid(); p > 0; p /= 10) buf[len++] = static_cast<char>('0' + p % 10);
    for (int i = 0; i < len / 2; i++) std::swap(buf[i], buf[len - 1 - i]);
    int fd = open(procs.c_str(), O_WRONLY);
    if (fd < 0 || write(fd, buf, len) != len) _exit(10);
    close(fd);
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
    return Error{ECHILD, "busy child " + std::to_string(pid) + " failed to join " + path_ +
                             " (exit status " + std::to_string(WEXITSTATUS(status)) + ")"};
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
