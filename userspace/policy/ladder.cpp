#include "policy/ladder.h"

#include <algorithm>

#include "cgroup/container.h"

namespace sw {

const char* RungStateName(RungState s) {
  switch (s) {
    case RungState::kUntried:
      return "untried";
    case RungState::kVerifying:
      return "verifying";
    case RungState::kHeld:
      return "held";
    case RungState::kFailed:
      return "failed";
  }
  return "?";
}

void Streak::Observe(const IntervalSignals& s, std::chrono::nanoseconds slo, double relief_margin,
                     std::chrono::nanoseconds now) {
  if (s.violated) {
    violations++;
    violation_intervals_total++;
    evidence |= s.evidence;
    throttled |= s.throttled > 0;
  } else {
    violations = 0;
    evidence = throttled = false;
    self_throttled_reported = rate_limit_reported = false;
  }
  // "Held with margin" starts the relief clock; merely meeting the objective stops it.
  const bool calm = !s.violated && (s.samples == 0 || static_cast<double>(s.p99_ns) <=
                                                          slo.count() * (1.0 - relief_margin));
  if (!calm)
    calm_since.reset();
  else if (!calm_since)
    calm_since = now - s.elapsed;
}

const char* Streak::Name(const IntervalSignals& last, int k) const {
  if (!last.violated) return last.samples == 0 ? "no-samples" : "ok";
  if (Interfered(k)) return "interfered";
  if (SelfThrottled(k)) return "self-throttled";
  return "violated";
}

void Ladder::DemotionApplied(std::optional<Verification> verify) {
  verification = std::move(verify);
  demotion = verification ? RungState::kVerifying : RungState::kHeld;
}

void Ladder::DemotionFailed() { demotion = RungState::kFailed; }

void Ladder::Granted(CpuSet set, int count, std::optional<Verification> verify) {
  cpus = std::move(set);
  exclusive_count = count;
  verification = std::move(verify);
  exclusive = verification ? RungState::kVerifying : RungState::kHeld;
}

void Ladder::GrantRefused() { exclusive = RungState::kFailed; }

void Ladder::MeasuredAfter(const LatencyHistogram& runq) {
  if (!verification) return;
  verification->after.Merge(runq);
  verification->intervals_left--;
}

void Ladder::Verified(bool demotion_step, bool improved) {
  verification.reset();
  RungState& rung = demotion_step ? demotion : exclusive;
  const bool holds = demotion_step ? !demoted.empty() : exclusive_count > 0;
  rung = !improved ? RungState::kFailed : holds ? RungState::kHeld : RungState::kUntried;
}

void Ladder::Adopted(CpuSet set, std::set<std::string> neighbours) {
  if (!set.empty()) {
    exclusive_count = static_cast<int>(set.size());
    cpus = std::move(set);
    exclusive = RungState::kHeld;
  }
  if (!neighbours.empty()) {
    demoted = std::move(neighbours);
    demotion = RungState::kHeld;
  }
}

void Ladder::Released() {
  cpus.clear();
  exclusive_count = 0;
  if (exclusive != RungState::kFailed) exclusive = RungState::kUntried;
}

void Ladder::Restored() {
  demoted.clear();
  if (demotion != RungState::kFailed) demotion = RungState::kUntried;
}

void Ladder::NeighbourGone(const std::string& neighbour) {
  demoted.erase(neighbour);
  if (demoted.empty() && demotion == RungState::kHeld) demotion = RungState::kUntried;
}

void Ladder::EpisodeOver() {
  if (demotion == RungState::kFailed) demotion = RungState::kUntried;
  if (exclusive == RungState::kFailed) exclusive = RungState::kUntried;
  exhausted_reported = false;
}

void Ladder::Abandon() {
  verification.reset();
  if (demotion == RungState::kVerifying) demotion = RungState::kUntried;
  if (exclusive == RungState::kVerifying) exclusive = RungState::kUntried;
}

}  // namespace sw

namespace sw {
namespace {

std::vector<std::string> Parts(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool Under(const std::string& path, const std::string& dir) {
  const std::vector<std::string> p = Parts(path), d = Parts(dir);
  return p.size() >= d.size() && std::equal(d.begin(), d.end(), p.begin());
}

}  // namespace

DemotionLevel DemotionLevelFor(const std::string& victim, const std::string& aggressor,
                               const std::vector<std::string>& others) {
  const std::vector<std::string> v = Parts(victim), a = Parts(aggressor);
  size_t n = 0;
  while (n < v.size() && n < a.size() && v[n] == a[n]) n++;
  if (n == a.size())
    return {"", "the victim's cgroup is inside " + aggressor +
                    ": no level separates them, SCHED_IDLE threads only"};
  std::string child;
  for (size_t i = 0; i <= n; i++) child += "/" + a[i];
  if (IsKubeletQosLevel(child))
    return {"", "the level separating it from the victim is " + child +
                    ", which kubelet owns (not written): SCHED_IDLE threads only"};
  if (n + 1 == a.size()) return {aggressor, ""};
  for (const std::string& o : others)
    if (Under(o, child) && !Under(o, aggressor))
      return {aggressor, child + " separates it from the victim but also holds " + o +
                             ": cpu.idle on its own cgroup"};
  return {child, "cpu.idle on " + child + ", the level separating it from the victim"};
}

}  // namespace sw
