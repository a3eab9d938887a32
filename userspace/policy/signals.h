// The pure signal step: one interval's IntervalDelta in, per-interval signals out. No state besides
// what the caller passes in (the CPU history for the windows), no clock, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "collect/histogram.h"
#include "collect/interval_delta.h"
#include "config/config.h"

namespace sw {

// One latency-watched workload's signals over one interval.
struct IntervalSignals {
  LatencyHistogram runq;  // delta of runq_wakeup + runq_preempted
  uint64_t samples = 0;
  uint64_t p99_ns = 0;
  uint64_t preemptions_by_lower = 0;
  double cpus_received = 0;  // cpu_usage_ns delta / interval
  // Mean CPUs received over the last K intervals and over the K before them: a victim squeezed
  // by neighbours receives less than it used to ("10 cores became 6").
  double cpus_window = 0, cpus_prev_window = 0;
  bool has_prev_window = false;  // enough history for cpus_prev_window
  double lower_class_cpus = 0;   // CPUs used by lower-class workloads (nested cgroups once)
  uint64_t throttled = 0;        // max(cpu.stat nr_throttled delta, BPF throttle_events delta)
  std::chrono::nanoseconds elapsed{0};
  bool violated = false;
  bool evidence = false;  // others caused it
};

// JSON object with the numbers behind a decision (keys: runq_p99_ns, runq_samples, slo_ns,
// preemptions_by_lower, cpus_received, lower_class_cpus, throttled).
nlohmann::json SignalsToJson(const IntervalSignals& s, std::optional<std::chrono::nanoseconds> slo);

// What the signal step needs to know of each workload of the current snapshot.
struct WorkloadView {
  std::string cgroup_path;
  WorkloadClass cls = WorkloadClass::kNormal;
  std::optional<std::chrono::nanoseconds> slo;  // set: latency-watched
};

// Everything one interval measured.
struct IntervalDeltas {
  std::chrono::nanoseconds elapsed{0};
  std::map<std::string, double> cpus_received;  // by the cgroup, nested workloads included
  std::map<std::string, double>
      own_cpus;  // nested workloads' CPUs subtracted; empty without an objective
  std::map<std::pair<std::string, std::string>, uint64_t> preemptions;  // (victim, aggressor)
  std::map<std::string, IntervalSignals> signals;  // latency-watched workloads only
};

// delta: between two consecutive snapshots (ComputeIntervalDelta); views: every workload of the
// current one; fallback_interval: used when the snapshots' timestamps do not advance. Windows are
// left for UpdateCpuWindows. bpf_throttle: the BPF programs tell throttled switch-outs apart
// (observer.bpf_throttle resolved on). Without it a throttled thread's switch-out is counted as a
// preemption by whoever ran next and its wait as run-queue latency, so an interval in which
// cpu.stat shows the workload's own throttling is never evidence against others.
IntervalDeltas ComputeSignals(const IntervalDelta& delta,
                              const std::map<std::string, WorkloadView>& views,
                              std::chrono::nanoseconds fallback_interval,
                              double neighbour_cpu_threshold, bool bpf_throttle = true);

// Appends s.cpus_received to history (kept at most 2k long) and fills s's CPU windows.
void UpdateCpuWindows(std::deque<double>& history, int k, IntervalSignals& s);

}  // namespace sw
