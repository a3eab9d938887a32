// Cost of rendering /metrics for a synthetic snapshot: text and gzip size, series, time to render
// (once per interval) and to answer one scrape (hand out the shared body). Prints numbers only.
//
//   build/bench/sw_render_bench [workloads=1000] [buckets=default|full]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "export/exporter.h"
#include "support/fake_clock.h"

namespace {

using Clock = std::chrono::steady_clock;

sw::Snapshot Synthetic(int n) {
  sw::Snapshot s;
  uint64_t x = 88172645463325252ULL;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < n; i++) {
    char name[96];
    std::snprintf(name, sizeof name, "/kubepods/burstable/pod%08x-1234-5678-9abc-%012d", i, i);
    sw::WorkloadSample& w = s.workloads[name];
    w.workload = w.cgroup_path = name;
    for (int k = 0; k < 200; k++) {
      w.runq_wakeup.Record(1000 + next() % 50'000'000, 1 + next() % 100);
      w.runq_preempted.Record(1000 + next() % 5'000'000, 1 + next() % 10);
    }
    w.throttle_events = next() % 1000;
    w.cpu_stat = sw::CpuStatSample{next() % 100000, next() % 1000, next() % 10'000'000'000};
    w.cpu_usage_ns = next() % 100'000'000'000'000;
    if (i % 4 == 0) w.throttle_wait.Record(next() % 100'000'000, 3);  // a quarter has a quota
  }
  int pairs = 0;
  for (const auto& [a, _] : s.workloads) {
    if (pairs++ > 2 * n) break;
    s.preemptions[{a, s.workloads.begin()->first}] = next() % 100000;
    s.preemptions[{s.workloads.begin()->first, a}] = next() % 100000;
  }
  s.bpf_stats_enabled = true;
  s.programs = {{"sched_switch", 123456789, 98765}, {"sched_wakeup", 23456789, 8765}};
  return s;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const bool full = argc > 2 && std::string(argv[2]) == "full";
  sw::PublishedView view;
  view.snapshot = std::make_shared<const sw::Snapshot>(Synthetic(n));
  sw::StatusModel st;
  st.mode = "enforce";
  for (const auto& [name, _] : view.snapshot->workloads) {
    sw::WorkloadStatus w;
    w.workload = name;
    w.cls = "latency-critical";
    w.rule = "web";
    w.slo_runq_p99_ns = 2'000'000;
    if (st.workloads.size() < static_cast<size_t>(n / 10)) st.workloads.push_back(w);
  }
  view.status = st;
  sw::RenderOptions o;
  o.version = "bench";
  o.le = sw::LeEdges(full ? sw::RenderOptions::FullLeBuckets()
                          : sw::RenderOptions::DefaultLeBuckets());
  std::vector<double> render_ms, gzip_ms;
  std::string text, gz;
  for (int i = 0; i < 7; i++) {
    auto t0 = Clock::now();
    text = sw::RenderMetricsText(view, o);
    auto t1 = Clock::now();
    gz = sw::Gzip(text);
    auto t2 = Clock::now();
    render_ms.push_back(Ms(t1 - t0));
    gzip_ms.push_back(Ms(t2 - t1));
  }
  std::sort(render_ms.begin(), render_ms.end());
  std::sort(gzip_ms.begin(), gzip_ms.end());
  size_t series = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (text[pos] != '#') series++;
    pos = eol + 1;
  }
  // One scrape: the handler hands out the pre-rendered body.
  sw::FakeClock clock;
  sw::MetricsExporter e({.le_buckets = o.le.buckets()}, clock);
  e.Publish(std::make_shared<const sw::PublishedView>(view));
  const int scrapes = 100000;
  auto t0 = Clock::now();
  size_t sink = 0;
  for (int i = 0; i < scrapes; i++) sink += e.Metrics({"GET", "/metrics", true}).gzip_body->size();
  auto per_scrape_us =
      std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / scrapes;
  std::printf("workloads %d, buckets %s\n", n, full ? "full" : "default");
  std::printf("series %zu\ntext bytes %zu\ngzip bytes %zu\n", series, text.size(), gz.size());
  std::printf("render ms (median of 7) %.1f\ngzip ms (median of 7) %.1f\n", render_ms[3],
              gzip_ms[3]);
  std::printf("scrape handler us %.3f (%zu)\n", per_scrape_us, sink > 0 ? size_t{1} : size_t{0});
  return 0;
}
