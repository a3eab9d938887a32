// The one table of every metric the agent serves: name, type, help and label names (in the order
// they are printed). The renderer writes only these; docs/metrics.md and the dashboards are
// checked against it (tests/unit/export/dashboards_test.cpp). Names and label sets are a contract
// with dashboards and alert rules: do not rename.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sw {

enum class MetricType { kCounter, kGauge, kHistogram };

struct MetricDef {
  std::string_view name;
  MetricType type;
  std::string_view help;
  std::vector<std::string_view> labels;  // without `le`
};

const char* MetricTypeName(MetricType t);  // "counter" | "gauge" | "histogram"

// Every metric, in the order the renderer writes them.
const std::vector<MetricDef>& MetricRegistry();
// The table's names.
const std::vector<std::string>& ExportedMetricNames();

// Each metric by name, for the renderer (the registry's entries, not copies).
namespace metric {
extern const MetricDef &kBuildInfo, &kRunqLatency, &kThrottleWait, &kThrottleEvents, &kCpuPeriods,
    &kCpuThrottledPeriods, &kCpuThrottledSeconds, &kCpuUsage, &kPressure, &kPreemptions,
    &kProgramRunSeconds, &kProgramRuns, &kDropped, &kWorkloadSeries, &kOverflowed, &kActions,
    &kWorkloadClass, &kWorkloadInfo, &kExclusiveCpus, &kSharedPoolCpus, &kDrift, &kViolations,
    &kRunqP99, &kRunqObjective, &kPodAnnotationIgnored, &kAgentMode, &kLoopSeconds, &kLoopRuns,
    &kLoopOverruns, &kLoopLastRun, &kK8sEvents, &kProcessStart, &kProcessCpu, &kProcessResident,
    &kProcessVirtual, &kProcessOpenFds, &kProcessMaxFds;
}  // namespace metric

}  // namespace sw
