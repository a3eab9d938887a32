// Per-workload rates over the last interval (run-queue p99 by reason, throttling, CPU received,
// top aggressor), from the interval's IntervalDelta (computed once by the agent). The agent stores
// them in the status file; `schedwarden top` and `status` render them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "collect/interval_delta.h"

namespace sw {

// {"interval_s": .., "workloads": [{"workload", "cpus", "runq_wakeup_p99_s",
// "runq_preempted_p99_s",
//   "runq_samples", "throttle_wait_p99_s", "throttled_periods", "throttle_events",
//   "preempted_by": {"aggressor": count, ...}}, ...]} sorted by run-queue p99, worst first.
nlohmann::json WorkloadRates(const IntervalDelta& delta);

// A terminal table of WorkloadRates output, at most max_rows workloads, at most 80 columns wide;
// "-" for what is unknown (a null or missing value).
std::string FormatWorkloadRates(const nlohmann::json& rates, size_t max_rows = 40);

}  // namespace sw
