#include "policy/status.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>

#include "common/duration.h"
#include "common/fs.h"

namespace sw {

nlohmann::json StatusToJson(const StatusModel& s) {
  nlohmann::json j;
  j["mode"] = s.mode;
  j["cpu_count"] = s.cpu_count;
  j["shared_pool_cpus"] = s.shared_pool_cpus;
  j["updated_ns"] = s.updated_ns;
  j["updated"] = FormatWallTime(std::chrono::nanoseconds(s.updated_ns));
  j["intervals"] = s.intervals;
  j["unmatched_workloads"] = s.unmatched_workloads;
  j["workloads"] = nlohmann::json::array();
  for (const auto& w : s.workloads) {
    nlohmann::json o;
    o["workload"] = w.workload;
    o["cgroup"] = w.cgroup_path;
    o["rule"] = w.rule;
    o["class"] = w.cls;
    o["slo_runq_p99_ns"] = w.slo_runq_p99_ns ? nlohmann::json(*w.slo_runq_p99_ns) : nullptr;
    o["runq_p99_ns"] = w.runq_p99_ns;
    o["runq_samples"] = w.runq_samples;
    o["cpus_received"] = w.cpus_received;
    o["preemptions_by_lower"] = w.preemptions_by_lower;
    o["state"] = w.state;
    o["violation_streak"] = w.violation_streak;
    o["violation_intervals_total"] = w.violation_intervals_total;
    o["exclusive_cpus"] = w.exclusive_cpus;
    o["exclusive_count"] = w.exclusive_count;
    o["demoted"] = w.demoted;
    j["workloads"].push_back(o);
  }
  j["recent_actions"] = nlohmann::json::array();
  for (const auto& d : s.recent) j["recent_actions"].push_back(DecisionToJson(d));
  return j;
}

Result<StatusModel> StatusFromJson(const nlohmann::json& j) {
  try {
    StatusModel s;
    s.mode = j.at("mode").get<std::string>();
    s.cpu_count = j.at("cpu_count").get<int>();
    s.shared_pool_cpus = j.at("shared_pool_cpus").get<int>();
    s.updated_ns = j.value("updated_ns", int64_t{0});
    s.intervals = j.value("intervals", uint64_t{0});
    s.unmatched_workloads = j.value("unmatched_workloads", uint64_t{0});
    for (const auto& o : j.at("workloads")) {
      WorkloadStatus w;
      w.workload = o.at("workload").get<std::string>();
      w.cgroup_path = o.value("cgroup", "");
      w.rule = o.value("rule", "");
      w.cls = o.value("class", "");
      if (o.contains("slo_runq_p99_ns") && !o["slo_runq_p99_ns"].is_null())
        w.slo_runq_p99_ns = o["slo_runq_p99_ns"].get<int64_t>();
      w.runq_p99_ns = o.value("runq_p99_ns", uint64_t{0});
      w.runq_samples = o.value("runq_samples", uint64_t{0});
      w.cpus_received = o.value("cpus_received", 0.0);
      w.preemptions_by_lower = o.value("preemptions_by_lower", uint64_t{0});
      w.state = o.value("state", "");
      w.violation_streak = o.value("violation_streak", 0);
      w.violation_intervals_total = o.value("violation_intervals_total", uint64_t{0});
      w.exclusive_cpus = o.value("exclusive_cpus", "");
      w.exclusive_count = o.value("exclusive_count", 0);
      w.demoted = o.value("demoted", false);
      s.workloads.push_back(std::move(w));
    }
    if (j.contains("recent_actions"))
      for (const auto& d : j["recent_actions"]) s.recent.push_back(DecisionFromJson(d));
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Error{EINVAL, std::string("malformed status JSON: ") + e.what()};
  }
}

namespace {

std::string Ns(uint64_t ns) {
  if (ns == 0) return "-";
  char buf[32];
  if (ns >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  else if (ns >= 1000000)
    std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0fus", ns / 1e3);
  return buf;
}

// Left-aligned columns sized to their widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); i++) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string FormatStatusTable(const StatusModel& s) {
  std::string out = "mode " + s.mode + ", " + std::to_string(s.cpu_count) + " CPUs, shared pool " +
                    std::to_string(s.shared_pool_cpus) + " CPUs, " +
                    std::to_string(s.unmatched_workloads) + " unmatched (normal) workloads, " +
                    "updated " + FormatWallTime(std::chrono::nanoseconds(s.updated_ns)) + "\n\n";
  std::vector<std::vector<std::string>> rows{{"WORKLOAD", "CLASS", "RULE", "SLO P99", "P99",
                                              "STATE", "CPU USE", "EXCL CPUS", "VIOLATIONS"}};
  for (const auto& w : s.workloads) {
    char cpus[32];
    std::snprintf(cpus, sizeof cpus, "%.2f", w.cpus_received);
    rows.push_back(
        {w.workload, w.cls, w.rule.empty() ? "-" : w.rule,
         w.slo_runq_p99_ns ? Ns(*w.slo_runq_p99_ns) : "-", Ns(w.runq_p99_ns),
         w.state.empty() ? (w.demoted ? "demoted" : "-") : w.state + (w.demoted ? ",demoted" : ""),
         cpus, w.exclusive_cpus.empty() ? "-" : w.exclusive_cpus,
         std::to_string(w.violation_intervals_total)});
  }
  out += Table(rows);
  out += "\nRECENT ACTIONS\n";
  if (s.recent.empty()) return out + "(none)\n";
  std::vector<std::vector<std::string>> acts{{"TIME", "WORKLOAD", "ACTION", "RESULT", "REASON"}};
  for (const auto& d : s.recent)
    acts.push_back({FormatWallTime(d.wall), d.workload, d.action, d.result, d.reason});
  return out + Table(acts);
}

Result<void> WriteStatusFile(const std::string& state_dir, const nlohmann::json& status) {
  const std::string path = JoinPath(state_dir, kStatusFileName);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Error::FromErrno(errno, "write " + tmp + " (is the state dir writable?)");
    out << status.dump() << "\n";
    if (!out.flush()) return Error::FromErrno(errno, "write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Error::FromErrno(errno, "rename " + tmp + " to " + path);
  return Ok();
}

Result<nlohmann::json> ReadStatusFile(const std::string& state_dir) {
  const std::string path = JoinPath(state_dir, kStatusFileName);
  auto text = ReadFile(path);
  if (!text)
    return Error{text.error().code, "no agent status at " + path +
                                        " (is `schedwarden run` running with this --state-dir?)"};
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{EINVAL, path + ": not valid JSON (agent mid-write?)"};
  return j;
}

}  // namespace sw
