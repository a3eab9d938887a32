#include "cli/live_view.h"

#include <algorithm>
#include <cstdio>

#include "common/text.h"

namespace sw {
namespace {

// At most 6 columns: "850us", "6.29ms", "12.3ms", "123ms", "1.25s"; "-" without waits.
std::string Duration(double seconds) {
  char buf[32];
  if (seconds <= 0) return "-";
  if (seconds < 1e-3)
    std::snprintf(buf, sizeof buf, "%.0fus", seconds * 1e6);
  else if (seconds < 10e-3)
    std::snprintf(buf, sizeof buf, "%.2fms", seconds * 1e3);
  else if (seconds < 100e-3)
    std::snprintf(buf, sizeof buf, "%.1fms", seconds * 1e3);
  else if (seconds < 1)
    std::snprintf(buf, sizeof buf, "%.0fms", seconds * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2fs", seconds);
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
    // No usage file (e.g. missing from the cpuacct hierarchy): unknown, null in JSON, "-" in text.
    const nlohmann::json cpus =
        w.cpu_usage_ns && interval > 0
            ? nlohmann::json(static_cast<double>(*w.cpu_usage_ns) / 1e9 / interval)
            : nlohmann::json();
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
  // 80 columns: name 20, five numbers, then the top aggressor with its preemption count.
  constexpr size_t kName = 20, kAggressor = 14;
  auto row = [](const std::string& name, const std::string& cpus, const std::string& p99,
                const std::string& wake, const std::string& pre, const std::string& waits,
                const std::string& throt, const std::string& aggressor) {
    std::string line = PadRight(ShortenMiddle(name, kName), kName) + " " + PadLeft(cpus, 5) + " " +
                       PadLeft(p99, 7) + " " + PadLeft(wake, 7) + " " + PadLeft(pre, 7) + " " +
                       PadLeft(waits, 7) + " " + PadLeft(throt, 5) + "  " + aggressor;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };
  std::string out =
      row("WORKLOAD", "CPUS", "RUNQ99", "WAKE99", "PREEM99", "WAITS", "THROT", "TOP AGGRESSOR");
  size_t n = 0;
  for (const auto& w : rates.value("workloads", nlohmann::json::array())) {
    if (n++ >= max_rows) break;
    std::string aggressor = "-";
    uint64_t best = 0;
    auto field = [&](const char* key) {
      auto it = w.find(key);
      return it == w.end() ? nlohmann::json() : *it;
    };
    const nlohmann::json preempted_by = field("preempted_by");
    for (const auto& [name, count] : preempted_by.items()) {
      uint64_t c = count.get<uint64_t>();
      if (c > best) {
        best = c;
        const std::string suffix = " (" + std::to_string(c) + ")";
        aggressor =
            ShortenMiddle(name, kAggressor > suffix.size() + 4 ? kAggressor - suffix.size() : 4) +
            suffix;
      }
    }
    // Unknown (e.g. no cpuacct usage for this workload): "-", never 0.00.
    const nlohmann::json cpus = field("cpus");
    char cpu_text[32] = "-";
    if (cpus.is_number()) std::snprintf(cpu_text, sizeof cpu_text, "%.2f", cpus.get<double>());
    auto num = [&](const char* key) {
      const nlohmann::json v = field(key);
      return v.is_number() ? std::to_string(v.get<uint64_t>()) : std::string("-");
    };
    auto secs = [&](const char* key) {
      const nlohmann::json v = field(key);
      return v.is_number() ? Duration(v.get<double>()) : std::string("-");
    };
    out +=
        row(w.value("workload", "?"), cpu_text, secs("runq_p99_s"), secs("runq_wakeup_p99_s"),
            secs("runq_preempted_p99_s"), num("runq_samples"), num("throttled_periods"), aggressor);
  }
  return out;
}

}  // namespace sw
