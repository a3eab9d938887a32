#include "cli/live_view.h"

#include <algorithm>
#include <cstdio>

namespace sw {
namespace {

std::string Ms(double seconds) {
  char buf[32];
  if (seconds <= 0) return "-";
  std::snprintf(buf, sizeof buf, "%.3f", seconds * 1e3);
  return buf;
}

}  // namespace

nlohmann::json WorkloadRates(const IntervalDelta& delta) {
  const double interval = delta.elapsed.count() / 1e9;
  std::map<std::string, std::map<std::string, uint64_t>> preempted_by;
  for (const auto& [pair, d] : delta.preemptions) preempted_by[pair.first][pair.second] += d;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [name, w] : delta.workloads) {
    LatencyHistogram all = w.runq_wakeup;
    all.Merge(w.runq_preempted);
    const double cpus =
        w.cpu_usage_ns && interval > 0 ? static_cast<double>(*w.cpu_usage_ns) / 1e9 / interval : 0;
    rows.push_back({{"workload", name},
                    {"cpus", cpus},
                    {"runq_p99_s", all.QuantileSeconds(0.99)},
                    {"runq_wakeup_p99_s", w.runq_wakeup.QuantileSeconds(0.99)},
                    {"runq_preempted_p99_s", w.runq_preempted.QuantileSeconds(0.99)},
                    {"runq_samples", all.Count()},
                    {"throttle_wait_p99_s", w.throttle_wait.QuantileSeconds(0.99)},
                    {"throttled_periods", w.nr_throttled.value_or(0)},
                    {"throttle_events", w.throttle_events},
                    {"preempted_by", preempted_by[name]}});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a["runq_p99_s"].template get<double>() > b["runq_p99_s"].template get<double>();
  });
  return {{"interval_s", interval}, {"workloads", rows}};
}

std::string FormatWorkloadRates(const nlohmann::json& rates, size_t max_rows) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %6s %10s %10s %10s %8s %9s  %s\n", "WORKLOAD", "CPUS",
                "RUNQ p99", "WAKE p99", "PREEMPT", "SAMPLES", "THROTTLED", "TOP AGGRESSOR");
  out += line;
  std::snprintf(line, sizeof line, "%-40s %6s %10s %10s %10s %8s %9s\n", "", "", "ms", "ms",
                "p99 ms", "", "periods");
  out += line;
  size_t n = 0;
  for (const auto& w : rates.value("workloads", nlohmann::json::array())) {
    if (n++ >= max_rows) break;
    std::string aggressor = "-";
    uint64_t best = 0;
    for (const auto& [name, count] : w["preempted_by"].items()) {
      uint64_t c = count.get<uint64_t>();
      if (c > best) {
        best = c;
        aggressor = name + " (" + std::to_string(c) + ")";
      }
    }
    std::string name = w["workload"].get<std::string>();
    if (name.size() > 40) name = "..." + name.substr(name.size() - 37);
    std::snprintf(line, sizeof line, "%-40s %6.2f %10s %10s %10s %8llu %9llu  %s\n", name.c_str(),
                  w["cpus"].get<double>(), Ms(w["runq_p99_s"].get<double>()).c_str(),
                  Ms(w["runq_wakeup_p99_s"].get<double>()).c_str(),
                  Ms(w["runq_preempted_p99_s"].get<double>()).c_str(),
                  static_cast<unsigned long long>(w["runq_samples"].get<uint64_t>()),
                  static_cast<unsigned long long>(w["throttled_periods"].get<uint64_t>()),
                  aggressor.c_str());
    out += line;
  }
  return out;
}

}  // namespace sw
