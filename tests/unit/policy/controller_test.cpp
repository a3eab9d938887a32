// The control loop on scripted signal streams: real cumulative Snapshots, a fake clock advanced by
// one 500ms interval per Tick(), a recording actuator. Every expectation is on what the
// controller decided from the injected latencies, preemptions and CPU usage.
#include "policy/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <memory>

#include "policy_fakes.h"
#include "support/machines.h"
#include "topology/core_allocator.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kWeb = "/lc-web";
constexpr const char* kBatch = "/be-batch";
constexpr const char* kSystem = "/system";

const char* kRules = R"(workloads:
  - name: web
    match: { cgroup: "/lc-web" }
    class: latency-critical
    slo: { runq_p99: 2ms }
  - name: batch
    match: { cgroup: "/be*" }
    class: best-effort
)";

// Exclusive CPUs from the enforce path's CoreAllocator on the same topology, so a test sees what
// the agent would grant or refuse.
class AllocatorActuator final : public Actuator {
 public:
  explicit AllocatorActuator(CoreAllocator a) : alloc(std::move(a)) {}
  Result<void> DemoteBestEffort(const std::string&, const std::string&) override { return Ok(); }
  Result<void> RestoreBestEffort(const std::string&, const std::string&) override { return Ok(); }
  Result<CpuSet> GrantExclusive(const std::string& w, const std::string&, int cpus) override {
    calls.push_back("grant " + w + " " + std::to_string(cpus));
    Allocation r = alloc.Allocate({w, cpus, {}});
    warnings.insert(warnings.end(), r.warnings.begin(), r.warnings.end());
    if (!r.granted) return Error{kCapacityRefused, r.reason};
    return r.cpus;
  }
  Result<void> ReleaseExclusive(const std::string& w, const std::string&) override {
    alloc.Release(w);
    return Ok();
  }
  CoreAllocator alloc;
  std::vector<std::string> calls, warnings;
};

class ControllerTest : public ::testing::Test {
 protected:
  // mode: observe | dry-run | enforce. overrides: controller keys replacing the defaults below.
  // cpus: all CPUs of the machine, `threads` per core.
  void Start(const std::string& mode = "enforce", const std::string& rules = kRules, int cpus = 4,
             std::map<std::string, std::string> overrides = {}, int threads = 1) {
    const Topology* topo = test::SyntheticMachine(cpus / threads, threads);
    std::map<std::string, std::string> keys{
        {"violation_intervals", "3"}, {"verify_intervals", "2"}, {"improvement_margin", "0.2"},
        {"relief_window", "5s"},      {"cooldown", "1s"},        {"max_actions_per_minute", "10"}};
    for (auto& [k, v] : overrides) keys[k] = v;
    std::string ctl;
    for (auto& [k, v] : keys) ctl += (ctl.empty() ? "" : ", ") + k + ": " + v;
    const std::string yaml = "interval: 500ms\nenforcement: { mode: " + mode +
                             ", max_exclusive_fraction: 0.5 }\ncontroller: { " + ctl + " }\n" +
                             rules;
    ConfigLoad load = ParseConfig(yaml, "test.yaml", topo);
    ASSERT_TRUE(load.config) << load.Text();
    actuator = std::make_unique<test::FakeActuator>(cpus);
    classifier = std::make_unique<Classifier>(load.config->workloads, nullptr, nullptr);
    if (real_allocator) {
      auto alloc = CoreAllocator::Create(*topo, ExclusiveLimitsOf(load.config->enforcement));
      ASSERT_TRUE(alloc.ok()) << alloc.error().message;
      allocating = std::make_unique<AllocatorActuator>(std::move(*alloc));
    }
    controller = std::make_unique<Controller>(
        *load.config, *classifier,
        allocating ? static_cast<Actuator*>(allocating.get()) : actuator.get(), &sink, clock,
        *topo);
    for (const char* w : {kWeb, kBatch, kSystem}) machine.Add(w);
    if (!adopt.empty()) controller->Adopt(adopt);  // a handover, before the first Step
    first = Tick();                                // baseline
  }

  std::vector<Decision> Tick() {
    ticks++;
    clock.Advance(test::Machine::kInterval);
    machine.snap.taken_at = clock.Monotonic();
    return feed.Step(*controller, machine.snap);
  }

  // One interval in which the best-effort batch delays the web victim: 10% of its waits are
  // `p99`-long preempted waits caused by batch, which burns 1.5 CPUs.
  void Interfered(std::chrono::nanoseconds p99 = 5ms, const std::string& victim = kWeb,
                  const std::string& aggressor = kBatch, double victim_cpus = 1.2) {
    machine.Wakeups(victim, 100us, 90);
    machine.Preempted(victim, p99, 10);
    machine.Preempt(victim, aggressor, 10);
    machine.Cpu(victim, victim_cpus);
    machine.Cpu(aggressor, 1.5);
  }
  void Calm(const std::string& victim = kWeb) {
    machine.Wakeups(victim, 100us, 100);
    machine.Cpu(victim, 0.5);
    machine.Cpu(kBatch, 0.2);
  }
  static std::vector<std::string> Summary(const std::vector<Decision>& ds) {
    std::vector<std::string> out;
    for (const auto& d : ds) out.push_back(d.action + " " + d.workload + " " + d.result);
    return out;
  }
  uint64_t Count(const std::string& a, const std::string& w, const std::string& r) {
    auto counts = controller->ActionCounts();
    auto it = counts.find({a, w, r});
    return it == counts.end() ? 0 : it->second;
  }

  FakeClock clock;
  MemorySink sink;
  test::Machine machine;
  test::ControllerFeed feed;
  std::unique_ptr<test::FakeActuator> actuator;
  bool real_allocator = false;     // set before Start(): exclusive CPUs from the CoreAllocator
  std::vector<AdoptedHold> adopt;  // set before Start(): what a handover left
  std::unique_ptr<AllocatorActuator> allocating;
  std::unique_ptr<Classifier> classifier;
  std::unique_ptr<Controller> controller;
  int ticks = 0;
  std::vector<Decision> first;
};

// The agent runs its loop at idle_interval unless the controller needs the interval's pace.
TEST_F(ControllerTest, NeedsTheIntervalOnlyForAnObjectiveOrWhatItHolds) {
  Start("enforce",
        "workloads:\n  - name: batch\n    match: { cgroup: \"/be*\" }\n"
        "    class: best-effort\n");
  Interfered();
  Tick();
  EXPECT_FALSE(controller->NeedsInterval());  // nothing has an objective
  Start();                                    // the web workload has one
  EXPECT_TRUE(controller->NeedsInterval());
}

TEST_F(ControllerTest, InterferenceDemotesThenRevertsThenPromotesThenReleases) {
  Start();
  Interfered();
  EXPECT_THAT(Tick(), IsEmpty());  // violated 1 interval: not yet
  Interfered();
  EXPECT_THAT(Tick(), IsEmpty());
  Interfered();
  auto d = Tick();  // K = 3 violated intervals with preemptions by best-effort: rung 1
  ASSERT_THAT(Summary(d), ElementsAre("demote-best-effort /be-batch applied"));
  EXPECT_EQ(d[0].victim, kWeb);
  EXPECT_EQ(d[0].before["runq_p99_ns"],
            LatencyHistogram::UpperEdgeNs(LatencyHistogram::BucketOf(5000000)));
  EXPECT_EQ(d[0].before["preemptions_by_lower"], 10);
  EXPECT_EQ(d[0].before["slo_ns"], 2000000);
  EXPECT_THAT(d[0].reason, HasSubstr("> objective 2ms for 3 intervals; preempted 30 times by "
                                     "lower classes"));
  EXPECT_THAT(actuator->calls, ElementsAre("demote /be-batch"));
  // Only 3 intervals of history: no earlier window to compare the CPU received with.
  EXPECT_THAT(d[0].reason, ::testing::EndsWith("received 1.20 CPUs"));
  EXPECT_TRUE(d[0].before["cpus_prev_window"].is_null());

  // Demotion does not help (the p99 stays at 5ms): judged after M = 2 intervals and reverted.
  Interfered();
  EXPECT_THAT(Tick(), IsEmpty());
  Interfered();
  d = Tick();
  ASSERT_THAT(Summary(d),
              ElementsAre("verify /lc-web not-improved", "restore-best-effort /be-batch applied"));
  EXPECT_THAT(d[1].reason, HasSubstr("reverted: run-queue p99 5.24ms over 2 intervals after "
                                     "demoting best-effort neighbours vs 5.24ms before"));
  EXPECT_EQ(d[0].after["runq_samples"], 200);

  // Rung 2 after the 1s cool-down (2 intervals): exclusive CPUs sized to the 1.2 CPUs the victim
  // received, rounded up to 2.
  Interfered();
  EXPECT_THAT(Tick(), IsEmpty());
  Interfered();
  d = Tick();
  ASSERT_THAT(Summary(d), ElementsAre("grant-exclusive /lc-web applied"));
  EXPECT_EQ(d[0].cpus, "2-3");
  EXPECT_DOUBLE_EQ(d[0].before["demand_cpus"].get<double>(), 1.2);
  EXPECT_EQ(d[0].before["requested_cpus"], 2);
  EXPECT_THAT(actuator->calls,
              ElementsAre("demote /be-batch", "restore /be-batch", "grant /lc-web 2"));
  EXPECT_EQ(controller->Status().shared_pool_cpus, 2);

  // Exclusive CPUs help: p99 back to ~100us, kept.
  Calm();
  EXPECT_THAT(Tick(), IsEmpty());
  Calm();
  EXPECT_THAT(Summary(Tick()), ElementsAre("verify /lc-web improved"));

  // Relief: objective held with margin for 5s (10 intervals counted from the first calm one).
  int released_at = 0;
  for (int i = 0; i < 12 && !released_at; i++) {
    Calm();
    d = Tick();
    if (!d.empty()) {
      ASSERT_THAT(Summary(d), ElementsAre("release-exclusive /lc-web applied"));
      EXPECT_EQ(d[0].cpus, "2-3");
      EXPECT_THAT(d[0].reason, HasSubstr("objective held with margin"));
      released_at = ticks;
    }
  }
  EXPECT_EQ(released_at, 18);  // first calm interval was tick 8: 8..17 = 5s, released at 18
  EXPECT_THAT(actuator->calls.back(), "release /lc-web");
  EXPECT_TRUE(actuator->held.empty());
  EXPECT_EQ(controller->Status().shared_pool_cpus, 4);
  // The sink saw exactly what was returned.
  EXPECT_EQ(sink.records.size(), 6u);
}

TEST_F(ControllerTest, CalmReleasesExclusiveThenRestoresBestEffortInOrder) {
  Start();
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  EXPECT_THAT(actuator->calls, ElementsAre("demote /be-batch"));
  // Demotion helps but not enough: p99 5.24ms -> 3.15ms (better than the 4.19ms needed), still
  // above 2ms, and now the normal /system workload preempts the victim.
  for (int i = 0; i < 2; i++) {
    Interfered(3ms, kWeb, kSystem);
    Tick();
  }
  EXPECT_EQ(Count(action::kVerify, kWeb, result::kImproved), 1u);
  EXPECT_TRUE(actuator->demoted.count(kBatch));  // kept
  Interfered(3ms, kWeb, kSystem);
  auto d = Tick();  // cool-down since the demotion (1.5s) has passed: rung 2
  ASSERT_THAT(Summary(d), ElementsAre("grant-exclusive /lc-web applied"));
  for (int i = 0; i < 2; i++) {
    Calm();
    Tick();
  }
  EXPECT_EQ(Count(action::kVerify, kWeb, result::kImproved), 2u);

  std::vector<std::pair<int, std::string>> releases;
  for (int i = 0; i < 40; i++) {
    Calm();
    for (const auto& x : Tick()) releases.push_back({ticks, x.action + " " + x.workload});
  }
  // Exclusive CPUs go first, best-effort priority comes back one more calm window later.
  ASSERT_EQ(releases.size(), 2u);
  EXPECT_EQ(releases[0].second, "release-exclusive /lc-web");
  EXPECT_EQ(releases[1].second, "restore-best-effort /be-batch");
  EXPECT_EQ(releases[1].first - releases[0].first, 10);  // 5s at 500ms
  EXPECT_THAT(actuator->calls, ElementsAre("demote /be-batch", "grant /lc-web 2", "release /lc-web",
                                           "restore /be-batch"));
  EXPECT_TRUE(actuator->demoted.empty());
}

TEST_F(ControllerTest, CpuReceivedIsComparedWithTheWindowBefore) {
  Start();
  for (int i = 0; i < 3; i++) {
    machine.Wakeups(kWeb, 100us, 100);
    machine.Cpu(kWeb, 1.0);
    Tick();
  }
  std::vector<Decision> d;
  for (int i = 0; i < 3; i++) {
    machine.Wakeups(kWeb, 100us, 90);
    machine.Preempted(kWeb, 5ms, 10);
    machine.Preempt(kWeb, kBatch, 10);
    machine.Cpu(kWeb, 0.4);  // squeezed: 1 CPU became 0.4
    machine.Cpu(kBatch, 1.6);
    d = Tick();
  }
  ASSERT_EQ(d.size(), 1u);
  EXPECT_THAT(d[0].reason, HasSubstr("received 0.40 CPUs vs 1.00 in the window before"));
  EXPECT_DOUBLE_EQ(d[0].before["cpus_prev_window"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(d[0].before["cpus_window"].get<double>(), 0.4);
  EXPECT_EQ(FormatDecision(d[0]).rfind("demote-best-effort /be-batch (for /lc-web) applied: "
                                       "run-queue p99 5.24ms > objective 2ms for 3 intervals",
                                       0),
            0u)
      << FormatDecision(d[0]);
}

TEST(ControllerDeterminism, SameStreamSameDecisions) {
  auto run = [] {
    ConfigLoad load = ParseConfig(std::string("controller: { verify_intervals: 2, cooldown: 1s, "
                                              "relief_window: 3s }\n") +
                                      kRules,
                                  "t.yaml", test::SyntheticMachine(4));
    FakeClock clock;
    MemorySink sink;
    test::FakeActuator act(4);
    test::Machine m;
    Classifier cls(load.config->workloads, nullptr, nullptr);
    Controller ctl(*load.config, cls, &act, &sink, clock, *test::SyntheticMachine(4));
    test::ControllerFeed feed;
    for (auto w : {kWeb, kBatch, kSystem}) m.Add(w);
    for (int i = 0; i < 40; i++) {
      if (i < 12) {
        m.Wakeups(kWeb, 100us, 90);
        m.Preempted(kWeb, std::chrono::milliseconds(5 - i / 4), 10);
        m.Preempt(kWeb, i % 2 ? kBatch : kSystem, 3);
        m.Cpu(kBatch, 1.0);
      } else {
        m.Wakeups(kWeb, 50us, 100);
      }
      m.Cpu(kWeb, 0.7);
      clock.Advance(500ms);
      m.snap.taken_at = clock.Monotonic();
      feed.Step(ctl, m.snap);
    }
    std::string out;
    for (const auto& d : sink.records) out += DecisionToJson(d).dump() + "\n";
    return out;
  };
  const std::string a = run();
  EXPECT_GT(std::count(a.begin(), a.end(), '\n'), 3);
  EXPECT_EQ(a, run());
}

TEST_F(ControllerTest, SelfThrottledIsReportedNotActedOn) {
  Start();
  for (int i = 0; i < 6; i++) {
    // Long waits, but nobody else ran or preempted: the victim hit its own CFS quota.
    machine.Wakeups(kWeb, 100us, 90);
    machine.Preempted(kWeb, 5ms, 10);
    machine.Throttled(kWeb, 50ms, 4);
    machine.Cpu(kWeb, 0.2);
    auto d = Tick();
    if (i == 2) {
      ASSERT_THAT(Summary(d), ElementsAre("self-throttled /lc-web reported"));
      EXPECT_THAT(d[0].reason, HasSubstr("only its own CFS quota throttled it (4 throttled "
                                         "periods"));
      EXPECT_EQ(d[0].before["throttled"], 4);
    } else {
      EXPECT_THAT(d, IsEmpty()) << "interval " << i;  // reported once per episode
    }
  }
  EXPECT_THAT(actuator->calls, IsEmpty());
  EXPECT_EQ(controller->Status().workloads.at(1).state, "self-throttled");
  // The 50ms throttle waits are not run-queue latency: p99 is the 5ms preempted bucket.
  EXPECT_EQ(controller->Status().workloads.at(1).runq_p99_ns,
            LatencyHistogram::UpperEdgeNs(LatencyHistogram::BucketOf(5000000)));
}

// observer.bpf_throttle: off (issue 13): BPF files each throttled switch-out of the victim as a
// preemption by the best-effort task that ran next and its 50ms throttle wait as a preempted
// wait; only cpu.stat knows it was throttled. Still its own quota, not interference: reported,
// nothing demoted or granted. (Before cpu.stat discounted it, batch was demoted.)
TEST_F(ControllerTest, CpuStatOnlyThrottlingIsSelfThrottledNotInterference) {
  Start("enforce", std::string("observer: { bpf_throttle: off }\n") + kRules);
  for (int i = 0; i < 6; i++) {
    machine.Wakeups(kWeb, 100us, 90);
    machine.Preempted(kWeb, 50ms, 4);
    machine.Preempt(kWeb, kBatch, 4);
    auto& stat = *machine.snap.workloads.at(kWeb).cpu_stat;
    stat.nr_periods += 5;
    stat.nr_throttled += 4;
    stat.throttled_ns += 200'000'000;
    machine.Cpu(kWeb, 0.2);
    machine.Cpu(kBatch, 1.5);
    auto d = Tick();
    if (i == 2) {
      ASSERT_THAT(Summary(d), ElementsAre("self-throttled /lc-web reported"));
      EXPECT_EQ(d[0].before["throttled"], 4);
    } else {
      EXPECT_THAT(d, IsEmpty()) << "interval " << i;
    }
  }
  EXPECT_THAT(actuator->calls, IsEmpty());
  EXPECT_EQ(controller->Status().workloads.at(1).state, "self-throttled");
}

// The same switch off does not blind the controller to real interference in unthrottled intervals.
TEST_F(ControllerTest, CpuStatOnlyThrottlingStillActsOnInterference) {
  Start("enforce", std::string("observer: { bpf_throttle: off }\n") + kRules);
  std::vector<std::string> all;
  for (int i = 0; i < 3; i++) {
    Interfered();
    for (const auto& s : Summary(Tick())) all.push_back(s);
  }
  EXPECT_THAT(all, Contains("demote-best-effort /be-batch applied"));
}

TEST_F(ControllerTest, ViolationWithoutEvidenceOrThrottlingDoesNothing) {
  Start();
  for (int i = 0; i < 5; i++) {
    machine.Wakeups(kWeb, 5ms, 10);
    EXPECT_THAT(Tick(), IsEmpty());
  }
  EXPECT_THAT(actuator->calls, IsEmpty());
  EXPECT_EQ(controller->Status().workloads.at(1).state, "violated");
  EXPECT_EQ(controller->Status().workloads.at(1).violation_intervals_total, 5u);
}

TEST_F(ControllerTest, EvidenceFromLowerClassesRunningWithoutPreemption) {
  Start();
  for (int i = 0; i < 3; i++) {
    machine.Wakeups(kWeb, 5ms, 10);  // wakeup waits only, no preemption counted
    machine.Cpu(kBatch, 0.9);        // while best-effort work ran
    Tick();
  }
  EXPECT_THAT(actuator->calls, ElementsAre("demote /be-batch"));
}

// A cgroup's usage includes its descendants': the root workload "/" and a best-effort parent
// with a best-effort child are all workloads. The lower classes' CPUs are what the machine
// gave everyone but the victim, counted once, and never more than the machine has.
TEST_F(ControllerTest, NestedWorkloadsAreNotCountedTwiceInLowerClassCpus) {
  Start();
  machine.Add("/");
  machine.Add("/be-batch/job");
  Tick();
  std::vector<Decision> d;
  for (int i = 0; i < 3; i++) {
    machine.Wakeups(kWeb, 5ms, 10);
    machine.Cpu(kWeb, 1.2);
    machine.Cpu("/be-batch/job", 1.0);  // inside /be-batch
    machine.Cpu(kBatch, 1.5);           // 1.0 of it is /be-batch/job's
    machine.Cpu(kSystem, 0.2);
    machine.Cpu("/", 3.0);  // everything: 1.2 + 1.5 + 0.2 + 0.1 in the root itself
    d = Tick();
  }
  ASSERT_FALSE(d.empty());
  EXPECT_NEAR(d[0].before["lower_class_cpus"].get<double>(), 3.0 - 1.2, 1e-9);
  EXPECT_THAT(d[0].reason, HasSubstr("which used up to 1.80 CPUs;"));
  // cpus_received stays what each cgroup got, descendants included (sizing, status).
  for (const auto& w : controller->Status().workloads) {
    if (w.workload == kBatch) {
      EXPECT_NEAR(w.cpus_received, 1.5, 1e-9);
    }
  }
}

const char* kTwoVictims = R"(workloads:
  - name: web
    match: { cgroup: "/lc-web" }
    class: latency-critical
    slo: { runq_p99: 2ms }
  - name: db
    match: { cgroup: "/lc-db" }
    class: latency-critical
    slo: { runq_p99: 2ms }
)";

TEST_F(ControllerTest, CapsAndActuatorRefusalsAreReported) {
  Start("enforce", kTwoVictims, /*cpus=*/2);  // cap: 0.5 of 2 CPUs = 1 exclusive CPU
  machine.Add("/lc-db");
  Tick();
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, kWeb, kSystem);  // no best-effort neighbour: straight to rung 2
    Tick();
  }
  auto grants = sink.records;
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].result, result::kApplied);
  EXPECT_THAT(grants[0].reason, HasSubstr("capped from 2 to 1 CPUs by max_exclusive_fraction"));
  EXPECT_THAT(actuator->calls, ElementsAre("grant /lc-web 1"));

  // The second victim finds the cap used up: refused by the controller, with the numbers.
  std::vector<Decision> db;
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, "/lc-db", kSystem);
    for (auto& d : Tick())
      if (d.workload == "/lc-db") db.push_back(d);
  }
  ASSERT_EQ(db.size(), 1u);
  EXPECT_EQ(db[0].action, action::kGrant);
  EXPECT_EQ(db[0].result, result::kRefused);
  EXPECT_THAT(db[0].reason,
              HasSubstr("refused: 2 CPUs requested but the caps allow 1 core(s) = 1 CPU(s) on "
                        "this 2-CPU machine (2 cores x 1 threads): max_exclusive_fraction 0.5 "
                        "allows 1 CPU(s) = 1 core(s), shared_pool_min_cores 1 allows 1; 1 core(s) "
                        "in use"));
  EXPECT_THAT(actuator->calls, ElementsAre("grant /lc-web 1"));  // never asked
  // Nothing else to try: reported once, not every interval.
  for (int i = 0; i < 4; i++) {
    Interfered(5ms, "/lc-db", kSystem);
    Tick();
  }
  EXPECT_EQ(Count(action::kExhausted, "/lc-db", result::kReported), 1u);
  EXPECT_EQ(Count(action::kGrant, "/lc-db", result::kRefused), 1u);
}

// SMT, 2 cores x 2 threads. A victim that received under one CPU used to ask for 1 CPU, which
// the allocator refuses as less than one physical core: auto-sizing never worked on SMT.
TEST_F(ControllerTest, AutoSizedExclusiveIsWholeCoresOnSmt) {
  real_allocator = true;
  Start("enforce", kTwoVictims, 4, {}, /*threads=*/2);
  machine.Add("/lc-db");
  Tick();
  std::vector<Decision> d;
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, kWeb, kSystem, 0.8);  // no best-effort neighbour: straight to rung 2
    d = Tick();
  }
  ASSERT_THAT(Summary(d), ElementsAre("grant-exclusive /lc-web applied")) << d[0].reason;
  EXPECT_EQ(d[0].before["requested_cpus"], 2);
  EXPECT_THAT(d[0].reason, HasSubstr("; 1 CPU(s) rounded up to 1 whole core(s) = 2 CPUs"));
  EXPECT_THAT(allocating->calls, ElementsAre("grant /lc-web 2"));
  EXPECT_THAT(allocating->warnings, IsEmpty());
  EXPECT_EQ(d[0].cpus, "2-3");  // one whole core; core 0 stays shared
  // 0.5 of 4 CPUs = 1 core, in use: the second victim is refused by the controller, with the
  // numbers the allocator uses, and the allocator is never asked.
  std::vector<Decision> db;
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, "/lc-db", kSystem);
    for (auto& x : Tick())
      if (x.workload == "/lc-db") db.push_back(x);
  }
  ASSERT_EQ(db.size(), 1u);
  EXPECT_EQ(db[0].result, result::kRefused);
  EXPECT_THAT(db[0].reason, HasSubstr("refused: 2 CPUs requested but the caps allow 1 core(s) = "
                                      "2 CPU(s) on this 4-CPU machine (2 cores x 2 threads)"));
  EXPECT_THAT(allocating->calls, ElementsAre("grant /lc-web 2"));
}

// Dry-run decides what enforce would: whole cores on SMT.
TEST_F(ControllerTest, DryRunSizesWholeCoresOnSmt) {
  Start("dry-run", kRules, 8, {}, /*threads=*/2);
  for (int i = 0; i < 8; i++) {
    Interfered(5ms, kWeb, kBatch, 0.5);
    Tick();
  }
  ASSERT_EQ(Count(action::kGrant, kWeb, result::kDryRun), 1u);
  EXPECT_EQ(controller->Status().workloads.at(1).exclusive_cpus, "(2, dry-run)");
  EXPECT_EQ(controller->Status().shared_pool_cpus, 6);
}

const char* kFixed = R"(workloads:
  - name: web
    match: { cgroup: "/lc-web" }
    class: latency-critical
    slo: { runq_p99: 2ms }
    exclusive: always
    exclusive_cpus: EXCLUSIVE_CPUS
)";

std::string Fixed(int cpus) {
  std::string r = kFixed;
  r.replace(r.find("EXCLUSIVE_CPUS"), 14, std::to_string(cpus));
  return r;
}

// An explicit exclusive_cpus below one core is the operator's: not granted, the workload stays
// shared, and the decision says why (the Mesos working group's "warn, don't reject").
TEST_F(ControllerTest, ExplicitSubCoreExclusiveStaysSharedWithAWarning) {
  real_allocator = true;
  Start("enforce", Fixed(1), 8, {}, /*threads=*/2);
  ASSERT_THAT(Summary(first), ElementsAre("grant-exclusive /lc-web refused"));
  EXPECT_THAT(first[0].reason,
              HasSubstr("refused: exclusive_cpus 1 is less than one physical core (2 threads); "
                        "exclusive CPUs are whole cores, so it stays in the shared pool"));
  EXPECT_THAT(allocating->calls, IsEmpty());
  for (int i = 0; i < 12; i++) {
    Calm();
    Tick();
  }
  // Retried every cool-down, never granted; reported at start and once for the retries.
  EXPECT_EQ(Count(action::kGrant, kWeb, result::kRefused), 2u);
  EXPECT_THAT(allocating->calls, IsEmpty());
  EXPECT_EQ(controller->Status().shared_pool_cpus, 8);
}

TEST_F(ControllerTest, ExplicitOddExclusiveRoundedUpToWholeCores) {
  real_allocator = true;
  Start("enforce", Fixed(3), 8, {}, /*threads=*/2);
  ASSERT_THAT(Summary(first), ElementsAre("grant-exclusive /lc-web applied"));
  EXPECT_THAT(first[0].reason, HasSubstr("; 3 CPU(s) rounded up to 2 whole core(s) = 4 CPUs"));
  EXPECT_EQ(first[0].cpus, "4-7");
  EXPECT_THAT(allocating->calls, ElementsAre("grant /lc-web 4"));
}

TEST_F(ControllerTest, ActuatorFloorRefusalIsReported) {
  Start("enforce", kTwoVictims, 4);
  actuator->refuse = Error{kCapacityRefused, "would leave the shared pool below 1 core (floor)"};
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, kWeb, kSystem);
    Tick();
  }
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].result, result::kRefused);
  EXPECT_THAT(sink.records[0].reason,
              HasSubstr("refused: would leave the shared pool below 1 core (floor)"));
  EXPECT_EQ(controller->Status().shared_pool_cpus, 4);
  actuator->refuse = Error{EIO, "write cpuset.cpus: Input/output error"};
  EXPECT_EQ(Count(action::kGrant, kWeb, result::kRefused), 1u);
}

TEST_F(ControllerTest, CooldownSpacesActionsOnOneWorkload) {
  Start("enforce", kRules, 4, {{"cooldown", "3s"}});
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  ASSERT_EQ(actuator->calls.size(), 1u);  // demoted at tick 4
  const int demoted_at = ticks;
  int granted_at = 0;
  for (int i = 0; i < 10 && !granted_at; i++) {
    Interfered(3ms, kWeb, kSystem);  // improved but still violated
    Tick();
    if (actuator->calls.size() == 2) granted_at = ticks;
  }
  EXPECT_EQ(actuator->calls.back(), "grant /lc-web 2");
  EXPECT_EQ(granted_at - demoted_at, 6);  // 3s at 500ms, although verified after 2 intervals
}

TEST_F(ControllerTest, GlobalRateLimitDefersAndReportsOnce) {
  Start("enforce", kTwoVictims, 8, {{"max_actions_per_minute", "1"}, {"relief_window", "10m"}});
  machine.Add("/lc-db");
  Tick();
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, kWeb, kSystem);
    Interfered(5ms, "/lc-db", kSystem);
    Tick();
  }
  EXPECT_THAT(actuator->calls, ElementsAre("grant /lc-db 2"));  // alphabetical: db first
  EXPECT_EQ(Count(action::kGrant, kWeb, result::kRateLimited), 1u);
  // web keeps being interfered: it is not re-reported, and gets its CPUs once the minute is over.
  int granted_at = 0;
  const int first = ticks;
  for (int i = 0; i < 130 && !granted_at; i++) {
    Interfered(5ms, kWeb, kSystem);
    machine.Wakeups("/lc-db", 100us, 100);
    Tick();
    if (actuator->calls.size() == 2) granted_at = ticks;
  }
  EXPECT_EQ(actuator->calls.back(), "grant /lc-web 2");
  EXPECT_EQ(granted_at - first, 120);  // 60s after the first grant
  EXPECT_EQ(Count(action::kGrant, kWeb, result::kRateLimited), 1u);
}

TEST_F(ControllerTest, DryRunDecidesAndCountsButCallsNothing) {
  Start("dry-run");
  std::vector<std::string> all;
  for (int i = 0; i < 8; i++) {
    Interfered();
    for (auto& s : Summary(Tick())) all.push_back(s);
  }
  EXPECT_THAT(all,
              ElementsAre("demote-best-effort /be-batch dry-run", "grant-exclusive /lc-web dry-run",
                          "ladder-exhausted /lc-web reported"));
  EXPECT_THAT(actuator->calls, IsEmpty());
  EXPECT_EQ(Count(action::kDemote, kBatch, result::kDryRun), 1u);
  EXPECT_EQ(Count(action::kGrant, kWeb, result::kDryRun), 1u);
  EXPECT_EQ(controller->Status().workloads.at(1).exclusive_cpus, "(2, dry-run)");
  for (int i = 0; i < 30; i++) {
    Calm();
    for (auto& s : Summary(Tick())) all.push_back(s);
  }
  EXPECT_THAT(all,
              ElementsAre("demote-best-effort /be-batch dry-run", "grant-exclusive /lc-web dry-run",
                          "ladder-exhausted /lc-web reported", "release-exclusive /lc-web dry-run",
                          "restore-best-effort /be-batch dry-run"));
  EXPECT_THAT(actuator->calls, IsEmpty());
}

TEST_F(ControllerTest, ObserveRunsNoPolicyButReports) {
  Start("observe");
  for (int i = 0; i < 10; i++) {
    Interfered();
    EXPECT_THAT(Tick(), IsEmpty());
  }
  EXPECT_THAT(actuator->calls, IsEmpty());
  EXPECT_TRUE(sink.records.empty());
  StatusModel s = controller->Status();
  ASSERT_EQ(s.workloads.size(), 2u);  // batch, web (the normal /system is only counted)
  EXPECT_EQ(s.unmatched_workloads, 1u);
  EXPECT_EQ(s.workloads[1].workload, kWeb);
  EXPECT_EQ(s.workloads[1].state, "interfered");
  EXPECT_EQ(s.workloads[1].violation_intervals_total, 10u);
  EXPECT_EQ(s.workloads[1].preemptions_by_lower, 10u);
  EXPECT_NEAR(s.workloads[1].cpus_received, 1.2, 1e-9);
  EXPECT_TRUE(controller->Shutdown().empty());
}

// A workload whose usage file is missing (not in the cpuacct hierarchy) received an unknown amount
// of CPU: NaN in the status model ("-" and null), not 0.
TEST_F(ControllerTest, CpusReceivedUnknownWithoutUsageFile) {
  Start("observe");
  machine.snap.workloads.at(kWeb).cpu_usage_ns.reset();
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  StatusModel s = controller->Status();
  ASSERT_EQ(s.workloads.size(), 2u);
  EXPECT_EQ(s.workloads[1].workload, kWeb);
  EXPECT_TRUE(std::isnan(s.workloads[1].cpus_received)) << s.workloads[1].cpus_received;
  EXPECT_FALSE(std::isnan(s.workloads[0].cpus_received));
  EXPECT_TRUE(StatusToJson(s)["workloads"][1]["cpus_received"].is_null());
}

const char* kAlways = R"(workloads:
  - name: fixed
    match: { cgroup: "/lc-fixed" }
    class: latency-critical
    slo: { runq_p99: 2ms }
    exclusive: always
    exclusive_cpus: 1
  - name: web
    match: { cgroup: "/lc-web" }
    class: latency-critical
    slo: { runq_p99: 2ms }
    exclusive: always
  - name: batch
    match: { cgroup: "/be*" }
    class: best-effort
)";

TEST_F(ControllerTest, AlwaysExclusiveAtStartAndKeptWhenCalm) {
  machine.Add("/lc-fixed");
  Start("enforce", kAlways, 4);
  // A fixed size is granted on the very first snapshot; a measured one after the first interval.
  EXPECT_THAT(Summary(first), ElementsAre("grant-exclusive /lc-fixed applied"));
  EXPECT_THAT(actuator->calls, ElementsAre("grant /lc-fixed 1"));
  machine.Cpu(kWeb, 1.6);
  machine.Wakeups(kWeb, 100us, 10);
  auto d = Tick();
  ASSERT_THAT(Summary(d), ElementsAre("grant-exclusive /lc-web applied"));
  EXPECT_EQ(d[0].reason,
            "exclusive: always; capped from 2 to 1 CPUs by max_exclusive_fraction (2 core(s) = "
            "2 CPU(s) on this 4-CPU machine (4 cores x 1 threads): max_exclusive_fraction 0.5 "
            "allows 2 CPU(s) = 2 core(s), shared_pool_min_cores 1 allows 3; 1 core(s) in use)");
  EXPECT_THAT(actuator->calls, ElementsAre("grant /lc-fixed 1", "grant /lc-web 1"));
  for (int i = 0; i < 40; i++) {
    Calm();
    EXPECT_THAT(Tick(), IsEmpty());
  }
  EXPECT_EQ(controller->Status().shared_pool_cpus, 2);
  // Shutdown undoes everything, ignoring cool-down and rate limit.
  auto out = controller->Shutdown();
  EXPECT_THAT(Summary(out), ElementsAre("release-exclusive /lc-fixed applied",
                                        "release-exclusive /lc-web applied"));
  EXPECT_TRUE(actuator->held.empty());
}

TEST_F(ControllerTest, AlwaysExclusiveRefusalIsReportedOnceAndRetried) {
  machine.Add("/lc-fixed");
  Start("enforce", kAlways, 2);  // cap 1 CPU: /lc-fixed takes it, /lc-web is refused
  for (int i = 0; i < 20; i++) {
    Calm();
    Tick();
  }
  EXPECT_EQ(Count(action::kGrant, kWeb, result::kRefused), 1u);
  EXPECT_THAT(actuator->calls, ElementsAre("grant /lc-fixed 1"));
  // Capacity comes back when /lc-fixed goes away: the next retry gets it.
  machine.Remove("/lc-fixed");
  for (int i = 0; i < 3; i++) {
    Calm();
    Tick();
  }
  EXPECT_THAT(actuator->calls,
              ElementsAre("grant /lc-fixed 1", "release /lc-fixed", "grant /lc-web 1"));
}

TEST(ControllerReclassify, ClassChangeGivesBackWhatWasHeld) {
  ConfigLoad load = ParseConfig(R"(controller: { reclassify_interval: 2s }
workloads:
  - name: hinted
    match: { labels: { cpu_hint: exclusive } }
    class: latency-critical
    slo: { runq_p99: 2ms }
    exclusive: always
    exclusive_cpus: 1
)",
                                "t.yaml", test::SyntheticMachine(4));
  ASSERT_TRUE(load.config) << load.Text();
  StaticLabelSource labels;
  labels.Set("/exec", {{"cpu_hint", "exclusive"}});
  FakeClock clock;
  MemorySink sink;
  test::FakeActuator act(4);
  test::Machine m;
  Classifier cls(load.config->workloads, nullptr, &labels);
  Controller ctl(*load.config, cls, &act, &sink, clock, *test::SyntheticMachine(4));
  test::ControllerFeed feed;
  m.Add("/exec");
  auto step = [&] {
    clock.Advance(500ms);
    m.snap.taken_at = clock.Monotonic();
    return feed.Step(ctl, m.snap);
  };
  step();
  EXPECT_THAT(act.calls, ElementsAre("grant /exec 1"));
  labels.Set("/exec", {});  // the runtime dropped the hint
  std::vector<Decision> d;
  for (int i = 0; i < 4 && d.empty(); i++) d = step();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].action, action::kRelease);
  EXPECT_EQ(d[0].reason, "reclassified as normal");
  EXPECT_THAT(act.calls, ElementsAre("grant /exec 1", "release /exec"));
  EXPECT_EQ(ctl.Status().unmatched_workloads, 1u);
}

// The classifier's sources read cgroup.procs, /proc/<pid>/comm and label files: Step() must read
// them before it takes the controller's lock, so a slow cgroupfs never blocks Status() callers
// (the metrics and status endpoints). Each source call checks that another thread can take the
// lock meanwhile (Shutdown() takes it; with nothing held it changes nothing).
TEST(ControllerLocking, ClassifierSourcesAreReadOutsideTheLock) {
  ConfigLoad load = ParseConfig(R"(interval: 500ms
controller: { reclassify_interval: 1s }
workloads:
  - name: tagged
    match: { labels: { tier: gold } }
    class: latency-sensitive
  - name: web
    match: { comm: nginx }
    class: latency-critical
    slo: { runq_p99: 2ms }
)",
                                "t.yaml", test::SyntheticMachine(4));
  ASSERT_TRUE(load.config) << load.Text();
  struct Probe final : ProcessNameSource, LabelSource {
    std::vector<std::string> ProcessNames(const std::string& path) override {
      Check("names " + path);
      return {"nginx"};
    }
    std::map<std::string, std::string> Labels(const std::string& path) override {
      Check("labels " + path);
      return {};
    }
    void Check(const std::string& call) {
      auto other = std::async(std::launch::async, [this] { ctl->Shutdown(); });
      const bool free = other.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
      calls.push_back(call + (free ? "" : " UNDER THE LOCK"));
      pending.push_back(std::move(other));  // a blocked Shutdown() finishes after Step()
    }
    Controller* ctl = nullptr;
    std::vector<std::string> calls;
    std::vector<std::future<void>> pending;
  } probe;
  FakeClock clock;
  MemorySink sink;
  test::FakeActuator act(4);
  test::Machine m;
  Classifier cls(load.config->workloads, &probe, &probe);
  Controller ctl(*load.config, cls, &act, &sink, clock, *test::SyntheticMachine(4));
  probe.ctl = &ctl;
  test::ControllerFeed feed;
  m.Add("/web");
  for (int i = 0; i < 3; i++) {  // classified at 0.5s, reclassified at 1.5s
    clock.Advance(500ms);
    m.snap.taken_at = clock.Monotonic();
    feed.Step(ctl, m.snap);
  }
  EXPECT_THAT(probe.calls, ElementsAre("labels /web", "names /web", "labels /web", "names /web"));
  ASSERT_EQ(ctl.Status().workloads.size(), 1u);
  EXPECT_EQ(ctl.Status().workloads[0].rule, "web");  // the gathered names were used
}

TEST_F(ControllerTest, VanishedWorkloadsGiveBackWhatTheyHeld) {
  Start();
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  ASSERT_THAT(actuator->calls, ElementsAre("demote /be-batch"));
  machine.Remove(kBatch);
  auto d = Tick();
  ASSERT_THAT(Summary(d), ElementsAre("restore-best-effort /be-batch applied"));
  EXPECT_EQ(d[0].reason, "workload vanished");
  machine.Remove(kWeb);
  EXPECT_THAT(Tick(), IsEmpty());
  EXPECT_TRUE(controller->Shutdown().empty());
}

TEST_F(ControllerTest, ShutdownRestoresDemotionsAfterReleasingCores) {
  Start();
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  for (int i = 0; i < 3; i++) {
    Interfered(3ms, kWeb, kSystem);
    Tick();
  }
  ASSERT_THAT(actuator->calls, ElementsAre("demote /be-batch", "grant /lc-web 2"));
  auto out = controller->Shutdown();
  EXPECT_THAT(Summary(out), ElementsAre("release-exclusive /lc-web applied",
                                        "restore-best-effort /be-batch applied"));
  EXPECT_TRUE(actuator->demoted.empty());
  EXPECT_TRUE(actuator->held.empty());
}

TEST_F(ControllerTest, FailedDemotionIsReportedAndTheLadderMovesOn) {
  Start();
  actuator->fail_demote = true;
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  EXPECT_EQ(Count(action::kDemote, kBatch, result::kFailed), 1u);
  EXPECT_THAT(sink.records[0].reason, HasSubstr("sched_setattr: Operation not permitted"));
  for (int i = 0; i < 3; i++) {
    Interfered();
    Tick();
  }
  EXPECT_THAT(actuator->calls, ElementsAre("demote /be-batch", "grant /lc-web 2"));
}

// In kubelet's tree a best-effort pod under kubepods/besteffort and a victim under
// kubepods/burstable are separated only by kubelet's QoS levels: the demotion writes no cgroup
// (threads only) and says why; a best-effort-class pod in the victim's own branch gets cpu.idle
// on its pod. Drift is recorded in the audit log and counted by kind.
TEST_F(ControllerTest, DemotionLevelInKubeletsTreeAndDriftRecords) {
  const std::string victim = "/kubepods/burstable/podv", hog = "/kubepods/besteffort/podh",
                    near = "/kubepods/burstable/podn";
  Start("enforce", R"(workloads:
  - name: v
    match: { cgroup: "/kubepods/burstable/podv" }
    class: latency-critical
    slo: { runq_p99: 2ms }
  - name: be
    match: { cgroup: "/kubepods/*/podh" }
    class: best-effort
  - name: near
    match: { cgroup: "/kubepods/burstable/podn" }
    class: best-effort
)");
  for (const std::string& w : {victim, hog, near}) machine.Add(w);
  Tick();
  std::vector<Decision> all;
  for (int i = 0; i < 3; i++) {
    Interfered(5ms, victim, hog);
    machine.Preempt(victim, near, 10);
    machine.Cpu(near, 0.5);
    for (Decision& d : Tick()) all.push_back(d);
  }
  ASSERT_THAT(Summary(all), ElementsAre("demote-best-effort " + hog + " applied",
                                        "demote-best-effort " + near + " applied"));
  EXPECT_EQ(actuator->idle_levels.at(hog), "");
  EXPECT_THAT(all[0].reason, HasSubstr("/kubepods/besteffort, which kubelet owns"));
  EXPECT_EQ(all[0].after["idle_cgroup"], "");
  EXPECT_EQ(actuator->idle_levels.at(near), near);
  EXPECT_EQ(all[1].after["idle_cgroup"], near);

  auto drift = controller->RecordDrift(near, near + "/cpu.idle", "cpu.idle", "1", "0");
  ASSERT_THAT(Summary(drift), ElementsAre("drift " + near + " yielded"));
  EXPECT_EQ(drift[0].cgroup_path, near);
  EXPECT_THAT(drift[0].reason, HasSubstr("reads '0' but the agent wrote '1'"));
  EXPECT_EQ(sink.records.back().action, action::kDrift);
  controller->RecordDrift("", "/sys/fs/cgroup/cpuset/x/cpuset.cpus", "cpuset.cpus", "1", "0-1");
  EXPECT_EQ(controller->DriftCounts(),
            (std::map<std::string, uint64_t>{{"cpu.idle", 1}, {"cpuset.cpus", 1}}));
  EXPECT_EQ(Count(action::kDrift, near, result::kYielded), 1u);
}

TEST_F(ControllerTest, LatencySensitiveObjectivesAreWatchedNotEnforced) {
  Start("enforce", R"(workloads:
  - name: web
    match: { cgroup: "/lc-web" }
    class: latency-sensitive
    slo: { runq_p99: 2ms }
  - name: batch
    match: { cgroup: "/be*" }
    class: best-effort
)");
  for (int i = 0; i < 6; i++) {
    Interfered();
    EXPECT_THAT(Tick(), IsEmpty());
  }
  EXPECT_EQ(controller->Status().workloads.at(1).violation_intervals_total, 6u);
  EXPECT_THAT(actuator->calls, IsEmpty());
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

// Handover: what one controller held comes back in the next as held, released when calm as if
// it had granted it itself; nothing is granted or demoted again.
TEST_F(ControllerTest, HandedOverHoldsAreHeldThenReleasedWhenCalm) {
  adopt = {AdoptedHold{kWeb, kWeb, CpuSet{2, 3}, {{kBatch, kBatch}}}};
  Start();
  EXPECT_THAT(first, IsEmpty());
  std::vector<AdoptedHold> held = controller->Held();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].workload, kWeb);
  EXPECT_EQ(held[0].cpus, (CpuSet{2, 3}));
  EXPECT_EQ(held[0].demoted, (std::map<std::string, std::string>{{kBatch, kBatch}}));
  // The cluster-facing gauges count what was handed over (4 CPUs, 2 held by web).
  StatusModel st = controller->Status();
  EXPECT_EQ(st.shared_pool_cpus, 2);
  for (const auto& w : st.workloads)
    if (w.workload == kWeb) EXPECT_EQ(w.exclusive_count, 2);
  // Still interfered: nothing re-granted, nothing demoted twice.
  for (int i = 0; i < 4; i++) {
    Interfered();
    Tick();
  }
  EXPECT_THAT(actuator->calls, IsEmpty());
  std::vector<std::string> releases;
  for (int i = 0; i < 40; i++) {
    Calm();
    for (const auto& x : Tick()) releases.push_back(x.action + " " + x.workload + " " + x.result);
  }
  EXPECT_THAT(releases, ElementsAre("release-exclusive /lc-web applied",
                                    "restore-best-effort /be-batch applied"));
  EXPECT_THAT(actuator->calls, ElementsAre("release /lc-web", "restore /be-batch"));
}

// A victim or neighbour that is gone, or no longer of its class, gives back what it held at the
// first Step, with a decision each.
TEST_F(ControllerTest, HandedOverHoldsOfVanishedWorkloadsAreGivenBack) {
  adopt = {AdoptedHold{"/lc-gone", "/lc-gone", CpuSet{3}, {{kBatch, kBatch}}},
           AdoptedHold{kWeb, kWeb, CpuSet{}, {{"/be-gone", "/be-gone"}}}};
  Start();
  EXPECT_THAT(Summary(first),
              ::testing::UnorderedElementsAre("release-exclusive /lc-gone applied",
                                              "restore-best-effort /be-batch applied",
                                              "restore-best-effort /be-gone applied"));
  EXPECT_TRUE(controller->Held().empty());
}

TEST(AdoptedHolds, RoundTripThroughJson) {
  std::vector<AdoptedHold> h = {AdoptedHold{"/a", "/kubepods/a", CpuSet{1, 2}, {{"/b", "/b"}}}};
  auto back = AdoptedHoldsFromJson(AdoptedHoldsToJson(h));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].workload, "/a");
  EXPECT_EQ((*back)[0].cgroup_path, "/kubepods/a");
  EXPECT_EQ((*back)[0].cpus, (CpuSet{1, 2}));
  EXPECT_EQ((*back)[0].demoted.at("/b"), "/b");
  EXPECT_FALSE(AdoptedHoldsFromJson("[{\"workload\": 3}]").ok());
}

}  // namespace
}  // namespace sw
