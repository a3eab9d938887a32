#include "export/exporter.h"

#include <prometheus/exposer.h>

#include <cerrno>
#include <exception>
#include <map>

namespace sw {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr double kNsPerSecond = 1e9;

const char* const kRunqLatency = "schedwarden_runq_latency_seconds";
const char* const kThrottleWait = "schedwarden_throttle_wait_seconds";
const char* const kThrottleEvents = "schedwarden_throttle_events_total";
const char* const kCpuPeriods = "schedwarden_cgroup_cpu_periods_total";
const char* const kCpuThrottledPeriods = "schedwarden_cgroup_cpu_throttled_periods_total";
const char* const kCpuThrottledSeconds = "schedwarden_cgroup_cpu_throttled_seconds_total";
const char* const kCpuUsage = "schedwarden_cpu_usage_seconds_total";
const char* const kPressure = "schedwarden_cgroup_cpu_pressure_seconds_total";
const char* const kPreemptions = "schedwarden_preemptions_total";
const char* const kProgramRunSeconds = "schedwarden_bpf_program_run_seconds_total";
const char* const kProgramRuns = "schedwarden_bpf_program_runs_total";
const char* const kDropped = "schedwarden_bpf_dropped_total";
const char* const kBuildInfo = "schedwarden_build_info";
const char* const kWorkloadSeries = "schedwarden_workload_series";
const char* const kOverflowed = "schedwarden_workloads_overflowed";

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

ClientMetric Counter(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

ClientMetric Gauge(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

// Cumulative counts at the chosen BPF bucket edges: each `le` count is the exact sum of every
// BPF bucket at or below that edge, because every chosen edge is a BPF bucket's upper edge.
ClientMetric Histogram(std::vector<ClientMetric::Label> labels, const LatencyHistogram& h,
                       const std::vector<int>& le_buckets) {
  ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  int next = 0;
  for (int b : le_buckets) {
    for (; next <= b; next++) cumulative += h.BucketCount(next);
    m.histogram.bucket.push_back(
        {cumulative, static_cast<double>(LatencyHistogram::UpperEdgeNs(b)) / kNsPerSecond});
  }
  uint64_t total = h.Count();
  m.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = total;
  m.histogram.sample_sum = static_cast<double>(h.SumNs()) / kNsPerSecond;
  return m;
}

}  // namespace

const std::vector<std::string>& ExportedMetricNames() {
  static const std::vector<std::string> names = {
      kRunqLatency,         kThrottleWait, kThrottleEvents, kCpuPeriods,     kCpuThrottledPeriods,
      kCpuThrottledSeconds, kCpuUsage,     kPressure,       kPreemptions,    kProgramRunSeconds,
      kProgramRuns,         kDropped,      kBuildInfo,      kWorkloadSeries, kOverflowed};
  return names;
}

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

SnapshotCollectable::SnapshotCollectable(std::string version, std::vector<int> le_buckets)
    : version_(std::move(version)), le_buckets_(std::move(le_buckets)) {
  // The overflow bucket has no finite edge; "+Inf" stands for it.
  std::erase_if(le_buckets_, [](int b) { return b < 0 || b >= LatencyHistogram::kBuckets - 1; });
  std::sort(le_buckets_.begin(), le_buckets_.end());
  le_buckets_.erase(std::unique(le_buckets_.begin(), le_buckets_.end()), le_buckets_.end());
}

void SnapshotCollectable::Publish(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  latest_ = std::move(snapshot);
}

std::shared_ptr<const Snapshot> SnapshotCollectable::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

std::vector<MetricFamily> SnapshotCollectable::Collect() const {
  std::vector<MetricFamily> out;
  MetricFamily build =
      Family(kBuildInfo, "schedwarden build; the value is always 1", MetricType::Gauge);
  build.metric.push_back(Gauge({{"version", version_}}, 1));
  out.push_back(std::move(build));

  std::shared_ptr<const Snapshot> snap = Latest();  // the scrape works on this one, lock released
  if (!snap) return out;

  MetricFamily runq = Family(kRunqLatency,
                             "Time runnable threads of a workload waited in the run queue, by why "
                             "they became runnable (wakeup or involuntary preemption); CFS quota "
                             "throttling is not included",
                             MetricType::Histogram);
  MetricFamily throttle_wait =
      Family(kThrottleWait,
             "Time threads of a workload waited while its cgroup was throttled by its CFS quota",
             MetricType::Histogram);
  MetricFamily throttle_events = Family(
      kThrottleEvents, "Context switches out of a workload's threads while CFS-throttled (BPF)",
      MetricType::Counter);
  MetricFamily periods =
      Family(kCpuPeriods, "cpu.stat nr_periods of the workload's cgroup: CFS enforcement periods",
             MetricType::Counter);
  MetricFamily throttled_periods = Family(
      kCpuThrottledPeriods, "cpu.stat nr_throttled of the workload's cgroup", MetricType::Counter);
  MetricFamily throttled_seconds =
      Family(kCpuThrottledSeconds,
             "cpu.stat throttled time of the workload's cgroup (throttled_time / throttled_usec)",
             MetricType::Counter);
  MetricFamily usage = Family(
      kCpuUsage, "CPU time the workload's cgroup received (cpuacct.usage or cpu.stat usage_usec)",
      MetricType::Counter);
  MetricFamily pressure =
      Family(kPressure,
             "PSI cpu.pressure total of the workload's cgroup (kind some|full); only with PSI on",
             MetricType::Counter);
  for (const auto& [label, s] : snap->workloads) {
    runq.metric.push_back(
        Histogram({{"reason", "wakeup"}, {"workload", label}}, s.runq_wakeup, le_buckets_));
    runq.metric.push_back(
        Histogram({{"reason", "preempted"}, {"workload", label}}, s.runq_preempted, le_buckets_));
    throttle_wait.metric.push_back(Histogram({{"workload", label}}, s.throttle_wait, le_buckets_));
    throttle_events.metric.push_back(
        Counter({{"workload", label}}, static_cast<double>(s.throttle_events)));
    if (s.cpu_stat) {
      periods.metric.push_back(
          Counter({{"workload", label}}, static_cast<double>(s.cpu_stat->nr_periods)));
      throttled_periods.metric.push_back(
          Counter({{"workload", label}}, static_cast<double>(s.cpu_stat->nr_throttled)));
      throttled_seconds.metric.push_back(
          Counter({{"workload", label}}, s.cpu_stat->throttled_ns / kNsPerSecond));
    }
    if (s.cpu_usage_ns)
      usage.metric.push_back(Counter({{"workload", label}}, *s.cpu_usage_ns / kNsPerSecond));
    if (s.psi) {
      pressure.metric.push_back(
          Counter({{"kind", "some"}, {"workload", label}}, s.psi->some_total_ns / kNsPerSecond));
      pressure.metric.push_back(
          Counter({{"kind", "full"}, {"workload", label}}, s.psi->full_total_ns / kNsPerSecond));
    }
  }

  MetricFamily preemptions = Family(
      kPreemptions,
      "Involuntary preemptions of a victim workload's thread by an aggressor workload's thread",
      MetricType::Counter);
  for (const auto& [pair, n] : snap->preemptions)
    preemptions.metric.push_back(
        Counter({{"aggressor", pair.second}, {"victim", pair.first}}, static_cast<double>(n)));

  MetricFamily dropped =
      Family(kDropped, "Events the BPF programs could not account, by reason (never silently lost)",
             MetricType::Counter);
  for (int d = 0; d < SW_NR_DROPS; d++)
    dropped.metric.push_back(
        Counter({{"reason", DropReasonName(d)}}, static_cast<double>(snap->dropped[d])));

  MetricFamily prog_seconds = Family(
      kProgramRunSeconds, "Time spent in each schedwarden BPF program (kernel.bpf_stats_enabled=1)",
      MetricType::Counter);
  MetricFamily prog_runs =
      Family(kProgramRuns, "Runs of each schedwarden BPF program (kernel.bpf_stats_enabled=1)",
             MetricType::Counter);
  if (snap->bpf_stats_enabled) {
    for (const BpfProgramStats& p : snap->programs) {
      prog_seconds.metric.push_back(Counter({{"program", p.name}}, p.run_time_ns / kNsPerSecond));
      prog_runs.metric.push_back(Counter({{"program", p.name}}, static_cast<double>(p.run_count)));
    }
  }

  MetricFamily series =
      Family(kWorkloadSeries,
             "Workload series exported now, including the \"unknown\" and \"overflow\" series",
             MetricType::Gauge);
  series.metric.push_back(Gauge({}, static_cast<double>(snap->workloads.size())));
  MetricFamily overflowed = Family(
      kOverflowed,
      "Workloads folded into the \"overflow\" series because max_workloads series were in use",
      MetricType::Gauge);
  overflowed.metric.push_back(Gauge({}, static_cast<double>(snap->overflowed_workloads)));

  for (MetricFamily* f :
       {&runq, &throttle_wait, &throttle_events, &periods, &throttled_periods, &throttled_seconds,
        &usage, &pressure, &preemptions, &dropped, &prog_seconds, &prog_runs, &series, &overflowed})
    if (!f->metric.empty()) out.push_back(std::move(*f));
  return out;
}

MetricsExporter::MetricsExporter(ExporterOptions options)
    : options_(std::move(options)),
      snapshots_(std::make_shared<SnapshotCollectable>(options_.version, options_.le_buckets)) {}

MetricsExporter::~MetricsExporter() = default;

Result<std::unique_ptr<MetricsExporter>> MetricsExporter::Start(ExporterOptions options) {
  const std::string& addr = options.listen;
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size() ||
      addr.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return Error{EINVAL, "listen address '" + addr +
                             "' is not host:port (for example 127.0.0.1:9750 or [::1]:9750)"};
  std::unique_ptr<MetricsExporter> e(new MetricsExporter(std::move(options)));
  try {
    e->exposer_ = std::make_unique<prometheus::Exposer>(e->options_.listen, 2);
  } catch (const std::exception& ex) {
    return Error{EADDRINUSE, "cannot serve metrics on " + e->options_.listen + ": " + ex.what() +
                                 " (is another schedwarden or exporter using that port? choose "
                                 "another with --listen)"};
  }
  e->exposer_->RegisterCollectable(e->snapshots_);
  return e;
}

void MetricsExporter::Publish(Snapshot snapshot) {
  snapshots_->Publish(std::make_shared<const Snapshot>(std::move(snapshot)));
}

void MetricsExporter::Register(std::shared_ptr<prometheus::Collectable> collectable) {
  exposer_->RegisterCollectable(collectable);
  extra_.push_back(std::move(collectable));
}

std::vector<int> MetricsExporter::ListeningPorts() const { return exposer_->GetListeningPorts(); }

}  // namespace sw
