// Start-up checks for `schedwarden run`: say exactly what is missing (privileges, kernel BTF,
// cgroupfs) before anything is loaded or changed. Reads only under the given roots.
#pragma once

#include <string>
#include <vector>

namespace sw {

struct PreflightInput {
  std::string sys_root = "/sys";  // for kernel/btf/vmlinux and fs/cgroup
  bool privileged = false;        // root, or the capabilities listed in PreflightProblems
};

// One line per problem, each saying what to do; empty when the agent can start.
std::vector<std::string> PreflightProblems(const PreflightInput& in);

// Capabilities of kAgentCapabilities (common/capabilities.h) checked at start that this process
// does not have in its effective set, e.g. {"CAP_BPF"}.
std::vector<std::string> MissingAgentCapabilities();
// True when none is missing.
bool HasAgentCapabilities();

}  // namespace sw
