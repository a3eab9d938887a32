// Start-up checks for `schedwarden run`: say exactly what is missing (privileges, kernel BTF,
// cgroupfs) before anything is loaded or changed. Reads only under the given roots.
#pragma once

#include <cstdint>
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

// The capabilities the agent keeps once BPF is loaded and attached (everything else is dropped):
// enforce keeps CAP_SYS_NICE (other users' policy, nice and affinity; restoring SCHED_FIFO/RR)
// and CAP_DAC_OVERRIDE (cgroup files of delegated subtrees owned by other users, and every cgroup
// file when not running as root); observe and dry-run keep none (BPF maps are read through fds
// already open; /proc and cpu.stat are world-readable). CAP_NET_BIND_SERVICE is kept when the
// metrics port is below 1024, since the listener starts after the drop.
uint64_t CapabilitiesKeptAfterStart(bool enforce, const std::string& listen);

}  // namespace sw
