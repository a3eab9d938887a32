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

IntervalSignals Measure(double cpus_received, const WorkloadSample& cur, const WorkloadSample* prev,
                        nanoseconds elapsed) {
  IntervalSignals s;
  s.elapsed = elapsed;
  s.cpus_received = cpus_received;
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

uint64_t CounterDelta(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : cur; }

IntervalDeltas ComputeSignals(const Snapshot& prev, const Snapshot& cur,
                              const std::map<std::string, WorkloadView>& views,
                              nanoseconds fallback_interval, double neighbour_cpu_threshold) {
  IntervalDeltas r;
  r.elapsed = cur.taken_at - prev.taken_at;
  if (r.elapsed.count() <= 0) r.elapsed = fallback_interval;
  for (const auto& [name, _] : views) {
    double& cpus = r.cpus_received[name] = 0;
    auto now = cur.workloads.find(name);
    auto old = prev.workloads.find(name);
    if (now == cur.workloads.end() || old == prev.workloads.end()) continue;
    if (now->second.cpu_usage_ns && old->second.cpu_usage_ns &&
        *now->second.cpu_usage_ns >= *old->second.cpu_usage_ns)
      cpus = static_cast<double>(*now->second.cpu_usage_ns - *old->second.cpu_usage_ns) /
             static_cast<double>(r.elapsed.count());
  }
  r.own_cpus = OwnCpus(views, r.cpus_received);
  for (const auto& [key, count] : cur.preemptions) {
    auto old = prev.preemptions.find(key);
    uint64_t d = CounterDelta(count, old == prev.preemptions.end() ? 0 : old->second);
    if (d) r.preemptions[key] = d;
  }
  auto class_of = [&views](const std::string& w) {
    auto it = views.find(w);
    return it == views.end() ? WorkloadClass::kNormal : it->second.cls;
  };
  for (const auto& [name, v] : views) {
    if (!v.slo) continue;
    auto old = prev.workloads.find(name);
    IntervalSignals s = Measure(r.cpus_received[name], cur.workloads.at(name),
                                old == prev.workloads.end() ? nullptr : &old->second, r.elapsed);
    const int rank = Rank(v.cls);
    for (const auto& [key, d] : r.preemptions)
      if (key.first == name && key.second != name && Rank(class_of(key.second)) > rank)
        s.preemptions_by_lower += d;
    for (const auto& [other, ov] : views)
      if (other != name && Rank(ov.cls) > rank) s.lower_class_cpus += r.own_cpus[other];
    s.violated = s.samples > 0 && s.p99_ns > static_cast<uint64_t>(v.slo->count());
    s.evidence =
        s.violated && (s.preemptions_by_lower > 0 || s.lower_class_cpus >= neighbour_cpu_threshold);
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
