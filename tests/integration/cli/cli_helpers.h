// Helpers for the CLI tests: run the real binary capturing stdout/stderr and exit status, read
// ground truth from /proc, find a free port.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "support/process.h"  // CpusAllowed, ChildProcess, CgroupDir

namespace sw::test {

struct CommandResult {
  int status = -1;  // raw wait status; -1 when it had to be killed on timeout
  std::string out, err;
  // Exit code when it exited normally, otherwise -1.
  int exit_code() const;
};

// Runs argv to completion (killed after timeout_ms). With run_as_uid >= 0 the child drops its
// supplementary groups and switches gid and uid to that id before exec (needs root).
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms = 60000,
                         int run_as_uid = -1);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Names of entries under /sys/fs/cgroup/cpuset (recursively) whose name starts with
// "schedwarden": what the enforcer creates for exclusive cores.
std::vector<std::string> SchedwardenCpusets(const std::string& root = "/sys/fs/cgroup/cpuset");

bool Contains(const std::string& haystack, const std::string& needle);

}  // namespace sw::test
