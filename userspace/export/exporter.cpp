#include "export/exporter.h"

namespace sw {
namespace {

HttpResponse Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::make_shared<const std::string>(std::move(body));
  return r;
}

// Bodies that are the same on every call: made once.
std::shared_ptr<const std::string> Const(const char* s) {
  return std::make_shared<const std::string>(s);
}

}  // namespace

MetricsExporter::MetricsExporter(ExporterOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), last_run_(clock.Monotonic()) {
  render_.version = options_.version;
  render_.le = LeEdges(options_.le_buckets);
}

void MetricsExporter::Publish(std::shared_ptr<const PublishedView> view) {
  std::lock_guard<std::mutex> lock(mu_);
  view_ = std::move(view);
  published_++;
  last_run_ = clock_.Monotonic();
}

void MetricsExporter::SetAttached() {
  std::lock_guard<std::mutex> lock(mu_);
  attached_ = true;
}

void MetricsExporter::SetShuttingDown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
}

std::shared_ptr<const PublishedView> MetricsExporter::LatestView() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

std::shared_ptr<const RenderedMetrics> MetricsExporter::Latest() const {
  // One render at a time: scrapes arriving together wait for it and share its result.
  std::lock_guard<std::mutex> rendering(render_mu_);
  std::shared_ptr<const PublishedView> view;
  uint64_t published;
  RenderSizeHint hint;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rendered_ && rendered_published_ == published_) return rendered_;
    view = view_;
    published = published_;
    // The stale render serves no later scrape: let it go before the new one is built rather than
    // hold two (~3 MB each at 1,000 workloads) at once. Its sizes size the new one's buffers.
    if (rendered_) hint = {rendered_->text->size(), rendered_->gzip->size()};
    rendered_.reset();
  }
  PublishedView shown = view ? *view : PublishedView{};  // shares the snapshot, copies no series
  if (options_.process_stats && view)
    if (auto p = options_.process_stats(); p) shown.self.process = *p;
  auto rendered = std::make_shared<const RenderedMetrics>(RenderMetrics(shown, render_, hint));
  std::lock_guard<std::mutex> lock(mu_);
  rendered_ = rendered;
  rendered_published_ = published;
  return rendered;
}

HttpResponse MetricsExporter::Metrics(const HttpRequest&) const {
  std::shared_ptr<const RenderedMetrics> m = Latest();
  HttpResponse r;
  r.content_type = kMetricsContentType;
  r.body = m->text;
  r.gzip_body = m->gzip;
  return r;
}

HttpResponse MetricsExporter::Healthz(const HttpRequest&) const {
  static const auto ok = Const("ok\n");
  std::chrono::nanoseconds last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = last_run_;
  }
  const auto since = clock_.Monotonic() - last;
  if (since <= 3 * options_.interval) {
    HttpResponse r;
    r.body = ok;
    return r;
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return Text(
      503, "control loop has not run for " +
               std::to_string(duration_cast<milliseconds>(since).count()) + " ms (interval " +
               std::to_string(duration_cast<milliseconds>(options_.interval).count()) + " ms)\n");
}

HttpResponse MetricsExporter::Readyz(const HttpRequest&) const {
  static const auto ready = Const("ready\n");
  static const auto shutting = Const("shutting down\n");
  static const auto detached = Const("BPF programs not attached yet\n");
  static const auto no_snapshot = Const("no snapshot published yet\n");
  std::lock_guard<std::mutex> lock(mu_);
  HttpResponse r;
  r.status = 503;
  if (shutting_down_)
    r.body = shutting;
  else if (!attached_)
    r.body = detached;
  else if (!view_ || !view_->snapshot)
    r.body = no_snapshot;
  else {
    r.status = 200;
    r.body = ready;
  }
  return r;
}

std::map<std::string, HttpHandler> MetricsExporter::Routes() const {
  return {{"/metrics", [this](const HttpRequest& r) { return Metrics(r); }},
          {"/healthz", [this](const HttpRequest& r) { return Healthz(r); }},
          {"/readyz", [this](const HttpRequest& r) { return Readyz(r); }}};
}

}  // namespace sw
