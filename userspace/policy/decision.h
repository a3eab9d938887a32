// Decisions of the controller: one record per action taken, refused, judged or reported, with
// the reason and the numbers behind it. Records go to a DecisionSink (the JSON-lines audit log in
// the state dir; memory in tests) and are returned to the caller for logging and counting.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace sw {

// Action names, as written to the audit log and the actions_total `action` label.
namespace action {
inline constexpr const char* kDemote = "demote-best-effort";
inline constexpr const char* kRestore = "restore-best-effort";
inline constexpr const char* kGrant = "grant-exclusive";
inline constexpr const char* kRelease = "release-exclusive";
inline constexpr const char* kVerify = "verify";                 // judging an earlier action
inline constexpr const char* kSelfThrottled = "self-throttled";  // report only, no action
inline constexpr const char* kExhausted = "ladder-exhausted";    // report only, nothing left
inline constexpr const char* kDrift = "drift";  // another writer rewrote a file we changed
}  // namespace action

// Results, the `result` label.
namespace result {
inline constexpr const char* kApplied = "applied";
inline constexpr const char* kDryRun = "dry-run";   // decided, actuator not called
inline constexpr const char* kRefused = "refused";  // capacity: caps, floor, no core
inline constexpr const char* kFailed = "failed";    // actuator error
inline constexpr const char* kRateLimited = "rate-limited";
inline constexpr const char* kImproved = "improved";         // verify: action kept
inline constexpr const char* kNotImproved = "not-improved";  // verify: action reverted
inline constexpr const char* kReported = "reported";
inline constexpr const char* kYielded = "yielded";  // drift: the other writer's value kept
}  // namespace result

struct Decision {
  std::chrono::nanoseconds wall{0};  // since the Unix epoch
  std::chrono::nanoseconds monotonic{0};
  std::string workload;  // acted on
  std::string cgroup_path;
  std::string victim;  // the latency-critical workload whose objective drove it
  std::string action;
  std::string reason;
  nlohmann::json before = nlohmann::json::object();  // signals before (see Signals JSON)
  nlohmann::json after = nlohmann::json::object();   // after, when known
  std::string result;
  std::string cpus;  // exclusive CPUs granted/released, cpu-list format
};

nlohmann::json DecisionToJson(const Decision& d);
Decision DecisionFromJson(const nlohmann::json& j);
// One line for the agent log: "grant-exclusive /lc-web (for /lc-web) applied cpus=2-3: <reason>"
std::string FormatDecision(const Decision& d);
// "2026-11-25T12:00:00.123Z"
std::string FormatWallTime(std::chrono::nanoseconds wall);

class DecisionSink {
 public:
  virtual ~DecisionSink() = default;
  virtual void Write(const Decision& d) = 0;
};

// Appends one JSON object per line and flushes each, so a crash loses at most the line being
// written. Open() creates the directory's file, it does not create the directory.
class JsonLinesFileSink final : public DecisionSink {
 public:
  static Result<std::unique_ptr<JsonLinesFileSink>> Open(const std::string& path);
  ~JsonLinesFileSink() override;
  void Write(const Decision& d) override;
  const std::string& path() const { return path_; }
  // Write errors (disk full) are counted, not thrown: the control loop must keep running.
  uint64_t write_errors() const { return write_errors_; }

 private:
  JsonLinesFileSink(std::string path, FILE* f) : path_(std::move(path)), file_(f) {}
  std::string path_;
  FILE* file_;
  std::mutex mu_;
  uint64_t write_errors_ = 0;
};

class MemorySink final : public DecisionSink {
 public:
  void Write(const Decision& d) override { records.push_back(d); }
  std::vector<Decision> records;
};

// Name of the audit log inside the state dir.
inline constexpr const char* kAuditLogName = "decisions.jsonl";

}  // namespace sw
