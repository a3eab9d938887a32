#include "policy/signals.h"

#include <algorithm>

namespace sw {

using std::chrono::nanoseconds;

namespace {

int Rank(WorkloadClass c) { return static_cast<int>(c); }

// A cgroup's usage includes its descendants': subtract each workload's usage from its nearest
// ancestor workload's, so that summing own_cpus counts every CPU once (the root "/" workload
// would otherwise count the whole machine again, the victim included).
std::map<std::string, double> OwnCpus(const std::map<std::string, WorkloadView>& views,
                                      const std::map<std::string, double>& received) {
  std::map<std::string, double> own;
  std::map<std::string, std::string> by_path;  // cgroup path -> workload
  for (const auto& [name, v] : views) {
    own[name] = received.at(name);
    if (!v.cgroup_path.empty() && v.cgroup_path[0] == '/') by_path[v.cgroup_path] = name;
  }
  for (const auto& [path, name] : by_path) {
    if (path == "/") continue;
    std::string up = path;
    while (true) {
      up.resize(up.rfind('/'));
      const std::string key = up.empty() ? "/" : up;
      if (auto it = by_path.find(key); it != by_path.end()) {
        own[it->second] -= received.at(name);
        break;
      }
      if (up.empty()) break;
    }
  }
  // Counters read a moment apart can make a parent look smaller than its children.
  for (const auto& [_, name] : by_path) own[name] = std::max(0.0, own[name]);
  return own;
}

// cpu.stat saw the workload throttled in the interval: nr_throttled counts at the throttle,
// throttled time at the unthrottle, so a throttle spanning two intervals shows in both.
bool CpuStatThrottled(const WorkloadDelta* d) {
  return d && !d->new_series &&
         (d->nr_throttled.value_or(0) > 0 || d->throttled_ns.value_or(0) > 0);
}

IntervalSignals Measure(double cpus_received, const WorkloadDelta* d, nanoseconds elapsed) {
  IntervalSignals s;
  s.elapsed = elapsed;
  s.cpus_received = cpus_received;
  if (!d || d->new_series) return s;  // first sighting: cumulative counts are not this interval's
  s.runq = d->runq_wakeup;
  s.runq.Merge(d->runq_preempted);
  s.samples = s.runq.Count();
  s.p99_ns = s.runq.QuantileNs(0.99);
  s.throttled = std::max(d->throttle_events, d->nr_throttled.value_or(0));
  return s;
}

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

IntervalDeltas ComputeSignals(const IntervalDelta& delta,
                              const std::map<std::string, WorkloadView>& views,
                              nanoseconds fallback_interval, double neighbour_cpu_threshold,
                              bool bpf_throttle) {
  IntervalDeltas r;
  r.elapsed = delta.elapsed;
  if (r.elapsed.count() <= 0) r.elapsed = fallback_interval;
  auto delta_of = [&delta](const std::string& w) -> const WorkloadDelta* {
    auto it = delta.workloads.find(w);
    return it == delta.workloads.end() ? nullptr : &it->second;
  };
  for (const auto& [name, _] : views) {
    const WorkloadDelta* d = delta_of(name);
    r.cpus_received[name] = d && d->cpu_usage_ns ? static_cast<double>(*d->cpu_usage_ns) /
                                                       static_cast<double>(r.elapsed.count())
                                                 : 0;
  }
  // Only lower_class_cpus of a workload with an objective needs them.
  if (std::any_of(views.begin(), views.end(), [](const auto& v) { return v.second.slo; }))
    r.own_cpus = OwnCpus(views, r.cpus_received);
  r.preemptions = delta.preemptions;
  auto class_of = [&views](const std::string& w) {
    auto it = views.find(w);
    return it == views.end() ? WorkloadClass::kNormal : it->second.cls;
  };
  for (const auto& [name, v] : views) {
    if (!v.slo) continue;
    IntervalSignals s = Measure(r.cpus_received[name], delta_of(name), r.elapsed);
    const int rank = Rank(v.cls);
    for (const auto& [key, d] : r.preemptions)
      if (key.first == name && key.second != name && Rank(class_of(key.second)) > rank)
        s.preemptions_by_lower += d;
    for (const auto& [other, ov] : views)
      if (other != name && Rank(ov.cls) > rank) s.lower_class_cpus += r.own_cpus[other];
    s.violated = s.samples > 0 && s.p99_ns > static_cast<uint64_t>(v.slo->count());
    s.evidence =
        s.violated && (s.preemptions_by_lower > 0 || s.lower_class_cpus >= neighbour_cpu_threshold);
    // Throttle waits hidden among preempted ones: the violation is put down to its own quota.
    if (!bpf_throttle && CpuStatThrottled(delta_of(name))) s.evidence = false;
    r.signals.emplace(name, std::move(s));
  }
  return r;
}

void UpdateCpuWindows(std::deque<double>& history, int k, IntervalSignals& s) {
  history.push_back(s.cpus_received);
  while (history.size() > static_cast<size_t>(2 * k)) history.pop_front();
  const size_t n = history.size(), cur = std::min<size_t>(n, k);
  double a = 0, b = 0;
  for (size_t i = 0; i < n; i++) (i + cur >= n ? a : b) += history[i];
  s.cpus_window = a / static_cast<double>(cur);
  s.has_prev_window = n > cur;
  s.cpus_prev_window = s.has_prev_window ? b / static_cast<double>(n - cur) : 0;
}

}  // namespace sw
