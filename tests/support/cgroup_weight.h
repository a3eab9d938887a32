// The CPU weight of a test cgroup, whichever interface the cgroup layout has: cpu.shares in a
// v1 cpu hierarchy (default 1024), cpu.weight on v2 (default 100). Privileged tests use these so
// the same check runs on hybrid v1, systemd v1 and unified v2 machines.
#pragma once

#include <string>

#include "common/result.h"

namespace sw::test {

// "cpu.shares" or "cpu.weight", whichever `cgroup_dir` has ("" for neither).
std::string WeightFile(const std::string& cgroup_dir);
// Its trimmed content ("" when unreadable).
std::string ReadWeight(const std::string& cgroup_dir);
Result<void> WriteWeight(const std::string& cgroup_dir, const std::string& value);
// A valid weight that is not the kernel default, so a reset to the default shows: "2048" for
// cpu.shares, "500" for cpu.weight.
std::string NonDefaultWeight(const std::string& cgroup_dir);
// Whether `value` is what the kernel shows as the weight of an idle group (cpu.idle=1): 3 for
// cpu.shares; 0 (before Linux 6.12) or 1 (since) for cpu.weight.
bool IsIdleWeight(const std::string& cgroup_dir, const std::string& value);

}  // namespace sw::test
