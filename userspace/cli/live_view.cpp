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

nlohmann::json WorkloadRates(const Snapshot& prev, const Snapshot& cur) {
  const double interval = (cur.taken_at - prev.taken_at).count() / 1e9;
  std::map<std::string, std::map<std::string, uint64_t>> preempted_by;
  for (const auto& [pair, n] : cur.preemptions) {
    auto it = prev.preemptions.find(pair);
    uint64_t d = n - (it != prev.preemptions.end() && it->second <= n ? it->second : 0);
    if (d) preempted_by[pair.first][pair.second] += d;
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [name, w] : cur.workloads) {
    auto p = prev.workloads.find(name);
    const WorkloadSample* before = p == prev.workloads.end() ? nullptr : &p->second;
    LatencyHistogram wake = before ? w.runq_wakeup.Delta(before->runq_wakeup) : w.runq_wakeup;
    LatencyHistogram pre =
        before ? w.runq_preempted.Delta(before->runq_preempted) : w.runq_preempted;
    LatencyHistogram thr = before ? w.throttle_wait.Delta(before->throttle_wait) : w.throttle_wait;
    LatencyHistogram all = wake;
    all.Merge(pre);
    double cpus = 0;
    if (before && w.cpu_usage_ns && before->cpu_usage_ns && interval > 0 &&
        *w.cpu_usage_ns >= *before->cpu_usage_ns)
      cpus = (*w.cpu_usage_ns - *before->cpu_usage_ns) / 1e9 / interval;
    uint64_t throttled = 0;
    if (before && w.cpu_stat && before->cpu_stat &&
        w.cpu_stat->nr_throttled >= before->cpu_stat->nr_throttled)
      throttled = w.cpu_stat->nr_throttled - before->cpu_stat->nr_throttled;
    rows.push_back({{"workload", name},
                    {"cpus", cpus},
                    {"runq_p99_s", all.QuantileSeconds(0.99)},
                    {"runq_wakeup_p99_s", wake.QuantileSeconds(0.99)},
                    {"runq_preempted_p99_s", pre.QuantileSeconds(0.99)},
                    {"runq_samples", all.Count()},
                    {"throttle_wait_p99_s", thr.QuantileSeconds(0.99)},
                    {"throttled_periods", throttled},
                    {"throttle_events",
                     w.throttle_events - (before && before->throttle_events <= w.throttle_events
                                              ? before->throttle_events
                                              : 0)},
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
