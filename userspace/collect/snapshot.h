// What the collector produces every interval: per-workload series (cgroups folded to the
// configured depth, unresolvable ids folded into "unknown"), cumulative and monotonic, consumed
// by the exporter, the policy engine and `status`/`top`. Consumers compute deltas themselves.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cgroup/cpu_stat.h"
#include "cgroup/workload.h"
#include "collect/event_source.h"
#include "collect/histogram.h"

namespace sw {

inline constexpr const char* kUnknownWorkload = "unknown";

// CpuStatSample and PsiSample (cgroup/cpu_stat.h) are the readers' normalised values.
// kOverflowWorkload (cgroup/workload.h) is the series of workloads beyond max_workloads.

struct WorkloadSample {
  std::string workload;  // series label: cgroup path at the configured depth, "unknown", "overflow"
  std::string cgroup_path;  // path inside the cpu hierarchy, "/" rooted ("" for unknown/overflow)
  LatencyHistogram runq_wakeup;     // run-queue latency after wakeup
  LatencyHistogram runq_preempted;  // run-queue latency after involuntary preemption
  LatencyHistogram throttle_wait;   // time throttled by CFS quota (not run-queue latency)
  uint64_t throttle_events = 0;
  std::optional<CpuStatSample> cpu_stat;  // absent when unreadable (e.g. "unknown")
  std::optional<uint64_t> cpu_usage_ns;   // cpuacct.usage (v1) or cpu.stat usage_usec (v2)
  std::optional<PsiSample> psi;           // absent when PSI is off
};

struct Snapshot {
  std::chrono::nanoseconds taken_at{0};                                 // monotonic
  std::map<std::string, WorkloadSample> workloads;                      // by workload label
  std::map<std::pair<std::string, std::string>, uint64_t> preemptions;  // (victim, aggressor)
  std::array<uint64_t, SW_NR_DROPS> dropped{};
  std::vector<BpfProgramStats> programs;
  bool bpf_stats_enabled = false;
  // Cardinality bookkeeping: real-cgroup labels in use, and distinct workloads folded into the
  // kOverflowWorkload series because max_workloads labels were taken.
  uint64_t tracked_workloads = 0;
  uint64_t overflowed_workloads = 0;
};

}  // namespace sw
