// The kernel boundary of the collector: what the BPF programs have counted so far, keyed by raw
// cgroup id. BpfEventSource (userspace/bpf) reads the real maps; FakeEventSource (tests/support) is
// scripted. All counts are cumulative since load.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bpf/schedwarden_abi.h"
#include "collect/histogram.h"
#include "common/result.h"

namespace sw {

struct RawWorkloadStats {
  LatencyHistogram wait[SW_NR_REASONS];  // indexed by enum sw_reason
  uint64_t throttle_events = 0;
};

struct BpfProgramStats {
  std::string name;          // tracepoint, e.g. "sched_switch" (either twin; the `program` label)
  uint64_t run_time_ns = 0;  // from bpf_stats (kernel.bpf_stats_enabled=1), else 0
  uint64_t run_count = 0;
  uint64_t recursion_misses = 0;  // runs the kernel skipped (program re-entered): lost events
};

struct RawEvents {
  std::map<uint64_t, RawWorkloadStats> workloads;                 // by cgroup id
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> preemptions;  // (victim, aggressor)
  std::array<uint64_t, SW_NR_DROPS> dropped{};
  std::vector<BpfProgramStats> programs;
  bool bpf_stats_enabled = false;
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual Result<RawEvents> Read() = 0;
  // Drops the kernel-side entries of cgroups that no longer exist (bounded maps stay bounded).
  virtual void Forget(const std::vector<uint64_t>& cgroup_ids) = 0;
};

}  // namespace sw
