// The closed control loop, as pure logic: every interval it takes the collector's Snapshot and
// its IntervalDelta (computed once by the agent, shared with the status file's rates),
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
// The pieces: signals.h (snapshots -> per-interval signals), ladder.h (the per-victim state
// machine), governor.h (cool-down, rate limit); this class wires them to the Actuator.
//
// Deterministic: time comes from a Clock, the machine is touched only through an Actuator, there
// are no sleeps and no I/O besides the DecisionSink and the classifier's sources, which Step()
// reads before it takes the lock (Classifier::Gather). Thread-safe: Step() runs on the agent loop,
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
#include "collect/interval_delta.h"
#include "collect/snapshot.h"
#include "common/clock.h"
#include "common/cpulist.h"
#include "config/config.h"
#include "policy/actuator.h"
#include "policy/classifier.h"
#include "policy/decision.h"
#include "policy/governor.h"
#include "policy/ladder.h"
#include "policy/signals.h"
#include "policy/status.h"
#include "topology/exclusive_capacity.h"

namespace sw {

// What one latency-critical victim held when the agent stopped with a handover: its exclusive
// CPUs and the best-effort neighbours demoted for it (with their cgroup paths).
struct AdoptedHold {
  std::string workload, cgroup_path;
  CpuSet cpus;
  std::map<std::string, std::string> demoted;  // neighbour -> cgroup path
};
std::string AdoptedHoldsToJson(const std::vector<AdoptedHold>& holds);
Result<std::vector<AdoptedHold>> AdoptedHoldsFromJson(const std::string& text);

class Controller {
 public:
  // actuator may be null only in observe and dry-run modes (with a null actuator, enforce
  // behaves as dry-run); sink may be null.
  // machine: the CPU topology, for the exclusive capacity (the same ExclusiveCapacity the
  // allocator enforces), sizing in whole cores and the shared-pool gauge.
  Controller(Config config, const Classifier& classifier, Actuator* actuator, DecisionSink* sink,
             const Clock& clock, const Topology& machine);

  // One control interval on the newest snapshot and what changed since the previous one
  // (IntervalTracker; null when there is no previous snapshot). The first call only sets the
  // baseline (and grants `always` workloads with a fixed exclusive_cpus). Returns the decisions
  // made, already written to the sink.
  std::vector<Decision> Step(const Snapshot& snapshot, const IntervalDelta* delta);
  // True when the next Step is needed at the interval's pace: a workload has a run-queue
  // objective (its violations count in intervals), or something is held or being verified.
  // Otherwise the agent may run the loop at its idle_interval.
  bool NeedsInterval() const;
  // Undoes everything the controller did (exclusive CPUs first, then best-effort demotions),
  // ignoring cool-down and rate limit. Call on SIGTERM before the journal restore.
  std::vector<Decision> Shutdown();

  // Handover: what the victims hold now (for the marker), and, in the next agent before its
  // first Step, taking it over. Adopted workloads keep their holds as "held" if the first Step
  // finds them with the same class; otherwise they are released/restored as when a workload
  // vanishes or changes class (decisions emitted, actuator called).
  std::vector<AdoptedHold> Held() const;
  void Adopt(const std::vector<AdoptedHold>& holds);

  StatusModel Status() const;
  // (action, workload, result) -> count, for schedwarden_actions_total.
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> ActionCounts() const;
  EnforcementMode mode() const { return config_.enforcement.mode; }
  // A change the enforcer gave up because another writer (kubelet) rewrote the file since
  // (enforce/drift.h): written to the audit log as action "drift", result "yielded", counted by
  // kind (the file's name). workload may be "" (the shield's own changes).
  std::vector<Decision> RecordDrift(const std::string& workload, const std::string& path,
                                    const std::string& kind, const std::string& wrote,
                                    const std::string& found);
  // kind -> count, for schedwarden_enforcement_drift_total.
  std::map<std::string, uint64_t> DriftCounts() const;
  // CPUs kubelet's CPU manager assigned to Guaranteed containers (cpu -> "container c of pod
  // uid"). At the next Step a workload holding any of them gives its exclusive CPUs back (the
  // allocator no longer grants them); it may be granted others later, as any released workload.
  void SetKubeletCpus(std::map<int, std::string> owners);
  // Lines for the agent's log since the last call: pod annotations found bad (or valid again),
  // once per change.
  std::vector<std::string> TakeNotices();

 private:
  struct Workload {
    std::string workload, cgroup_path;
    Classification cls;
    std::chrono::nanoseconds classified_at{0};
    double cpus_received = 0;  // by its cgroup, nested workloads' cgroups included
    // Latency-watched workloads.
    std::deque<IntervalSignals> history;  // newest last, at most K intervals
    std::deque<double> cpu_history;       // CPUs received, newest last, at most 2K intervals
    std::optional<IntervalSignals> last;
    Streak streak;
    Ladder ladder;  // latency-critical victims
    // Best-effort workloads: the victims holding a demotion (restore when the last lets go).
    std::set<std::string> demoted_by;
    bool adopted = false;  // from a handover, not classified yet
  };
  Workload& AdoptedState(const std::string& name, const std::string& path, WorkloadClass cls);

  // Step's phases. GatherFacts runs first, without the lock: the classifier's I/O for the
  // workloads due for (re)classification, which are exactly the keys of its result.
  using Facts = std::map<std::string, WorkloadFacts>;
  Facts GatherFacts(const Snapshot& snap) const;
  void Reclassify(const Snapshot& snap, const Facts& facts, std::vector<Decision>& out);
  void Classify(const Snapshot& snap, const Facts& facts, std::chrono::nanoseconds now);
  void ReleaseKubeletCpus(std::vector<Decision>& out);
  void NoteAnnotationProblems(const std::string& workload, const Classification* before,
                              const Classification& now);
  void Baseline(std::vector<Decision>& out);
  void Observe(const IntervalDelta& delta);
  void Act(Workload& st, std::vector<Decision>& out);
  // Ladder transitions with their actuator calls.
  void Judge(Workload& st, std::vector<Decision>& out);
  void Escalate(Workload& st, std::vector<Decision>& out);
  // Rung 1; false: no best-effort neighbour to demote (go on to rung 2).
  bool DemoteNeighbours(Workload& st, const std::string& why, uint64_t baseline,
                        std::vector<Decision>& out);
  bool DemoteOne(Workload& st, Workload& be, const std::string& why, std::vector<Decision>& out);
  void ReportExhausted(Workload& st, const std::string& why, std::vector<Decision>& out);
  void ReportSelfThrottled(Workload& st, std::vector<Decision>& out);
  void Relieve(Workload& st, std::vector<Decision>& out);
  // verify: what to verify when granted (Escalate); none: hold without verification.
  bool TryGrant(Workload& st, const std::string& reason, std::vector<Decision>& out,
                std::optional<Verification> verify = std::nullopt);
  bool ApplyGrant(Workload& st, Decision d, int request, std::optional<Verification> verify,
                  std::vector<Decision>& out);
  bool ReleaseExclusive(Workload& st, const std::string& reason, std::vector<Decision>& out);
  void EmitRefusal(Workload& st, Decision d, std::vector<Decision>& out);
  void RestoreNeighbours(Workload& victim, const std::string& reason, std::vector<Decision>& out);
  void RestoreOne(Workload& be, Decision d, std::vector<Decision>& out);
  void Forget(const std::string& workload, const std::string& reason, std::vector<Decision>& out);

  std::string EscalationReason(const Workload& st, uint64_t baseline) const;
  std::optional<Verification> VerifyFrom(uint64_t baseline) const;
  int ExclusiveInUse() const;       // CPUs
  int ExclusiveCoresInUse() const;  // whole cores
  Decision Make(const Workload& st, const char* action, std::string reason) const;
  void Emit(Decision d, std::vector<Decision>& out);
  bool Enforcing() const { return config_.enforcement.mode == EnforcementMode::kEnforce; }
  std::optional<std::chrono::nanoseconds> SloOf(const Workload& st) const;
  bool Watched(const Workload& st) const;
  WorkloadStatus StatusOf(const Workload& st) const;

  Config config_;
  const Classifier& classifier_;
  Actuator* actuator_;
  DecisionSink* sink_;
  const Clock& clock_;
  ExclusiveCapacity capacity_;
  int cpu_count_;

  mutable std::mutex mu_;
  Governor governor_;
  bool started_ = false;  // the baseline interval is done
  std::map<std::string, Workload> states_;
  std::deque<Decision> recent_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> counts_;
  std::map<std::string, uint64_t> drift_counts_;
  uint64_t intervals_ = 0;
  std::chrono::nanoseconds now_{0}, last_wall_{0};
  // Scratch of the current Step: preemption deltas (victim, aggressor) and class changes.
  std::map<std::pair<std::string, std::string>, uint64_t> preempt_delta_;
  std::map<std::string, Classification> pending_reclass_;
  std::vector<std::string> notices_;
  std::map<int, std::string> kubelet_cpus_;
};

}  // namespace sw
