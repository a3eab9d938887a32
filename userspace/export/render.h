// Everything /metrics shows, rendered once per interval. The agent builds one immutable
// PublishedView after each interval; RenderMetrics turns it into the text exposition and its
// gzip, which every scrape until the next interval is handed (shared, never copied).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "collect/snapshot.h"
#include "export/exposition.h"
#include "export/self_stats.h"
#include "k8s/pod_metadata.h"
#include "policy/status.h"

namespace sw {

using ActionCountMap = std::map<std::tuple<std::string, std::string, std::string>, uint64_t>;

// The Kubernetes identity of one workload: schedwarden_workload_info's labels.
struct WorkloadInfo {
  std::string workload, namespace_name, pod, container, qos;
  bool operator==(const WorkloadInfo&) const = default;
};

// One entry per workload of `snap` whose cgroup is a Kubernetes pod's or container's (by its
// path), named by `pods` when it knows the pod (null: identity off). Never blocks: PodOf answers
// from the source's cache.
std::vector<WorkloadInfo> WorkloadInfoOf(const Snapshot& snap, const PodMetadataSource* pods);

struct PublishedView {
  std::shared_ptr<const Snapshot> snapshot;      // null before the first interval
  std::vector<WorkloadInfo> workload_info;       // WorkloadInfoOf(*snapshot, ...)
  std::optional<StatusModel> status;             // the controller's (Controller::Status())
  ActionCountMap action_counts;                  // (action, workload, result) -> count
  std::map<std::string, uint64_t> drift_counts;  // file kind -> changes given up to drift
  SelfStats self;
};

struct RenderOptions {
  std::string version;  // schedwarden_build_info{version}
  LeEdges le{DefaultLeBuckets()};

  // The default `le` edges: 10 BPF bucket edges from 16 µs to 1.07 s, a factor 2 apart where
  // run-queue objectives usually are (65 µs to 4 ms), then 33.5 ms and 1.07 s (docs/metrics.md).
  static std::vector<int> DefaultLeBuckets();
  // Every power of two of BPF bucket edges (1.024 µs ... 17.18 s): 25 edges.
  static std::vector<int> FullLeBuckets();
};

// Sizes of a previous render: the next one reserves them (plus 1/4) up front, so a multi-MB
// body is neither grown by doubling nor copied to shed its spare capacity.
struct RenderSizeHint {
  size_t text = 0, gzip = 0;
};

// The text exposition (format 0.0.4) of a view. Below 1 MiB its capacity exceeds its size by at
// most 1/8 (above, the spare pages are never touched).
std::string RenderMetricsText(const PublishedView& view, const RenderOptions& options,
                              size_t size_hint = 0);
// gzip (RFC 1952) of `text`; below 1 MiB its capacity exceeds its size by at most 1/8.
std::string Gzip(const std::string& text, size_t size_hint = 0);

struct RenderedMetrics {
  std::shared_ptr<const std::string> text;
  std::shared_ptr<const std::string> gzip;
};
RenderedMetrics RenderMetrics(const PublishedView& view, const RenderOptions& options,
                              RenderSizeHint hint = {});

// Label value of each sw_drop reason: "workload_map_full", ...
const char* DropReasonName(int drop);
// The project version this library was built with (CMake's PROJECT_VERSION).
std::string BuildVersion();

}  // namespace sw
