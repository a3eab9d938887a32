#include "policy/status.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "common/duration.h"
#include "common/fs.h"
#include "common/text.h"

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
    o["cpus_received"] =
        std::isnan(w.cpus_received) ? nlohmann::json() : nlohmann::json(w.cpus_received);
    o["preemptions_by_lower"] = w.preemptions_by_lower;
    o["state"] = w.state;
    o["violation_streak"] = w.violation_streak;
    o["violation_intervals_total"] = w.violation_intervals_total;
    o["exclusive_cpus"] = w.exclusive_cpus;
    o["exclusive_count"] = w.exclusive_count;
    o["demoted"] = w.demoted;
    o["pod"] = w.pod;
    o["annotations"] = w.annotations;
    o["annotation_problems"] = w.annotation_problems;
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
      w.cpus_received = o.contains("cpus_received") && o["cpus_received"].is_number()
                            ? o["cpus_received"].get<double>()
                            : std::nan("");
      w.preemptions_by_lower = o.value("preemptions_by_lower", uint64_t{0});
      w.state = o.value("state", "");
      w.violation_streak = o.value("violation_streak", 0);
      w.violation_intervals_total = o.value("violation_intervals_total", uint64_t{0});
      w.exclusive_cpus = o.value("exclusive_cpus", "");
      w.exclusive_count = o.value("exclusive_count", 0);
      w.demoted = o.value("demoted", false);
      w.pod = o.value("pod", "");
      w.annotations = o.value("annotations", std::vector<std::string>{});
      w.annotation_problems = o.value("annotation_problems", std::vector<std::string>{});
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

constexpr size_t kScreenWidth = 80;

// Left-aligned columns sized to their widest cell, two spaces apart (one when two do not fit).
// While the table is wider than the screen, the widest column of `shrink` (index -> minimum
// width) loses a column; its cells are shortened in the middle (column 0, names) or at the end.
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::map<size_t, size_t>& shrink) {
  std::vector<size_t> natural;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); i++) {
      if (natural.size() <= i) natural.push_back(0);
      natural[i] = std::max(natural[i], DisplayWidth(r[i]));
    }
  std::vector<size_t> width;
  size_t gap = 2;
  auto fit = [&] {
    width = natural;
    auto total = [&] {
      size_t t = 0;
      for (size_t w : width) t += w;
      return t + gap * (width.size() - 1);
    };
    while (total() > kScreenWidth) {
      size_t widest = width.size();
      for (const auto& [col, min] : shrink)
        if (col < width.size() && width[col] > min &&
            (widest == width.size() || width[col] > width[widest]))
          widest = col;
      if (widest == width.size()) return false;  // nothing left to shrink
      width[widest]--;
    }
    return true;
  };
  if (!fit()) {
    gap = 1;
    fit();
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      std::string cell = i == 0 ? ShortenMiddle(r[i], width[i]) : ShortenEnd(r[i], width[i]);
      line += i + 1 < r.size() ? PadRight(cell, width[i] + gap) : cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// "13:02:11" of a wall-clock time (UTC, like the header's full timestamp).
std::string TimeOfDay(std::chrono::nanoseconds wall) {
  const std::string full = FormatWallTime(wall);  // 2026-11-25T13:02:11.500Z
  return full.size() >= 19 ? full.substr(11, 8) : full;
}

}  // namespace

std::string FormatStatusTable(const StatusModel& s) {
  std::string out = "mode " + s.mode + ", " + std::to_string(s.cpu_count) + " CPUs, shared pool " +
                    std::to_string(s.shared_pool_cpus) + " CPUs, " +
                    std::to_string(s.unmatched_workloads) + " unmatched (normal) workloads\n" +
                    "updated " + FormatWallTime(std::chrono::nanoseconds(s.updated_ns)) + "\n\n";
  std::vector<std::vector<std::string>> rows{
      {"WORKLOAD", "CLASS", "RULE", "SLO", "P99", "STATE", "CPUS", "EXCL", "VIOL"}};
  for (const auto& w : s.workloads) {
    char cpus[32] = "-";
    if (!std::isnan(w.cpus_received)) std::snprintf(cpus, sizeof cpus, "%.2f", w.cpus_received);
    rows.push_back(
        {w.workload, w.cls, w.rule.empty() ? "-" : w.rule,
         w.slo_runq_p99_ns ? Ns(*w.slo_runq_p99_ns) : "-", Ns(w.runq_p99_ns),
         w.state.empty() ? (w.demoted ? "demoted" : "-") : w.state + (w.demoted ? ",demoted" : ""),
         cpus, w.exclusive_cpus.empty() ? "-" : w.exclusive_cpus,
         std::to_string(w.violation_intervals_total)});
  }
  out += Table(rows, {{0, 12}, {2, 6}, {5, 10}, {7, 6}});
  std::vector<std::vector<std::string>> bad{{"WORKLOAD", "POD", "IGNORED ANNOTATION"}};
  for (const auto& w : s.workloads)
    for (const auto& p : w.annotation_problems) bad.push_back({w.workload, w.pod, p});
  if (bad.size() > 1)
    out += "\nPOD ANNOTATIONS IGNORED (full text: status --json)\n" +
           Table(bad, {{0, 12}, {1, 16}, {2, 44}});
  out += "\nRECENT ACTIONS (full reasons: status --json, <state_dir>/decisions.jsonl)\n";
  if (s.recent.empty()) return out + "(none)\n";
  std::vector<std::vector<std::string>> acts{{"WORKLOAD", "TIME", "ACTION", "RESULT", "REASON"}};
  for (const auto& d : s.recent)
    acts.push_back({d.workload, TimeOfDay(d.wall), d.action, d.result, d.reason});
  return out + Table(acts, {{0, 12}, {4, 12}});
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
