// The per-victim escalation ladder as a state machine. A latency-critical victim's interference
// is answered rung by rung: (1) demote best-effort neighbours, (2) exclusive CPUs. Each rung is in
// one RungState; the transitions below are the only writers. The controller calls the actuator
// and then the matching transition (docs/architecture.md has the table).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collect/histogram.h"
#include "common/cpulist.h"
#include "policy/signals.h"

namespace sw {

enum class RungState : uint8_t {
  kUntried,    // may be tried on the next interference
  kVerifying,  // applied; p99 over the next M intervals decides
  kHeld,       // applied and kept (verified, or dry-run)
  kFailed,     // refused, failed or reverted: skipped until the episode ends
};
const char* RungStateName(RungState s);

// The observation of one latency-watched workload across intervals.
struct Streak {
  int violations = 0;  // consecutive violated intervals
  uint64_t violation_intervals_total = 0;
  bool evidence = false, throttled = false;  // in the current streak
  // Reported once per streak.
  bool self_throttled_reported = false, rate_limit_reported = false;
  std::optional<std::chrono::nanoseconds> calm_since;  // held with margin since

  // Folds one interval in. relief_margin: "calm" is p99 <= slo * (1 - relief_margin).
  void Observe(const IntervalSignals& s, std::chrono::nanoseconds slo, double relief_margin,
               std::chrono::nanoseconds now);
  bool Interfered(int k) const { return violations >= k && evidence; }
  bool SelfThrottled(int k) const { return violations >= k && throttled; }
  // "no-samples", "ok", "interfered", "self-throttled" or "violated" (status `state`).
  const char* Name(const IntervalSignals& last, int k) const;
};

struct Verification {
  uint64_t baseline_p99_ns = 0;
  LatencyHistogram after;
  int intervals_left = 0;
};

struct Ladder {
  RungState demotion = RungState::kUntried, exclusive = RungState::kUntried;
  std::set<std::string> demoted;  // best-effort workloads demoted on this victim's behalf
  CpuSet cpus;                    // exclusive CPUs (enforce)
  int exclusive_count = 0;        // == cpus.size() in enforce; decided count in dry-run
  std::optional<Verification> verification;  // set iff a rung is kVerifying
  bool exhausted_reported = false;           // nothing-left report made in this episode
  std::string last_refusal;                  // last exclusive refusal reported (the caller's)

  bool Verifying() const { return verification.has_value(); }
  // Transitions. verify: start a verification with that baseline (enforce) instead of holding.
  void Demoted(const std::string& neighbour) { demoted.insert(neighbour); }
  void DemotionApplied(std::optional<Verification> verify);  // untried -> verifying | held
  void DemotionFailed();                                     // untried -> failed
  void Granted(CpuSet set, int count, std::optional<Verification> verify);  // -> verifying|held
  void GrantRefused();                                                      // -> failed
  void MeasuredAfter(const LatencyHistogram& runq);  // one interval of the verification window
  // verifying -> held (improved), or -> failed after the caller reverted the rung.
  void Verified(bool demotion_step, bool improved);
  void Released();                                   // exclusive held|verifying -> untried
  void Restored();                                   // demotion held|verifying -> untried
  void NeighbourGone(const std::string& neighbour);  // held with none left -> untried
  void EpisodeOver();                                // calm with nothing held: failed -> untried
  void Abandon();                                    // shutdown: verification dropped
  // Handover: what the previous agent held for this victim, taken over as held (verified then).
  void Adopted(CpuSet set, std::set<std::string> neighbours);
};

// Where a best-effort aggressor's cpu.idle goes for one victim. cpu.idle, like a weight, only
// ranks a cgroup among its siblings, so the level that separates the two is the child of their
// lowest common ancestor on the aggressor's side. When kubelet owns that level (kubepods/
// besteffort: kubelet keeps its weight at 2 and rewrites it), nothing is written there and the
// aggressor's threads alone go SCHED_IDLE (per task, whatever the hierarchy); the verification
// then tells whether that helped, else the next rung (exclusive CPUs) is tried.
struct DemotionLevel {
  std::string idle_cgroup;  // "" = none: SCHED_IDLE threads only
  std::string note;         // why another level than the aggressor's own ("" when it is)
};
// others: the cgroups of the other known workloads; a separating level that holds one of them
// is not demoted (the aggressor's own cgroup is, as before).
DemotionLevel DemotionLevelFor(const std::string& victim, const std::string& aggressor,
                               const std::vector<std::string>& others);

}  // namespace sw
