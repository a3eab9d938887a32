#include "export/exporter.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace sw {
namespace {

using ::testing::HasSubstr;

// One sample line of the text exposition format: name{labels} value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> ParseExposition(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t brace = line.find('{');
    size_t space = line.rfind(' ');
    if (brace != std::string::npos && brace < space) {
      s.name = line.substr(0, brace);
      size_t end = line.rfind('}');
      std::string labels = line.substr(brace + 1, end - brace - 1);
      size_t pos = 0;
      while (pos < labels.size()) {
        size_t eq = labels.find('=', pos);
        size_t q1 = eq + 1;  // opening quote
        size_t q2 = labels.find('"', q1 + 1);
        s.labels[labels.substr(pos, eq - pos)] = labels.substr(q1 + 1, q2 - q1 - 1);
        pos = q2 + 1;
        if (pos < labels.size() && labels[pos] == ',') pos++;
      }
    } else {
      s.name = line.substr(0, space);
    }
    std::string v = line.substr(space + 1);
    s.value = v == "+Inf" ? INFINITY : std::stod(v);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sample> Find(const std::vector<Sample>& all, const std::string& name,
                         const std::map<std::string, std::string>& want) {
  std::vector<Sample> out;
  for (const Sample& s : all) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) out.push_back(s);
  }
  return out;
}

double One(const std::vector<Sample>& all, const std::string& name,
           const std::map<std::string, std::string>& want) {
  auto found = Find(all, name, want);
  EXPECT_EQ(found.size(), 1u) << name;
  return found.empty() ? NAN : found[0].value;
}

std::string Serialize(const prometheus::Collectable& c) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, c.Collect());
  return out.str();
}

Snapshot SampleSnapshot() {
  Snapshot s;
  WorkloadSample& lc = s.workloads["/lc"];
  lc.workload = "/lc";
  lc.cgroup_path = "/lc";
  lc.runq_wakeup.Record(5000, 10);        // (4096, 8192] ns
  lc.runq_wakeup.Record(2000000, 3);      // (1048576, 2097152] ns
  lc.runq_wakeup.Record(20000000000ULL);  // 20 s: overflow bucket, only in +Inf
  lc.runq_preempted.Record(1500000, 4);
  lc.throttle_wait.Record(80000000, 2);
  lc.throttle_events = 2;
  lc.cpu_stat = CpuStatSample{50, 7, 1500000000};
  lc.cpu_usage_ns = 2500000000;
  lc.psi = PsiSample{3000000, 1000000};
  WorkloadSample& unknown = s.workloads[kUnknownWorkload];
  unknown.workload = kUnknownWorkload;
  unknown.runq_wakeup.Record(1000);
  s.preemptions[{"/lc", "/be"}] = 12;
  s.preemptions[{"/be", "/lc"}] = 1;
  s.dropped[SW_DROP_TASK_STAMP_FULL] = 9;
  s.programs = {{"handle_sched_switch", 7000000000, 100000000}};
  s.bpf_stats_enabled = true;
  s.tracked_workloads = 1;
  s.overflowed_workloads = 4;
  return s;
}

TEST(SnapshotCollectable, BuildInfoOnlyBeforeTheFirstSnapshot) {
  SnapshotCollectable c("1.2.3");
  auto samples = ParseExposition(Serialize(c));
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].name, "schedwarden_build_info");
  EXPECT_EQ(samples[0].labels.at("version"), "1.2.3");
  EXPECT_EQ(samples[0].value, 1);
}

TEST(SnapshotCollectable, HistogramEdgesAreBpfEdgesWithExactCumulativeCounts) {
  SnapshotCollectable c("0.1.0");
  c.Publish(std::make_shared<const Snapshot>(SampleSnapshot()));
  std::string text = Serialize(c);
  auto all = ParseExposition(text);
  EXPECT_THAT(text, HasSubstr("# TYPE schedwarden_runq_latency_seconds histogram"));

  auto buckets = Find(all, "schedwarden_runq_latency_seconds_bucket",
                      {{"workload", "/lc"}, {"reason", "wakeup"}});
  std::vector<int> edges = LatencyHistogram::PowerOfTwoEdges();
  ASSERT_EQ(buckets.size(), edges.size() + 1);  // + "+Inf"
  std::set<double> bpf_edges;
  for (int b = 0; b < LatencyHistogram::kBuckets - 1; b++)
    bpf_edges.insert(LatencyHistogram::UpperEdgeNs(b) / 1e9);
  double prev = -1;
  for (const Sample& b : buckets) {
    double le = b.labels.at("le") == "+Inf" ? INFINITY : std::stod(b.labels.at("le"));
    if (std::isfinite(le)) {
      // Every le is a BPF bucket edge (within printing precision).
      auto it = bpf_edges.lower_bound(le * (1 - 1e-12));
      ASSERT_NE(it, bpf_edges.end());
      EXPECT_NEAR(*it, le, le * 1e-12);
    }
    EXPECT_GE(b.value, prev);  // cumulative
    prev = b.value;
    double want = 0;
    if (le >= 8192e-9) want += 10;
    if (le >= 2097152e-9) want += 3;
    if (std::isinf(le)) want += 1;  // the 20 s wait is beyond the last finite edge
    EXPECT_EQ(b.value, want) << "le=" << b.labels.at("le");
  }
  EXPECT_EQ(One(all, "schedwarden_runq_latency_seconds_count",
                {{"workload", "/lc"}, {"reason", "wakeup"}}),
            14);
  EXPECT_NEAR(
      One(all, "schedwarden_runq_latency_seconds_sum", {{"workload", "/lc"}, {"reason", "wakeup"}}),
      10 * 5e-6 + 3 * 2e-3 + 20, 1e-9);
  EXPECT_EQ(One(all, "schedwarden_runq_latency_seconds_count",
                {{"workload", "/lc"}, {"reason", "preempted"}}),
            4);
  EXPECT_EQ(One(all, "schedwarden_runq_latency_seconds_count",
                {{"workload", "unknown"}, {"reason", "wakeup"}}),
            1);
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_count", {{"workload", "/lc"}}), 2);
  EXPECT_NEAR(One(all, "schedwarden_throttle_wait_seconds_sum", {{"workload", "/lc"}}), 0.16,
              1e-12);
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_bucket",
                {{"workload", "/lc"}, {"le", "0.067108864"}}),
            0);
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_bucket",
                {{"workload", "/lc"}, {"le", "0.134217728"}}),
            2);
}

TEST(SnapshotCollectable, CountersGaugesAndLabels) {
  SnapshotCollectable c("0.1.0");
  c.Publish(std::make_shared<const Snapshot>(SampleSnapshot()));
  auto all = ParseExposition(Serialize(c));
  EXPECT_EQ(One(all, "schedwarden_throttle_events_total", {{"workload", "/lc"}}), 2);
  EXPECT_EQ(One(all, "schedwarden_cgroup_cpu_periods_total", {{"workload", "/lc"}}), 50);
  EXPECT_EQ(One(all, "schedwarden_cgroup_cpu_throttled_periods_total", {{"workload", "/lc"}}), 7);
  EXPECT_DOUBLE_EQ(
      One(all, "schedwarden_cgroup_cpu_throttled_seconds_total", {{"workload", "/lc"}}), 1.5);
  EXPECT_DOUBLE_EQ(One(all, "schedwarden_cpu_usage_seconds_total", {{"workload", "/lc"}}), 2.5);
  EXPECT_DOUBLE_EQ(One(all, "schedwarden_cgroup_cpu_pressure_seconds_total",
                       {{"workload", "/lc"}, {"kind", "some"}}),
                   0.003);
  EXPECT_DOUBLE_EQ(One(all, "schedwarden_cgroup_cpu_pressure_seconds_total",
                       {{"workload", "/lc"}, {"kind", "full"}}),
                   0.001);
  EXPECT_EQ(One(all, "schedwarden_preemptions_total", {{"victim", "/lc"}, {"aggressor", "/be"}}),
            12);
  EXPECT_EQ(One(all, "schedwarden_preemptions_total", {{"victim", "/be"}, {"aggressor", "/lc"}}),
            1);
  EXPECT_EQ(One(all, "schedwarden_bpf_dropped_total", {{"reason", "task_stamp_full"}}), 9);
  EXPECT_EQ(One(all, "schedwarden_bpf_dropped_total", {{"reason", "negative_delta"}}), 0);
  EXPECT_EQ(One(all, "schedwarden_bpf_program_runs_total", {{"program", "handle_sched_switch"}}),
            1e8);
  EXPECT_DOUBLE_EQ(
      One(all, "schedwarden_bpf_program_run_seconds_total", {{"program", "handle_sched_switch"}}),
      7);
  EXPECT_EQ(One(all, "schedwarden_workload_series", {}), 2);
  EXPECT_EQ(One(all, "schedwarden_workloads_overflowed", {}), 4);
  // Unknown has no cgroup, so no cpu.stat series (absent, not zero).
  EXPECT_TRUE(Find(all, "schedwarden_cgroup_cpu_periods_total", {{"workload", "unknown"}}).empty());
  // Every name produced is one the exporter declares (dashboards/docs are checked against it).
  std::set<std::string> declared(ExportedMetricNames().begin(), ExportedMetricNames().end());
  for (const Sample& s : all) {
    std::string base = s.name;
    for (const char* suffix : {"_bucket", "_count", "_sum"})
      if (!declared.count(base) && base.size() > strlen(suffix) &&
          base.compare(base.size() - strlen(suffix), strlen(suffix), suffix) == 0)
        base.resize(base.size() - strlen(suffix));
    EXPECT_TRUE(declared.count(base)) << s.name;
  }
}

TEST(SnapshotCollectable, OptionalFamiliesAbsentWhenTheirSourceIsOff) {
  Snapshot s = SampleSnapshot();
  s.bpf_stats_enabled = false;
  s.workloads["/lc"].psi.reset();
  SnapshotCollectable c("0.1.0");
  c.Publish(std::make_shared<const Snapshot>(s));
  std::string text = Serialize(c);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("schedwarden_bpf_program_run")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("schedwarden_cgroup_cpu_pressure")));
  EXPECT_THAT(text, HasSubstr("schedwarden_bpf_dropped_total"));
}

TEST(SnapshotCollectable, CustomEdgesAreHonoured) {
  // Only 1 ms-ish and 16 ms-ish edges: the counts are the exact sums of the BPF buckets below.
  int b1 = LatencyHistogram::BucketOf(1048576), b2 = LatencyHistogram::BucketOf(16777216);
  SnapshotCollectable c("0.1.0", {b2, b1});
  c.Publish(std::make_shared<const Snapshot>(SampleSnapshot()));
  auto buckets = Find(ParseExposition(Serialize(c)), "schedwarden_runq_latency_seconds_bucket",
                      {{"workload", "/lc"}, {"reason", "wakeup"}});
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].value, 10);  // le 1.048576 ms
  EXPECT_EQ(buckets[1].value, 13);  // le 16.777216 ms
  EXPECT_EQ(buckets[2].value, 14);  // +Inf
}

TEST(SnapshotCollectable, PublishWhileScrapingIsSafe) {
  SnapshotCollectable c("0.1.0");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; i++) {
      Snapshot s = SampleSnapshot();
      s.workloads["/lc"].throttle_events = static_cast<uint64_t>(i);
      c.Publish(std::make_shared<const Snapshot>(std::move(s)));
    }
  });
  for (int i = 0; i < 200; i++) {
    auto families = c.Collect();
    EXPECT_GE(families.size(), 1u);
  }
  stop = true;
  writer.join();
}

// A plain HTTP/1.0 GET against the exporter; returns the whole response.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << ": " << strerror(errno);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  return resp;
}

std::string Body(const std::string& resp) {
  size_t end = resp.find("\r\n\r\n");
  return end == std::string::npos ? "" : resp.substr(end + 4);
}

class ExtraMetrics : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f{
        "schedwarden_test_extra_total", "test", prometheus::MetricType::Counter, {}};
    prometheus::ClientMetric m;
    m.counter.value = 42;
    f.metric.push_back(m);
    return {f};
  }
};

TEST(MetricsExporter, ServesMetricsOverHttp) {
  auto e = MetricsExporter::Start({.listen = "127.0.0.1:0", .version = "9.9.9"});
  ASSERT_TRUE(e.ok()) << e.error().message;
  auto ports = (*e)->ListeningPorts();
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_GT(ports[0], 0);
  (*e)->Publish(SampleSnapshot());
  (*e)->Register(std::make_shared<ExtraMetrics>());
  std::string resp = HttpGet(ports[0], "/metrics");
  EXPECT_THAT(resp, HasSubstr("200 OK"));
  auto all = ParseExposition(Body(resp));
  EXPECT_EQ(One(all, "schedwarden_build_info", {{"version", "9.9.9"}}), 1);
  EXPECT_EQ(One(all, "schedwarden_runq_latency_seconds_count",
                {{"workload", "/lc"}, {"reason", "wakeup"}}),
            14);
  EXPECT_EQ(One(all, "schedwarden_preemptions_total", {{"victim", "/lc"}, {"aggressor", "/be"}}),
            12);
  EXPECT_EQ(One(all, "schedwarden_test_extra_total", {}), 42);
  // A newer snapshot is what the next scrape sees.
  Snapshot later = SampleSnapshot();
  later.preemptions[{"/lc", "/be"}] = 30;
  (*e)->Publish(later);
  auto again = ParseExposition(Body(HttpGet(ports[0], "/metrics")));
  EXPECT_EQ(One(again, "schedwarden_preemptions_total", {{"victim", "/lc"}, {"aggressor", "/be"}}),
            30);
}

TEST(MetricsExporter, PortInUseIsAClearError) {
  auto first = MetricsExporter::Start({.listen = "127.0.0.1:0"});
  ASSERT_TRUE(first.ok()) << first.error().message;
  std::string addr = "127.0.0.1:" + std::to_string((*first)->ListeningPorts().at(0));
  auto second = MetricsExporter::Start({.listen = addr});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.error().message, HasSubstr("cannot serve metrics on " + addr));
  EXPECT_THAT(second.error().message, HasSubstr("--listen"));
}

TEST(MetricsExporter, MalformedAddressIsRejected) {
  for (const char* bad : {"9750", "127.0.0.1", "127.0.0.1:", ":9750", "localhost:http"}) {
    auto e = MetricsExporter::Start({.listen = bad});
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_THAT(e.error().message, HasSubstr(std::string("'") + bad + "'"));
  }
}

}  // namespace
}  // namespace sw
