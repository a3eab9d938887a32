// The exposition writer, the renderer and the endpoint handlers: a known Snapshot against a
// hand-written exposition, every output parsed back (cumulative buckets, registry names and
// labels), `promtool check metrics` on it, the gzip body inflated back, /healthz and /readyz.
#include "export/exporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "export/metric_registry.h"
#include "support/fake_clock.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One sample line of the text exposition format: name{labels} value.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> label_list;  // in printed order
  std::map<std::string, std::string> labels;
  std::string value_text;
  double value = 0;
};

// A strict little parser of what the writer may produce: HELP and TYPE before a family's samples,
// quoted label values with \\, \" and \n escapes. Fails the test on anything else.
struct Parsed {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types, helps;
};

std::string Unescape(const std::string& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    char n = v.at(++i);
    out += n == 'n' ? '\n' : n;
  }
  return out;
}

Sample ParseSample(const std::string& line) {
  Sample s;
  size_t brace = line.find('{');
  size_t pos;
  if (brace != std::string::npos) {
    s.name = line.substr(0, brace);
    pos = brace + 1;
    while (line.at(pos) != '}') {
      size_t eq = line.find('=', pos);
      std::string key = line.substr(pos, eq - pos);
      EXPECT_EQ(line.at(eq + 1), '"') << line;
      size_t i = eq + 2;
      std::string raw;
      while (line.at(i) != '"') {
        if (line[i] == '\\') raw += line[i++];
        raw += line[i++];
      }
      s.label_list.emplace_back(key, Unescape(raw));
      s.labels[key] = Unescape(raw);
      pos = i + 1;
      if (line.at(pos) == ',') pos++;
    }
    pos++;
  } else {
    pos = line.find(' ');
    s.name = line.substr(0, pos);
  }
  EXPECT_EQ(line.at(pos), ' ') << line;
  s.value_text = line.substr(pos + 1);
  s.value = s.value_text == "+Inf" ? INFINITY : std::stod(s.value_text);
  return s;
}

Parsed Parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  std::string family;  // the family whose HELP/TYPE came last
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  while (std::getline(in, line)) {
    EXPECT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_FALSE(p.helps.count(family)) << "family twice: " << family;
      p.helps[family] = line.substr(8 + family.size());
    } else if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(name, family) << "TYPE without HELP: " << line;
      p.types[name] = line.substr(8 + name.size());
    } else {
      Sample s = ParseSample(line);
      std::string base = s.name;
      for (const std::string suffix : {"_bucket", "_sum", "_count"})
        if (p.types[family] == "histogram" && base == family + suffix) base = family;
      EXPECT_EQ(base, family) << "sample outside its family: " << line;
      p.samples.push_back(std::move(s));
    }
  }
  return p;
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

PublishedView FullView() {
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(SampleSnapshot());
  StatusModel st;
  st.mode = "enforce";
  st.cpu_count = 4;
  st.shared_pool_cpus = 2;
  WorkloadStatus web;
  web.workload = "/lc";
  web.cls = "latency-critical";
  web.rule = "web";
  web.slo_runq_p99_ns = 2000000;
  web.runq_p99_ns = 2097152;
  web.violation_intervals_total = 5;
  web.exclusive_count = 2;
  st.workloads.push_back(web);
  WorkloadStatus be;
  be.workload = "/be";
  be.cls = "best-effort";
  be.rule = "batch";
  st.workloads.push_back(be);
  v.status = st;
  v.action_counts[{"demote-best-effort", "/be", "applied"}] = 3;
  v.drift_counts["cpu.idle"] = 2;
  v.self.mode = "enforce";
  v.self.loop = {
      {{"collect", 1250000000}, {"controller", 500000000}, {"publish", 125000000}}, 10, 1, 1.7e9};
  v.self.process = ProcessStats{1.6e9, 3.5, 4096, 8192, 12, 1024};
  return v;
}

std::string Render(const PublishedView& v, std::vector<int> le = RenderOptions::FullLeBuckets()) {
  RenderOptions o;
  o.version = "0.1.0";
  o.le = LeEdges(std::move(le));
  return RenderMetricsText(v, o);
}

TEST(Exposition, NumbersAreExactAndShort) {
  EXPECT_EQ(FormatDouble(8192 / 1e9), "8.192e-06");
  EXPECT_EQ(FormatDouble(0.134217728), "0.134217728");
  EXPECT_EQ(FormatDouble(1.5), "1.5");
  EXPECT_EQ(FormatDouble(INFINITY), "+Inf");
  EXPECT_EQ(FormatDouble(-INFINITY), "-Inf");
  EXPECT_EQ(FormatDouble(NAN), "NaN");
  LeEdges full(RenderOptions::FullLeBuckets());
  ASSERT_EQ(full.text().size(), 25u);
  EXPECT_EQ(full.text().front(), "1.024e-06");
  EXPECT_EQ(full.text()[3], "8.192e-06");
  EXPECT_EQ(full.text().back(), "17.179869184");
  // Every edge reads back to the exact nanosecond edge of its BPF bucket.
  for (size_t i = 0; i < full.text().size(); i++) {
    const uint64_t ns = LatencyHistogram::UpperEdgeNs(full.buckets()[i]);
    EXPECT_EQ(std::stod(full.text()[i]), static_cast<double>(ns) / 1e9) << full.text()[i];
    EXPECT_LE(full.text()[i].size(), 12u) << "float noise: " << full.text()[i];
  }
}

TEST(Exposition, LabelValuesAndHelpAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Snapshot s;
  s.workloads["/we\"ird\\\n"].workload = "/we\"ird\\\n";
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  const std::string text = Render(v);
  EXPECT_THAT(text, HasSubstr("schedwarden_runq_latency_seconds_count{reason=\"wakeup\","
                              "workload=\"/we\\\"ird\\\\\\n\"} 0\n"));
  auto parsed = Parse(text);
  EXPECT_EQ(Find(parsed.samples, "schedwarden_runq_latency_seconds_count", {{"reason", "wakeup"}})
                .at(0)
                .labels.at("workload"),
            "/we\"ird\\\n");
}

TEST(Exposition, WrongLabelCountIsAProgrammingError) {
  std::string out;
  ExpositionWriter w(out);
  w.Begin(metric::kThrottleEvents);
  EXPECT_THROW(w.Sample({"a", "b"}, uint64_t{1}), std::logic_error);
}

// The whole text for a small view, written by hand: exact format, order, HELP/TYPE and numbers.
TEST(Render, SmallSnapshotMatchesHandWrittenExposition) {
  Snapshot s;
  WorkloadSample& w = s.workloads["/a"];
  w.workload = "/a";
  w.runq_wakeup.Record(3000, 2);     // (2048, 4096] ns
  w.runq_wakeup.Record(1000000, 1);  // (786432, 1048576] ns
  w.runq_preempted.Record(1500000, 1);
  w.throttle_events = 3;
  w.cpu_usage_ns = 1500000000;
  s.dropped[SW_DROP_WORKLOAD_MAP_FULL] = 2;
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  const int b4096 = LatencyHistogram::BucketOf(4096), b1m = LatencyHistogram::BucketOf(1048576);
  const std::string expected =
      R"(# HELP schedwarden_build_info schedwarden build; the value is always 1
# TYPE schedwarden_build_info gauge
schedwarden_build_info{version="0.1.0"} 1
# HELP schedwarden_runq_latency_seconds Time runnable threads of a workload waited in the run queue, by why they became runnable (wakeup or involuntary preemption); CFS quota throttling is not included
# TYPE schedwarden_runq_latency_seconds histogram
schedwarden_runq_latency_seconds_bucket{reason="wakeup",workload="/a",le="4.096e-06"} 2
schedwarden_runq_latency_seconds_bucket{reason="wakeup",workload="/a",le="0.001048576"} 3
schedwarden_runq_latency_seconds_bucket{reason="wakeup",workload="/a",le="+Inf"} 3
schedwarden_runq_latency_seconds_sum{reason="wakeup",workload="/a"} 0.001006
schedwarden_runq_latency_seconds_count{reason="wakeup",workload="/a"} 3
schedwarden_runq_latency_seconds_bucket{reason="preempted",workload="/a",le="4.096e-06"} 0
schedwarden_runq_latency_seconds_bucket{reason="preempted",workload="/a",le="0.001048576"} 0
schedwarden_runq_latency_seconds_bucket{reason="preempted",workload="/a",le="+Inf"} 1
schedwarden_runq_latency_seconds_sum{reason="preempted",workload="/a"} 0.0015
schedwarden_runq_latency_seconds_count{reason="preempted",workload="/a"} 1
# HELP schedwarden_throttle_wait_seconds Time threads of a workload waited while its cgroup was throttled by its CFS quota
# TYPE schedwarden_throttle_wait_seconds histogram
schedwarden_throttle_wait_seconds_bucket{workload="/a",le="4.096e-06"} 0
schedwarden_throttle_wait_seconds_bucket{workload="/a",le="0.001048576"} 0
schedwarden_throttle_wait_seconds_bucket{workload="/a",le="+Inf"} 0
schedwarden_throttle_wait_seconds_sum{workload="/a"} 0
schedwarden_throttle_wait_seconds_count{workload="/a"} 0
# HELP schedwarden_throttle_events_total Context switches out of a workload's threads while CFS-throttled (BPF)
# TYPE schedwarden_throttle_events_total counter
schedwarden_throttle_events_total{workload="/a"} 3
# HELP schedwarden_cpu_usage_seconds_total CPU time the workload's cgroup received (cpuacct.usage or cpu.stat usage_usec)
# TYPE schedwarden_cpu_usage_seconds_total counter
schedwarden_cpu_usage_seconds_total{workload="/a"} 1.5
# HELP schedwarden_bpf_dropped_total Events the BPF programs could not account, by reason (never silently lost)
# TYPE schedwarden_bpf_dropped_total counter
schedwarden_bpf_dropped_total{reason="workload_map_full"} 2
schedwarden_bpf_dropped_total{reason="preempt_map_full"} 0
schedwarden_bpf_dropped_total{reason="task_stamp_full"} 0
schedwarden_bpf_dropped_total{reason="negative_delta"} 0
# HELP schedwarden_workload_series Workload series exported now, including the "unknown" and "overflow" series
# TYPE schedwarden_workload_series gauge
schedwarden_workload_series 1
# HELP schedwarden_workloads_overflowed Workloads folded into the "overflow" series because max_workloads series were in use
# TYPE schedwarden_workloads_overflowed gauge
schedwarden_workloads_overflowed 0
)";
  EXPECT_EQ(Render(v, {b1m, b4096}), expected);
}

// Cardinality: a workload with no CFS bandwidth of its own that was never throttled exports no
// throttle-wait histogram and no throttle counters (all would be zero); one with a quota does,
// even while never throttled, and so does one throttled through a parent's quota.
TEST(Render, AWorkloadNeverThrottledExportsNoThrottleSeries) {
  Snapshot s;
  auto add = [&](const std::string& label, CpuStatSample st, uint64_t events) {
    WorkloadSample& w = s.workloads[label];
    w.workload = w.cgroup_path = label;
    w.cpu_stat = st;
    w.cpu_usage_ns = 1000;
    w.throttle_events = events;
  };
  add("/plain", {}, 0);
  add("/quota", {.nr_periods = 50}, 0);
  add("/child", {}, 4);  // throttled by its parent's quota: BPF saw it
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  const auto all = Parse(Render(v)).samples;
  for (const char* m : {"schedwarden_throttle_events_total", "schedwarden_cgroup_cpu_periods_total",
                        "schedwarden_cgroup_cpu_throttled_periods_total",
                        "schedwarden_cgroup_cpu_throttled_seconds_total",
                        "schedwarden_throttle_wait_seconds_count"}) {
    EXPECT_TRUE(Find(all, m, {{"workload", "/plain"}}).empty()) << m;
    EXPECT_EQ(Find(all, m, {{"workload", "/quota"}}).size(), 1u) << m;
    EXPECT_EQ(Find(all, m, {{"workload", "/child"}}).size(), 1u) << m;
  }
  EXPECT_EQ(One(all, "schedwarden_cpu_usage_seconds_total", {{"workload", "/plain"}}), 1e-6);
}

TEST(Render, BuildInfoOnlyBeforeTheFirstInterval) {
  auto p = Parse(Render(PublishedView{}));
  ASSERT_EQ(p.samples.size(), 1u);
  EXPECT_EQ(p.samples[0].name, "schedwarden_build_info");
  EXPECT_EQ(p.samples[0].labels.at("version"), "0.1.0");
}

TEST(Render, HistogramCountsAreExactSumsOfBpfBuckets) {
  auto all = Parse(Render(FullView())).samples;
  auto buckets = Find(all, "schedwarden_runq_latency_seconds_bucket",
                      {{"workload", "/lc"}, {"reason", "wakeup"}});
  ASSERT_EQ(buckets.size(), 26u);  // 25 edges + "+Inf"
  for (const Sample& b : buckets) {
    double le = b.value;
    le = b.labels.at("le") == "+Inf" ? INFINITY : std::stod(b.labels.at("le"));
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
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_bucket",
                {{"workload", "/lc"}, {"le", "0.067108864"}}),
            0);
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_bucket",
                {{"workload", "/lc"}, {"le", "0.134217728"}}),
            2);
  EXPECT_NEAR(One(all, "schedwarden_throttle_wait_seconds_sum", {{"workload", "/lc"}}), 0.16,
              1e-12);
}

// Issue 9: 8-12 edges between 10 us and 1 s, so a workload stays within 30 series by default.
TEST(Render, DefaultEdgesAreTenBetween16usAnd1s) {
  LeEdges le(RenderOptions::DefaultLeBuckets());
  ASSERT_EQ(le.text().size(), 10u);
  EXPECT_EQ(le.text().front(), "1.6384e-05");
  EXPECT_EQ(le.text()[7], "0.004194304");
  EXPECT_EQ(le.text()[8], "0.033554432");
  EXPECT_EQ(le.text().back(), "1.073741824");
  RenderOptions o;
  o.version = "x";
  auto all = Parse(RenderMetricsText(FullView(), o)).samples;
  EXPECT_EQ(Find(all, "schedwarden_runq_latency_seconds_bucket",
                 {{"workload", "/lc"}, {"reason", "wakeup"}})
                .size(),
            11u);
}

// Cardinality: no all-zero "preempted" histogram for a workload whose threads were never
// preempted; once one was, its histogram stays (cumulative), zero buckets included.
TEST(Render, APreemptedHistogramOnlyOnceAWorkloadWasPreempted) {
  Snapshot s;
  s.workloads["/calm"].workload = "/calm";
  s.workloads["/calm"].runq_wakeup.Record(5000);
  s.workloads["/hit"].workload = "/hit";
  s.workloads["/hit"].runq_preempted.Record(3000000);
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  const auto all = Parse(Render(v)).samples;
  const std::string h = "schedwarden_runq_latency_seconds";
  EXPECT_EQ(One(all, h + "_count", {{"workload", "/calm"}, {"reason", "wakeup"}}), 1);
  for (const char* suffix : {"_bucket", "_count", "_sum"})
    EXPECT_TRUE(Find(all, h + suffix, {{"workload", "/calm"}, {"reason", "preempted"}}).empty())
        << suffix;
  EXPECT_EQ(One(all, h + "_count", {{"workload", "/hit"}, {"reason", "preempted"}}), 1);
  EXPECT_EQ(One(all, h + "_count", {{"workload", "/hit"}, {"reason", "wakeup"}}), 0);
  EXPECT_EQ(Find(all, h + "_bucket", {{"workload", "/hit"}, {"reason", "preempted"}}).size(),
            RenderOptions::FullLeBuckets().size() + 1);
}

TEST(Render, CountersGaugesAndLabels) {
  auto all = Parse(Render(FullView())).samples;
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
  // Unknown has no cgroup: no cpu.stat series (absent, not zero), and, never throttled, no
  // throttle-wait histogram and no throttle counters.
  EXPECT_TRUE(Find(all, "schedwarden_cgroup_cpu_periods_total", {{"workload", "unknown"}}).empty());
  EXPECT_TRUE(
      Find(all, "schedwarden_throttle_wait_seconds_count", {{"workload", "unknown"}}).empty());
  EXPECT_TRUE(Find(all, "schedwarden_throttle_events_total", {{"workload", "unknown"}}).empty());
  // The policy engine's and the agent's own.
  EXPECT_EQ(One(all, "schedwarden_actions_total",
                {{"action", "demote-best-effort"}, {"workload", "/be"}, {"result", "applied"}}),
            3);
  EXPECT_EQ(One(all, "schedwarden_enforcement_drift_total", {{"kind", "cpu.idle"}}), 2);
  EXPECT_EQ(One(all, "schedwarden_workload_class",
                {{"workload", "/lc"}, {"class", "latency-critical"}, {"rule", "web"}}),
            1);
  EXPECT_EQ(One(all, "schedwarden_exclusive_cpus", {{"workload", "/lc"}}), 2);
  EXPECT_EQ(One(all, "schedwarden_shared_pool_cpus", {}), 2);
  EXPECT_EQ(One(all, "schedwarden_slo_violation_intervals_total", {{"workload", "/lc"}}), 5);
  EXPECT_DOUBLE_EQ(One(all, "schedwarden_workload_runq_p99_seconds", {{"workload", "/lc"}}),
                   0.002097152);
  EXPECT_DOUBLE_EQ(One(all, "schedwarden_workload_runq_objective_seconds", {{"workload", "/lc"}}),
                   0.002);
  // Not watched: no objective, p99 or violation series.
  EXPECT_TRUE(
      Find(all, "schedwarden_workload_runq_objective_seconds", {{"workload", "/be"}}).empty());
  EXPECT_TRUE(Find(all, "schedwarden_workload_runq_p99_seconds", {{"workload", "/be"}}).empty());
  EXPECT_EQ(One(all, "schedwarden_agent_mode", {{"mode", "enforce"}}), 1);
  EXPECT_EQ(One(all, "schedwarden_control_loop_seconds_total", {{"phase", "collect"}}), 1.25);
  EXPECT_EQ(One(all, "schedwarden_control_loop_seconds_total", {{"phase", "publish"}}), 0.125);
  EXPECT_EQ(One(all, "schedwarden_control_loop_runs_total", {}), 10);
  EXPECT_EQ(One(all, "schedwarden_control_loop_overruns_total", {}), 1);
  EXPECT_EQ(One(all, "schedwarden_control_loop_last_run_timestamp_seconds", {}), 1.7e9);
  EXPECT_EQ(One(all, "process_cpu_seconds_total", {}), 3.5);
  EXPECT_EQ(One(all, "process_start_time_seconds", {}), 1.6e9);
  EXPECT_EQ(One(all, "process_resident_memory_bytes", {}), 4096);
  EXPECT_EQ(One(all, "process_virtual_memory_bytes", {}), 8192);
  EXPECT_EQ(One(all, "process_open_fds", {}), 12);
  EXPECT_EQ(One(all, "process_max_fds", {}), 1024);
}

TEST(Render, OptionalFamiliesAbsentWhenTheirSourceIsOff) {
  Snapshot s = SampleSnapshot();
  s.bpf_stats_enabled = false;
  s.workloads["/lc"].psi.reset();
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  std::string text = Render(v);
  EXPECT_THAT(text, Not(HasSubstr("schedwarden_bpf_program_run")));
  EXPECT_THAT(text, Not(HasSubstr("schedwarden_cgroup_cpu_pressure")));
  EXPECT_THAT(text, Not(HasSubstr("schedwarden_actions_total")));  // no status published
  EXPECT_THAT(text, Not(HasSubstr("exposer_")));
  EXPECT_THAT(text, HasSubstr("schedwarden_bpf_dropped_total"));
}

TEST(Render, ThrottleWaitOnlyWithQuotaOrThrottleSamples) {
  Snapshot s;
  for (const char* w : {"/noquota", "/quota", "/waited"}) s.workloads[w].workload = w;
  s.workloads["/noquota"].cpu_stat = CpuStatSample{0, 0, 0};  // bandwidth off: no periods
  s.workloads["/quota"].cpu_stat = CpuStatSample{3, 0, 0};
  s.workloads["/waited"].throttle_wait.Record(1000000);
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  auto all = Parse(Render(v)).samples;
  EXPECT_TRUE(
      Find(all, "schedwarden_throttle_wait_seconds_count", {{"workload", "/noquota"}}).empty());
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_count", {{"workload", "/quota"}}), 0);
  EXPECT_EQ(One(all, "schedwarden_throttle_wait_seconds_count", {{"workload", "/waited"}}), 1);
}

TEST(Render, CustomEdgesAreHonoured) {
  int b1 = LatencyHistogram::BucketOf(1048576), b2 = LatencyHistogram::BucketOf(16777216);
  auto buckets =
      Find(Parse(Render(FullView(), {b2, b1, b1})).samples,
           "schedwarden_runq_latency_seconds_bucket", {{"workload", "/lc"}, {"reason", "wakeup"}});
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].labels.at("le"), "0.001048576");
  EXPECT_EQ(buckets[0].value, 10);
  EXPECT_EQ(buckets[1].labels.at("le"), "0.016777216");
  EXPECT_EQ(buckets[1].value, 13);
  EXPECT_EQ(buckets[2].value, 14);  // +Inf
}

// Property: any output parses back; every family is in the registry with its type and label
// names; histogram buckets are cumulative with increasing edges and +Inf == _count.
void CheckWellFormed(const std::string& text) {
  Parsed p = Parse(text);
  std::map<std::string, const MetricDef*> reg;
  for (const MetricDef& d : MetricRegistry()) reg[std::string(d.name)] = &d;
  for (const auto& [family, type] : p.types) {
    ASSERT_TRUE(reg.count(family)) << family << " is not in the registry";
    EXPECT_EQ(type, MetricTypeName(reg[family]->type)) << family;
  }
  std::map<std::string, std::pair<double, double>> last;  // series -> (le, count)
  for (const Sample& s : p.samples) {
    std::string family = s.name;
    if (!reg.count(family))
      for (const std::string suffix : {"_bucket", "_sum", "_count"})
        if (family.size() > suffix.size() &&
            family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            reg.count(family.substr(0, family.size() - suffix.size())))
          family = family.substr(0, family.size() - suffix.size());
    ASSERT_TRUE(reg.count(family)) << s.name;
    std::vector<std::string> names;
    std::string series = s.name;
    for (const auto& [k, v] : s.label_list)
      if (k != "le") {
        names.push_back(k);
        series += "|" + v;
      }
    std::vector<std::string> want(reg[family]->labels.begin(), reg[family]->labels.end());
    EXPECT_EQ(names, want) << s.name;
    if (s.name == family + "_bucket" && reg[family]->type == MetricType::kHistogram) {
      const double le = s.labels.at("le") == "+Inf" ? INFINITY : std::stod(s.labels.at("le"));
      auto it = last.find(series);
      if (it != last.end()) {
        EXPECT_GT(le, it->second.first) << series;
        EXPECT_GE(s.value, it->second.second) << series << " le=" << s.labels.at("le");
      }
      last[series] = {le, s.value};
    } else if (s.name == family + "_count" && reg[family]->type == MetricType::kHistogram) {
      std::string bucket_series = family + "_bucket" + series.substr(s.name.size());
      ASSERT_TRUE(last.count(bucket_series)) << series;
      EXPECT_TRUE(std::isinf(last[bucket_series].first)) << "no +Inf bucket: " << series;
      EXPECT_EQ(last[bucket_series].second, s.value) << series;
    }
  }
}

TEST(Render, OutputIsWellFormedForManyShapes) {
  CheckWellFormed(Render(PublishedView{}));
  CheckWellFormed(Render(FullView()));
  CheckWellFormed(Render(FullView(), RenderOptions::DefaultLeBuckets()));
  // Pseudo-random workloads and waits (fixed seed), every edge set.
  uint64_t x = 88172645463325252ULL;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int round = 0; round < 20; round++) {
    Snapshot s;
    for (int i = 0; i < 5; i++) {
      std::string name = "/w" + std::to_string(next() % 50);
      WorkloadSample& w = s.workloads[name];
      w.workload = name;
      for (int k = 0; k < 30; k++) {
        w.runq_wakeup.Record(next() % 40000000000ULL, next() % 5);
        w.runq_preempted.Record(next() % 4000000, next() % 5);
      }
      if (next() % 2) w.cpu_stat = CpuStatSample{next() % 9, 0, 0};
    }
    PublishedView v;
    v.snapshot = std::make_shared<const Snapshot>(s);
    std::vector<int> le;
    for (int i = 0; i < 8; i++) le.push_back(static_cast<int>(next() % LatencyHistogram::kBuckets));
    CheckWellFormed(Render(v, le));
  }
}

#ifdef SW_PROMTOOL
// Prometheus' own parser and linter (Debian's prometheus package) on the output.
TEST(Render, PromtoolCheckMetricsAcceptsTheOutput) {
  test::TempTree t;
  const std::string path = t.Write("metrics.txt", Render(FullView()));
  const std::string cmd = std::string(SW_PROMTOOL) + " check metrics < " + path + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  const int status = pclose(f);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << cmd << " (status " << status << "):\n"
      << out;
}
#endif

std::string Gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

TEST(MetricsExporter, RendersOncePerPublishAndSharesTheBody) {
  FakeClock clock;
  MetricsExporter e({.version = "9.9.9"}, clock);
  HttpResponse before = e.Metrics({"GET", "/metrics", false});
  EXPECT_EQ(before.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(*before.body, HasSubstr("schedwarden_build_info{version=\"9.9.9\"} 1"));

  e.Publish(std::make_shared<const PublishedView>(FullView()));
  HttpResponse a = e.Metrics({"GET", "/metrics", false});
  HttpResponse b = e.Metrics({"GET", "/metrics", true});
  const std::string a_text = *a.body;
  EXPECT_EQ(a.body.get(), b.body.get()) << "each scrape rendered its own copy";
  ASSERT_NE(a.gzip_body, nullptr);
  EXPECT_EQ(Gunzip(*a.gzip_body), *a.body);
  EXPECT_LT(a.gzip_body->size(), a.body->size());
  EXPECT_EQ(One(Parse(*a.body).samples, "schedwarden_preemptions_total",
                {{"victim", "/lc"}, {"aggressor", "/be"}}),
            12);
  // A newer view is what the next scrape sees.
  PublishedView later = FullView();
  Snapshot s = SampleSnapshot();
  s.preemptions[{"/lc", "/be"}] = 30;
  later.snapshot = std::make_shared<const Snapshot>(s);
  e.Publish(std::make_shared<const PublishedView>(later));
  EXPECT_EQ(One(Parse(*e.Metrics({"GET", "/metrics", false}).body).samples,
                "schedwarden_preemptions_total", {{"victim", "/lc"}, {"aggressor", "/be"}}),
            30);
  EXPECT_EQ(*a.body, a_text);  // a scrape still holding the old body sees it intact
}

// process_* come from the process_stats source when a view is rendered, i.e. only when scraped
// (listing /proc/self/fd every interval cost ~0.5% of a core with 2,000 cached cgroupfs files).
TEST(MetricsExporter, ProcessStatsAreReadWhenScrapedNotWhenPublished) {
  FakeClock clock;
  int reads = 0;
  ExporterOptions o;
  o.process_stats = [&reads]() -> Result<ProcessStats> {
    reads++;
    ProcessStats p;
    p.open_fds = 2000 + reads;
    return p;
  };
  MetricsExporter e(o, clock);
  for (int i = 0; i < 5; i++) e.Publish(std::make_shared<const PublishedView>(FullView()));
  EXPECT_EQ(reads, 0) << "read at Publish, with nobody scraping";
  auto all = Parse(*e.Metrics({"GET", "/metrics", false}).body).samples;
  EXPECT_EQ(One(all, "process_open_fds", {}), 2001);
  EXPECT_EQ(One(Parse(*e.Metrics({"GET", "/metrics", false}).body).samples, "process_open_fds", {}),
            2001);  // the same view: rendered once
  e.Publish(std::make_shared<const PublishedView>(FullView()));
  EXPECT_EQ(One(Parse(*e.Metrics({"GET", "/metrics", false}).body).samples, "process_open_fds", {}),
            2002);
  EXPECT_EQ(reads, 2);
  // A failed read leaves the view's: the agent publishes none, so no process_* series.
  o.process_stats = []() -> Result<ProcessStats> { return Error{EACCES, "/proc/self/fd"}; };
  MetricsExporter failing(o, clock);
  PublishedView bare = FullView();
  bare.self.process.reset();
  failing.Publish(std::make_shared<const PublishedView>(bare));
  EXPECT_TRUE(
      Find(Parse(*failing.Metrics({"GET", "/metrics", false}).body).samples, "process_open_fds", {})
          .empty());
}

// A view of n workloads with a few waits each: a body of ~n * 2.5 KB.
PublishedView ManyWorkloads(int n) {
  Snapshot s;
  for (int i = 0; i < n; i++) {
    const std::string name = "/kubepods/burstable/pod" + std::to_string(i);
    WorkloadSample& w = s.workloads[name];
    w.workload = name;
    w.runq_wakeup.Record(5000 + 977 * i, 3);
    w.runq_wakeup.Record(3000000, 1 + i % 7);
    w.cpu_usage_ns = 1000000ULL * i;
  }
  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(std::move(s));
  return v;
}

// The bodies live until the next render: no spare capacity worth a copy (the gzip buffer was once
// sized by deflateBound, ~the text's size, for a body 15x smaller), and a size hint changes
// nothing in the bytes. (Above 1 MiB the spare pages are page-mapped and never touched.)
TEST(Render, BodiesCarryLittleSpareCapacityAndHintsChangeNoByte) {
  RenderOptions o;
  o.version = "0.1.0";
  const PublishedView v = ManyWorkloads(300);
  const RenderedMetrics plain = RenderMetrics(v, o);
  ASSERT_GT(plain.text->size(), 100000u);
  ASSERT_LT(plain.text->size() * 2, 1000000u);  // below 1 MiB with any hint here
  EXPECT_EQ(Gunzip(*plain.gzip), *plain.text);
  for (const RenderSizeHint hint :
       {RenderSizeHint{}, RenderSizeHint{plain.text->size(), plain.gzip->size()},
        RenderSizeHint{plain.text->size() / 3, plain.gzip->size() / 3},
        RenderSizeHint{plain.text->size() * 3 / 2, plain.gzip->size() * 3 / 2}}) {
    const RenderedMetrics r = RenderMetrics(v, o, hint);
    EXPECT_EQ(*r.text, *plain.text);
    EXPECT_EQ(*r.gzip, *plain.gzip);
    EXPECT_LE(r.text->capacity(), r.text->size() + r.text->size() / 8) << hint.text;
    EXPECT_LE(r.gzip->capacity(), r.gzip->size() + r.gzip->size() / 8) << hint.gzip;
  }
}

// Bodies grow between renders as series appear (e.g. a workload's first preemption). A body that
// grew by less than a quarter since the render its hint came from fits the reserve: no regrowth by
// doubling, which holds the old buffer and its copy at once (at 1,000 workloads 2 x 3.5 MB).
TEST(Render, ABodyGrownByLessThanAQuarterFitsItsReserve) {
  RenderOptions o;
  o.version = "0.1.0";
  const PublishedView v = ManyWorkloads(1000);
  const std::string plain = RenderMetricsText(v, o);
  ASSERT_GT(plain.size(), size_t{1} << 20);  // page-mapped: spare capacity is kept, not shed
  const std::string grown = RenderMetricsText(v, o, plain.size() * 100 / 118);  // grew 18%
  EXPECT_EQ(grown, plain);
  EXPECT_LT(grown.capacity(), plain.size() * 3 / 2) << "regrown by doubling from its reserve";
}

// A new view's render does not start while the previous render is still held by the exporter:
// at 1,000 workloads each is ~3 MB and the old one serves no later scrape.
TEST(MetricsExporter, ReleasesTheStaleRenderBeforeRenderingTheNextView) {
  FakeClock clock;
  std::weak_ptr<const std::string> old_text, old_gzip;
  bool old_alive_during_render = false;
  ExporterOptions o;
  o.process_stats = [&]() -> Result<ProcessStats> {  // called while rendering
    old_alive_during_render = old_alive_during_render || !old_text.expired() || !old_gzip.expired();
    return ProcessStats{};
  };
  MetricsExporter e(o, clock);
  e.Publish(std::make_shared<const PublishedView>(ManyWorkloads(50)));
  {
    auto first = e.Latest();
    old_text = first->text;
    old_gzip = first->gzip;
  }
  e.Publish(std::make_shared<const PublishedView>(ManyWorkloads(60)));
  auto second = e.Latest();
  EXPECT_FALSE(old_alive_during_render);
  EXPECT_EQ(Gunzip(*second->gzip), *second->text);
  EXPECT_THAT(*second->text, HasSubstr("pod59"));
}

// A rendered view is not kept alive by its render: once a newer view is published its snapshot
// (full resolution, ~2.7 MB at 1,000 workloads) goes, though nobody scraped the newer one yet.
TEST(MetricsExporter, ASupersededViewIsFreedWithoutAScrape) {
  FakeClock clock;
  MetricsExporter e({}, clock);
  auto first = std::make_shared<const PublishedView>(ManyWorkloads(5));
  std::weak_ptr<const Snapshot> first_snapshot = first->snapshot;
  e.Publish(std::move(first));
  const std::string text = *e.Latest()->text;
  e.Publish(std::make_shared<const PublishedView>(ManyWorkloads(6)));
  EXPECT_TRUE(first_snapshot.expired()) << "the render of the first view holds its snapshot";
  EXPECT_EQ(*e.Latest()->text, RenderMetricsText(*e.LatestView(), [] {
    RenderOptions r;
    r.version = BuildVersion();
    return r;
  }()));
  EXPECT_NE(*e.Latest()->text, text);
  EXPECT_EQ(e.Latest(), e.Latest()) << "one render per view";
}

TEST(MetricsExporter, HealthzFollowsTheControlLoop) {
  FakeClock clock;
  MetricsExporter e({.interval = std::chrono::milliseconds(500)}, clock);
  EXPECT_EQ(e.Healthz({}).status, 200);  // starting: within 3 intervals of start
  clock.Advance(std::chrono::milliseconds(1600));
  HttpResponse stale = e.Healthz({});
  EXPECT_EQ(stale.status, 503);
  EXPECT_THAT(*stale.body, HasSubstr("control loop has not run for 1600 ms"));
  e.Publish(std::make_shared<const PublishedView>(FullView()));
  HttpResponse ok = e.Healthz({});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(*ok.body, "ok\n");
  clock.Advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(e.Healthz({}).status, 200);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(e.Healthz({}).status, 503);
}

TEST(MetricsExporter, ReadyOnceAttachedAndPublishedUntilShutdown) {
  FakeClock clock;
  MetricsExporter e({}, clock);
  EXPECT_EQ(e.Readyz({}).status, 503);
  EXPECT_THAT(*e.Readyz({}).body, HasSubstr("BPF"));
  e.SetAttached();
  EXPECT_EQ(e.Readyz({}).status, 503);
  EXPECT_THAT(*e.Readyz({}).body, HasSubstr("no snapshot"));
  e.Publish(std::make_shared<const PublishedView>(FullView()));
  EXPECT_EQ(e.Readyz({}).status, 200);
  EXPECT_EQ(*e.Readyz({}).body, "ready\n");
  e.SetShuttingDown();
  EXPECT_EQ(e.Readyz({}).status, 503);
  EXPECT_THAT(*e.Readyz({}).body, HasSubstr("shutting down"));
  auto routes = e.Routes();
  EXPECT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes.at("/readyz")({"GET", "/readyz", false}).status, 503);
  EXPECT_EQ(routes.at("/metrics")({"GET", "/metrics", false}).body, e.Latest()->text);
}

TEST(MetricsExporter, PublishWhileScrapingIsSafe) {
  FakeClock clock;
  MetricsExporter e({}, clock);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; i++) {
      PublishedView v = FullView();
      Snapshot s = SampleSnapshot();
      s.workloads["/lc"].throttle_events = static_cast<uint64_t>(i);
      v.snapshot = std::make_shared<const Snapshot>(std::move(s));
      e.Publish(std::make_shared<const PublishedView>(std::move(v)));
    }
  });
  for (int i = 0; i < 200; i++) {
    HttpResponse r = e.Metrics({});
    ASSERT_NE(r.body, nullptr);
    EXPECT_THAT(*r.body, HasSubstr("schedwarden_build_info"));
  }
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

TEST(WorkloadInfo, OnePerPodOrContainerWorkloadNamedByThePodSource) {
  const std::string uid = "8f3c1e2a-1111-2222-3333-444455556666";
  const std::string guid = "0000aaaa-1111-2222-3333-444455556666";
  const std::string ctr(64, 'c');
  Snapshot s;
  const std::string burstable = "/kubepods/burstable/pod" + uid;
  const std::string guaranteed_ctr = "/kubepods/pod" + guid + "/" + ctr;
  const std::string systemd_unknown =
      "/kubepods.slice/kubepods-besteffort.slice/"
      "kubepods-besteffort-pod99999999_1111_2222_3333_444455556666.slice";
  for (const std::string& w :
       {burstable, guaranteed_ctr, systemd_unknown, std::string("/lc"),
        std::string("/system.slice/docker-" + ctr + ".scope"), std::string(kUnknownWorkload)})
    s.workloads[w].workload = w;
  StaticPodMetadataSource pods;
  PodMeta web{.uid = uid, .namespace_name = "shop", .name = "web-0"};
  pods.Set(web);
  PodMeta db{.uid = guid, .namespace_name = "data", .name = "db-0", .containers = {{ctr, "pg"}}};
  pods.Set(db);

  const std::vector<WorkloadInfo> want = {
      {systemd_unknown, "", "", "", "BestEffort"},  // the runtime does not know this pod
      {burstable, "shop", "web-0", "", "Burstable"},
      {guaranteed_ctr, "data", "db-0", "pg", "Guaranteed"},
  };
  EXPECT_EQ(WorkloadInfoOf(s, &pods), want);
  const auto no_source = WorkloadInfoOf(s, nullptr);
  ASSERT_EQ(no_source.size(), 3u) << "QoS from the path alone when identity is off";
  EXPECT_EQ(no_source[2], (WorkloadInfo{guaranteed_ctr, "", "", "", "Guaranteed"}));

  PublishedView v;
  v.snapshot = std::make_shared<const Snapshot>(s);
  v.workload_info = WorkloadInfoOf(s, &pods);
  auto p = Parse(Render(v));
  EXPECT_EQ(p.types["schedwarden_workload_info"], "gauge");
  EXPECT_EQ(One(p.samples, "schedwarden_workload_info",
                {{"workload", guaranteed_ctr},
                 {"namespace", "data"},
                 {"pod", "db-0"},
                 {"container", "pg"},
                 {"qos", "Guaranteed"}}),
            1);
  EXPECT_EQ(Find(p.samples, "schedwarden_workload_info", {}).size(), 3u);
}

}  // namespace
}  // namespace sw
