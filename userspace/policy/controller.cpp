#include "policy/controller.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

#include "common/duration.h"

namespace sw {

using std::chrono::nanoseconds;

namespace {

std::string Ms(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gms", ns / 1e6);
  return buf;
}

std::string Cpus(double c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", c);
  return buf;
}

uint64_t CounterDelta(uint64_t cur, uint64_t prev) {
  // A counter that went backwards belongs to a recreated cgroup or map entry: it restarted at 0.
  return cur >= prev ? cur - prev : cur;
}

int Rank(WorkloadClass c) { return static_cast<int>(c); }

}  // namespace

nlohmann::json SignalsToJson(const IntervalSignals& s, std::optional<nanoseconds> slo) {
  nlohmann::json j;
  j["runq_p99_ns"] = s.p99_ns;
  j["runq_samples"] = s.samples;
  if (slo) j["slo_ns"] = slo->count();
  j["preemptions_by_lower"] = s.preemptions_by_lower;
  j["cpus_received"] = s.cpus_received;
  j["cpus_window"] = s.cpus_window;
  j["cpus_prev_window"] = s.has_prev_window ? nlohmann::json(s.cpus_prev_window) : nullptr;
  j["lower_class_cpus"] = s.lower_class_cpus;
  j["throttled"] = s.throttled;
  return j;
}

Controller::Controller(Config config, const Classifier& classifier, Actuator* actuator,
                       DecisionSink* sink, const Clock& clock, const Topology& machine)
    : config_(std::move(config)),
      classifier_(classifier),
      actuator_(actuator),
      sink_(sink),
      clock_(clock),
      capacity_(machine, ExclusiveLimitsOf(config_.enforcement)),
      cpu_count_(capacity_.cpus()) {
  if (!actuator_ && Enforcing()) config_.enforcement.mode = EnforcementMode::kDryRun;
}

std::optional<nanoseconds> Controller::SloOf(const State& st) const { return st.cls.slo_runq_p99; }

bool Controller::Watched(const State& st) const {
  return st.cls.slo_runq_p99 && (st.cls.cls == WorkloadClass::kLatencyCritical ||
                                 st.cls.cls == WorkloadClass::kLatencySensitive);
}

bool Controller::CooledDown(const State& st) const {
  return !st.last_action_at || now_ - *st.last_action_at >= config_.controller.cooldown;
}

int Controller::RateBudget() {
  while (!action_times_.empty() && now_ - action_times_.front() >= std::chrono::minutes(1))
    action_times_.pop_front();
  return config_.controller.max_actions_per_minute - static_cast<int>(action_times_.size());
}

void Controller::NoteAction(State* st) {
  action_times_.push_back(now_);
  if (st) st->last_action_at = now_;
}

int Controller::ExclusiveInUse() const {
  int n = 0;
  for (const auto& [_, st] : states_) n += st.exclusive_count;
  return n;
}

int Controller::ExclusiveCoresInUse() const {
  int n = 0;
  for (const auto& [_, st] : states_) n += capacity_.CoresFor(st.exclusive_count);
  return n;
}

Decision Controller::Make(const State& st, const char* act, std::string reason) const {
  Decision d;
  d.wall = clock_.Wall();
  d.monotonic = now_;
  d.workload = st.workload;
  d.cgroup_path = st.cgroup_path;
  d.victim = st.workload;
  d.action = act;
  d.reason = std::move(reason);
  return d;
}

void Controller::Emit(Decision d, std::vector<Decision>& out) {
  counts_[{d.action, d.workload, d.result}]++;
  if (config_.controller.status_actions > 0) {
    recent_.push_back(d);
    while (recent_.size() > static_cast<size_t>(config_.controller.status_actions))
      recent_.pop_front();
  }
  if (sink_) sink_->Write(d);
  out.push_back(std::move(d));
}

void Controller::EmitRefusal(State& st, Decision d, std::vector<Decision>& out) {
  // `always` workloads retry after every cool-down; the same refusal is reported once, not
  // every retry (a new reason is reported again).
  if (d.reason == st.last_refusal) return;
  st.last_refusal = d.reason;
  Emit(std::move(d), out);
}

void Controller::Classify(const Snapshot& snap, nanoseconds now) {
  for (const auto& [name, sample] : snap.workloads) {
    auto it = states_.find(name);
    const std::string& path = sample.cgroup_path.empty() ? name : sample.cgroup_path;
    if (it != states_.end() &&
        now - it->second.classified_at < config_.controller.reclassify_interval)
      continue;
    Classification c = name == kUnknownWorkload ? Classification{} : classifier_.Classify(path);
    if (it == states_.end()) {
      State st;
      st.workload = name;
      st.cgroup_path = sample.cgroup_path;
      st.cls = c;
      st.classified_at = now;
      states_.emplace(name, std::move(st));
    } else {
      it->second.classified_at = now;
      if (c.rule != it->second.cls.rule || c.cls != it->second.cls.cls) pending_reclass_[name] = c;
    }
  }
}

void Controller::ComputeOwnCpus() {
  // A cgroup's usage includes its descendants': subtract each workload's usage from its nearest
  // ancestor workload's, so that summing own_cpus counts every CPU once (the root "/" workload
  // would otherwise count the whole machine again, the victim included).
  std::map<std::string, State*> by_path;
  for (auto& [_, st] : states_) {
    st.own_cpus = st.cpus_received;
    if (!st.cgroup_path.empty() && st.cgroup_path[0] == '/') by_path[st.cgroup_path] = &st;
  }
  for (auto& [path, st] : by_path) {
    if (path == "/") continue;
    std::string up = path;
    while (true) {
      up.resize(up.rfind('/'));
      const std::string key = up.empty() ? "/" : up;
      if (auto it = by_path.find(key); it != by_path.end()) {
        it->second->own_cpus -= st->cpus_received;
        break;
      }
      if (up.empty()) break;
    }
  }
  // Counters read a moment apart can make a parent look smaller than its children.
  for (auto& [_, st] : by_path) st->own_cpus = std::max(0.0, st->own_cpus);
}

IntervalSignals Controller::Measure(const State& st, const WorkloadSample& cur,
                                    const WorkloadSample* prev, nanoseconds elapsed) const {
  IntervalSignals s;
  s.elapsed = elapsed;
  s.cpus_received = st.cpus_received;
  if (!prev) return s;  // first sighting: cumulative counts are not this interval's
  s.runq = cur.runq_wakeup.Delta(prev->runq_wakeup);
  s.runq.Merge(cur.runq_preempted.Delta(prev->runq_preempted));
  s.samples = s.runq.Count();
  s.p99_ns = s.runq.QuantileNs(0.99);
  uint64_t throttled = CounterDelta(cur.throttle_events, prev->throttle_events);
  if (cur.cpu_stat && prev->cpu_stat)
    throttled =
        std::max(throttled, CounterDelta(cur.cpu_stat->nr_throttled, prev->cpu_stat->nr_throttled));
  s.throttled = throttled;
  return s;
}

std::vector<Decision> Controller::Step(const Snapshot& snap) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ = clock_.Monotonic();
  last_wall_ = clock_.Wall();
  intervals_++;
  std::vector<Decision> out;
  const bool acting = config_.enforcement.mode != EnforcementMode::kObserve;

  // Classification, reclassification and vanished workloads. Resources held by a workload that
  // vanished or changed class are given back before anything else.
  pending_reclass_.clear();
  Classify(snap, now_);
  std::vector<std::string> gone;
  for (const auto& [name, _] : states_)
    if (!snap.workloads.count(name)) gone.push_back(name);
  for (const auto& name : gone) Forget(name, "workload vanished", out);
  for (auto& [name, c] : pending_reclass_) {
    const std::string path = states_[name].cgroup_path;
    Forget(name,
           std::string("reclassified as ") + WorkloadClassName(c.cls) +
               (c.rule_name.empty() ? "" : " (rule " + c.rule_name + ")"),
           out);
    State st;
    st.workload = name;
    st.cgroup_path = path;
    st.cls = c;
    st.classified_at = now_;
    states_.emplace(name, std::move(st));
  }

  if (!prev_) {
    prev_ = snap;
    if (acting)
      for (auto& [_, st] : states_)
        if (st.cls.cls == WorkloadClass::kLatencyCritical &&
            st.cls.exclusive == ExclusivePolicy::kAlways && st.cls.exclusive_cpus)
          TryGrant(st, "exclusive: always (at start)", out);
    return out;
  }
  const Snapshot& prev = *prev_;
  nanoseconds elapsed = snap.taken_at - prev.taken_at;
  if (elapsed.count() <= 0) elapsed = config_.interval;

  // CPU received by every workload, and preemptions in this interval.
  for (auto& [name, st] : states_) {
    st.cpus_received = 0;
    auto cur = snap.workloads.find(name);
    auto old = prev.workloads.find(name);
    if (cur == snap.workloads.end() || old == prev.workloads.end()) continue;
    if (cur->second.cpu_usage_ns && old->second.cpu_usage_ns &&
        *cur->second.cpu_usage_ns >= *old->second.cpu_usage_ns)
      st.cpus_received =
          static_cast<double>(*cur->second.cpu_usage_ns - *old->second.cpu_usage_ns) /
          static_cast<double>(elapsed.count());
  }
  ComputeOwnCpus();
  preempt_delta_.clear();
  for (const auto& [key, count] : snap.preemptions) {
    auto old = prev.preemptions.find(key);
    uint64_t d = CounterDelta(count, old == prev.preemptions.end() ? 0 : old->second);
    if (d) preempt_delta_[key] = d;
  }
  auto class_of = [this](const std::string& w) {
    auto it = states_.find(w);
    return it == states_.end() ? WorkloadClass::kNormal : it->second.cls.cls;
  };

  // Signals of every latency-watched workload.
  for (auto& [name, st] : states_) {
    if (!Watched(st)) continue;
    auto old = prev.workloads.find(name);
    IntervalSignals s = Measure(st, snap.workloads.at(name),
                                old == prev.workloads.end() ? nullptr : &old->second, elapsed);
    const int rank = Rank(st.cls.cls);
    for (const auto& [key, d] : preempt_delta_)
      if (key.first == name && key.second != name && Rank(class_of(key.second)) > rank)
        s.preemptions_by_lower += d;
    for (const auto& [other, ost] : states_)
      if (other != name && Rank(ost.cls.cls) > rank) s.lower_class_cpus += ost.own_cpus;
    const auto slo = *SloOf(st);
    s.violated = s.samples > 0 && s.p99_ns > static_cast<uint64_t>(slo.count());
    s.evidence = s.violated && (s.preemptions_by_lower > 0 ||
                                s.lower_class_cpus >= config_.controller.neighbour_cpu_threshold);
    if (s.violated) {
      st.violation_streak++;
      st.violation_intervals_total++;
      st.evidence_in_streak |= s.evidence;
      st.throttled_in_streak |= s.throttled > 0;
    } else {
      st.violation_streak = 0;
      st.evidence_in_streak = st.throttled_in_streak = false;
      st.self_throttled_reported = st.rate_limit_reported = false;
    }
    // "Held with margin" starts the relief clock; merely meeting the objective stops it.
    const bool calm = !s.violated && (s.samples == 0 ||
                                      static_cast<double>(s.p99_ns) <=
                                          slo.count() * (1.0 - config_.controller.relief_margin));
    if (!calm)
      st.calm_since.reset();
    else if (!st.calm_since)
      st.calm_since = now_ - elapsed;
    const int k = config_.controller.violation_intervals;
    if (!s.violated)
      st.state = s.samples == 0 ? "no-samples" : "ok";
    else if (st.violation_streak >= k && st.evidence_in_streak)
      st.state = "interfered";
    else if (st.violation_streak >= k && st.throttled_in_streak)
      st.state = "self-throttled";
    else
      st.state = "violated";
    st.cpu_history.push_back(s.cpus_received);
    while (st.cpu_history.size() > static_cast<size_t>(2 * k)) st.cpu_history.pop_front();
    {
      const size_t n = st.cpu_history.size(), cur = std::min<size_t>(n, k);
      double a = 0, b = 0;
      for (size_t i = 0; i < n; i++) (i + cur >= n ? a : b) += st.cpu_history[i];
      s.cpus_window = a / static_cast<double>(cur);
      s.has_prev_window = n > cur;
      s.cpus_prev_window = s.has_prev_window ? b / static_cast<double>(n - cur) : 0;
    }
    if (st.pending) {
      st.pending->after.Merge(s.runq);
      st.pending->intervals_left--;
    }
    st.history.push_back(s);
    while (st.history.size() > static_cast<size_t>(k)) st.history.pop_front();
    st.last = std::move(s);
    st.has_last = true;
  }

  if (acting) {
    for (auto& [name, st] : states_) {
      if (!Watched(st) || st.cls.cls != WorkloadClass::kLatencyCritical) continue;
      if (st.pending) {
        if (st.pending->intervals_left <= 0) Judge(st, out);
        continue;  // one change at a time: judge it before trying the next
      }
      if (st.cls.exclusive == ExclusivePolicy::kAlways && st.exclusive_count == 0 &&
          CooledDown(st)) {
        TryGrant(st, "exclusive: always", out);
        continue;
      }
      const int k = config_.controller.violation_intervals;
      if (st.violation_streak >= k && st.evidence_in_streak) {
        Escalate(st, out);
      } else if (st.violation_streak >= k && st.throttled_in_streak) {
        if (!st.self_throttled_reported) {
          st.self_throttled_reported = true;
          Decision d =
              Make(st, action::kSelfThrottled,
                   "run-queue p99 " + Ms(st.last.p99_ns) + " > objective " +
                       Ms(SloOf(st)->count()) + " for " + std::to_string(st.violation_streak) +
                       " intervals, but only its own CFS quota throttled it (" +
                       std::to_string(st.last.throttled) +
                       " throttled periods, no preemption by lower classes): "
                       "raise its quota; no action taken");
          d.before = SignalsToJson(st.last, SloOf(st));
          d.result = result::kReported;
          Emit(std::move(d), out);
        }
      } else {
        Relieve(st, out);
      }
    }
  }
  prev_ = snap;
  return out;
}

void Controller::Judge(State& st, std::vector<Decision>& out) {
  const Pending p = *st.pending;
  st.pending.reset();
  const uint64_t after = p.after.QuantileNs(0.99), samples = p.after.Count();
  const double needed = p.baseline_p99_ns * (1.0 - config_.controller.improvement_margin);
  const auto slo = SloOf(st);
  // No waits at all, a p99 down by the margin, or the objective met: the action helped.
  const bool improved = samples == 0 || static_cast<double>(after) <= needed ||
                        (slo && after <= static_cast<uint64_t>(slo->count()));
  const char* step =
      p.step == Pending::Step::kDemote ? "demoting best-effort neighbours" : "exclusive CPUs";
  std::string numbers = "run-queue p99 " + Ms(after) + " over " +
                        std::to_string(config_.controller.verify_intervals) + " intervals after " +
                        step + " vs " + Ms(p.baseline_p99_ns) +
                        " before (needed <= " + Ms(static_cast<uint64_t>(needed)) +
                        " or the objective " + Ms(slo ? slo->count() : 0) + ")";
  Decision d = Make(st, action::kVerify, numbers);
  d.before = {{"runq_p99_ns", p.baseline_p99_ns}};
  d.after = {{"runq_p99_ns", after}, {"runq_samples", samples}};
  d.result = improved ? result::kImproved : result::kNotImproved;
  Emit(std::move(d), out);
  if (improved) return;
  const std::string why = "reverted: " + numbers;
  if (p.step == Pending::Step::kDemote) {
    RestoreNeighbours(st, why, out);
    st.demote_failed = true;
  } else {
    ReleaseExclusive(st, why, out);
    st.exclusive_failed = true;
  }
  st.last_action_at = now_;
}

void Controller::Escalate(State& st, std::vector<Decision>& out) {
  if (!CooledDown(st)) return;
  LatencyHistogram window;
  for (const auto& h : st.history) window.Merge(h.runq);
  const uint64_t baseline = window.QuantileNs(0.99);
  const auto slo = SloOf(st);
  std::string evidence;
  uint64_t preempted = 0;
  double lower_cpus = 0;
  for (const auto& h : st.history) {
    preempted += h.preemptions_by_lower;
    lower_cpus = std::max(lower_cpus, h.lower_class_cpus);
  }
  const std::string why =
      "run-queue p99 " + Ms(baseline) + " > objective " + Ms(slo->count()) + " for " +
      std::to_string(st.violation_streak) + " intervals; preempted " + std::to_string(preempted) +
      " times by lower classes, which used up to " + Cpus(lower_cpus) + " CPUs; received " +
      Cpus(st.last.cpus_window) + " CPUs" +
      (st.last.has_prev_window ? " vs " + Cpus(st.last.cpus_prev_window) + " in the window before"
                               : "");
  const int verify = config_.controller.verify_intervals;

  // Rung 1: best-effort neighbours that ran or preempted the victim.
  if (!st.demote_failed && st.demoted.empty()) {
    std::vector<State*> fresh, shared;
    for (auto& [name, be] : states_) {
      if (be.cls.cls != WorkloadClass::kBestEffort || be.demoted_by.count(st.workload)) continue;
      const bool ran = be.cpus_received > 0 || preempt_delta_.count({st.workload, name});
      if (!ran) continue;
      (be.demoted_by.empty() ? fresh : shared).push_back(&be);
    }
    if (!fresh.empty() || !shared.empty()) {
      const int budget = RateBudget();
      if (static_cast<int>(fresh.size()) > budget && !action_times_.empty()) {
        if (!st.rate_limit_reported) {
          st.rate_limit_reported = true;
          Decision d = Make(st, action::kDemote,
                            why + "; deferred: " + std::to_string(fresh.size()) +
                                " demotions exceed the rate limit (" +
                                std::to_string(config_.controller.max_actions_per_minute) +
                                " changes per minute)");
          d.result = result::kRateLimited;
          Emit(std::move(d), out);
        }
        return;
      }
      for (State* be : shared) {  // already demoted for another victim: just hold it too
        be->demoted_by.insert(st.workload);
        st.demoted.insert(be->workload);
      }
      for (State* be : fresh) {
        Decision d = Make(*be, action::kDemote, why);
        d.victim = st.workload;
        d.before = SignalsToJson(st.last, slo);
        d.before["best_effort_cpus"] = be->cpus_received;
        d.before["preempted_victim"] = preempt_delta_.count({st.workload, be->workload})
                                           ? preempt_delta_.at({st.workload, be->workload})
                                           : 0;
        bool held = true;
        if (!Enforcing()) {
          d.result = result::kDryRun;
        } else if (auto r = actuator_->DemoteBestEffort(be->workload, be->cgroup_path); !r) {
          d.result = result::kFailed;
          d.reason += "; " + r.error().message;
          held = false;
        } else {
          d.result = result::kApplied;
        }
        NoteAction(&st);
        if (held) {
          be->demoted_by.insert(st.workload);
          st.demoted.insert(be->workload);
        }
        Emit(std::move(d), out);
      }
      if (!st.demoted.empty()) {
        st.last_action_at = now_;
        if (Enforcing()) st.pending = Pending{Pending::Step::kDemote, baseline, {}, verify};
        return;
      }
      st.demote_failed = true;  // every demotion failed: go up the ladder next time
      return;
    }
  }

  // Rung 2: exclusive CPUs.
  if (st.cls.exclusive != ExclusivePolicy::kNever && st.exclusive_count == 0 &&
      !st.exclusive_failed) {
    if (TryGrant(st, why, out) && Enforcing())
      st.pending = Pending{Pending::Step::kExclusive, baseline, {}, verify};
    return;
  }

  if (!st.exhausted_reported) {
    st.exhausted_reported = true;
    std::string tried;
    if (!st.demoted.empty())
      tried += "best-effort neighbours demoted; ";
    else if (st.demote_failed)
      tried += "demotion did not help; ";
    else
      tried += "no best-effort neighbour to demote; ";
    if (st.exclusive_count > 0)
      tried += "exclusive CPUs held";
    else if (st.cls.exclusive == ExclusivePolicy::kNever)
      tried += "exclusive: never";
    else
      tried += "exclusive CPUs refused or did not help";
    Decision d = Make(st, action::kExhausted, why + "; nothing left to try (" + tried + ")");
    d.before = SignalsToJson(st.last, slo);
    d.result = result::kReported;
    Emit(std::move(d), out);
  }
}

bool Controller::TryGrant(State& st, const std::string& reason, std::vector<Decision>& out) {
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
  d.before = SignalsToJson(st.last, SloOf(st));
  d.before["demand_cpus"] = demand;
  d.before["requested_cpus"] = request;
  st.last_action_at = now_;  // refusals are paced by the cool-down too
  if (st.cls.exclusive_cpus && asked < tpc) {
    d.result = result::kRefused;
    d.reason += "; refused: exclusive_cpus " + std::to_string(asked) +
                " is less than one physical core (" + std::to_string(tpc) +
                " threads); exclusive CPUs are whole cores, so it stays in the shared pool";
    st.exclusive_failed = true;
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
    st.exclusive_failed = true;
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
  if (RateBudget() < 1) {
    if (!st.rate_limit_reported) {
      st.rate_limit_reported = true;
      d.reason += "; deferred by the rate limit (" +
                  std::to_string(config_.controller.max_actions_per_minute) + " per minute)";
      d.result = result::kRateLimited;
      Emit(std::move(d), out);
    }
    return false;
  }
  if (!Enforcing()) {
    d.result = result::kDryRun;
    st.exclusive_count = request;
    d.after = {{"exclusive_cpus", request}};
    NoteAction(&st);
    Emit(std::move(d), out);
    return true;
  }
  auto r = actuator_->GrantExclusive(st.workload, st.cgroup_path, request);
  if (!r) {
    d.result = r.error().code == ENOSPC ? result::kRefused : result::kFailed;
    d.reason += "; " + std::string(d.result) + ": " + r.error().message;
    st.exclusive_failed = true;
    EmitRefusal(st, std::move(d), out);
    return false;
  }
  st.last_refusal.clear();
  st.exclusive = *r;
  st.exclusive_count = static_cast<int>(r->size());
  d.cpus = FormatCpuList(*r);
  d.after = {{"exclusive_cpus", st.exclusive_count}, {"cpus", d.cpus}};
  d.result = result::kApplied;
  NoteAction(&st);
  Emit(std::move(d), out);
  return true;
}

bool Controller::ReleaseExclusive(State& st, const std::string& reason,
                                  std::vector<Decision>& out) {
  if (st.exclusive_count == 0) return false;
  Decision d = Make(st, action::kRelease, reason);
  d.cpus = FormatCpuList(st.exclusive);
  d.before = {{"exclusive_cpus", st.exclusive_count}};
  if (st.has_last) d.before.update(SignalsToJson(st.last, SloOf(st)));
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
  st.exclusive.clear();
  st.exclusive_count = 0;
  NoteAction(&st);
  Emit(std::move(d), out);
  return true;
}

void Controller::RestoreNeighbours(State& victim, const std::string& reason,
                                   std::vector<Decision>& out) {
  for (const std::string& name : victim.demoted) {
    auto it = states_.find(name);
    if (it == states_.end()) continue;
    State& be = it->second;
    be.demoted_by.erase(victim.workload);
    if (!be.demoted_by.empty()) continue;  // another victim still needs it demoted
    Decision d = Make(be, action::kRestore, reason);
    d.victim = victim.workload;
    if (victim.has_last) d.before = SignalsToJson(victim.last, SloOf(victim));
    if (!Enforcing()) {
      d.result = result::kDryRun;
    } else if (auto r = actuator_->RestoreBestEffort(be.workload, be.cgroup_path); !r) {
      d.result = result::kFailed;
      d.reason += "; " + r.error().message;
    } else {
      d.result = result::kApplied;
    }
    NoteAction(&victim);
    Emit(std::move(d), out);
  }
  victim.demoted.clear();
}

void Controller::Relieve(State& st, std::vector<Decision>& out) {
  if (!st.calm_since || now_ - *st.calm_since < config_.controller.relief_window) return;
  const auto slo = SloOf(st);
  const std::string why =
      "objective held with margin (run-queue p99 <= " +
      Ms(static_cast<uint64_t>(slo->count() * (1.0 - config_.controller.relief_margin))) +
      ") for " + FormatDuration(now_ - *st.calm_since);
  const bool releasable = st.exclusive_count > 0 && st.cls.exclusive != ExclusivePolicy::kAlways;
  if (releasable || !st.demoted.empty()) {
    if (!CooledDown(st) || RateBudget() < 1) return;
    if (releasable)
      ReleaseExclusive(st, why + ": releasing exclusive CPUs", out);
    else
      RestoreNeighbours(st, why + ": restoring best-effort priority", out);
    st.calm_since = now_;  // the next rung down needs its own calm window
    return;
  }
  // Nothing held and calm for a whole window: the episode is over, the ladder starts afresh.
  st.demote_failed = st.exclusive_failed = st.exhausted_reported = false;
}

void Controller::Forget(const std::string& workload, const std::string& reason,
                        std::vector<Decision>& out) {
  auto it = states_.find(workload);
  if (it == states_.end()) return;
  State& st = it->second;
  if (st.exclusive_count > 0) ReleaseExclusive(st, reason, out);
  if (!st.demoted.empty()) RestoreNeighbours(st, reason, out);
  if (!st.demoted_by.empty()) {
    for (const auto& v : st.demoted_by)
      if (auto vit = states_.find(v); vit != states_.end()) vit->second.demoted.erase(workload);
    st.demoted_by.clear();
    Decision d = Make(st, action::kRestore, reason);
    if (!Enforcing()) {
      d.result = result::kDryRun;
    } else if (auto r = actuator_->RestoreBestEffort(st.workload, st.cgroup_path); !r) {
      d.result = result::kFailed;
      d.reason += "; " + r.error().message;
    } else {
      d.result = result::kApplied;
    }
    NoteAction(nullptr);
    Emit(std::move(d), out);
  }
  states_.erase(it);
}

std::vector<Decision> Controller::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  now_ = clock_.Monotonic();
  std::vector<Decision> out;
  for (auto& [_, st] : states_)
    if (st.exclusive_count > 0) ReleaseExclusive(st, "agent shutting down", out);
  for (auto& [_, st] : states_)
    if (!st.demoted.empty()) RestoreNeighbours(st, "agent shutting down", out);
  for (auto& [_, st] : states_) st.pending.reset();
  return out;
}

StatusModel Controller::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  StatusModel s;
  s.mode = EnforcementModeName(config_.enforcement.mode);
  s.cpu_count = cpu_count_;
  s.shared_pool_cpus = cpu_count_ - ExclusiveInUse();
  s.updated_ns = last_wall_.count();
  s.intervals = intervals_;
  for (const auto& [name, st] : states_) {
    if (st.cls.rule < 0 && st.demoted_by.empty() && st.exclusive_count == 0) {
      s.unmatched_workloads++;
      continue;
    }
    WorkloadStatus w;
    w.workload = name;
    w.cgroup_path = st.cgroup_path;
    w.rule = st.cls.rule_name;
    w.cls = WorkloadClassName(st.cls.cls);
    if (st.cls.slo_runq_p99) w.slo_runq_p99_ns = st.cls.slo_runq_p99->count();
    if (st.has_last) {
      w.runq_p99_ns = st.last.p99_ns;
      w.runq_samples = st.last.samples;
      w.preemptions_by_lower = st.last.preemptions_by_lower;
    }
    w.cpus_received = st.cpus_received;
    w.state = st.state;
    w.violation_streak = st.violation_streak;
    w.violation_intervals_total = st.violation_intervals_total;
    w.exclusive_count = st.exclusive_count;
    w.exclusive_cpus = !st.exclusive.empty() ? FormatCpuList(st.exclusive)
                       : st.exclusive_count
                           ? "(" + std::to_string(st.exclusive_count) + ", " +
                                 EnforcementModeName(config_.enforcement.mode) + ")"
                           : "";
    w.demoted = !st.demoted_by.empty();
    s.workloads.push_back(std::move(w));
  }
  s.recent.assign(recent_.begin(), recent_.end());
  return s;
}

std::map<std::tuple<std::string, std::string, std::string>, uint64_t> Controller::ActionCounts()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

}  // namespace sw
