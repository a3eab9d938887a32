// Running a bench/ script from a smoke test: in its own process group (so a timeout or a Ctrl-C
// reaches everything it started), output to a log file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace sw::test {

// `bash -c "exec <script> --build <build_dir> --no-build <args> > <log> 2>&1"` in a new process
// group led by the returned pid.
pid_t StartScript(const std::string& script, const std::string& build_dir, const std::string& args,
                  const std::string& log);
// The script's wait status, or -1 after killing its whole group when `timeout` passed first.
int WaitScript(pid_t pid, std::chrono::seconds timeout);
// Live processes of process group `pgid` (their /proc stat lines; zombies, which an orphan's
// reaper may not have collected yet, do not count), waiting up to 5 s for dying ones.
std::vector<std::string> GroupLeft(pid_t pgid);
// One per line, for failure messages.
std::string Joined(const std::vector<std::string>& v);

}  // namespace sw::test
