#include "export/metric_registry.h"

namespace sw {
namespace {

using T = MetricType;

// Indices into the table below, for the named references.
enum Index {
  kBuildInfoI,
  kRunqLatencyI,
  kThrottleWaitI,
  kThrottleEventsI,
  kCpuPeriodsI,
  kCpuThrottledPeriodsI,
  kCpuThrottledSecondsI,
  kCpuUsageI,
  kPressureI,
  kPreemptionsI,
  kProgramRunSecondsI,
  kProgramRunsI,
  kDroppedI,
  kWorkloadSeriesI,
  kOverflowedI,
  kWorkloadInfoI,
  kActionsI,
  kDriftI,
  kWorkloadClassI,
  kExclusiveCpusI,
  kSharedPoolCpusI,
  kViolationsI,
  kRunqP99I,
  kRunqObjectiveI,
  kPodAnnotationIgnoredI,
  kAgentModeI,
  kLoopSecondsI,
  kLoopRunsI,
  kLoopOverrunsI,
  kLoopLastRunI,
  kK8sEventsI,
  kProcessStartI,
  kProcessCpuI,
  kProcessResidentI,
  kProcessVirtualI,
  kProcessOpenFdsI,
  kProcessMaxFdsI,
  kCount
};

// The observer's metrics: scheduler signals, cgroup accounting, the BPF side.
void ObserverMetrics(std::vector<MetricDef>& t) {
  t[kBuildInfoI] = {
      "schedwarden_build_info", T::kGauge, "schedwarden build; the value is always 1", {"version"}};
  // Scheduler signals (BPF).
  t[kRunqLatencyI] = {"schedwarden_runq_latency_seconds",
                      T::kHistogram,
                      "Time runnable threads of a workload waited in the run queue, by why they "
                      "became runnable (wakeup or involuntary preemption); CFS quota throttling "
                      "is not included",
                      {"reason", "workload"}};
  t[kThrottleWaitI] = {
      "schedwarden_throttle_wait_seconds",
      T::kHistogram,
      "Time threads of a workload waited while its cgroup was throttled by its CFS quota",
      {"workload"}};
  t[kThrottleEventsI] = {"schedwarden_throttle_events_total",
                         T::kCounter,
                         "Context switches out of a workload's threads while CFS-throttled (BPF)",
                         {"workload"}};
  // Cgroup accounting.
  t[kCpuPeriodsI] = {"schedwarden_cgroup_cpu_periods_total",
                     T::kCounter,
                     "cpu.stat nr_periods of the workload's cgroup: CFS enforcement periods",
                     {"workload"}};
  t[kCpuThrottledPeriodsI] = {"schedwarden_cgroup_cpu_throttled_periods_total",
                              T::kCounter,
                              "cpu.stat nr_throttled of the workload's cgroup",
                              {"workload"}};
  t[kCpuThrottledSecondsI] = {
      "schedwarden_cgroup_cpu_throttled_seconds_total",
      T::kCounter,
      "cpu.stat throttled time of the workload's cgroup (throttled_time / throttled_usec)",
      {"workload"}};
  t[kCpuUsageI] = {"schedwarden_cpu_usage_seconds_total",
                   T::kCounter,
                   "CPU time the workload's cgroup received (cpuacct.usage or cpu.stat usage_usec)",
                   {"workload"}};
  t[kPressureI] = {
      "schedwarden_cgroup_cpu_pressure_seconds_total",
      T::kCounter,
      "PSI cpu.pressure total of the workload's cgroup (kind some|full); only with PSI on",
      {"kind", "workload"}};
  t[kPreemptionsI] = {
      "schedwarden_preemptions_total",
      T::kCounter,
      "Involuntary preemptions of a victim workload's thread by an aggressor workload's thread",
      {"aggressor", "victim"}};
  // The BPF side and cardinality.
  t[kProgramRunSecondsI] = {
      "schedwarden_bpf_program_run_seconds_total",
      T::kCounter,
      "Time spent in each schedwarden BPF program (kernel.bpf_stats_enabled=1)",
      {"program"}};
  t[kProgramRunsI] = {"schedwarden_bpf_program_runs_total",
                      T::kCounter,
                      "Runs of each schedwarden BPF program (kernel.bpf_stats_enabled=1)",
                      {"program"}};
  t[kDroppedI] = {"schedwarden_bpf_dropped_total",
                  T::kCounter,
                  "Events the BPF programs could not account, by reason (never silently lost)",
                  {"reason"}};
  t[kWorkloadSeriesI] = {
      "schedwarden_workload_series",
      T::kGauge,
      "Workload series exported now, including the \"unknown\" and \"overflow\" series",
      {}};
  t[kOverflowedI] = {
      "schedwarden_workloads_overflowed",
      T::kGauge,
      "Workloads folded into the \"overflow\" series because max_workloads series were in use",
      {}};
  t[kWorkloadInfoI] = {"schedwarden_workload_info",
                       T::kGauge,
                       "Kubernetes identity of each workload that is a pod or a container (info "
                       "metric, value 1); namespace, pod and container are empty while the "
                       "runtime has not named the pod",
                       {"workload", "namespace", "pod", "container", "qos"}};
}

// The policy engine's and the agent's own.
void AgentMetrics(std::vector<MetricDef>& t) {
  t[kActionsI] = {"schedwarden_actions_total",
                  T::kCounter,
                  "Decisions of the controller by action, workload and result",
                  {"action", "workload", "result"}};
  t[kWorkloadClassI] = {"schedwarden_workload_class",
                        T::kGauge,
                        "Class of each classified workload (info metric, value 1)",
                        {"workload", "class", "rule"}};
  t[kExclusiveCpusI] = {
      "schedwarden_exclusive_cpus", T::kGauge, "Exclusive CPUs held by a workload", {"workload"}};
  t[kDriftI] = {"schedwarden_enforcement_drift_total",
                T::kCounter,
                "Changes of the agent given up because another writer (kubelet) rewrote the file, "
                "by file",
                {"kind"}};
  t[kSharedPoolCpusI] = {"schedwarden_shared_pool_cpus",
                         T::kGauge,
                         "CPUs left in the shared pool (online CPUs minus exclusive)",
                         {}};
  t[kViolationsI] = {"schedwarden_slo_violation_intervals_total",
                     T::kCounter,
                     "Intervals in which a workload's run-queue p99 objective was violated",
                     {"workload"}};
  t[kRunqP99I] = {"schedwarden_workload_runq_p99_seconds",
                  T::kGauge,
                  "Run-queue latency p99 of a watched workload over the last interval (bucket "
                  "upper edge)",
                  {"workload"}};
  t[kRunqObjectiveI] = {"schedwarden_workload_runq_objective_seconds",
                        T::kGauge,
                        "Configured run-queue p99 objective of a watched workload",
                        {"workload"}};
  t[kPodAnnotationIgnoredI] = {"schedwarden_pod_annotation_ignored",
                               T::kGauge,
                               "A schedwarden.io annotation of a workload's pod that is ignored "
                               "because its value is bad (info metric, value 1; why: status)",
                               {"workload", "annotation"}};
  // The agent itself.
  t[kAgentModeI] = {"schedwarden_agent_mode",
                    T::kGauge,
                    "Enforcement mode the agent runs in (observe|dry-run|enforce); always 1",
                    {"mode"}};
  t[kLoopSecondsI] = {"schedwarden_control_loop_seconds_total",
                      T::kCounter,
                      "Time the control loop spent per phase (collect|controller|publish)",
                      {"phase"}};
  t[kLoopRunsI] = {
      "schedwarden_control_loop_runs_total", T::kCounter, "Control intervals completed", {}};
  t[kLoopOverrunsI] = {"schedwarden_control_loop_overruns_total",
                       T::kCounter,
                       "Control intervals whose work took longer than the configured interval",
                       {}};
  t[kLoopLastRunI] = {"schedwarden_control_loop_last_run_timestamp_seconds",
                      T::kGauge,
                      "Unix time at which the last control interval completed",
                      {}};
  t[kK8sEventsI] = {"schedwarden_kubernetes_events_total",
                    T::kCounter,
                    "Kubernetes Events for enforcement actions (posted|failed|dropped)",
                    {"result"}};
  t[kProcessStartI] = {"process_start_time_seconds",
                       T::kGauge,
                       "Start time of the process since unix epoch in seconds",
                       {}};
  t[kProcessCpuI] = {"process_cpu_seconds_total",
                     T::kCounter,
                     "Total user and system CPU time spent in seconds",
                     {}};
  t[kProcessResidentI] = {
      "process_resident_memory_bytes", T::kGauge, "Resident memory size in bytes", {}};
  t[kProcessVirtualI] = {
      "process_virtual_memory_bytes", T::kGauge, "Virtual memory size in bytes", {}};
  t[kProcessOpenFdsI] = {"process_open_fds", T::kGauge, "Number of open file descriptors", {}};
  t[kProcessMaxFdsI] = {
      "process_max_fds", T::kGauge, "Maximum number of open file descriptors", {}};
}

const std::vector<MetricDef>& Table() {
  static const std::vector<MetricDef> table = [] {
    std::vector<MetricDef> t(kCount);
    ObserverMetrics(t);
    AgentMetrics(t);
    return t;
  }();
  return table;
}

}  // namespace

const char* MetricTypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

const std::vector<MetricDef>& MetricRegistry() { return Table(); }

const std::vector<std::string>& ExportedMetricNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const MetricDef& d : Table()) n.emplace_back(d.name);
    return n;
  }();
  return names;
}

namespace metric {
const MetricDef &kBuildInfo = Table()[kBuildInfoI], &kRunqLatency = Table()[kRunqLatencyI],
                &kThrottleWait = Table()[kThrottleWaitI],
                &kThrottleEvents = Table()[kThrottleEventsI], &kCpuPeriods = Table()[kCpuPeriodsI],
                &kCpuThrottledPeriods = Table()[kCpuThrottledPeriodsI],
                &kCpuThrottledSeconds = Table()[kCpuThrottledSecondsI],
                &kCpuUsage = Table()[kCpuUsageI], &kPressure = Table()[kPressureI],
                &kPreemptions = Table()[kPreemptionsI],
                &kProgramRunSeconds = Table()[kProgramRunSecondsI],
                &kProgramRuns = Table()[kProgramRunsI], &kDropped = Table()[kDroppedI],
                &kWorkloadSeries = Table()[kWorkloadSeriesI], &kOverflowed = Table()[kOverflowedI],
                &kActions = Table()[kActionsI], &kWorkloadClass = Table()[kWorkloadClassI],
                &kWorkloadInfo = Table()[kWorkloadInfoI],
                &kExclusiveCpus = Table()[kExclusiveCpusI],
                &kSharedPoolCpus = Table()[kSharedPoolCpusI], &kDrift = Table()[kDriftI],
                &kViolations = Table()[kViolationsI], &kRunqP99 = Table()[kRunqP99I],
                &kRunqObjective = Table()[kRunqObjectiveI],
                &kPodAnnotationIgnored = Table()[kPodAnnotationIgnoredI],
                &kAgentMode = Table()[kAgentModeI], &kLoopSeconds = Table()[kLoopSecondsI],
                &kLoopRuns = Table()[kLoopRunsI], &kLoopOverruns = Table()[kLoopOverrunsI],
                &kLoopLastRun = Table()[kLoopLastRunI], &kK8sEvents = Table()[kK8sEventsI],
                &kProcessStart = Table()[kProcessStartI], &kProcessCpu = Table()[kProcessCpuI],
                &kProcessResident = Table()[kProcessResidentI],
                &kProcessVirtual = Table()[kProcessVirtualI],
                &kProcessOpenFds = Table()[kProcessOpenFdsI],
                &kProcessMaxFds = Table()[kProcessMaxFdsI];
}  // namespace metric

}  // namespace sw
