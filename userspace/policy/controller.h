// The closed control loop, as pure logic: every interval it takes the collector's Snapshot,
// computes per latency-critical workload the run-queue p99 (wakeup + preempted waits, throttle
// waits excluded), preemptions by lower classes, CPU received and own CFS throttling, and decides:
//
//   interference = objective violated K consecutive intervals AND others caused it (preempted by a
//                  lower class, or waited while lower classes used >= neighbour_cpu_threshold CPUs)
//   self-throttled = violated K intervals, only own quota throttling to blame: reported, no action
//   ladder       = (1) demote best-effort neighbours, (2) exclusive CPUs sized to recent demand
//                  in whole cores, within ExclusiveCapacity (the allocator's own limits)
//   verification = after each action, p99 over the next M intervals vs the K intervals before; not
//                  improved by improvement_margin (and objective still missed) -> revert that step
//   relief       = objective held with relief_margin for relief_window -> release exclusive CPUs;
//                  another window -> restore best-effort neighbours
//
// Deterministic: time comes from a Clock, the machine is touched only through an Actuator, there
// are no sleeps and no I/O besides the DecisionSink. Thread-safe: Step() runs on the agent loop,
// Status()/ActionCounts() may be called from the metrics or status endpoint concurrently.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "collect/histogram.h"
#include "collect/snapshot.h"
#include "common/clock.h"
#include "common/cpulist.h"
#include "config/config.h"
#include "policy/actuator.h"
#include "policy/classifier.h"
#include "policy/decision.h"
#include "policy/status.h"
#include "topology/exclusive_capacity.h"

namespace sw {

// One latency-watched workload's signals over one interval.
struct IntervalSignals {
  LatencyHistogram runq;  // delta of runq_wakeup + runq_preempted
  uint64_t samples = 0;
  uint64_t p99_ns = 0;
  uint64_t preemptions_by_lower = 0;
  double cpus_received = 0;  // cpu_usage_ns delta / interval
  // Mean CPUs received over the last K intervals and over the K before them: a victim squeezed
  // by neighbours receives less than it used to ("10 cores became 6").
  double cpus_window = 0, cpus_prev_window = 0;
  bool has_prev_window = false;  // enough history for cpus_prev_window
  double lower_class_cpus = 0;   // CPUs used by lower-class workloads (nested cgroups once)
  uint64_t throttled = 0;        // max(cpu.stat nr_throttled delta, BPF throttle_events delta)
  std::chrono::nanoseconds elapsed{0};
  bool violated = false;
  bool evidence = false;  // others caused it
};

// JSON object with the numbers behind a decision (keys: runq_p99_ns, runq_samples, slo_ns,
// preemptions_by_lower, cpus_received, lower_class_cpus, throttled).
nlohmann::json SignalsToJson(const IntervalSignals& s, std::optional<std::chrono::nanoseconds> slo);

class Controller {
 public:
  // actuator may be null only in observe and dry-run modes (with a null actuator, enforce
  // behaves as dry-run); sink may be null.
  // machine: the CPU topology, for the exclusive capacity (the same ExclusiveCapacity the
  // allocator enforces), sizing in whole cores and the shared-pool gauge.
  Controller(Config config, const Classifier& classifier, Actuator* actuator, DecisionSink* sink,
             const Clock& clock, const Topology& machine);

  // One control interval on the newest snapshot (the previous one is kept inside). The first
  // call only sets the baseline (and grants `always` workloads with a fixed exclusive_cpus).
  // Returns the decisions made, already written to the sink.
  std::vector<Decision> Step(const Snapshot& snapshot);
  // Undoes everything the controller did (exclusive CPUs first, then best-effort demotions),
  // ignoring cool-down and rate limit. Call on SIGTERM before the journal restore.
  std::vector<Decision> Shutdown();

  StatusModel Status() const;
  // (action, workload, result) -> count, for schedwarden_actions_total.
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> ActionCounts() const;
  EnforcementMode mode() const { return config_.enforcement.mode; }

 private:
  struct Pending {  // an action waiting for verification
    enum class Step { kDemote, kExclusive } step;
    uint64_t baseline_p99_ns = 0;
    LatencyHistogram after;
    int intervals_left = 0;
  };
  struct State {
    std::string workload, cgroup_path;
    Classification cls;
    std::chrono::nanoseconds classified_at{0};
    // Latency-watched workloads.
    std::deque<IntervalSignals> history;  // newest last, at most K intervals
    std::deque<double> cpu_history;       // CPUs received, newest last, at most 2K intervals
    IntervalSignals last;
    bool has_last = false;
    int violation_streak = 0;
    bool evidence_in_streak = false, throttled_in_streak = false;
    uint64_t violation_intervals_total = 0;
    std::string state;
    bool self_throttled_reported = false, exhausted_reported = false, rate_limit_reported = false;
    std::string last_refusal;       // last exclusive refusal reported
    std::set<std::string> demoted;  // best-effort workloads demoted on this victim's behalf
    bool demote_failed = false, exclusive_failed = false;
    CpuSet exclusive;
    int exclusive_count = 0;  // == exclusive.size() in enforce; decided count in dry-run
    std::optional<Pending> pending;
    std::optional<std::chrono::nanoseconds> calm_since, last_action_at;
    // Best-effort workloads: the victims holding a demotion (restore when the last lets go).
    std::set<std::string> demoted_by;
    double cpus_received = 0;  // by its cgroup, nested workloads' cgroups included
    double own_cpus = 0;       // cpus_received minus the nested workloads': each CPU counted once
    uint64_t preempted_victim = 0;  // scratch: preemptions of the current victim
  };

  void Classify(const Snapshot& snap, std::chrono::nanoseconds now);
  void ComputeOwnCpus();
  IntervalSignals Measure(const State& st, const WorkloadSample& cur, const WorkloadSample* prev,
                          std::chrono::nanoseconds elapsed) const;
  void Judge(State& st, std::vector<Decision>& out);
  void Escalate(State& st, std::vector<Decision>& out);
  void Relieve(State& st, std::vector<Decision>& out);
  bool TryGrant(State& st, const std::string& reason, std::vector<Decision>& out);
  bool ReleaseExclusive(State& st, const std::string& reason, std::vector<Decision>& out);
  void EmitRefusal(State& st, Decision d, std::vector<Decision>& out);
  void RestoreNeighbours(State& victim, const std::string& reason, std::vector<Decision>& out);
  void Forget(const std::string& workload, const std::string& reason, std::vector<Decision>& out);

  bool CooledDown(const State& st) const;
  int RateBudget();  // actions still allowed in the current minute
  void NoteAction(State* st);
  int ExclusiveInUse() const;       // CPUs
  int ExclusiveCoresInUse() const;  // whole cores
  Decision Make(const State& st, const char* action, std::string reason) const;
  void Emit(Decision d, std::vector<Decision>& out);
  bool Enforcing() const { return config_.enforcement.mode == EnforcementMode::kEnforce; }
  std::optional<std::chrono::nanoseconds> SloOf(const State& st) const;
  bool Watched(const State& st) const;

  Config config_;
  const Classifier& classifier_;
  Actuator* actuator_;
  DecisionSink* sink_;
  const Clock& clock_;
  ExclusiveCapacity capacity_;
  int cpu_count_;

  mutable std::mutex mu_;
  std::optional<Snapshot> prev_;
  std::map<std::string, State> states_;
  std::deque<std::chrono::nanoseconds> action_times_;  // actuator calls in the last minute
  std::deque<Decision> recent_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> counts_;
  uint64_t intervals_ = 0;
  std::chrono::nanoseconds now_{0}, last_wall_{0};
  // Scratch of the current Step: preemption deltas (victim, aggressor) and class changes.
  std::map<std::pair<std::string, std::string>, uint64_t> preempt_delta_;
  std::map<std::string, Classification> pending_reclass_;
};

}  // namespace sw
