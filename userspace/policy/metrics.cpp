#include "policy/metrics.h"

namespace sw {
namespace {
constexpr const char* kActions = "schedwarden_actions_total";
constexpr const char* kClass = "schedwarden_workload_class";
constexpr const char* kExclusive = "schedwarden_exclusive_cpus";
constexpr const char* kViolations = "schedwarden_slo_violation_intervals_total";
constexpr const char* kP99 = "schedwarden_workload_runq_p99_seconds";
constexpr const char* kSharedPool = "schedwarden_shared_pool_cpus";

}  // namespace

const std::vector<std::string>& PolicyMetricNames() {
  static const std::vector<std::string> names = {kActions,    kClass, kExclusive,
                                                 kViolations, kP99,   kSharedPool};
  return names;
}

namespace {

prometheus::ClientMetric Sample(std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  return m;
}

}  // namespace

std::vector<prometheus::MetricFamily> PolicyMetrics::Collect() const {
  using prometheus::MetricType;
  const StatusModel status = controller_.Status();
  const auto counts = controller_.ActionCounts();

  prometheus::MetricFamily actions{kActions,
                                   "Decisions of the controller by action, workload and result",
                                   MetricType::Counter,
                                   {}};
  for (const auto& [key, n] : counts) {
    auto m = Sample({{"action", std::get<0>(key)},
                     {"workload", std::get<1>(key)},
                     {"result", std::get<2>(key)}});
    m.counter.value = static_cast<double>(n);
    actions.metric.push_back(std::move(m));
  }

  prometheus::MetricFamily cls{
      kClass, "Class of each classified workload (info metric, value 1)", MetricType::Gauge, {}};
  prometheus::MetricFamily excl{
      kExclusive, "Exclusive CPUs held by a workload", MetricType::Gauge, {}};
  prometheus::MetricFamily viol{kViolations,
                                "Intervals in which a workload's run-queue p99 objective was "
                                "violated",
                                MetricType::Counter,
                                {}};
  prometheus::MetricFamily p99{kP99,
                               "Run-queue latency p99 of a watched workload over the last "
                               "interval (bucket upper edge)",
                               MetricType::Gauge,
                               {}};
  for (const auto& w : status.workloads) {
    auto c = Sample({{"workload", w.workload}, {"class", w.cls}, {"rule", w.rule}});
    c.gauge.value = 1;
    cls.metric.push_back(std::move(c));
    auto e = Sample({{"workload", w.workload}});
    e.gauge.value = w.exclusive_count;
    excl.metric.push_back(std::move(e));
    if (w.slo_runq_p99_ns) {
      auto v = Sample({{"workload", w.workload}});
      v.counter.value = static_cast<double>(w.violation_intervals_total);
      viol.metric.push_back(std::move(v));
      auto q = Sample({{"workload", w.workload}});
      q.gauge.value = w.runq_p99_ns / 1e9;
      p99.metric.push_back(std::move(q));
    }
  }
  prometheus::MetricFamily shared{kSharedPool,
                                  "CPUs left in the shared pool (online CPUs minus exclusive)",
                                  MetricType::Gauge,
                                  {}};
  auto s = Sample({});
  s.gauge.value = status.shared_pool_cpus;
  shared.metric.push_back(std::move(s));
  return {actions, cls, excl, shared, viol, p99};
}

}  // namespace sw
