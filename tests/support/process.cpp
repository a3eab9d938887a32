#include "support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sw::test {
namespace fs = std::filesystem;

ChildProcess ChildProcess::Fork(const std::function<void()>& fn) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    fn();
    _exit(0);
  }
  return ChildProcess(pid, -1);
}

ChildProcess ChildProcess::Exec(const std::vector<std::string>& argv, bool capture_stdout) {
  int pipefd[2] = {-1, -1};
  if (capture_stdout && pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (capture_stdout) dup2(pipefd[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (capture_stdout) {
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  }
  return ChildProcess(pid, pipefd[0]);
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), out_fd_(o.out_fd_), reaped_(o.reaped_) {
  o.pid_ = -1;
  o.out_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

int ChildProcess::Signal(int sig, int timeout_ms) {
  if (pid_ <= 0 || reaped_) return -1;
  kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string ChildProcess::ReadAvailable() {
  std::string out;
  if (out_fd_ < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(out_fd_, buf, sizeof buf)) > 0) out.append(buf, n);
  return out;
}

CgroupDir::CgroupDir(const std::string& hierarchy_root, const std::string& rel_path)
    : path_(hierarchy_root + "/" + rel_path) {
  fs::create_directories(path_);
}

CgroupDir::~CgroupDir() {
  // Kill every task still inside (children first), then remove the directories deepest first.
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::end(it); ++it)
    if (it->is_directory()) dirs.push_back(it->path());
  dirs.push_back(path_);
  for (int attempt = 0; attempt < 50; attempt++) {
    bool any = false;
    for (const auto& d : dirs) {
      std::ifstream procs(d / "cgroup.procs");
      pid_t p;
      while (procs >> p) {
        kill(p, SIGKILL);
        any = true;
      }
    }
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) rmdir(it->c_str());
}

void CgroupDir::Write(const std::string& file, const std::string& value) const {
  std::string p = path_ + "/" + file;
  int fd = open(p.c_str(), O_WRONLY);
  if (fd < 0) throw std::runtime_error("open " + p + ": " + std::strerror(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    throw std::runtime_error("write '" + value + "' to " + p + ": " + std::strerror(err));
}

std::string CgroupDir::Read(const std::string& file) const {
  std::ifstream in(path_ + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void CgroupDir::AddProcess(pid_t pid) const { Write("cgroup.procs", std::to_string(pid)); }

std::string CpusAllowed(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Cpus_allowed_list:", 0) == 0)
      return line.substr(line.find_first_not_of(" \t", 18));
  return "";
}

std::vector<pid_t> ThreadsOf(pid_t pid) {
  std::vector<pid_t> tids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
    tids.push_back(std::stoi(e.path().filename().string()));
  return tids;
}

int PolicyOf(pid_t tid) {
  struct {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
  } attr{};
  if (syscall(SYS_sched_getattr, tid, &attr, sizeof attr, 0) != 0) return -1;
  return static_cast<int>(attr.sched_policy);
}

}  // namespace sw::test
