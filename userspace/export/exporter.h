// Prometheus export of the collector's Snapshots. SnapshotCollectable builds the MetricFamilys at
// scrape time from the latest published Snapshot (a shared_ptr swapped under a mutex, so a scrape
// never sees half an update and never blocks the collector for long). MetricsExporter owns the
// HTTP endpoint (prometheus-cpp Exposer, civetweb inside) on 127.0.0.1:9750 by default.
//
// Histograms are classic Prometheus histograms whose `le` edges are a subset of the BPF bucket
// edges (default: the powers of two, LatencyHistogram::PowerOfTwoEdges()): cumulative counts are
// exact sums of whole BPF buckets, never interpolated. Names and labels: docs/metrics.md.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collect/histogram.h"
#include "collect/snapshot.h"
#include "common/result.h"

namespace prometheus {
class Exposer;
}

namespace sw {

// Every metric family name this exporter can produce (dashboards and docs are checked against it).
const std::vector<std::string>& ExportedMetricNames();
// The project version this library was built with (CMake's PROJECT_VERSION).
std::string BuildVersion();
// Label value of each sw_drop reason: "workload_map_full", ...
const char* DropReasonName(int drop);

class SnapshotCollectable final : public prometheus::Collectable {
 public:
  // le_buckets: BPF bucket indices whose upper edges become `le` values (sorted, no overflow
  // bucket); "+Inf" is always added.
  explicit SnapshotCollectable(std::string version,
                               std::vector<int> le_buckets = LatencyHistogram::PowerOfTwoEdges());

  void Publish(std::shared_ptr<const Snapshot> snapshot);
  std::shared_ptr<const Snapshot> Latest() const;
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string version_;
  std::vector<int> le_buckets_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> latest_;
};

struct ExporterOptions {
  std::string listen = "127.0.0.1:9750";  // host:port; port 0 picks a free one (tests)
  std::string version = BuildVersion();   // schedwarden_build_info{version}
  std::vector<int> le_buckets = LatencyHistogram::PowerOfTwoEdges();
};

class MetricsExporter {
 public:
  // Binds and starts serving /metrics. Error naming the address when it cannot bind.
  static Result<std::unique_ptr<MetricsExporter>> Start(ExporterOptions options = {});
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // Hands the collector's latest Snapshot to the next scrapes.
  void Publish(Snapshot snapshot);
  // Extra metrics served on the same /metrics (e.g. the policy engine's); kept alive here.
  void Register(std::shared_ptr<prometheus::Collectable> collectable);
  // Ports actually bound (useful with port 0).
  std::vector<int> ListeningPorts() const;
  const std::string& address() const { return options_.listen; }
  std::shared_ptr<SnapshotCollectable> snapshots() const { return snapshots_; }

 private:
  explicit MetricsExporter(ExporterOptions options);
  ExporterOptions options_;
  std::shared_ptr<SnapshotCollectable> snapshots_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace sw
