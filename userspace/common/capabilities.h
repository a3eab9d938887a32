// The capabilities the agent needs when it does not run as root. One list, used by the start-up
// check (cli/preflight) and by the BPF loader's EPERM hint, so the two cannot disagree.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>

#include "common/result.h"

namespace sw {

struct NeededCapability {
  const char* name;  // as cap_from_name(3) and capabilities(7) spell it
  const char* why;
  // Checked before start. CAP_SYS_RESOURCE is not: where the kernel charges BPF memory to the
  // memory cgroup (5.11+) libbpf needs no RLIMIT_MEMLOCK raise, and where it does not, a failed
  // map creation names this list (the BPF loader's EPERM hint).
  bool checked_at_start = true;
};

inline constexpr NeededCapability kAgentCapabilities[] = {
    {"CAP_BPF", "load the BPF programs and create their maps"},
    {"CAP_PERFMON", "attach tracing programs to the scheduler tracepoints"},
    {"CAP_SYS_RESOURCE", "BPF map memory beyond RLIMIT_MEMLOCK (kernels before 5.11)", false},
    {"CAP_SYS_NICE", "change other processes' scheduling policy and nice value"},
    {"CAP_SYS_ADMIN", "cpusets and cgroup files"},
};

// "CAP_BPF, CAP_PERFMON, ... and CAP_SYS_ADMIN"
inline std::string AgentCapabilityList() {
  std::string out;
  constexpr size_t n = std::size(kAgentCapabilities);
  for (size_t i = 0; i < n; i++) {
    if (i > 0) out += i + 1 == n ? " and " : ", ";
    out += kAgentCapabilities[i].name;
  }
  return out;
}

// Capability numbers (linux/capability.h) of the ones the running agent may keep.
inline constexpr int kCapDacOverride = 1;
inline constexpr int kCapNetBindService = 10;
inline constexpr int kCapSysNice = 23;
inline constexpr uint64_t CapBit(int cap) { return uint64_t{1} << cap; }

// Drops, in the calling thread, every capability not in `keep`: from the bounding set (when
// CAP_SETPCAP is held; without it no exec can regain one anyway, as no_new_privs is set), the
// ambient, inheritable, permitted and effective sets. Capabilities are per thread, so this must
// run before any other thread exists: it fails, after dropping, when the process has more than
// one thread. Returns the set kept (`keep` & what was permitted).
Result<uint64_t> DropCapabilitiesExcept(uint64_t keep);

// "CAP_DAC_OVERRIDE, CAP_SYS_NICE" ("none" when empty).
std::string CapabilityNames(uint64_t mask);

}  // namespace sw
