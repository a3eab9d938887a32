// What `schedwarden status` shows: classes, objectives, current p99, exclusive cores and the
// last decisions with their reasons. Built by the Controller, serialisable to JSON (--json, and
// the state file the agent writes) and to a table for people.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "policy/decision.h"

namespace sw {

struct WorkloadStatus {
  std::string workload;
  std::string cgroup_path;
  std::string rule;  // config rule that matched; "" = unmatched
  std::string cls;   // "latency-critical", ...
  std::optional<int64_t> slo_runq_p99_ns;
  uint64_t runq_p99_ns = 0;  // last interval (bucket upper edge); 0 with no samples
  uint64_t runq_samples = 0;
  double cpus_received = 0;  // last interval, in CPUs; NaN: unknown ("-" in text, null in JSON)
  uint64_t preemptions_by_lower = 0;  // last interval
  // "ok" | "violated" | "interfered" | "self-throttled" | "no-samples" | "" (not watched)
  std::string state;
  int violation_streak = 0;
  uint64_t violation_intervals_total = 0;
  std::string exclusive_cpus;  // cpu list ("" none); "(N, dry-run)" when only decided
  int exclusive_count = 0;
  bool demoted = false;  // best-effort workload currently at SCHED_IDLE / cpu.idle
  // Kubernetes: "namespace/name" of the pod, its schedwarden.io annotations that took effect
  // ("key=value") and those ignored ("key: why").
  std::string pod;
  std::vector<std::string> annotations;
  std::vector<std::string> annotation_problems;
};

struct StatusModel {
  std::string mode;  // observe | dry-run | enforce
  int cpu_count = 0;
  int shared_pool_cpus = 0;
  int64_t updated_ns = 0;  // wall clock of the last interval
  uint64_t intervals = 0;
  uint64_t unmatched_workloads = 0;  // present, class normal by default: not listed
  std::vector<WorkloadStatus> workloads;
  std::vector<Decision> recent;  // oldest first
};

nlohmann::json StatusToJson(const StatusModel& s);
Result<StatusModel> StatusFromJson(const nlohmann::json& j);
std::string FormatStatusTable(const StatusModel& s);

// Name of the status file the agent may write into the state dir each interval.
inline constexpr const char* kStatusFileName = "status.json";

// Atomically replaces <state_dir>/status.json (write a temporary file, then rename), so a
// concurrent `schedwarden status` never reads half a file. `status` is StatusToJson's object,
// which the agent may extend (observer rates, its pid).
Result<void> WriteStatusFile(const std::string& state_dir, const nlohmann::json& status);
// Reads it back; ENOENT when no agent has written one. StatusFromJson gives the model.
Result<nlohmann::json> ReadStatusFile(const std::string& state_dir);

}  // namespace sw
