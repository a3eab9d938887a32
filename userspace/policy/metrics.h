// The policy's Prometheus metrics, built at scrape time from the Controller's state:
//   schedwarden_actions_total{action,workload,result}       counter
//   schedwarden_workload_class{workload,class,rule}          info gauge (=1)
//   schedwarden_exclusive_cpus{workload}                     gauge
//   schedwarden_shared_pool_cpus                             gauge
//   schedwarden_slo_violation_intervals_total{workload}      counter
//   schedwarden_workload_runq_p99_seconds{workload}          gauge (last interval, watched only)
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "policy/controller.h"

namespace sw {

// Every metric family name PolicyMetrics can produce (dashboards and docs are checked against it).
const std::vector<std::string>& PolicyMetricNames();

class PolicyMetrics final : public prometheus::Collectable {
 public:
  explicit PolicyMetrics(const Controller& controller) : controller_(controller) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Controller& controller_;
};

}  // namespace sw
