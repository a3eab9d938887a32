#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "cli/enforcement_actuator.h"
#include "cli/live_view.h"
#include "cli/preflight.h"
#include "fake_machine.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

TEST(Preflight, NamesEveryMissingPieceAndWhatToDo) {
  test::TempTree t;
  auto problems = PreflightProblems({.sys_root = t.root(), .privileged = false});
  ASSERT_EQ(problems.size(), 3u);
  // The one capability list (common/capabilities.h), the same the BPF loader names on EPERM.
  // "(missing CAP_...)" follows "not privileged" when this process lacks some (not as root).
  EXPECT_EQ(problems[0].rfind("not privileged", 0), 0u) << problems[0];
  EXPECT_NE(problems[0].find(
                ": run as root, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE, "
                "CAP_SYS_NICE and CAP_SYS_ADMIN (e.g. AmbientCapabilities= in the systemd unit)"),
            std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find(t.Path("kernel/btf/vmlinux")), std::string::npos);
  EXPECT_NE(problems[1].find("CONFIG_DEBUG_INFO_BTF"), std::string::npos);
  EXPECT_NE(problems[2].find("cpu controller"), std::string::npos);

  t.Write("kernel/btf/vmlinux", "");
  t.Write("fs/cgroup/cpu/cpu.shares", "1024\n");
  EXPECT_TRUE(PreflightProblems({.sys_root = t.root(), .privileged = true}).empty());
  test::TempTree v2;  // a cgroup v2 mount alone also suffices
  v2.Write("kernel/btf/vmlinux", "");
  v2.Write("fs/cgroup/cgroup.controllers", "cpuset cpu io\n");
  EXPECT_TRUE(PreflightProblems({.sys_root = v2.root(), .privileged = true}).empty());
}

TEST(EnforcementActuator, WorkloadLabelsBecomeSafeNames) {
  auto name = [](const std::string& w) { return EnforcementActuator::ActuatorName(w); };
  EXPECT_EQ(name("/lc/web"), "lc_web");
  EXPECT_EQ(name("/kubepods/burstable/pod1.scope"), "kubepods_burstable_pod1.scope");
  // Hash suffixes: FNV-1a 64 of the whole label (computed independently).
  EXPECT_EQ(name("/lc_web"), "lc_web__b63174b96d954446");
  EXPECT_EQ(name("/kubepods/pod1:x y"), "kubepods_pod1_x_y__637aff321ff0ed0b");
  EXPECT_EQ(name("/"), "root__af63a24c860189fe");
  EXPECT_EQ(name("/a//b/"), "a_b__0613976f8865af8c");
  EXPECT_EQ(name("lc/web").rfind("lc_web__", 0), 0u) << name("lc/web");  // not a path: hashed
}

// The controller tells "refused" (capacity) from "failed" by the error code alone: a kernel ENOSPC
// from a cpuset write is a failure and must not come back as kCapacityRefused.
TEST(EnforcementActuator, OnlyCapacityRefusalsCarryTheRefusedCode) {
  test::FakeMachine m;
  m.MakeCpuCgroup("/lc");
  m.MakeCpuCgroup("/lc2");
  m.AddTask(1, {});
  m.AddTask(200, {.cpu_cg = "/lc"});
  m.AddTask(210, {.cpu_cg = "/lc2"});
  EnforcerConfig cfg;
  cfg.state_dir = m.state();
  cfg.mounts = m.mounts();
  cfg.proc_root = m.proc();
  auto topo = LoadSyntheticTopology("pack:1 core:2 pu:1");  // the fake root cpuset: 0-1
  ASSERT_TRUE(topo.ok());
  cfg.topology = *topo;
  cfg.rails.agent_pid = 300;
  auto e = Enforcer::Create(cfg, m.w);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EnforcementActuator a(**e);

  m.w.fail_prefixes = {"write " + m.cpuset() + "/schedwarden.x."};
  m.w.fail_errno = ENOSPC;  // what the kernel answers for an impossible cpuset
  auto failed = a.GrantExclusive("/lc", "/lc", 1);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().code, kCapacityRefused) << failed.error().message;

  m.w.fail_prefixes.clear();
  auto again = a.GrantExclusive("/lc", "/lc", 1);
  ASSERT_TRUE(again.ok()) << again.error().message;
  auto refused = a.GrantExclusive("/lc2", "/lc2", 1);  // the shared pool's last core
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, kCapacityRefused) << refused.error().message;
  (*e)->Shutdown();
}

TEST(EnforcementActuator, DistinctLabelsNeverShareAName) {
  const std::vector<std::string> labels = {
      "/lc/web", "/lc_web", "/lc/web/", "/lc//web",
      "/lc:web", "/lc web", "/",        "/root",
      "/a/b",    "/a_b",    "/a__b",    "/a/_b",
      "/a_/b",   "lc/web",  "/lc/web_", "/lc/web__b63174b96d954446"};
  std::set<std::string> names;
  const std::regex valid("[A-Za-z0-9_.-]+");
  for (const auto& l : labels) {
    const std::string n = EnforcementActuator::ActuatorName(l);
    EXPECT_TRUE(std::regex_match(n, valid)) << l << " -> " << n;
    EXPECT_TRUE(names.insert(n).second) << l << " -> " << n << " collides";
  }
}

WorkloadSample Sample(const std::string& name) {
  WorkloadSample w;
  w.workload = name;
  w.cgroup_path = name;
  return w;
}

TEST(WorkloadRates, DeltasOverTheIntervalWorstFirst) {
  Snapshot a, b;
  a.taken_at = 10s;
  b.taken_at = 10500ms;
  auto lc0 = Sample("/lc"), be0 = Sample("/be");
  lc0.runq_wakeup.Record(5'000, 100);  // old samples: must not count
  lc0.cpu_usage_ns = 1'000'000'000;
  be0.cpu_usage_ns = 0;
  be0.cpu_stat = CpuStatSample{10, 2, 0};
  a.workloads = {{"/lc", lc0}, {"/be", be0}};
  a.preemptions[{"/lc", "/be"}] = 7;

  auto lc1 = lc0, be1 = be0;
  lc1.runq_preempted.Record(3'000'000, 10);  // 3 ms waits in this interval
  lc1.cpu_usage_ns = 1'250'000'000;          // 0.25 s of CPU in 0.5 s = 0.5 CPUs
  be1.cpu_usage_ns = 1'000'000'000;          // 2 CPUs
  be1.cpu_stat = CpuStatSample{15, 5, 0};
  be1.runq_wakeup.Record(2'000, 4);
  b.workloads = {{"/lc", lc1}, {"/be", be1}};
  b.preemptions[{"/lc", "/be"}] = 19;

  auto j = WorkloadRates(ComputeIntervalDelta(a, b));
  EXPECT_DOUBLE_EQ(j["interval_s"].get<double>(), 0.5);
  ASSERT_EQ(j["workloads"].size(), 2u);
  const auto& lc = j["workloads"][0];  // worst p99 first
  EXPECT_EQ(lc["workload"], "/lc");
  EXPECT_EQ(lc["runq_samples"].get<uint64_t>(), 10u);
  EXPECT_GE(lc["runq_preempted_p99_s"].get<double>(), 0.003);
  EXPECT_LT(lc["runq_preempted_p99_s"].get<double>(), 0.003 * 1.25);
  EXPECT_DOUBLE_EQ(lc["cpus"].get<double>(), 0.5);
  EXPECT_EQ(lc["preempted_by"]["/be"].get<uint64_t>(), 12u);
  const auto& be = j["workloads"][1];
  EXPECT_DOUBLE_EQ(be["cpus"].get<double>(), 2.0);
  EXPECT_EQ(be["throttled_periods"].get<uint64_t>(), 3u);

  std::string table = FormatWorkloadRates(j);
  EXPECT_NE(table.find("/be (12)"), std::string::npos) << table;
}

// A workload without a usage file (missing from the cpuacct hierarchy) has unknown CPUs: null in
// JSON and "-" in the table, never a made-up 0.00.
TEST(WorkloadRates, UnknownCpusAreNullAndDash) {
  Snapshot a, b;
  a.taken_at = 10s;
  b.taken_at = 10500ms;
  auto x0 = Sample("/nocpuacct");
  auto x1 = x0;
  x1.runq_wakeup.Record(2'000, 4);
  a.workloads = {{"/nocpuacct", x0}};
  b.workloads = {{"/nocpuacct", x1}};
  auto j = WorkloadRates(ComputeIntervalDelta(a, b));
  ASSERT_EQ(j["workloads"].size(), 1u);
  EXPECT_TRUE(j["workloads"][0]["cpus"].is_null()) << j.dump();
  std::string table = FormatWorkloadRates(j);
  EXPECT_EQ(table.find("0.00"), std::string::npos) << table;
  EXPECT_NE(table.find(" - "), std::string::npos) << table;
}

// The agent keeps a compact RatesBase between status.json writes instead of the snapshot: the
// rates from it must be those ComputeIntervalDelta gives on the same two snapshots, byte for byte,
// whatever the shapes (series new, gone, recreated; buckets or counters gone backwards; cpu.stat
// or usage missing on either side; preemption pairs new, gone, restarted).
TEST(WorkloadRates, CompactBaseGivesTheRatesOfTheFullDelta) {
  uint64_t x = 88172645463325252ULL;
  auto next = [&x](uint64_t n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x % n;
  };
  auto hist = [&](LatencyHistogram& h) {
    for (int k = next(6); k > 0; k--) {
      const int shift = 8 + next(30);
      h.Record((uint64_t{1} << shift) + next(1000), 1 + next(40));
    }
    if (next(8) == 0) h.Record(0, 2);               // bucket 0
    if (next(8) == 0) h.Record(40'000'000'000ULL);  // the overflow bucket
  };
  auto sample = [&](const std::string& name) {
    WorkloadSample w = Sample(name);
    hist(w.runq_wakeup);
    hist(w.runq_preempted);
    if (next(3) == 0) hist(w.throttle_wait);
    w.throttle_events = next(50);
    if (next(4)) w.cpu_stat = CpuStatSample{next(100), next(20), next(1'000'000)};
    if (next(5)) w.cpu_usage_ns = next(10'000'000'000ULL);
    return w;
  };
  for (int round = 0; round < 200; round++) {
    Snapshot a, b;
    a.taken_at = std::chrono::nanoseconds(next(100'000'000'000ULL));
    b.taken_at = a.taken_at + std::chrono::nanoseconds(next(5'000'000'000ULL)) - 1ms;
    for (int i = 0; i < 12; i++) {
      const std::string name = "/w" + std::to_string(next(16));
      if (next(4)) a.workloads[name] = sample(name);
      if (next(4) == 0) continue;
      WorkloadSample w = a.workloads.count(name) && next(4) ? a.workloads[name] : sample(name);
      hist(w.runq_wakeup);  // grows from a's (or is a recreated series: may go backwards)
      if (next(2)) w.throttle_events += next(9);
      if (w.cpu_usage_ns && next(2)) *w.cpu_usage_ns += next(1'000'000'000);
      if (next(6) == 0) w.cpu_stat.reset();
      b.workloads[name] = w;
    }
    for (int i = 0; i < 10; i++) {
      const std::pair<std::string, std::string> key{"/w" + std::to_string(next(16)),
                                                    "/w" + std::to_string(next(16))};
      if (next(2)) a.preemptions[key] = next(100);
      if (next(3))
        b.preemptions[key] =
            (a.preemptions.count(key) ? a.preemptions[key] : 0) + next(100) - 20 * next(2);
    }
    const RatesBase base(a);
    EXPECT_EQ(WorkloadRates(base, b).dump(), WorkloadRates(ComputeIntervalDelta(a, b)).dump())
        << "round " << round;
  }
}

// What the compact base is for: at 1,000 workloads it holds a fraction of the snapshot's bytes.
TEST(WorkloadRates, CompactBaseIsAFractionOfTheSnapshot) {
  Snapshot s;
  for (int i = 0; i < 1000; i++) {
    const std::string name = "/kubepods/burstable/pod" + std::to_string(i) + "/workload";
    WorkloadSample& w = s.workloads[name];
    w = Sample(name);
    for (uint64_t ns = 2'000; ns < 4'000'000; ns = ns * 5 / 4) w.runq_wakeup.Record(ns, 3);
    w.runq_preempted.Record(90'000, 7);
    w.cpu_stat = CpuStatSample{};
    w.cpu_usage_ns = 123;
  }
  const size_t full = s.workloads.size() * sizeof(WorkloadSample);
  EXPECT_LT(RatesBase(s).HeapBytes() * 4, full)
      << RatesBase(s).HeapBytes() << " bytes kept for a snapshot of " << full;
}

}  // namespace
}  // namespace sw
