#include "policy/controller.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

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

}  // namespace

Controller::Controller(Config config, const Classifier& classifier, Actuator* actuator,
                       DecisionSink* sink, const Clock& clock, const Topology& machine)
    : config_(std::move(config)),
      classifier_(classifier),
      actuator_(actuator),
      sink_(sink),
      clock_(clock),
      capacity_(machine, ExclusiveLimitsOf(config_.enforcement)),
      cpu_count_(capacity_.cpus()),
      governor_(config_.controller.cooldown, config_.controller.max_actions_per_minute) {
  if (!actuator_ && Enforcing()) config_.enforcement.mode = EnforcementMode::kDryRun;
}

std::optional<nanoseconds> Controller::SloOf(const Workload& st) const {
  return st.cls.slo_runq_p99;
}

bool Controller::Watched(const Workload& st) const {
  return st.cls.slo_runq_p99 && (st.cls.cls == WorkloadClass::kLatencyCritical ||
                                 st.cls.cls == WorkloadClass::kLatencySensitive);
}

bool Controller::NeedsInterval() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [_, st] : states_)
    if (Watched(st) || st.ladder.exclusive_count > 0 || !st.ladder.demoted.empty() ||
        st.ladder.Verifying() || !st.demoted_by.empty())
      return true;
  return false;
}

std::optional<Verification> Controller::VerifyFrom(uint64_t baseline) const {
  if (!Enforcing()) return std::nullopt;  // nothing changed to verify
  return Verification{baseline, {}, config_.controller.verify_intervals};
}

int Controller::ExclusiveInUse() const {
  int n = 0;
  for (const auto& [_, st] : states_) n += st.ladder.exclusive_count;
  return n;
}

int Controller::ExclusiveCoresInUse() const {
  int n = 0;
  for (const auto& [_, st] : states_) n += capacity_.CoresFor(st.ladder.exclusive_count);
  return n;
}

Decision Controller::Make(const Workload& st, const char* act, std::string reason) const {
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

void Controller::EmitRefusal(Workload& st, Decision d, std::vector<Decision>& out) {
  // `always` workloads retry after every cool-down; the same refusal is reported once, not
  // every retry (a new reason is reported again).
  if (d.reason == st.ladder.last_refusal) return;
  st.ladder.last_refusal = d.reason;
  Emit(std::move(d), out);
}

Controller::Facts Controller::GatherFacts(const Snapshot& snap) const {
  std::vector<std::pair<std::string, std::string>> due;  // workload, cgroup path
  {
    std::lock_guard<std::mutex> lock(mu_);
    const nanoseconds now = clock_.Monotonic();
    for (const auto& [name, sample] : snap.workloads) {
      auto it = states_.find(name);
      if (it != states_.end() &&
          now - it->second.classified_at < config_.controller.reclassify_interval)
        continue;
      due.emplace_back(name, sample.cgroup_path.empty() ? name : sample.cgroup_path);
    }
  }
  Facts facts;
  for (const auto& [name, path] : due)
    facts[name] = name == kUnknownWorkload ? WorkloadFacts{} : classifier_.Gather(path);
  return facts;
}

void Controller::Classify(const Snapshot& snap, const Facts& facts, nanoseconds now) {
  for (const auto& [name, f] : facts) {
    const WorkloadSample& sample = snap.workloads.at(name);
    auto it = states_.find(name);
    const std::string& path = sample.cgroup_path.empty() ? name : sample.cgroup_path;
    Classification c = name == kUnknownWorkload ? Classification{} : classifier_.Classify(path, f);
    NoteAnnotationProblems(name, it == states_.end() ? nullptr : &it->second.cls, c);
    if (it == states_.end()) {
      Workload st;
      st.workload = name;
      st.cgroup_path = sample.cgroup_path;
      st.cls = c;
      st.classified_at = now;
      states_.emplace(name, std::move(st));
      continue;
    }
    Workload& w = it->second;
    w.classified_at = now;
    if (w.adopted) {  // handed over: held on if it is still of the class it held under
      w.adopted = false;
      w.cgroup_path = sample.cgroup_path;
      if (c.cls == w.cls.cls) {
        w.cls = c;
        continue;
      }
    }
    Classification& old = w.cls;
    if (c.rule != old.rule || c.cls != old.cls || c.exclusive != old.exclusive ||
        c.exclusive_cpus != old.exclusive_cpus)
      pending_reclass_[name] = c;
    else
      old = c;  // same class and exclusivity: a new objective or annotation text takes effect now
  }
}

void Controller::NoteAnnotationProblems(const std::string& workload, const Classification* before,
                                        const Classification& now) {
  // Once per change, not every reclassification: the same problems stay quiet.
  if (before ? before->annotation_problems == now.annotation_problems
             : now.annotation_problems.empty())
    return;
  if (now.annotation_problems.empty()) {
    notices_.push_back("workload " + workload + ": pod " + now.pod +
                       ": schedwarden.io annotations valid again");
    return;
  }
  if (notices_.size() > 1000) notices_.erase(notices_.begin(), notices_.begin() + 500);  // untaken
  for (const AnnotationProblem& p : now.annotation_problems)
    notices_.push_back("workload " + workload + ": pod " + now.pod + ": annotation " +
                       p.annotation + ": " + p.message + "; ignored");
}

void Controller::SetKubeletCpus(std::map<int, std::string> owners) {
  std::lock_guard<std::mutex> lock(mu_);
  kubelet_cpus_ = std::move(owners);
}

void Controller::ReleaseKubeletCpus(std::vector<Decision>& out) {
  for (auto& [name, st] : states_) {
    CpuSet taken;
    std::set<std::string> by;
    for (int cpu : st.ladder.cpus)
      if (auto it = kubelet_cpus_.find(cpu); it != kubelet_cpus_.end()) {
        taken.insert(cpu);
        by.insert(it->second);
      }
    if (taken.empty()) continue;
    std::string whom;
    for (const std::string& b : by) whom += (whom.empty() ? "" : ", ") + b;
    // Not rate-limited: a Guaranteed container's CPUs are never shared with an agent grant.
    ReleaseExclusive(st,
                     "kubelet's CPU manager assigned CPU(s) " + FormatCpuList(taken) + " to " +
                         whom + " (Guaranteed): exclusive CPUs given back",
                     out);
  }
}

std::vector<std::string> Controller::TakeNotices() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.swap(notices_);
  return out;
}

std::vector<Decision> Controller::Step(const Snapshot& snap, const IntervalDelta* delta) {
  const Facts facts = GatherFacts(snap);  // I/O: before the lock
  std::lock_guard<std::mutex> lock(mu_);
  now_ = clock_.Monotonic();
  governor_.SetNow(now_);
  last_wall_ = clock_.Wall();
  intervals_++;
  std::vector<Decision> out;
  Reclassify(snap, facts, out);
  ReleaseKubeletCpus(out);
  if (!started_ || !delta) {
    if (!started_) Baseline(out);
    started_ = true;
    return out;
  }
  Observe(*delta);
  if (config_.enforcement.mode != EnforcementMode::kObserve)
    for (auto& [_, st] : states_)
      if (Watched(st) && st.cls.cls == WorkloadClass::kLatencyCritical) Act(st, out);
  return out;
}

// Classification, reclassification and vanished workloads. Resources held by a workload that
// vanished or changed class are given back before anything else.
void Controller::Reclassify(const Snapshot& snap, const Facts& facts, std::vector<Decision>& out) {
  pending_reclass_.clear();
  Classify(snap, facts, now_);
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
    Workload st;
    st.workload = name;
    st.cgroup_path = path;
    st.cls = c;
    st.classified_at = now_;
    states_.emplace(name, std::move(st));
  }
}

// The first snapshot only sets the baseline; `always` workloads with a fixed size get their CPUs.
void Controller::Baseline(std::vector<Decision>& out) {
  if (config_.enforcement.mode == EnforcementMode::kObserve) return;
  for (auto& [_, st] : states_)
    if (st.cls.cls == WorkloadClass::kLatencyCritical &&
        st.cls.exclusive == ExclusivePolicy::kAlways && st.cls.exclusive_cpus &&
        st.ladder.exclusive_count == 0)  // not already held (handover)
      TryGrant(st, "exclusive: always (at start)", out);
}

// Signals of every workload, folded into each latency-watched workload's streak and windows.
void Controller::Observe(const IntervalDelta& delta) {
  std::map<std::string, WorkloadView> views;
  for (const auto& [name, st] : states_)
    views[name] = WorkloadView{st.cgroup_path, st.cls.cls, Watched(st) ? SloOf(st) : std::nullopt};
  IntervalDeltas deltas =
      ComputeSignals(delta, views, config_.interval, config_.controller.neighbour_cpu_threshold,
                     config_.observer.bpf.throttle != ThrottleProbe::kOff);
  preempt_delta_ = std::move(deltas.preemptions);
  const int k = config_.controller.violation_intervals;
  for (auto& [name, st] : states_) {
    // Unknown (no usage file in either snapshot) is NaN for status ("-", null), 0 for decisions.
    auto wd = delta.workloads.find(name);
    st.cpus_received = wd != delta.workloads.end() && wd->second.cpu_usage_ns
                           ? deltas.cpus_received[name]
                           : std::numeric_limits<double>::quiet_NaN();
    auto it = deltas.signals.find(name);
    if (it == deltas.signals.end()) continue;
    IntervalSignals& s = it->second;
    st.streak.Observe(s, *SloOf(st), config_.controller.relief_margin, now_);
    UpdateCpuWindows(st.cpu_history, k, s);
    st.ladder.MeasuredAfter(s.runq);
    st.history.push_back(s);
    while (st.history.size() > static_cast<size_t>(k)) st.history.pop_front();
    st.last = std::move(s);
  }
}

// One latency-critical victim: judge a pending change, keep `always` CPUs, or climb the ladder
// (interference), report (self-throttled) or walk back down (relief).
void Controller::Act(Workload& st, std::vector<Decision>& out) {
  if (st.ladder.Verifying()) {
    if (st.ladder.verification->intervals_left <= 0) Judge(st, out);
    return;  // one change at a time: judge it before trying the next
  }
  if (st.cls.exclusive == ExclusivePolicy::kAlways && st.ladder.exclusive_count == 0 &&
      governor_.CooledDown(st.workload)) {
    TryGrant(st, "exclusive: always", out);
    return;
  }
  const int k = config_.controller.violation_intervals;
  if (st.streak.Interfered(k))
    Escalate(st, out);
  else if (st.streak.SelfThrottled(k))
    ReportSelfThrottled(st, out);
  else
    Relieve(st, out);
}

void Controller::ReportSelfThrottled(Workload& st, std::vector<Decision>& out) {
  if (st.streak.self_throttled_reported) return;
  st.streak.self_throttled_reported = true;
  Decision d = Make(st, action::kSelfThrottled,
                    "run-queue p99 " + Ms(st.last->p99_ns) + " > objective " +
                        Ms(SloOf(st)->count()) + " for " + std::to_string(st.streak.violations) +
                        " intervals, but only its own CFS quota throttled it (" +
                        std::to_string(st.last->throttled) +
                        " throttled periods, no preemption by lower classes): "
                        "raise its quota; no action taken");
  d.before = SignalsToJson(*st.last, SloOf(st));
  d.result = result::kReported;
  Emit(std::move(d), out);
}

void Controller::Judge(Workload& st, std::vector<Decision>& out) {
  const Verification v = *st.ladder.verification;
  const bool demotion_step = st.ladder.demotion == RungState::kVerifying;
  const uint64_t after = v.after.QuantileNs(0.99), samples = v.after.Count();
  const double needed = v.baseline_p99_ns * (1.0 - config_.controller.improvement_margin);
  const auto slo = SloOf(st);
  // No waits at all, a p99 down by the margin, or the objective met: the action helped.
  const bool improved = samples == 0 || static_cast<double>(after) <= needed ||
                        (slo && after <= static_cast<uint64_t>(slo->count()));
  const char* step = demotion_step ? "demoting best-effort neighbours" : "exclusive CPUs";
  std::string numbers = "run-queue p99 " + Ms(after) + " over " +
                        std::to_string(config_.controller.verify_intervals) + " intervals after " +
                        step + " vs " + Ms(v.baseline_p99_ns) +
                        " before (needed <= " + Ms(static_cast<uint64_t>(needed)) +
                        " or the objective " + Ms(slo ? slo->count() : 0) + ")";
  Decision d = Make(st, action::kVerify, numbers);
  d.before = {{"runq_p99_ns", v.baseline_p99_ns}};
  d.after = {{"runq_p99_ns", after}, {"runq_samples", samples}};
  d.result = improved ? result::kImproved : result::kNotImproved;
  Emit(std::move(d), out);
  if (!improved) {
    const std::string why = "reverted: " + numbers;
    if (demotion_step)
      RestoreNeighbours(st, why, out);
    else
      ReleaseExclusive(st, why, out);
    governor_.Pace(st.workload);
  }
  st.ladder.Verified(demotion_step, improved);
}

std::string Controller::EscalationReason(const Workload& st, uint64_t baseline) const {
  uint64_t preempted = 0;
  double lower_cpus = 0;
  for (const auto& h : st.history) {
    preempted += h.preemptions_by_lower;
    lower_cpus = std::max(lower_cpus, h.lower_class_cpus);
  }
  const IntervalSignals& last = *st.last;
  return "run-queue p99 " + Ms(baseline) + " > objective " + Ms(SloOf(st)->count()) + " for " +
         std::to_string(st.streak.violations) + " intervals; preempted " +
         std::to_string(preempted) + " times by lower classes, which used up to " +
         Cpus(lower_cpus) + " CPUs; received " + Cpus(last.cpus_window) + " CPUs" +
         (last.has_prev_window ? " vs " + Cpus(last.cpus_prev_window) + " in the window before"
                               : "");
}

// Interference for K intervals: the next untried rung.
void Controller::Escalate(Workload& st, std::vector<Decision>& out) {
  if (!governor_.CooledDown(st.workload)) return;
  LatencyHistogram window;
  for (const auto& h : st.history) window.Merge(h.runq);
  const uint64_t baseline = window.QuantileNs(0.99);
  const std::string why = EscalationReason(st, baseline);
  // Rung 1: best-effort neighbours that ran or preempted the victim.
  if (st.ladder.demotion == RungState::kUntried && DemoteNeighbours(st, why, baseline, out)) return;
  // Rung 2: exclusive CPUs.
  if (st.cls.exclusive != ExclusivePolicy::kNever && st.ladder.exclusive == RungState::kUntried) {
    TryGrant(st, why, out, VerifyFrom(baseline));
    return;
  }
  ReportExhausted(st, why, out);
}

void Controller::ReportExhausted(Workload& st, const std::string& why, std::vector<Decision>& out) {
  if (st.ladder.exhausted_reported) return;
  st.ladder.exhausted_reported = true;
  std::string tried;
  if (!st.ladder.demoted.empty())
    tried += "best-effort neighbours demoted; ";
  else if (st.ladder.demotion == RungState::kFailed)
    tried += "demotion did not help; ";
  else
    tried += "no best-effort neighbour to demote; ";
  if (st.ladder.exclusive_count > 0)
    tried += "exclusive CPUs held";
  else if (st.cls.exclusive == ExclusivePolicy::kNever)
    tried += "exclusive: never";
  else
    tried += "exclusive CPUs refused or did not help";
  Decision d = Make(st, action::kExhausted, why + "; nothing left to try (" + tried + ")");
  d.before = SignalsToJson(*st.last, SloOf(st));
  d.result = result::kReported;
  Emit(std::move(d), out);
}

// Calm for relief_window: walk one rung down (exclusive CPUs first), each with its own window.
void Controller::Relieve(Workload& st, std::vector<Decision>& out) {
  const auto& calm_since = st.streak.calm_since;
  if (!calm_since || now_ - *calm_since < config_.controller.relief_window) return;
  const auto slo = SloOf(st);
  const std::string why =
      "objective held with margin (run-queue p99 <= " +
      Ms(static_cast<uint64_t>(slo->count() * (1.0 - config_.controller.relief_margin))) +
      ") for " + FormatDuration(now_ - *calm_since);
  const bool releasable =
      st.ladder.exclusive_count > 0 && st.cls.exclusive != ExclusivePolicy::kAlways;
  if (releasable || !st.ladder.demoted.empty()) {
    if (!governor_.CooledDown(st.workload) || governor_.Budget() < 1) return;
    if (releasable)
      ReleaseExclusive(st, why + ": releasing exclusive CPUs", out);
    else
      RestoreNeighbours(st, why + ": restoring best-effort priority", out);
    st.streak.calm_since = now_;  // the next rung down needs its own calm window
    return;
  }
  // Nothing held and calm for a whole window: the episode is over, the ladder starts afresh.
  st.ladder.EpisodeOver();
}

void Controller::Forget(const std::string& workload, const std::string& reason,
                        std::vector<Decision>& out) {
  auto it = states_.find(workload);
  if (it == states_.end()) return;
  Workload& st = it->second;
  if (st.ladder.exclusive_count > 0) ReleaseExclusive(st, reason, out);
  if (!st.ladder.demoted.empty()) RestoreNeighbours(st, reason, out);
  if (!st.demoted_by.empty()) {
    for (const auto& v : st.demoted_by)
      if (auto vit = states_.find(v); vit != states_.end())
        vit->second.ladder.NeighbourGone(workload);
    st.demoted_by.clear();
    RestoreOne(st, Make(st, action::kRestore, reason), out);
  }
  governor_.Forget(workload);
  states_.erase(it);
}

std::vector<Decision> Controller::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  now_ = clock_.Monotonic();
  governor_.SetNow(now_);
  std::vector<Decision> out;
  for (auto& [_, st] : states_)
    if (st.ladder.exclusive_count > 0) ReleaseExclusive(st, "agent shutting down", out);
  for (auto& [_, st] : states_)
    if (!st.ladder.demoted.empty()) RestoreNeighbours(st, "agent shutting down", out);
  for (auto& [_, st] : states_) st.ladder.Abandon();
  return out;
}

WorkloadStatus Controller::StatusOf(const Workload& st) const {
  WorkloadStatus w;
  w.workload = st.workload;
  w.cgroup_path = st.cgroup_path;
  w.rule = st.cls.rule_name;
  w.pod = st.cls.pod;
  w.annotations = st.cls.annotations;
  for (const AnnotationProblem& p : st.cls.annotation_problems)
    w.annotation_problems.push_back(p.annotation + ": " + p.message);
  w.cls = WorkloadClassName(st.cls.cls);
  if (st.cls.slo_runq_p99) w.slo_runq_p99_ns = st.cls.slo_runq_p99->count();
  if (st.last) {
    w.runq_p99_ns = st.last->p99_ns;
    w.runq_samples = st.last->samples;
    w.preemptions_by_lower = st.last->preemptions_by_lower;
    w.state = st.streak.Name(*st.last, config_.controller.violation_intervals);
  }
  w.cpus_received = st.cpus_received;
  w.violation_streak = st.streak.violations;
  w.violation_intervals_total = st.streak.violation_intervals_total;
  const int n = st.ladder.exclusive_count;
  w.exclusive_count = n;
  w.exclusive_cpus =
      !st.ladder.cpus.empty() ? FormatCpuList(st.ladder.cpus)
      : n ? "(" + std::to_string(n) + ", " + EnforcementModeName(config_.enforcement.mode) + ")"
          : "";
  w.demoted = !st.demoted_by.empty();
  return w;
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
    if (st.cls.rule < 0 && st.demoted_by.empty() && st.ladder.exclusive_count == 0 &&
        st.cls.annotations.empty() && st.cls.annotation_problems.empty()) {
      s.unmatched_workloads++;
      continue;
    }
    s.workloads.push_back(StatusOf(st));
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

namespace sw {

std::vector<AdoptedHold> Controller::Held() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AdoptedHold> out;
  for (const auto& [name, st] : states_) {
    if (st.ladder.exclusive_count == 0 && st.ladder.demoted.empty()) continue;
    AdoptedHold h{name, st.cgroup_path, st.ladder.cpus, {}};
    for (const auto& be : st.ladder.demoted)
      if (auto it = states_.find(be); it != states_.end()) h.demoted[be] = it->second.cgroup_path;
    out.push_back(std::move(h));
  }
  return out;
}

Controller::Workload& Controller::AdoptedState(const std::string& name, const std::string& path,
                                               WorkloadClass cls) {
  Workload& st = states_[name];
  if (st.workload.empty()) {
    st.workload = name;
    st.cgroup_path = path;
    st.cls.cls = cls;
    st.adopted = true;
    // Due for classification at the first Step, whatever the clock says.
    st.classified_at = nanoseconds(std::numeric_limits<int64_t>::min() / 2);
  }
  return st;
}

void Controller::Adopt(const std::vector<AdoptedHold>& holds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const AdoptedHold& h : holds) {
    Workload& victim = AdoptedState(h.workload, h.cgroup_path, WorkloadClass::kLatencyCritical);
    std::set<std::string> neighbours;
    for (const auto& [be, path] : h.demoted) {
      AdoptedState(be, path, WorkloadClass::kBestEffort).demoted_by.insert(h.workload);
      neighbours.insert(be);
    }
    victim.ladder.Adopted(h.cpus, std::move(neighbours));
  }
}

std::string AdoptedHoldsToJson(const std::vector<AdoptedHold>& holds) {
  nlohmann::json a = nlohmann::json::array();
  for (const AdoptedHold& h : holds)
    a.push_back({{"workload", h.workload},
                 {"cgroup_path", h.cgroup_path},
                 {"cpus", FormatCpuList(h.cpus)},
                 {"demoted", h.demoted}});
  return a.dump();
}

Result<std::vector<AdoptedHold>> AdoptedHoldsFromJson(const std::string& text) {
  std::vector<AdoptedHold> out;
  try {
    for (const auto& j : nlohmann::json::parse(text)) {
      AdoptedHold h;
      h.workload = j.at("workload").get<std::string>();
      h.cgroup_path = j.at("cgroup_path").get<std::string>();
      auto cpus = ParseCpuList(j.at("cpus").get<std::string>());
      if (!cpus) return cpus.error().WithContext("adopted holds of '" + h.workload + "'");
      h.cpus = *cpus;
      h.demoted = j.at("demoted").get<std::map<std::string, std::string>>();
      out.push_back(std::move(h));
    }
  } catch (const std::exception& e) {
    return Error{EINVAL, std::string("adopted holds unreadable: ") + e.what()};
  }
  return out;
}

}  // namespace sw
