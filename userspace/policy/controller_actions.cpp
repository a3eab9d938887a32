// The controller's actuator calls, each with its decision record: demoting and restoring
// best-effort neighbours, granting and releasing exclusive CPUs. Every call is paced by the
// governor and followed by the matching ladder transition.
#include <algorithm>
#include <cerrno>
#include <cmath>

#include "policy/controller.h"  // the Controller's member functions, split by concern

namespace sw {

bool Controller::DemoteNeighbours(Workload& st, const std::string& why, uint64_t baseline,
                                  std::vector<Decision>& out) {
  std::vector<Workload*> fresh, shared;
  for (auto& [name, be] : states_) {
    if (be.cls.cls != WorkloadClass::kBestEffort || be.demoted_by.count(st.workload)) continue;
    const bool ran = be.cpus_received > 0 || preempt_delta_.count({st.workload, name});
    if (!ran) continue;
    (be.demoted_by.empty() ? fresh : shared).push_back(&be);
  }
  if (fresh.empty() && shared.empty()) return false;
  if (static_cast<int>(fresh.size()) > governor_.Budget() && governor_.AnyRecent()) {
    if (!st.streak.rate_limit_reported) {
      st.streak.rate_limit_reported = true;
      Decision d =
          Make(st, action::kDemote,
               why + "; deferred: " + std::to_string(fresh.size()) +
                   " demotions exceed the rate limit (" +
                   std::to_string(governor_.max_actions_per_minute()) + " changes per minute)");
      d.result = result::kRateLimited;
      Emit(std::move(d), out);
    }
    return true;
  }
  for (Workload* be : shared) {  // already demoted for another victim: just hold it too
    be->demoted_by.insert(st.workload);
    st.ladder.Demoted(be->workload);
  }
  for (Workload* be : fresh) DemoteOne(st, *be, why, out);
  if (st.ladder.demoted.empty()) {
    st.ladder.DemotionFailed();  // every demotion failed: go up the ladder next time
    return true;
  }
  governor_.Pace(st.workload);
  st.ladder.DemotionApplied(VerifyFrom(baseline));
  return true;
}

bool Controller::DemoteOne(Workload& st, Workload& be, const std::string& why,
                           std::vector<Decision>& out) {
  Decision d = Make(be, action::kDemote, why);
  d.victim = st.workload;
  d.before = SignalsToJson(*st.last, SloOf(st));
  d.before["best_effort_cpus"] = be.cpus_received;
  auto pd = preempt_delta_.find({st.workload, be.workload});
  d.before["preempted_victim"] = pd == preempt_delta_.end() ? 0 : pd->second;
  std::vector<std::string> others;
  for (const auto& [name, o] : states_)
    if (name != be.workload) others.push_back(o.cgroup_path);
  const DemotionLevel level = DemotionLevelFor(st.cgroup_path, be.cgroup_path, others);
  if (!level.note.empty()) d.reason += "; " + level.note;
  d.after["idle_cgroup"] = level.idle_cgroup;
  bool held = true;
  if (!Enforcing()) {
    d.result = result::kDryRun;
  } else if (auto r = actuator_->DemoteBestEffortAt(be.workload, be.cgroup_path, level.idle_cgroup);
             !r) {
    d.result = result::kFailed;
    d.reason += "; " + r.error().message;
    held = false;
  } else {
    d.result = result::kApplied;
  }
  governor_.NoteAction(st.workload);
  if (held) {
    be.demoted_by.insert(st.workload);
    st.ladder.Demoted(be.workload);
  }
  Emit(std::move(d), out);
  return held;
}

bool Controller::TryGrant(Workload& st, const std::string& reason, std::vector<Decision>& out,
                          std::optional<Verification> verify) {
  double demand = 0;
  for (const auto& h : st.history) demand += h.cpus_received;
  if (!st.history.empty()) demand /= static_cast<double>(st.history.size());
  const int tpc = capacity_.threads_per_core();
  // Exclusive CPUs are whole cores. Measured demand is rounded up to whole cores; a fixed
  // exclusive_cpus below one core is the operator's choice: refused with a warning and the
  // workload stays shared (the allocator's rule), one that is not whole cores is rounded up.
  const int asked =
      st.cls.exclusive_cpus.value_or(std::max(1, static_cast<int>(std::ceil(demand - 1e-6))));
  int cores = capacity_.CoresFor(asked);
  int request = cores * tpc;
  const int in_use = ExclusiveCoresInUse();
  const int remaining = capacity_.max_cores() - in_use;
  Decision d = Make(st, action::kGrant, reason);
  d.before =
      st.last ? SignalsToJson(*st.last, SloOf(st)) : SignalsToJson(IntervalSignals{}, SloOf(st));
  d.before["demand_cpus"] = demand;
  d.before["requested_cpus"] = request;
  governor_.Pace(st.workload);  // refusals are paced by the cool-down too
  if (st.cls.exclusive_cpus && asked < tpc) {
    d.result = result::kRefused;
    d.reason += "; refused: exclusive_cpus " + std::to_string(asked) +
                " is less than one physical core (" + std::to_string(tpc) +
                " threads); exclusive CPUs are whole cores, so it stays in the shared pool";
    st.ladder.GrantRefused();
    EmitRefusal(st, std::move(d), out);
    return false;
  }
  if (request != asked)
    d.reason += "; " + std::to_string(asked) + " CPU(s) rounded up to " + std::to_string(cores) +
                " whole core(s) = " + std::to_string(request) + " CPUs";
  if (remaining <= 0) {
    d.result = result::kRefused;
    d.reason += "; refused: " + std::to_string(request) + " CPUs requested but the caps allow " +
                capacity_.Describe() + "; " + std::to_string(in_use) + " core(s) in use";
    st.ladder.GrantRefused();
    EmitRefusal(st, std::move(d), out);
    return false;
  }
  if (cores > remaining) {
    d.reason += "; capped from " + std::to_string(request) + " to " +
                std::to_string(remaining * tpc) + " CPUs by " + capacity_.binding_key() + " (" +
                capacity_.Describe() + "; " + std::to_string(in_use) + " core(s) in use)";
    cores = remaining;
    request = cores * tpc;
  }
  return ApplyGrant(st, std::move(d), request, std::move(verify), out);
}

bool Controller::ApplyGrant(Workload& st, Decision d, int request,
                            std::optional<Verification> verify, std::vector<Decision>& out) {
  if (governor_.Budget() < 1) {
    if (!st.streak.rate_limit_reported) {
      st.streak.rate_limit_reported = true;
      d.reason += "; deferred by the rate limit (" +
                  std::to_string(governor_.max_actions_per_minute()) + " per minute)";
      d.result = result::kRateLimited;
      Emit(std::move(d), out);
    }
    return false;
  }
  if (!Enforcing()) {
    d.result = result::kDryRun;
    st.ladder.Granted({}, request, std::move(verify));
    d.after = {{"exclusive_cpus", request}};
    governor_.NoteAction(st.workload);
    Emit(std::move(d), out);
    return true;
  }
  auto r = actuator_->GrantExclusive(st.workload, st.cgroup_path, request);
  if (!r) {
    d.result = r.error().code == kCapacityRefused ? result::kRefused : result::kFailed;
    d.reason += "; " + std::string(d.result) + ": " + r.error().message;
    st.ladder.GrantRefused();
    EmitRefusal(st, std::move(d), out);
    return false;
  }
  st.ladder.last_refusal.clear();
  st.ladder.Granted(*r, static_cast<int>(r->size()), std::move(verify));
  d.cpus = FormatCpuList(*r);
  d.after = {{"exclusive_cpus", st.ladder.exclusive_count}, {"cpus", d.cpus}};
  d.result = result::kApplied;
  governor_.NoteAction(st.workload);
  Emit(std::move(d), out);
  return true;
}

bool Controller::ReleaseExclusive(Workload& st, const std::string& reason,
                                  std::vector<Decision>& out) {
  if (st.ladder.exclusive_count == 0) return false;
  Decision d = Make(st, action::kRelease, reason);
  d.cpus = FormatCpuList(st.ladder.cpus);
  d.before = {{"exclusive_cpus", st.ladder.exclusive_count}};
  if (st.last) d.before.update(SignalsToJson(*st.last, SloOf(st)));
  d.after = {{"exclusive_cpus", 0}};
  if (!Enforcing()) {
    d.result = result::kDryRun;
  } else if (auto r = actuator_->ReleaseExclusive(st.workload, st.cgroup_path); !r) {
    // The state is dropped anyway: retrying every interval would not help, and the journal
    // still holds the original values for `schedwarden restore`.
    d.result = result::kFailed;
    d.reason += "; " + r.error().message;
  } else {
    d.result = result::kApplied;
  }
  st.ladder.Released();
  governor_.NoteAction(st.workload);
  Emit(std::move(d), out);
  return true;
}

void Controller::RestoreNeighbours(Workload& victim, const std::string& reason,
                                   std::vector<Decision>& out) {
  for (const std::string& name : victim.ladder.demoted) {
    auto it = states_.find(name);
    if (it == states_.end()) continue;
    Workload& be = it->second;
    be.demoted_by.erase(victim.workload);
    if (!be.demoted_by.empty()) continue;  // another victim still needs it demoted
    Decision d = Make(be, action::kRestore, reason);
    d.victim = victim.workload;
    if (victim.last) d.before = SignalsToJson(*victim.last, SloOf(victim));
    RestoreOne(be, std::move(d), out);
    governor_.Pace(victim.workload);
  }
  victim.ladder.Restored();
}

// Gives be its priority back (the actuator call, counted against the rate limit) and emits d.
void Controller::RestoreOne(Workload& be, Decision d, std::vector<Decision>& out) {
  if (!Enforcing()) {
    d.result = result::kDryRun;
  } else if (auto r = actuator_->RestoreBestEffort(be.workload, be.cgroup_path); !r) {
    d.result = result::kFailed;
    d.reason += "; " + r.error().message;
  } else {
    d.result = result::kApplied;
  }
  governor_.NoteAction();
  Emit(std::move(d), out);
}

std::vector<Decision> Controller::RecordDrift(const std::string& workload, const std::string& path,
                                              const std::string& kind, const std::string& wrote,
                                              const std::string& found) {
  std::lock_guard<std::mutex> lock(mu_);
  Decision d;
  d.wall = clock_.Wall();
  d.monotonic = clock_.Monotonic();
  d.workload = workload;
  auto it = states_.find(workload);
  if (it != states_.end()) d.cgroup_path = it->second.cgroup_path;
  d.action = action::kDrift;
  d.reason = path + " reads '" + found + "' but the agent wrote '" + wrote +
             "': rewritten by its owner (kubelet?); its value is kept, the agent's change is given "
             "up (not re-applied, not restored)";
  d.before = {{"file", path}, {"written", wrote}};
  d.after = {{"file", path}, {"found", found}};
  d.result = result::kYielded;
  drift_counts_[kind]++;
  std::vector<Decision> out;
  Emit(std::move(d), out);
  return out;
}

std::map<std::string, uint64_t> Controller::DriftCounts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return drift_counts_;
}

}  // namespace sw
