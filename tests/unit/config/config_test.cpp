// Config parsing and every diagnostic: each test feeds a document with one mistake and checks the
// exact message, which names the file, the 1-based line and the key.
#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/fs.h"
#include "support/machines.h"
#include "support/temp_tree.h"
#include "topology/core_allocator.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::HasSubstr;

// A machine of `cpus` single-thread cores.
const Topology* M(int cpus) { return test::SyntheticMachine(cpus); }

std::vector<std::string> ErrorsOn(const std::string& yaml, const Topology* machine) {
  std::vector<std::string> out;
  for (const auto& e : ParseConfig(yaml, "config.yaml", machine).errors)
    out.push_back(e.ToString());
  return out;
}

std::vector<std::string> Errors(const std::string& yaml, int cpus = 4) {
  std::vector<std::string> out;
  for (const auto& e : ParseConfig(yaml, "config.yaml", M(cpus)).errors)
    out.push_back(e.ToString());
  return out;
}

std::vector<std::string> Warnings(const std::string& yaml, int cpus = 4) {
  std::vector<std::string> out;
  for (const auto& e : ParseConfig(yaml, "config.yaml", M(cpus)).warnings)
    out.push_back(e.ToString());
  return out;
}

// The issue's example, verbatim.
const char* kIssueExample = R"(listen: 127.0.0.1:9750
interval: 500ms                # collection and control period
state_dir: /var/lib/schedwarden
enforcement:
  mode: enforce                # observe | dry-run | enforce
  shared_pool_min_cores: 1
  max_exclusive_fraction: 0.5  # of all CPUs
  reserved_cpus: ""            # e.g. "0" — never given away
workloads:
  - name: web
    match: { cgroup: "/lc*" }              # glob on the cpu-controller cgroup path
    class: latency-critical                # latency-critical | latency-sensitive | normal | best-effort
    slo: { runq_p99: 2ms }                 # objective on run-queue latency (reason wakeup+preempted)
    exclusive: on-interference             # never | on-interference | always
  - name: batch
    match: { cgroup: "/be*" }
    class: best-effort
)";

TEST(Config, ParsesTheIssueExample) {
  ConfigLoad load = ParseConfig(kIssueExample, "config.yaml", M(2));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_TRUE(load.warnings.empty()) << load.Text();
  const Config& c = *load.config;
  EXPECT_EQ(c.source, "config.yaml");
  EXPECT_EQ(c.listen, "127.0.0.1:9750");
  EXPECT_EQ(c.interval, 500ms);
  EXPECT_EQ(c.state_dir, "/var/lib/schedwarden");
  EXPECT_EQ(c.enforcement.mode, EnforcementMode::kEnforce);
  EXPECT_EQ(c.enforcement.shared_pool_min_cores, 1);
  EXPECT_DOUBLE_EQ(c.enforcement.max_exclusive_fraction, 0.5);
  EXPECT_TRUE(c.enforcement.reserved_cpus.empty());
  EXPECT_TRUE(c.enforcement.keep_cpu0_shared);
  EXPECT_TRUE(ExclusiveLimitsOf(c.enforcement).keep_cpu0_shared);
  ASSERT_EQ(c.workloads.size(), 2u);
  EXPECT_EQ(c.workloads[0].name, "web");
  EXPECT_EQ(c.workloads[0].match.cgroup, "/lc*");
  EXPECT_EQ(c.workloads[0].cls, WorkloadClass::kLatencyCritical);
  EXPECT_EQ(c.workloads[0].slo_runq_p99, 2ms);
  EXPECT_EQ(c.workloads[0].exclusive, ExclusivePolicy::kOnInterference);
  EXPECT_EQ(c.workloads[0].line, 10);
  EXPECT_EQ(c.workloads[1].cls, WorkloadClass::kBestEffort);
  EXPECT_EQ(c.workloads[1].exclusive, ExclusivePolicy::kNever);
}

TEST(Config, IdleIntervalDefaultsToFourIntervalsAndIsNeverShorterThanTheInterval) {
  ConfigLoad load = ParseConfig("interval: 250ms\n", "c.yaml", M(2));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->IdleInterval(), 1s);
  load = ParseConfig("interval: 1s\nidle_interval: 1s\n", "c.yaml", M(2));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->IdleInterval(), 1s);  // equal: no idle pace
  EXPECT_THAT(Errors("interval: 2s\nidle_interval: 500ms\n"),
              Contains("config.yaml:2: idle_interval: \"500ms\" is shorter than the interval "
                       "(2s); set it to the interval or longer"));
  EXPECT_THAT(Errors("idle_interval: later\n"),
              Contains(HasSubstr("config.yaml:1: idle_interval: bad duration")));
}

TEST(Config, EmptyDocumentKeepsDefaults) {
  ConfigLoad load = ParseConfig("", "c.yaml", M(2));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->interval, 500ms);
  EXPECT_EQ(load.config->observer.cgroup_root, "/sys/fs/cgroup");
  EXPECT_EQ(load.config->observer.workload_depth, 3);
  EXPECT_EQ(load.config->observer.max_workloads, 1000);
  EXPECT_EQ(load.config->controller.violation_intervals, 3);
  EXPECT_EQ(load.config->controller.relief_window, 30s);
  EXPECT_TRUE(load.config->workloads.empty());
}

TEST(Config, ParsesEverySection) {
  ConfigLoad load = ParseConfig(R"(enforcement:
  mode: dry-run
  reserved_cpus: "0"
  max_exclusive_fraction: 0.25
observer:
  cgroup_root: /tmp/cg
  proc_root: /tmp/proc
  labels_dir: /run/labels
  workload_depth: 4
  max_workloads: 50
controller:
  violation_intervals: 5
  verify_intervals: 2
  improvement_margin: 0.3
  relief_window: 1m
  relief_margin: 0.1
  cooldown: 0s
  max_actions_per_minute: 3
  neighbour_cpu_threshold: 0.5
  reclassify_interval: 2s
  status_actions: 7
workloads:
  - name: db
    match: { comm: "postgres*", k8s_qos: Guaranteed, labels: { cpu_hint: exclusive } }
    class: latency-critical
    slo: { runq_p99: 500us }
    exclusive: always
    exclusive_cpus: 1
)",
                                "c.yaml", M(8));
  ASSERT_TRUE(load.config) << load.Text();
  const Config& c = *load.config;
  EXPECT_EQ(c.enforcement.mode, EnforcementMode::kDryRun);
  EXPECT_EQ(c.enforcement.reserved_cpus, (CpuSet{0}));
  EXPECT_EQ(c.observer.cgroup_root, "/tmp/cg");
  EXPECT_EQ(c.observer.proc_root, "/tmp/proc");
  EXPECT_EQ(c.observer.labels_dir, "/run/labels");
  EXPECT_EQ(c.observer.workload_depth, 4);
  EXPECT_EQ(c.observer.max_workloads, 50);
  EXPECT_EQ(c.controller.violation_intervals, 5);
  EXPECT_EQ(c.controller.verify_intervals, 2);
  EXPECT_DOUBLE_EQ(c.controller.improvement_margin, 0.3);
  EXPECT_EQ(c.controller.relief_window, 60s);
  EXPECT_DOUBLE_EQ(c.controller.relief_margin, 0.1);
  EXPECT_EQ(c.controller.cooldown, 0s);
  EXPECT_EQ(c.controller.max_actions_per_minute, 3);
  EXPECT_DOUBLE_EQ(c.controller.neighbour_cpu_threshold, 0.5);
  EXPECT_EQ(c.controller.reclassify_interval, 2s);
  EXPECT_EQ(c.controller.status_actions, 7);
  const WorkloadRule& w = c.workloads.at(0);
  EXPECT_EQ(w.match.comm, "postgres*");
  EXPECT_EQ(w.match.k8s_qos, PodQos::kGuaranteed);
  EXPECT_EQ(w.match.labels.at("cpu_hint"), "exclusive");
  EXPECT_EQ(w.slo_runq_p99, 500us);
  EXPECT_EQ(w.exclusive, ExclusivePolicy::kAlways);
  EXPECT_EQ(w.exclusive_cpus, 1);
}

TEST(Config, EmbeddedDefaultParsesAndClassifiesKubernetesOnly) {
  for (int cpus : {1, 2, 128}) {
    ConfigLoad load = LoadDefaultConfig(M(cpus));
    ASSERT_TRUE(load.config) << load.Text();
    EXPECT_TRUE(load.warnings.empty()) << load.Text();
    const auto& w = load.config->workloads;
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0].match.k8s_qos, PodQos::kBestEffort);
    EXPECT_EQ(w[0].cls, WorkloadClass::kBestEffort);
    EXPECT_EQ(w[1].match.k8s_qos, PodQos::kGuaranteed);
    EXPECT_EQ(w[1].cls, WorkloadClass::kLatencySensitive);
    // Enforces nothing else: nothing latency-critical, nothing exclusive.
    for (const auto& r : w) {
      EXPECT_NE(r.cls, WorkloadClass::kLatencyCritical);
      EXPECT_EQ(r.exclusive, ExclusivePolicy::kNever);
    }
    EXPECT_EQ(load.config->source, "<embedded default>");
  }
}

// The BPF keys reach BpfOptions; omitted ones and the embedded default get the sizes for
// max_workloads 1000 (4096 / 65536 / 32768 entries, shared map, auto attach).
TEST(Config, ObserverBpfOptions) {
  const char* yaml = R"(observer:
  bpf_attach: raw_tp
  workload_map: percpu
  workload_map_entries: 1024
  preempt_map_entries: 2048
  raw_stamp_entries: 4194304
)";
  ConfigLoad load = ParseConfig(yaml, "config.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  const BpfOptions& b = load.config->observer.bpf;
  EXPECT_EQ(b.attach, AttachKind::kRawTp);
  EXPECT_EQ(b.workload_map, WorkloadMapKind::kPerCpu);
  EXPECT_EQ(b.workload_map_entries, 1024u);
  EXPECT_EQ(b.preempt_map_entries, 2048u);
  EXPECT_EQ(b.raw_stamp_entries, 4194304u);

  load = ParseConfig("observer: { bpf_attach: tp_btf, workload_map: shared }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.bpf.attach, AttachKind::kTpBtf);
  EXPECT_EQ(load.config->observer.bpf.workload_map, WorkloadMapKind::kShared);
  EXPECT_EQ(load.config->observer.bpf.workload_map_entries, 4096u);

  for (ConfigLoad l : {ParseConfig("observer: {}\n", "c.yaml", M(4)), LoadDefaultConfig(M(4))}) {
    ASSERT_TRUE(l.config) << l.Text();
    const BpfOptions& d = l.config->observer.bpf;
    EXPECT_EQ(d.attach, AttachKind::kAuto);
    EXPECT_EQ(d.workload_map, WorkloadMapKind::kShared);
    EXPECT_EQ(d.workload_map_entries, 4096u);
    EXPECT_EQ(d.preempt_map_entries, 65536u);
    EXPECT_EQ(d.raw_stamp_entries, 32768u);
    EXPECT_TRUE(l.warnings.empty()) << l.Text();
  }
}

// observer.map_reads forces one way of reading the kernel maps (the fallback for kernels
// without batch lookups); default auto; a bad value names the choices.
TEST(Config, ObserverMapReads) {
  ConfigLoad load = ParseConfig("observer: { map_reads: iterate }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.map_reads, MapReadMode::kIterate);
  load = ParseConfig("observer: { map_reads: batch }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.map_reads, MapReadMode::kBatch);
  load = ParseConfig("observer: {}\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.map_reads, MapReadMode::kAuto);
  load = ParseConfig("observer:\n  map_reads: lookup\n", "c.yaml", M(4));
  EXPECT_FALSE(load.config);
  EXPECT_THAT(load.Text(), HasSubstr("c.yaml:2: observer.map_reads: \"lookup\" must be one of: "
                                     "auto, batch, iterate"));
}

// Issue 13: the BPF throttle check can be switched off (cpu.stat-only throttling); a bad value
// names the file, line and key.
TEST(Config, ObserverBpfThrottle) {
  ConfigLoad load = ParseConfig("observer: {}\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.bpf.throttle, ThrottleProbe::kAuto);
  load = ParseConfig("observer: { bpf_throttle: off }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.bpf.throttle, ThrottleProbe::kOff);
  load = ParseConfig("observer: { bpf_throttle: on }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->observer.bpf.throttle, ThrottleProbe::kOn);
  load = ParseConfig("interval: 1s\nobserver:\n  bpf_throttle: false\n", "c.yaml", M(4));
  EXPECT_FALSE(load.config);
  EXPECT_THAT(load.Text(), HasSubstr("c.yaml:3: observer.bpf_throttle: \"false\" must be one of: "
                                     "auto, on, off"));
}

// What the BPF programs do for each setting on kernels with and without the CFS bandwidth fields.
TEST(Config, BpfThrottleResolvesAgainstTheKernel) {
  EXPECT_EQ(ResolveThrottleProbe(ThrottleProbe::kAuto, true), std::optional<bool>(true));
  EXPECT_EQ(ResolveThrottleProbe(ThrottleProbe::kAuto, false), std::optional<bool>(false));
  EXPECT_EQ(ResolveThrottleProbe(ThrottleProbe::kOff, true), std::optional<bool>(false));
  EXPECT_EQ(ResolveThrottleProbe(ThrottleProbe::kOff, false), std::optional<bool>(false));
  EXPECT_EQ(ResolveThrottleProbe(ThrottleProbe::kOn, true), std::optional<bool>(true));
  EXPECT_EQ(ResolveThrottleProbe(ThrottleProbe::kOn, false), std::nullopt);  // would not load
}

// Issue 9: map sizes not given follow max_workloads (4 cgroup ids and 64 preemption pairs per
// workload, rounded up to a power of two, clamped to [1024, 2^18] and [16384, 2^22]); explicit
// sizes win.
TEST(Config, BpfMapSizesFollowMaxWorkloads) {
  struct Case {
    int max_workloads;
    uint32_t workloads, pairs;
  } cases[] = {{1, 1024, 16384}, {100, 1024, 16384}, {1000, 4096, 65536}, {3000, 16384, 262144}};
  for (const Case& c : cases) {
    ConfigLoad l = ParseConfig(
        "observer:\n  max_workloads: " + std::to_string(c.max_workloads) + "\n", "c.yaml", M(4));
    ASSERT_TRUE(l.config) << l.Text();
    EXPECT_EQ(l.config->observer.bpf.workload_map_entries, c.workloads) << c.max_workloads;
    EXPECT_EQ(l.config->observer.bpf.preempt_map_entries, c.pairs) << c.max_workloads;
    EXPECT_TRUE(l.warnings.empty()) << l.Text();
  }
  ConfigLoad l = ParseConfig("observer:\n  preempt_map_entries: 5000\n  max_workloads: 3000\n",
                             "c.yaml", M(4));
  ASSERT_TRUE(l.config) << l.Text();
  EXPECT_EQ(l.config->observer.bpf.preempt_map_entries, 5000u);
  EXPECT_EQ(l.config->observer.bpf.workload_map_entries, 16384u);
}

// Issue 10: observer.bpf_stats reaches BpfOptions (default off); anything but true/false is an
// error naming the key.
TEST(Config, ObserverBpfStats) {
  ConfigLoad l = ParseConfig("observer:\n  bpf_stats: true\n", "config.yaml", M(4));
  ASSERT_TRUE(l.config) << l.Text();
  EXPECT_TRUE(l.config->observer.bpf.bpf_stats);
  l = LoadDefaultConfig(M(4));
  ASSERT_TRUE(l.config) << l.Text();
  EXPECT_FALSE(l.config->observer.bpf.bpf_stats);
  l = ParseConfig("observer:\n  bpf_stats: sometimes\n", "config.yaml", M(4));
  EXPECT_FALSE(l.config);
  EXPECT_THAT(l.Text(),
              HasSubstr("config.yaml:2: observer.bpf_stats: \"sometimes\" must be true or false"));
}

// A derived size beyond its cap is clamped, with a warning naming max_workloads; an explicit
// workload map smaller than max_workloads warns at its own key.
TEST(Config, BpfMapSizesClampedOrTooSmallAreExplained) {
  ConfigLoad l = ParseConfig("observer:\n  max_workloads: 100000\n", "config.yaml", M(4));
  ASSERT_TRUE(l.config) << l.Text();
  EXPECT_EQ(l.config->observer.bpf.workload_map_entries, 262144u);
  EXPECT_EQ(l.config->observer.bpf.preempt_map_entries, 4194304u);
  std::string t = l.Text();
  EXPECT_THAT(t, HasSubstr("config.yaml:2: observer.max_workloads: 100000 workloads would size "
                           "observer.workload_map_entries to 400000 (4 per workload); clamped "
                           "to 262144: set observer.workload_map_entries to size it yourself"));
  EXPECT_THAT(t, HasSubstr("observer.preempt_map_entries to 6400000 (64 per workload); clamped "
                           "to 4194304"));

  l = ParseConfig("observer:\n  max_workloads: 2000\n  workload_map_entries: 1500\n", "config.yaml",
                  M(4));
  ASSERT_TRUE(l.config) << l.Text();
  EXPECT_EQ(l.config->observer.bpf.workload_map_entries, 1500u);
  EXPECT_THAT(l.Text(), HasSubstr("config.yaml:3: observer.workload_map_entries: 1500 is below "
                                  "observer.max_workloads (2000)"));
}

// --- one test per diagnostic ----------------------------------------------------------------

TEST(ConfigErrors, ZeroSlo) {
  EXPECT_THAT(Errors(R"(workloads:
  - name: web
    match: { cgroup: "/lc*" }
    class: latency-critical
    slo: { runq_p99: 0ms }
)"),
              Contains("config.yaml:5: workloads[0].slo.runq_p99: \"0ms\" must be > 0"));
}

TEST(Config, OneModeParserForTheFileAndTheCommandLine) {
  EXPECT_EQ(ParseEnforcementMode("observe"), EnforcementMode::kObserve);
  EXPECT_EQ(ParseEnforcementMode("dry-run"), EnforcementMode::kDryRun);
  EXPECT_EQ(ParseEnforcementMode("enforce"), EnforcementMode::kEnforce);
  EXPECT_EQ(ParseEnforcementMode("Enforce"), std::nullopt);
  EXPECT_EQ(ParseEnforcementMode("dry_run"), std::nullopt);
  EXPECT_EQ(ParseEnforcementMode(""), std::nullopt);
  EXPECT_THAT(Errors("enforcement:\n  mode: dry_run\n"),
              Contains("config.yaml:2: enforcement.mode: \"dry_run\" must be one of: observe, "
                       "dry-run, enforce"));
}

TEST(ConfigErrors, SyntaxError) {
  EXPECT_THAT(Errors("listen: 127.0.0.1:1\ninterval: a: b\n"),
              Contains("config.yaml:2: YAML syntax error: illegal map value"));
  // An unclosed flow is only noticed at the end of the document.
  EXPECT_THAT(Errors("listen: [1,\ninterval: 5ms\n"),
              Contains("config.yaml:3: YAML syntax error: end of sequence flow not found"));
}

TEST(ConfigErrors, RootMustBeAMap) {
  EXPECT_THAT(Errors("- a\n- b\n"),
              Contains("config.yaml:1: the config must be a map of keys, got a list"));
}

TEST(ConfigErrors, UnknownKeysAtEveryLevel) {
  auto e = Errors(R"(listen: 127.0.0.1:1
intervall: 1s
enforcement:
  moed: enforce
observer: { depth: 2 }
controller:
  cooldwn: 1s
workloads:
  - name: a
    match: { cgroup: "/a", pid: 3 }
    class: normal
    priority: 3
    slo: { p99: 1ms }
)");
  EXPECT_THAT(e, Contains("config.yaml:2: intervall: unknown key (expected one of: listen, "
                          "interval, idle_interval, state_dir, enforcement, observer, controller, "
                          "metrics, kubernetes, workloads)"));
  EXPECT_THAT(
      e, Contains("config.yaml:4: enforcement.moed: unknown key (expected one of: mode, "
                  "shared_pool_min_cores, max_exclusive_fraction, reserved_cpus, keep_cpu0_shared, "
                  "allowed_cgroups, on_stop)"));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:5: observer.depth: unknown key")));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:7: controller.cooldwn: unknown key")));
  EXPECT_THAT(e, Contains("config.yaml:10: workloads[0].match.pid: unknown key (expected one of: "
                          "cgroup, comm, k8s_qos, labels, namespace, pod_labels, annotations)"));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:12: workloads[0].priority: unknown key")));
  EXPECT_THAT(e, Contains("config.yaml:13: workloads[0].slo.p99: unknown key (expected one of: "
                          "runq_p99)"));
  EXPECT_THAT(e, Contains("config.yaml:13: workloads[0].slo: missing runq_p99 (e.g. slo: { "
                          "runq_p99: 2ms })"));
}

TEST(ConfigErrors, CollectsAllErrorsInFileOrder) {
  auto load = ParseConfig("interval: fast\nlisten: nowhere\nstate_dir: relative\n", "c.yaml", M(2));
  ASSERT_FALSE(load.config);
  ASSERT_EQ(load.errors.size(), 3u) << load.Text();
  EXPECT_EQ(load.errors[0].line, 1);
  EXPECT_EQ(load.errors[0].key, "interval");
  EXPECT_EQ(load.errors[1].ToString(),
            "c.yaml:2: listen: \"nowhere\" must be HOST:PORT, e.g. 127.0.0.1:9750");
  EXPECT_EQ(load.errors[2].ToString(),
            "c.yaml:3: state_dir: \"relative\" must be an absolute path");
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_THAT(Errors("interval: 1s\nlisten: 127.0.0.1:1\ninterval: 2s\n"),
              Contains("config.yaml:3: interval: duplicate key"));
}

TEST(ConfigErrors, BadDurations) {
  auto e = Errors("interval: 5\ncontroller:\n  relief_window: soon\n  cooldown: [1s]\n");
  EXPECT_THAT(e, Contains("config.yaml:1: interval: bad duration '5': expected a number and a "
                          "unit (ns, us, ms, s, m, h), e.g. 500ms"));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:3: controller.relief_window: bad duration "
                                    "'soon'")));
  EXPECT_THAT(e, Contains("config.yaml:4: controller.cooldown: expected a duration like 500ms, "
                          "got a list"));
  EXPECT_THAT(Errors("interval: 1ms\n"),
              Contains("config.yaml:1: interval: \"1ms\" is too short: the interval must be >= "
                       "10ms"));
  EXPECT_THAT(Errors("interval: 0s\n"), Contains("config.yaml:1: interval: \"0s\" must be > 0"));
}

TEST(ConfigErrors, WrongTypes) {
  auto e = Errors(R"(listen: { host: x }
enforcement:
  shared_pool_min_cores: two
  max_exclusive_fraction: lots
observer:
  workload_depth: [1]
  max_workloads: 0
controller:
  relief_margin: { a: 1 }
  violation_intervals: 2.5
workloads: { name: x }
)");
  EXPECT_THAT(e, Contains("config.yaml:1: listen: expected a string, got a map"));
  EXPECT_THAT(e, Contains("config.yaml:3: enforcement.shared_pool_min_cores: \"two\" is not an "
                          "integer"));
  EXPECT_THAT(e, Contains("config.yaml:4: enforcement.max_exclusive_fraction: \"lots\" is not a "
                          "number"));
  EXPECT_THAT(e, Contains("config.yaml:6: observer.workload_depth: expected an integer, got a "
                          "list"));
  EXPECT_THAT(e, Contains("config.yaml:7: observer.max_workloads: \"0\" must be between 1 and "
                          "1000000"));
  EXPECT_THAT(e, Contains("config.yaml:9: controller.relief_margin: expected a number, got a map"));
  EXPECT_THAT(e, Contains("config.yaml:10: controller.violation_intervals: \"2.5\" is not an "
                          "integer"));
  EXPECT_THAT(e, Contains("config.yaml:11: workloads: expected a list of workloads, got a map"));
  EXPECT_THAT(Errors("enforcement: 3\n"),
              Contains("config.yaml:1: enforcement: expected a map, got a scalar"));
}

TEST(ConfigErrors, EnforcementValues) {
  auto e = Errors(R"(enforcement:
  mode: yes-please
  max_exclusive_fraction: 0
  reserved_cpus: "0-x"
)");
  EXPECT_THAT(e, Contains("config.yaml:2: enforcement.mode: \"yes-please\" must be one of: "
                          "observe, dry-run, enforce"));
  // 0 used to pass check-config, and then the allocator refused to start in enforce mode.
  EXPECT_THAT(e, Contains("config.yaml:3: enforcement.max_exclusive_fraction: \"0\" must be in "
                          "(0, 1]: a fraction of all CPUs (1 = no cap beyond "
                          "shared_pool_min_cores); to give no workload exclusive cores, set "
                          "exclusive: never on them"));
  EXPECT_THAT(Errors("enforcement: { max_exclusive_fraction: 1.01 }\n"),
              Contains(HasSubstr("config.yaml:1: enforcement.max_exclusive_fraction: \"1.01\" "
                                 "must be in (0, 1]")));
  // Without the machine's topology only the range is checked.
  EXPECT_FALSE(
      ParseConfig("enforcement: { max_exclusive_fraction: 0 }\n", "c.yaml", nullptr).config);
  EXPECT_TRUE(
      ParseConfig("enforcement: { max_exclusive_fraction: 1 }\n", "c.yaml", nullptr).config);
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:4: enforcement.reserved_cpus: ")));
  EXPECT_THAT(Errors("enforcement:\n  reserved_cpus: \"1,7\"\n", 4),
              Contains("config.yaml:2: enforcement.reserved_cpus: CPU 7 does not exist (this "
                       "machine has CPUs 0-3)"));
}

TEST(Config, KeepCpu0Shared) {
  ConfigLoad load = ParseConfig("enforcement: { keep_cpu0_shared: false }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_FALSE(load.config->enforcement.keep_cpu0_shared);
  EXPECT_FALSE(ExclusiveLimitsOf(load.config->enforcement).keep_cpu0_shared);
  EXPECT_THAT(Errors("enforcement:\n  keep_cpu0_shared: maybe\n"),
              Contains("config.yaml:2: enforcement.keep_cpu0_shared: \"maybe\" must be true or "
                       "false"));
}

TEST(Config, AllowedCgroups) {
  auto ok = ParseConfig("enforcement:\n  allowed_cgroups: [\"/kubepods\", \"/batch.slice\"]\n",
                        "config.yaml", M(4));
  ASSERT_TRUE(ok.config) << ok.Text();
  EXPECT_EQ(ok.config->enforcement.allowed_cgroups,
            (std::vector<std::string>{"/kubepods", "/batch.slice"}));
  EXPECT_THAT(Errors("enforcement:\n  allowed_cgroups: /kubepods\n"),
              Contains(HasSubstr("config.yaml:2: enforcement.allowed_cgroups: must be a list")));
  EXPECT_THAT(Errors("enforcement:\n  allowed_cgroups:\n    - /a\n    - kubepods\n"),
              Contains("config.yaml:4: enforcement.allowed_cgroups[1]: \"kubepods\" must be a "
                       "cgroup path starting with '/'"));
}

TEST(ConfigErrors, ExclusiveLimitsImpossibleOnThisMachine) {
  // Both caps apply and the tighter wins: a fraction looser than the floor is not an error
  // (1 = no cap beyond the floor).
  EXPECT_TRUE(Errors("enforcement: { max_exclusive_fraction: 1 }\n", 2).empty());
  EXPECT_TRUE(
      Errors("enforcement:\n  shared_pool_min_cores: 2\n  max_exclusive_fraction: 0.9\n", 10)
          .empty());
  // A floor above the machine's cores (whole cores, not CPUs) is.
  EXPECT_THAT(Errors("enforcement:\n  shared_pool_min_cores: 3\n", 2),
              Contains("config.yaml:2: enforcement.shared_pool_min_cores: 3 is more than the 2 "
                       "cores of this machine"));
  const std::string floor3 = "enforcement:\n  shared_pool_min_cores: 3\n";
  EXPECT_THAT(ErrorsOn(floor3, test::SyntheticMachine(2, 2)),
              Contains("config.yaml:2: enforcement.shared_pool_min_cores: 3 is more than the 2 "
                       "cores of this machine"));
}

TEST(ConfigErrors, ObserverPaths) {
  auto e = Errors("observer:\n  cgroup_root: sys/fs/cgroup\n  proc_root: \"\"\n");
  EXPECT_THAT(e, Contains("config.yaml:2: observer.cgroup_root: \"sys/fs/cgroup\" must be an "
                          "absolute path"));
  EXPECT_THAT(e, Contains("config.yaml:3: observer.proc_root: \"\" must be an absolute path"));
}

TEST(ConfigErrors, ObserverBpfOptions) {
  auto e = Errors(R"(observer:
  bpf_attach: kprobe
  workload_map: per-cpu
  workload_map_entries: 0
  preempt_map_entries: 4194305
  raw_stamp_entries: many
  bpf_attach_kind: auto
)");
  EXPECT_THAT(e, Contains("config.yaml:2: observer.bpf_attach: \"kprobe\" must be one of: auto, "
                          "tp_btf, raw_tp"));
  EXPECT_THAT(e, Contains("config.yaml:3: observer.workload_map: \"per-cpu\" must be one of: "
                          "shared, percpu"));
  EXPECT_THAT(e, Contains("config.yaml:4: observer.workload_map_entries: \"0\" must be between 1 "
                          "and 4194304"));
  EXPECT_THAT(e, Contains("config.yaml:5: observer.preempt_map_entries: \"4194305\" must be "
                          "between 1 and 4194304"));
  EXPECT_THAT(e, Contains("config.yaml:6: observer.raw_stamp_entries: \"many\" is not an integer"));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:7: observer.bpf_attach_kind:")));
  EXPECT_THAT(Errors("observer: { workload_map: [shared] }\n"),
              Contains("config.yaml:1: observer.workload_map: expected a string, got a list"));
}

TEST(ConfigErrors, ControllerImpossibleSettings) {
  auto e = Errors("interval: 2s\ncontroller:\n  improvement_margin: 0\n  relief_window: 1s\n");
  EXPECT_THAT(e, Contains("config.yaml:3: controller.improvement_margin: \"0\" must be > 0"));
  EXPECT_THAT(e, Contains("config.yaml:4: controller.relief_window: \"1s\" is shorter than the "
                          "interval (2s)"));
  EXPECT_THAT(Errors("controller: { improvement_margin: 1.5 }\n"),
              Contains("config.yaml:1: controller.improvement_margin: \"1.5\" must be in [0, 1)"));
}

TEST(ConfigErrors, WorkloadNamesAndRequiredKeys) {
  auto e = Errors(R"(workloads:
  - name: web
    match: { cgroup: "/a" }
    class: normal
  - name: web
    match: { cgroup: "/b" }
    class: normal
  - name: "bad name!"
    match: { cgroup: "/c" }
    class: normal
  - class: normal
  - name: nomatch
    class: normal
  - name: noclass
    match: { cgroup: "/d" }
  - just-a-string
)");
  EXPECT_THAT(e, Contains("config.yaml:5: workloads[1].name: duplicate workload name \"web\" "
                          "(also workloads[0])"));
  EXPECT_THAT(e, Contains("config.yaml:8: workloads[2].name: \"bad name!\" must be non-empty and "
                          "use only letters, digits, _ . -"));
  EXPECT_THAT(e, Contains("config.yaml:11: workloads[3]: missing name"));
  EXPECT_THAT(e, Contains("config.yaml:11: workloads[3]: missing match (e.g. match: { cgroup: "
                          "\"/lc*\" })"));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:12: workloads[4]: missing match")));
  EXPECT_THAT(e, Contains("config.yaml:14: workloads[5]: missing class"));
  EXPECT_THAT(e, Contains("config.yaml:16: workloads[6]: expected a map, got a scalar"));
}

TEST(ConfigErrors, ClassAndObjective) {
  auto e = Errors(R"(workloads:
  - name: a
    match: { cgroup: "/a" }
    class: critical
  - name: b
    match: { cgroup: "/b" }
    class: latency-critical
  - name: c
    match: { cgroup: "/c" }
    class: best-effort
    slo: { runq_p99: 1ms }
)");
  EXPECT_THAT(e, Contains("config.yaml:4: workloads[0].class: \"critical\" must be one of: "
                          "latency-critical, latency-sensitive, normal, best-effort"));
  EXPECT_THAT(e, Contains("config.yaml:5: workloads[1].slo: a latency-critical workload needs an "
                          "objective (e.g. slo: { runq_p99: 2ms })"));
  EXPECT_THAT(e, Contains("config.yaml:11: workloads[2].slo: an objective on a best-effort "
                          "workload is never watched: use latency-critical or latency-sensitive"));
}

TEST(ConfigErrors, ExclusiveSettings) {
  auto e = Errors(R"(workloads:
  - name: a
    match: { cgroup: "/a" }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive: sometimes
  - name: b
    match: { cgroup: "/b" }
    class: latency-sensitive
    exclusive: always
  - name: c
    match: { cgroup: "/c" }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive: never
    exclusive_cpus: 2
  - name: d
    match: { cgroup: "/d" }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive_cpus: 0
)");
  EXPECT_THAT(e, Contains("config.yaml:6: workloads[0].exclusive: \"sometimes\" must be one of: "
                          "never, on-interference, always"));
  EXPECT_THAT(e, Contains("config.yaml:10: workloads[1].exclusive: exclusive cores are only for "
                          "latency-critical workloads, this one is latency-sensitive"));
  EXPECT_THAT(e, Contains("config.yaml:16: workloads[2].exclusive_cpus: set, but this workload "
                          "never gets exclusive cores (exclusive: never)"));
  EXPECT_THAT(e, Contains("config.yaml:21: workloads[3].exclusive_cpus: \"0\" must be between 1 "
                          "and 1048576"));
}

TEST(ConfigErrors, MatchValues) {
  auto e = Errors(R"(workloads:
  - name: a
    match: {}
    class: normal
  - name: b
    match: { cgroup: "lc*", comm: "" }
    class: normal
  - name: c
    match: { comm: a-very-long-process-name, k8s_qos: gold }
    class: normal
  - name: d
    match: { labels: [cpu_hint] }
    class: normal
  - name: e
    match: "/e"
    class: normal
)");
  EXPECT_THAT(e, Contains("config.yaml:3: workloads[0].match: empty match: give at least one of "
                          "cgroup, comm, k8s_qos, labels, namespace, pod_labels, annotations"));
  EXPECT_THAT(e, Contains("config.yaml:6: workloads[1].match.cgroup: \"lc*\" must start with / "
                          "(cgroup paths are /-rooted, e.g. /lc*)"));
  EXPECT_THAT(e, Contains("config.yaml:6: workloads[1].match.comm: must not be empty"));
  EXPECT_THAT(e, Contains("config.yaml:9: workloads[2].match.comm: \"a-very-long-process-name\" "
                          "is longer than 15 characters: the kernel truncates comm, so it can "
                          "never match (use a glob, e.g. a-very-long-pro*)"));
  EXPECT_THAT(e, Contains("config.yaml:9: workloads[2].match.k8s_qos: \"gold\" must be one of: "
                          "guaranteed, burstable, besteffort"));
  EXPECT_THAT(e, Contains("config.yaml:12: workloads[3].match.labels: expected a map, got a list"));
  EXPECT_THAT(e, Contains("config.yaml:15: workloads[4].match: expected a map, got a scalar"));
}

TEST(ConfigWarnings, ExclusiveThatCanNeverBeGranted) {
  const char* doc = R"(enforcement:
  max_exclusive_fraction: 0.2
workloads:
  - name: a
    match: { cgroup: "/a" }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive_cpus: 4
)";
  EXPECT_TRUE(Errors(doc, 2).empty());
  EXPECT_THAT(Warnings(doc, 2),
              Contains("config.yaml:2: enforcement.max_exclusive_fraction: allows no exclusive "
                       "core on this machine, every exclusive request will be refused (0 core(s) "
                       "= 0 CPU(s) on this 2-CPU machine (2 cores x 1 threads): "
                       "max_exclusive_fraction 0.2 allows 0 CPU(s) = 0 core(s), "
                       "shared_pool_min_cores 1 allows 1)"));
  EXPECT_THAT(Warnings(doc, 10),
              Contains(HasSubstr("config.yaml:8: workloads[0].exclusive_cpus: 4 is more than the "
                                 "2 exclusive CPUs this machine allows: it will be capped")));
}

// check-config states the capacity the allocator will enforce: the same ExclusiveCapacity, in
// whole cores, on an SMT machine.
TEST(ConfigWarnings, CapacityOnSmtIsTheAllocators) {
  const Topology* smt = test::SyntheticMachine(4, 2);  // 8 CPUs, 4 cores
  const char* doc = R"(enforcement:
  max_exclusive_fraction: 0.3
workloads:
  - name: a
    match: { cgroup: "/a" }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive_cpus: 1
  - name: b
    match: { cgroup: "/b" }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive_cpus: 3
)";
  ConfigLoad load = ParseConfig(doc, "config.yaml", smt);
  ASSERT_TRUE(load.config) << load.Text();
  std::vector<std::string> w;
  for (const auto& d : load.warnings) w.push_back(d.ToString());
  // 0.3 of 8 CPUs = 2 CPUs = 1 whole core.
  EXPECT_THAT(w, Contains("config.yaml:8: workloads[0].exclusive_cpus: 1 is less than one "
                          "physical core (2 threads) on this machine: exclusive CPUs are whole "
                          "cores, so the workload stays in the shared pool (use a multiple of "
                          "2)"));
  EXPECT_THAT(w, Contains("config.yaml:13: workloads[1].exclusive_cpus: 3 is not a multiple of "
                          "the 2 threads per core: rounded up to 2 whole core(s) = 4 CPUs"));
  EXPECT_THAT(w, Contains(HasSubstr("config.yaml:13: workloads[1].exclusive_cpus: 3 is more "
                                    "than the 2 exclusive CPUs this machine allows")));
  // The allocator, given the same limits, agrees: one core, and not two.
  auto alloc = CoreAllocator::Create(*smt, ExclusiveLimitsOf(load.config->enforcement));
  ASSERT_TRUE(alloc.ok()) << alloc.error().message;
  EXPECT_FALSE(alloc->Allocate({"b", 4, {}}).granted);
  EXPECT_EQ(alloc->Allocate({"b", 2, {}}).cpus.size(), 2u);
  EXPECT_EQ(alloc->capacity().max_cores(), 1);
}

TEST(CheckConfig, ReportsTextAndExitCodes) {
  test::TempTree tree;
  const std::string good = tree.Write("good.yaml", kIssueExample);
  CheckConfigReport ok = CheckConfig(good, M(2));
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.text, good + ": OK (2 workload rules, mode enforce, interval 500ms)\n");

  const std::string bad = tree.Write("bad.yaml", "interval: 0ms\nlisten: x\n");
  CheckConfigReport r = CheckConfig(bad, M(2));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.text, bad + ":1: interval: \"0ms\" must be > 0\n" + bad +
                        ":2: listen: \"x\" must be HOST:PORT, e.g. 127.0.0.1:9750\n2 error(s) in " +
                        bad + "\n");

  CheckConfigReport missing = CheckConfig(tree.Path("nope.yaml"), M(2));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.text, HasSubstr("nope.yaml: cannot read the config file"));
}

// Whoever can edit the config steers a root agent: check-config and the agent refuse it.
TEST(CheckConfig, RefusesAConfigOthersCanWrite) {
  test::TempTree tree;
  const std::string path = tree.Write("open.yaml", kIssueExample);
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  CheckConfigReport r = CheckConfig(path, M(2));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.text, HasSubstr(path + ": config file " + path + " is mode 0666"));
  EXPECT_THAT(r.text, HasSubstr("(fix: chmod go-w " + path + ")"));
  EXPECT_FALSE(LoadConfigFile(path, M(2)).config);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_EQ(CheckConfig(path, M(2)).exit_code, 0);
}

TEST(Config, MetricsBasicAuthFile) {
  auto c = ParseConfig("metrics:\n  basic_auth_file: /etc/schedwarden/metrics-users\n",
                       "config.yaml", M(4));
  ASSERT_TRUE(c.config) << c.Text();
  EXPECT_EQ(c.config->metrics.basic_auth_file, "/etc/schedwarden/metrics-users");
  EXPECT_EQ(ParseConfig("", "config.yaml", M(4)).config->metrics.basic_auth_file, "");
  EXPECT_THAT(Errors("metrics:\n  basic_auth_file: users\n"),
              Contains("config.yaml:2: metrics.basic_auth_file: \"users\" must be an absolute path "
                       "(or \"\" for no authentication)"));
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

// Every ```yaml block of docs/configuration.md is a valid configuration: the documentation
// cannot drift from the parser.
TEST(ConfigDocs, EveryYamlExampleParses) {
  auto doc = ReadFile(std::string(SW_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  int blocks = 0;
  size_t at = 0;
  while ((at = doc->find("```yaml\n", at)) != std::string::npos) {
    at += 8;
    const size_t end = doc->find("```", at);
    ASSERT_NE(end, std::string::npos);
    ConfigLoad load = ParseConfig(doc->substr(at, end - at), "configuration.md", M(2));
    EXPECT_TRUE(load.config) << load.Text();
    blocks++;
    at = end + 3;
  }
  EXPECT_EQ(blocks, 2);
}

TEST(Config, MetricsBuckets) {
  ConfigLoad load = ParseConfig("interval: 1s\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->metrics.buckets, MetricBuckets::kDefault);
  load = ParseConfig("metrics:\n  buckets: full\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->metrics.buckets, MetricBuckets::kFull);
  load = ParseConfig("metrics: { buckets: default }\n", "c.yaml", M(4));
  ASSERT_TRUE(load.config) << load.Text();
  EXPECT_EQ(load.config->metrics.buckets, MetricBuckets::kDefault);
  EXPECT_THAT(Errors("metrics:\n  buckets: all\n"),
              Contains("config.yaml:2: metrics.buckets: \"all\" must be one of: default, full"));
  EXPECT_THAT(Errors("metrics:\n  le: full\n"), Contains(HasSubstr("metrics.le: unknown key")));
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

TEST(ConfigKubernetes, RuntimeEndpointIsAUnixSocketOrEmpty) {
  auto ok = ParseConfig("kubernetes:\n  runtime_endpoint: unix:///run/k3s/containerd.sock\n",
                        "config.yaml", nullptr);
  ASSERT_TRUE(ok.config) << ok.Text();
  EXPECT_EQ(ok.config->kubernetes.runtime_endpoint, "unix:///run/k3s/containerd.sock");
  auto off = ParseConfig("kubernetes:\n  runtime_endpoint: \"\"\n", "config.yaml", nullptr);
  ASSERT_TRUE(off.config) << off.Text();
  EXPECT_EQ(off.config->kubernetes.runtime_endpoint, "");
  auto bad =
      ParseConfig("kubernetes:\n  runtime_endpoint: tcp://10.0.0.1:1234\n", "config.yaml", nullptr);
  EXPECT_FALSE(bad.config);
  EXPECT_NE(bad.Text().find("config.yaml:2: kubernetes.runtime_endpoint:"), std::string::npos)
      << bad.Text();
}

TEST(Config, PodMetadataMatchKeys) {
  auto load = ParseConfig(R"(workloads:
  - name: shop
    match:
      namespace: "shop-*"
      pod_labels: { app.kubernetes.io/name: "web*", tier: frontend }
      annotations: { example.com/latency: "true" }
    class: latency-critical
    slo: { runq_p99: 2ms }
    pod_annotations: ignore
  - name: rest
    match: { namespace: "*" }
    class: normal
)",
                          "config.yaml", nullptr);
  ASSERT_TRUE(load.config) << load.Text();
  const WorkloadMatch& m = load.config->workloads[0].match;
  EXPECT_EQ(m.namespace_glob, "shop-*");
  EXPECT_EQ(m.pod_labels, (std::map<std::string, std::string>{{"app.kubernetes.io/name", "web*"},
                                                              {"tier", "frontend"}}));
  EXPECT_EQ(m.annotations, (std::map<std::string, std::string>{{"example.com/latency", "true"}}));
  EXPECT_FALSE(load.config->workloads[0].pod_annotations);
  EXPECT_TRUE(load.config->workloads[1].pod_annotations);  // the default: annotations apply
}

TEST(ConfigErrors, PodMetadataMatchValues) {
  auto e = Errors(R"(workloads:
  - name: a
    match: { namespace: "Shop" }
    class: normal
  - name: b
    match: { namespace: [a, b] }
    class: normal
  - name: c
    match: { pod_labels: { "-bad": x, "UPPER.example/app": y } }
    class: normal
  - name: d
    match: { annotations: {} }
    class: normal
  - name: e
    match: { pod_labels: { app: [x] } }
    class: normal
  - name: f
    match: { namespace: prod }
    class: normal
    pod_annotations: sometimes
)");
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:3: workloads[0].match.namespace: \"Shop\" is "
                                    "not a namespace glob: namespaces are lower-case letters")));
  EXPECT_THAT(e, Contains("config.yaml:6: workloads[1].match.namespace: expected a string, got a "
                          "list"));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:9: workloads[2].match.pod_labels.-bad: \"-bad\" "
                                    "is not a Kubernetes label/annotation key")));
  EXPECT_THAT(e, Contains(HasSubstr("config.yaml:9: workloads[2].match.pod_labels.UPPER.example/"
                                    "app: \"UPPER.example/app\" is not a Kubernetes")));
  EXPECT_THAT(e, Contains("config.yaml:12: workloads[3].match.annotations: empty map: give at "
                          "least one key: value glob"));
  EXPECT_THAT(e, Contains("config.yaml:15: workloads[4].match.pod_labels.app: expected a string, "
                          "got a list"));
  EXPECT_THAT(e, Contains("config.yaml:20: workloads[5].pod_annotations: \"sometimes\" must be "
                          "one of: apply, ignore"));
  EXPECT_EQ(e.size(), 7u) << ::testing::PrintToString(e);
}

TEST(ConfigKubernetes, CpuManagerStateIsAnAbsolutePathOrEmpty) {
  auto def = ParseConfig("", "config.yaml", nullptr);
  ASSERT_TRUE(def.config);
  EXPECT_EQ(def.config->kubernetes.cpu_manager_state, "/var/lib/kubelet/cpu_manager_state");
  auto off = ParseConfig("kubernetes:\n  cpu_manager_state: \"\"\n", "config.yaml", nullptr);
  ASSERT_TRUE(off.config) << off.Text();
  EXPECT_EQ(off.config->kubernetes.cpu_manager_state, "");
  auto bad = ParseConfig("kubernetes:\n  cpu_manager_state: var/lib/kubelet/cpu_manager_state\n",
                         "config.yaml", nullptr);
  EXPECT_FALSE(bad.config);
  EXPECT_NE(bad.Text().find("config.yaml:2: kubernetes.cpu_manager_state: "
                            "\"var/lib/kubelet/cpu_manager_state\" must be \"\" (off) or an "
                            "absolute path"),
            std::string::npos)
      << bad.Text();
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

TEST(ConfigKubernetes, RuntimeNamespaceRefreshAndTimeout) {
  auto dflt = ParseConfig("kubernetes: {}\n", "config.yaml", nullptr);
  ASSERT_TRUE(dflt.config) << dflt.Text();
  EXPECT_EQ(dflt.config->kubernetes.runtime_namespace, "k8s.io");
  EXPECT_EQ(dflt.config->kubernetes.refresh, std::chrono::seconds(5));
  EXPECT_EQ(dflt.config->kubernetes.timeout, std::chrono::seconds(2));
  EXPECT_EQ(dflt.config->kubernetes.workload_level, KubernetesWorkloadLevel::kPod);
  for (auto [text, level] : {std::pair{"container", KubernetesWorkloadLevel::kContainer},
                             std::pair{"depth", KubernetesWorkloadLevel::kDepth},
                             std::pair{"pod", KubernetesWorkloadLevel::kPod}}) {
    auto l = ParseConfig(std::string("kubernetes:\n  workload_level: ") + text + "\n",
                         "config.yaml", nullptr);
    ASSERT_TRUE(l.config) << l.Text();
    EXPECT_EQ(l.config->kubernetes.workload_level, level) << text;
  }
  auto ok =
      ParseConfig("kubernetes:\n  runtime_namespace: my-ns.1\n  refresh: 30s\n  timeout: 500ms\n",
                  "config.yaml", nullptr);
  ASSERT_TRUE(ok.config) << ok.Text();
  EXPECT_EQ(ok.config->kubernetes.runtime_namespace, "my-ns.1");
  EXPECT_EQ(ok.config->kubernetes.refresh, std::chrono::seconds(30));
  EXPECT_EQ(ok.config->kubernetes.timeout, std::chrono::milliseconds(500));
  EXPECT_TRUE(ok.warnings.empty()) << ok.Text();
}

TEST(ConfigKubernetes, BadRuntimeKeysNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* where;
  } cases[] = {
      {"kubernetes:\n  runtime_namespace: \"k8s..io\"\n",
       "config.yaml:2: kubernetes.runtime_namespace:"},
      {"kubernetes:\n  runtime_namespace: \"\"\n", "config.yaml:2: kubernetes.runtime_namespace:"},
      {"kubernetes:\n  runtime_namespace: -x\n", "config.yaml:2: kubernetes.runtime_namespace:"},
      {"kubernetes:\n  refresh: 0s\n", "config.yaml:2: kubernetes.refresh:"},
      {"kubernetes:\n  refresh: soon\n", "config.yaml:2: kubernetes.refresh:"},
      {"kubernetes:\n\n  timeout: -1s\n", "config.yaml:3: kubernetes.timeout:"},
      {"kubernetes:\n  timeout: [1]\n", "config.yaml:2: kubernetes.timeout:"},
      {"kubernetes:\n  workload_level: node\n", "config.yaml:2: kubernetes.workload_level:"},
  };
  for (const Case& c : cases) {
    auto bad = ParseConfig(c.yaml, "config.yaml", nullptr);
    EXPECT_FALSE(bad.config) << c.yaml;
    EXPECT_NE(bad.Text().find(c.where), std::string::npos) << c.yaml << "\n" << bad.Text();
  }
}

TEST(ConfigKubernetes, TimeoutLongerThanRefreshIsAWarning) {
  auto w = ParseConfig("kubernetes:\n  refresh: 1s\n  timeout: 3s\n", "config.yaml", nullptr);
  ASSERT_TRUE(w.config) << w.Text();
  ASSERT_EQ(w.warnings.size(), 1u) << w.Text();
  EXPECT_EQ(w.warnings[0].ToString().rfind("config.yaml:3: kubernetes.timeout:", 0), 0u)
      << w.Text();
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

TEST(ConfigHandoverAndEvents, OnStopAndEventKeys) {
  ConfigLoad def = ParseConfig("interval: 500ms\n", "config.yaml", nullptr);
  ASSERT_TRUE(def.config) << def.Text();
  EXPECT_EQ(def.config->enforcement.on_stop, OnStop::kRestore);
  EXPECT_FALSE(def.config->kubernetes.events);
  EXPECT_EQ(def.config->kubernetes.credentials_dir,
            "/var/run/secrets/kubernetes.io/serviceaccount");
  ConfigLoad ok = ParseConfig(
      "enforcement: { on_stop: handover }\nkubernetes:\n  events: true\n"
      "  api_server: https://10.0.0.1:6443\n  credentials_dir: /tmp/sa\n",
      "config.yaml", nullptr);
  ASSERT_TRUE(ok.config) << ok.Text();
  EXPECT_EQ(ok.config->enforcement.on_stop, OnStop::kHandover);
  EXPECT_TRUE(ok.config->kubernetes.events);
  EXPECT_EQ(ok.config->kubernetes.api_server, "https://10.0.0.1:6443");
  EXPECT_EQ(ok.config->kubernetes.credentials_dir, "/tmp/sa");
  ConfigLoad bad = ParseConfig(
      "enforcement: { on_stop: keep }\nkubernetes:\n  events: maybe\n  api_server: 10.0.0.1\n"
      "  credentials_dir: sa\n",
      "config.yaml", nullptr);
  EXPECT_FALSE(bad.config);
  const std::string t = bad.Text();
  EXPECT_NE(t.find("config.yaml:1: enforcement.on_stop: \"keep\" must be one of: restore, "
                   "handover"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("config.yaml:3: kubernetes.events: \"maybe\" must be true or false"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("config.yaml:4: kubernetes.api_server"), std::string::npos) << t;
  EXPECT_NE(t.find("config.yaml:5: kubernetes.credentials_dir"), std::string::npos) << t;
}

}  // namespace
}  // namespace sw
