#include "export/render.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include "policy/pod_annotations.h"

namespace sw {
namespace {

namespace m = metric;

constexpr double kNsPerSecond = 1e9;

double Seconds(uint64_t ns) { return static_cast<double>(ns) / kNsPerSecond; }

// A previous body's size plus 1/4: bodies grow as series appear (a workload's first preemption
// adds a histogram), and a regrowth by doubling holds the old buffer and its copy at once. The
// unused reserve of a page-mapped body is never touched: it costs no RSS.
size_t WithMargin(size_t size_hint) { return size_hint ? size_hint + size_hint / 4 + 4096 : 0; }

// A body lives until the next render: more than 1/8 of spare capacity is copied away, unless the
// body is page-mapped (1 MiB and up: the agent's M_MMAP_THRESHOLD, cli/agent.cpp), where the
// untouched spare pages cost no RSS and the copy would hold the body twice.
void ShedSpareCapacity(std::string& s) {
  constexpr size_t kPageMapped = size_t{1} << 20;
  if (s.capacity() - s.size() > s.size() / 8 && s.capacity() < kPageMapped) s.shrink_to_fit();
}

// A workload without CFS bandwidth (no quota of its own: no periods) that was never throttled
// (no throttle waits or events: a parent's quota can throttle it too) would only export an
// all-zero throttle-wait histogram and four zero counters: leave them out (docs/metrics.md,
// Cardinality). Cumulative, so a series never disappears once it appeared.
bool HasThrottling(const WorkloadSample& s) {
  return s.throttle_wait.Count() > 0 || s.throttle_events > 0 ||
         (s.cpu_stat && (s.cpu_stat->nr_periods > 0 || s.cpu_stat->nr_throttled > 0));
}

void RenderHistograms(ExpositionWriter& w, const Snapshot& snap, const LeEdges& le) {
  w.Begin(m::kRunqLatency);
  for (const auto& [label, s] : snap.workloads) {
    w.Histogram({"wakeup", label}, s.runq_wakeup, le);
    // Like the throttle histogram: none until the workload's first preempted wait (an all-zero
    // histogram is 1 + edges + 2 series of nothing); cumulative, so it stays once present.
    if (s.runq_preempted.Count() > 0) w.Histogram({"preempted", label}, s.runq_preempted, le);
  }
  w.Begin(m::kThrottleWait);
  for (const auto& [label, s] : snap.workloads)
    if (HasThrottling(s)) w.Histogram({label}, s.throttle_wait, le);
}

void RenderCgroupCounters(ExpositionWriter& w, const Snapshot& snap) {
  w.Begin(m::kThrottleEvents);
  for (const auto& [label, s] : snap.workloads)
    if (HasThrottling(s)) w.Sample({label}, s.throttle_events);
  w.Begin(m::kCpuPeriods);
  for (const auto& [label, s] : snap.workloads)
    if (s.cpu_stat && HasThrottling(s)) w.Sample({label}, s.cpu_stat->nr_periods);
  w.Begin(m::kCpuThrottledPeriods);
  for (const auto& [label, s] : snap.workloads)
    if (s.cpu_stat && HasThrottling(s)) w.Sample({label}, s.cpu_stat->nr_throttled);
  w.Begin(m::kCpuThrottledSeconds);
  for (const auto& [label, s] : snap.workloads)
    if (s.cpu_stat && HasThrottling(s)) w.Sample({label}, Seconds(s.cpu_stat->throttled_ns));
  w.Begin(m::kCpuUsage);
  for (const auto& [label, s] : snap.workloads)
    if (s.cpu_usage_ns) w.Sample({label}, Seconds(*s.cpu_usage_ns));
  w.Begin(m::kPressure);
  for (const auto& [label, s] : snap.workloads) {
    if (!s.psi) continue;
    w.Sample({"some", label}, Seconds(s.psi->some_total_ns));
    w.Sample({"full", label}, Seconds(s.psi->full_total_ns));
  }
}

void RenderObserverTotals(ExpositionWriter& w, const Snapshot& snap) {
  w.Begin(m::kPreemptions);
  for (const auto& [pair, n] : snap.preemptions) w.Sample({pair.second, pair.first}, n);
  w.Begin(m::kDropped);
  for (int d = 0; d < SW_NR_DROPS; d++) w.Sample({DropReasonName(d)}, snap.dropped[d]);
  if (snap.bpf_stats_enabled) {
    w.Begin(m::kProgramRunSeconds);
    for (const BpfProgramStats& p : snap.programs) w.Sample({p.name}, Seconds(p.run_time_ns));
    w.Begin(m::kProgramRuns);
    for (const BpfProgramStats& p : snap.programs) w.Sample({p.name}, p.run_count);
  }
  w.Begin(m::kWorkloadSeries);
  w.Sample({}, static_cast<uint64_t>(snap.workloads.size()));
  w.Begin(m::kOverflowed);
  w.Sample({}, snap.overflowed_workloads);
}

void RenderWorkloadInfo(ExpositionWriter& w, const std::vector<WorkloadInfo>& infos) {
  w.Begin(m::kWorkloadInfo);
  for (const WorkloadInfo& i : infos)
    w.Sample({i.workload, i.namespace_name, i.pod, i.container, i.qos}, uint64_t{1});
}

void RenderPolicy(ExpositionWriter& w, const StatusModel& status, const ActionCountMap& counts,
                  const std::map<std::string, uint64_t>& drift) {
  w.Begin(m::kActions);
  for (const auto& [key, n] : counts)
    w.Sample({std::get<0>(key), std::get<1>(key), std::get<2>(key)}, n);
  w.Begin(m::kDrift);
  for (const auto& [kind, n] : drift) w.Sample({kind}, n);
  w.Begin(m::kWorkloadClass);
  for (const auto& s : status.workloads) w.Sample({s.workload, s.cls, s.rule}, uint64_t{1});
  w.Begin(m::kExclusiveCpus);
  for (const auto& s : status.workloads)
    w.Sample({s.workload}, static_cast<uint64_t>(std::max(0, s.exclusive_count)));
  w.Begin(m::kSharedPoolCpus);
  w.Sample({}, static_cast<uint64_t>(std::max(0, status.shared_pool_cpus)));
  // Objective, violations and p99 only for watched workloads (those with an objective).
  w.Begin(m::kViolations);
  for (const auto& s : status.workloads)
    if (s.slo_runq_p99_ns) w.Sample({s.workload}, s.violation_intervals_total);
  w.Begin(m::kRunqP99);
  for (const auto& s : status.workloads)
    if (s.slo_runq_p99_ns) w.Sample({s.workload}, Seconds(s.runq_p99_ns));
  w.Begin(m::kRunqObjective);
  for (const auto& s : status.workloads)
    if (s.slo_runq_p99_ns)
      w.Sample({s.workload},
               Seconds(static_cast<uint64_t>(std::max<int64_t>(0, *s.slo_runq_p99_ns))));
  w.Begin(m::kPodAnnotationIgnored);
  for (const auto& s : status.workloads) {
    std::set<std::string> keys;  // "key: why" -> key; unknown keys folded: a pod's own names
    for (const std::string& p : s.annotation_problems) {
      std::string key = p.substr(0, p.find(": "));
      if (key != kAnnotationClass && key != kAnnotationRunqP99 && key != kAnnotationExclusive &&
          key != kAnnotationExclusiveCpus)
        key = "unknown";
      keys.insert(key);
    }
    for (const std::string& k : keys) w.Sample({s.workload, k}, uint64_t{1});
  }
}

void RenderLoop(ExpositionWriter& w, const LoopStats& loop);
void RenderProcess(ExpositionWriter& w, const ProcessStats& p);

void RenderSelf(ExpositionWriter& w, const SelfStats& self) {
  if (!self.mode.empty()) {
    w.Begin(m::kAgentMode);
    w.Sample({self.mode}, uint64_t{1});
  }
  if (self.loop.runs > 0) RenderLoop(w, self.loop);
  if (self.events) {
    w.Begin(m::kK8sEvents);
    w.Sample({"posted"}, self.events->posted);
    w.Sample({"failed"}, self.events->failed);
    w.Sample({"dropped"}, self.events->dropped);
  }
  if (self.process) RenderProcess(w, *self.process);
}

void RenderLoop(ExpositionWriter& w, const LoopStats& loop) {
  w.Begin(m::kLoopSeconds);
  for (const char* phase : {"collect", "controller", "publish"}) {
    auto it = loop.phase_ns.find(phase);
    w.Sample({phase}, Seconds(it == loop.phase_ns.end() ? 0 : it->second));
  }
  w.Begin(m::kLoopRuns);
  w.Sample({}, loop.runs);
  w.Begin(m::kLoopOverruns);
  w.Sample({}, loop.overruns);
  w.Begin(m::kLoopLastRun);
  w.Sample({}, loop.last_run_unix_seconds);
}

void RenderProcess(ExpositionWriter& w, const ProcessStats& p) {
  w.Begin(m::kProcessStart);
  w.Sample({}, p.start_time_seconds);
  w.Begin(m::kProcessCpu);
  w.Sample({}, p.cpu_seconds);
  w.Begin(m::kProcessResident);
  w.Sample({}, p.resident_bytes);
  w.Begin(m::kProcessVirtual);
  w.Sample({}, p.virtual_bytes);
  w.Begin(m::kProcessOpenFds);
  w.Sample({}, p.open_fds);
  w.Begin(m::kProcessMaxFds);
  if (p.max_fds)
    w.Sample({}, *p.max_fds);
  else
    w.Sample({}, std::numeric_limits<double>::infinity());
}

}  // namespace

std::vector<int> RenderOptions::DefaultLeBuckets() {
  std::vector<int> out;
  for (int shift : {14, 16, 17, 18, 19, 20, 21, 22, 25, 30})
    out.push_back(LatencyHistogram::BucketOf(uint64_t{1} << shift));
  return out;
}

std::vector<int> RenderOptions::FullLeBuckets() { return LatencyHistogram::PowerOfTwoEdges(); }

std::string BuildVersion() { return SW_EXPORT_PROJECT_VERSION; }

const char* DropReasonName(int drop) {
  switch (drop) {
    case SW_DROP_WORKLOAD_MAP_FULL:
      return "workload_map_full";
    case SW_DROP_PREEMPT_MAP_FULL:
      return "preempt_map_full";
    case SW_DROP_TASK_STAMP_FULL:
      return "task_stamp_full";
    case SW_DROP_NEGATIVE_DELTA:
      return "negative_delta";
  }
  return "other";
}

std::vector<WorkloadInfo> WorkloadInfoOf(const Snapshot& snap, const PodMetadataSource* pods) {
  std::vector<WorkloadInfo> out;
  for (const auto& [workload, sample] : snap.workloads) {
    const auto id = ParseContainerIdentity(workload);
    if (!id || !id->kubernetes) continue;
    WorkloadInfo info{.workload = workload};
    if (id->qos) info.qos = PodQosName(*id->qos);
    if (auto pod = pods ? pods->PodOf(workload) : std::nullopt) {
      info.namespace_name = pod->namespace_name;
      info.pod = pod->name;
      if (pod->qos) info.qos = PodQosName(*pod->qos);
      if (auto c = pod->containers.find(id->container_id);
          !id->container_id.empty() && c != pod->containers.end())
        info.container = c->second;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::string RenderMetricsText(const PublishedView& view, const RenderOptions& options,
                              size_t size_hint) {
  std::string out;
  out.reserve(WithMargin(size_hint));
  ExpositionWriter w(out);
  w.Begin(m::kBuildInfo);
  w.Sample({options.version}, uint64_t{1});
  if (view.snapshot) {
    RenderHistograms(w, *view.snapshot, options.le);
    RenderCgroupCounters(w, *view.snapshot);
    RenderObserverTotals(w, *view.snapshot);
  }
  RenderWorkloadInfo(w, view.workload_info);
  if (view.status) RenderPolicy(w, *view.status, view.action_counts, view.drift_counts);
  RenderSelf(w, view.self);
  ShedSpareCapacity(out);
  return out;
}

std::string Gzip(const std::string& text, size_t size_hint) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer. Level 1: the text compresses ~10x anyway and
  // this runs every interval.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib deflateInit2 failed");
  // Compressed in chunks appended to `out`, not into a deflateBound-sized buffer: that is the
  // text's size, ~15x what the body needs, and would stay allocated with it.
  std::string out;
  out.reserve(size_hint ? WithMargin(size_hint) : text.size() / 8);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  std::vector<char> chunk(64 * 1024);
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = deflate(&z, Z_FINISH);
    out.append(chunk.data(), chunk.size() - z.avail_out);
  }
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib deflate did not finish");
  ShedSpareCapacity(out);
  return out;
}

RenderedMetrics RenderMetrics(const PublishedView& view, const RenderOptions& options,
                              RenderSizeHint hint) {
  auto text = std::make_shared<const std::string>(RenderMetricsText(view, options, hint.text));
  auto gz = std::make_shared<const std::string>(Gzip(*text, hint.gzip));
  return {std::move(text), std::move(gz)};
}

}  // namespace sw
