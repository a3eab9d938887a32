// What `schedwarden status` shows: classes, objectives, current p99, exclusive cores and the
// last decisions with their reasons. Built by the Controller, serialisable to JSON (--json, and
// the state file the agent writes) and to a table for people.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collect/snapshot.h"
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

// At most how stale status.json gets: rewriting it (1,000 workloads' rates, ~150 KB of JSON)
// every 500 ms interval cost about 1% of a core, for `status`/`top` that read it once a second.
inline constexpr std::chrono::nanoseconds kStatusFilePeriod = std::chrono::seconds(2);

// When the agent rewrites status.json: after its first interval, after an interval with a
// decision (the file shows it at once), and otherwise once `period` has passed (counted in whole
// intervals: due when at most half an interval short of it). The agent keeps what the file's
// observer rates start from (cli/live_view.h RatesBase) from each write to the next, so no
// interval is left out of them.
class StatusFilePacer {
 public:
  StatusFilePacer(std::chrono::nanoseconds period, std::chrono::nanoseconds interval)
      : period_(period), slack_(interval / 2) {}
  bool Due(std::chrono::nanoseconds now, bool decided) const {
    return !written_ || decided || now - last_ + slack_ >= period_;
  }
  void Written(std::chrono::nanoseconds now) {
    written_ = true;
    last_ = now;
  }

 private:
  std::chrono::nanoseconds period_, slack_, last_{0};
  bool written_ = false;
};

}  // namespace sw
