// Test doubles for the controller: a recording Actuator and a Machine that builds real, cumulative
// Snapshots the way the collector does (LatencyHistogram::Record injects run-queue waits).
#pragma once

#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "collect/interval_delta.h"
#include "collect/snapshot.h"
#include "policy/actuator.h"
#include "policy/controller.h"
#include "support/fake_clock.h"

namespace sw::test {

// Steps a controller the way the agent does: each snapshot shared, its IntervalDelta computed once.
class ControllerFeed {
 public:
  std::vector<Decision> Step(Controller& c, const Snapshot& s) {
    auto snap = std::make_shared<const Snapshot>(s);
    auto delta = tracker_.Advance(snap);
    return c.Step(*snap, delta.get());
  }

 private:
  IntervalTracker tracker_;
};

class FakeActuator final : public Actuator {
 public:
  explicit FakeActuator(int cpus = 4) {
    for (int c = 1; c < cpus; c++) free_.insert(c);  // CPU 0 always stays shared
  }
  Result<void> DemoteBestEffort(const std::string& w, const std::string&) override {
    calls.push_back("demote " + w);
    if (fail_demote) return Error{EPERM, "sched_setattr: Operation not permitted"};
    demoted.insert(w);
    return Ok();
  }
  Result<void> DemoteBestEffortAt(const std::string& w, const std::string& cg,
                                  const std::string& idle_cgroup) override {
    idle_levels[w] = idle_cgroup;
    return DemoteBestEffort(w, cg);
  }
  Result<void> RestoreBestEffort(const std::string& w, const std::string&) override {
    calls.push_back("restore " + w);
    demoted.erase(w);
    return Ok();
  }
  Result<CpuSet> GrantExclusive(const std::string& w, const std::string&, int cpus) override {
    calls.push_back("grant " + w + " " + std::to_string(cpus));
    if (refuse) return *refuse;
    if (static_cast<int>(free_.size()) < cpus) return Error{kCapacityRefused, "no whole core free"};
    CpuSet got;
    while (static_cast<int>(got.size()) < cpus) {
      got.insert(*free_.rbegin());
      free_.erase(*free_.rbegin());
    }
    held[w] = got;
    return got;
  }
  Result<void> ReleaseExclusive(const std::string& w, const std::string&) override {
    calls.push_back("release " + w);
    for (int c : held[w]) free_.insert(c);
    held.erase(w);
    return Ok();
  }

  std::vector<std::string> calls;
  std::map<std::string, std::string> idle_levels;  // workload -> where cpu.idle went ("" none)
  std::set<std::string> demoted;
  std::map<std::string, CpuSet> held;
  std::optional<Error> refuse;
  bool fail_demote = false;

 private:
  CpuSet free_;
};

class Machine {
 public:
  static constexpr std::chrono::nanoseconds kInterval = std::chrono::milliseconds(500);

  void Add(const std::string& w) {
    WorkloadSample& s = snap.workloads[w];
    s.workload = w;
    s.cgroup_path = w;
    s.cpu_usage_ns = 0;
    s.cpu_stat = CpuStatSample{};
  }
  void Remove(const std::string& w) { snap.workloads.erase(w); }
  void Wakeups(const std::string& w, std::chrono::nanoseconds wait, uint64_t n) {
    snap.workloads.at(w).runq_wakeup.Record(wait.count(), n);
  }
  void Preempted(const std::string& w, std::chrono::nanoseconds wait, uint64_t n) {
    snap.workloads.at(w).runq_preempted.Record(wait.count(), n);
  }
  // Waits while throttled by its own quota: not run-queue latency.
  void Throttled(const std::string& w, std::chrono::nanoseconds wait, uint64_t n) {
    auto& s = snap.workloads.at(w);
    s.throttle_wait.Record(wait.count(), n);
    s.throttle_events += n;
    s.cpu_stat->nr_periods += 10;
    s.cpu_stat->nr_throttled += n;
  }
  void Cpu(const std::string& w, double cpus) {
    auto& usage = snap.workloads.at(w).cpu_usage_ns;
    if (usage) *usage += static_cast<uint64_t>(cpus * kInterval.count());  // none: no usage file
  }
  void Preempt(const std::string& victim, const std::string& aggressor, uint64_t n) {
    snap.preemptions[{victim, aggressor}] += n;
  }

  Snapshot snap;
};

}  // namespace sw::test
