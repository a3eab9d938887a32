// The /metrics, /healthz and /readyz endpoints' side of the agent. After each interval the agent
// publishes one immutable PublishedView. The first scrape of a view renders it (text and gzip);
// every later scrape of the same view is handed that body. Rendering on demand rather than at
// Publish keeps an unscraped agent from paying for it every interval (at 1,000 workloads a render
// costs tens of ms, an interval is 500 ms, a scrape typically comes every 15 s). The HTTP server
// (http_server.h) calls the handlers from Routes() on its threads.
//
// Histograms are classic Prometheus histograms whose `le` edges are a subset of the BPF bucket
// edges: cumulative counts are exact sums of whole BPF buckets, never interpolated. Names and
// labels: metric_registry.h, docs/metrics.md.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "export/http_server.h"
#include "export/render.h"

namespace sw {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct ExporterOptions {
  std::string version = BuildVersion();  // schedwarden_build_info{version}
  std::vector<int> le_buckets = RenderOptions::DefaultLeBuckets();
  std::chrono::nanoseconds interval = std::chrono::milliseconds(500);  // for /healthz
  // Set: the process_* metrics are read when a view is rendered (on its first scrape), replacing
  // the view's; an unscraped agent does not list /proc/self/fd (thousands of cached cgroupfs
  // files) every interval. An error leaves the view's (absent: no process_* series).
  std::function<Result<ProcessStats>()> process_stats;
};

class MetricsExporter {
 public:
  // clock: for /healthz (monotonic); must outlive the exporter.
  MetricsExporter(ExporterOptions options, const Clock& clock);

  // Hands the view to the next scrapes (rendered by the first of them); counts as a run of the
  // control loop for /healthz. A view with a snapshot makes /readyz ready once attached.
  void Publish(std::shared_ptr<const PublishedView> view);
  // Readiness inputs: the BPF programs are attached; the agent is shutting down.
  void SetAttached();
  void SetShuttingDown();

  std::shared_ptr<const PublishedView> LatestView() const;
  // The latest view rendered: rendered now if no scrape has rendered it yet.
  std::shared_ptr<const RenderedMetrics> Latest() const;

  HttpResponse Metrics(const HttpRequest& request) const;
  HttpResponse Healthz(const HttpRequest& request) const;
  HttpResponse Readyz(const HttpRequest& request) const;
  // /metrics, /healthz, /readyz bound to this exporter (which must outlive the server).
  std::map<std::string, HttpHandler> Routes() const;

 private:
  ExporterOptions options_;
  RenderOptions render_;
  const Clock& clock_;
  mutable std::mutex render_mu_;  // held while rendering, so one render serves concurrent scrapes
  mutable std::mutex mu_;         // guards the fields below
  std::shared_ptr<const PublishedView> view_;
  uint64_t published_ = 0;  // views published so far
  // The render of the view published_ counted; the view itself is not held, so a published view
  // (its full-resolution snapshot) is freed once superseded, scraped or not.
  mutable std::shared_ptr<const RenderedMetrics> rendered_;
  mutable uint64_t rendered_published_ = 0;
  std::chrono::nanoseconds last_run_;  // monotonic; construction time before the first run
  bool attached_ = false, shutting_down_ = false;
};

}  // namespace sw
