#include "script_run.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/fs.h"

namespace sw::test {

pid_t StartScript(const std::string& script, const std::string& build_dir, const std::string& args,
                  const std::string& log) {
  const std::string cmd =
      "exec " + script + " --build " + build_dir + " --no-build " + args + " > " + log + " 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/bash", "bash", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int WaitScript(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return status;
}

std::vector<std::string> GroupLeft(pid_t pgid) {
  std::vector<std::string> left;
  for (int i = 0; i < 50; i++) {
    left.clear();
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      auto stat = ReadFile(e.path().string() + "/stat");
      if (!stat.ok()) continue;
      auto close = stat->rfind(')');
      if (close == std::string::npos) continue;
      char state = 0;
      int ppid = 0, pgrp = 0;
      if (std::sscanf(stat->c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
      if (pgrp == pgid && state != 'Z') left.push_back(*stat);
    }
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return left;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += e + "\n";
  return s;
}

}  // namespace sw::test
