#include "policy/decision.h"

#include <cerrno>
#include <ctime>

namespace sw {

std::string FormatWallTime(std::chrono::nanoseconds wall) {
  const time_t secs = static_cast<time_t>(wall.count() / 1000000000);
  const int ms = static_cast<int>((wall.count() / 1000000) % 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::string FormatDecision(const Decision& d) {
  std::string out = d.action + " " + d.workload;
  if (!d.victim.empty() && d.victim != d.workload) out += " (for " + d.victim + ")";
  out += " " + d.result;
  if (!d.cpus.empty()) out += " cpus=" + d.cpus;
  return out + ": " + d.reason;
}

nlohmann::json DecisionToJson(const Decision& d) {
  nlohmann::json j;
  j["time"] = FormatWallTime(d.wall);
  j["time_ns"] = d.wall.count();
  j["monotonic_ns"] = d.monotonic.count();
  j["workload"] = d.workload;
  j["cgroup"] = d.cgroup_path;
  j["victim"] = d.victim;
  j["action"] = d.action;
  j["reason"] = d.reason;
  j["before"] = d.before;
  j["after"] = d.after;
  j["result"] = d.result;
  if (!d.cpus.empty()) j["cpus"] = d.cpus;
  return j;
}

Decision DecisionFromJson(const nlohmann::json& j) {
  Decision d;
  d.wall = std::chrono::nanoseconds(j.value("time_ns", int64_t{0}));
  d.monotonic = std::chrono::nanoseconds(j.value("monotonic_ns", int64_t{0}));
  d.workload = j.value("workload", "");
  d.cgroup_path = j.value("cgroup", "");
  d.victim = j.value("victim", "");
  d.action = j.value("action", "");
  d.reason = j.value("reason", "");
  if (j.contains("before")) d.before = j["before"];
  if (j.contains("after")) d.after = j["after"];
  d.result = j.value("result", "");
  d.cpus = j.value("cpus", "");
  return d;
}

Result<std::unique_ptr<JsonLinesFileSink>> JsonLinesFileSink::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "ae");
  if (!f)
    return Error::FromErrno(
        errno, "open audit log " + path + " (is the state dir writable? see --state-dir)");
  return std::unique_ptr<JsonLinesFileSink>(new JsonLinesFileSink(path, f));
}

JsonLinesFileSink::~JsonLinesFileSink() { std::fclose(file_); }

void JsonLinesFileSink::Write(const Decision& d) {
  const std::string line = DecisionToJson(d).dump() + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    write_errors_++;
}

}  // namespace sw
