// Privileged: loads and attaches the real BPF programs and checks what they count against the
// kernel's own ground truth (cpu.stat) and against injected contention, in real cpu cgroups of
// whatever layout the machine has (cgroup v1 or v2, see support/cgroup_layout.h).
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <thread>

#include "bpf/bpf_event_source.h"
#include "bpf/map_decode.h"
#include "bpf/sched_observer_bpf.h"
#include "common/fs.h"
#include "support/privileged.h"
#include "test_cgroup.h"

namespace sw {
namespace {

using std::chrono::milliseconds;
using test::TestCgroup;

std::unique_ptr<BpfEventSource> StartObserver(const BpfOptions& options) {
  Result<SchedObserverBpf> bpf = StartSchedObserver(options);
  EXPECT_TRUE(bpf.ok()) << bpf.error().message;
  if (!bpf.ok()) return nullptr;
  return std::make_unique<BpfEventSource>(std::move(bpf).value());
}

RawWorkloadStats StatsOf(const RawEvents& ev, uint64_t cgid) {
  auto it = ev.workloads.find(cgid);
  return it == ev.workloads.end() ? RawWorkloadStats{} : it->second;
}

uint64_t PairOf(const RawEvents& ev, uint64_t victim, uint64_t aggressor) {
  auto it = ev.preemptions.find({victim, aggressor});
  return it == ev.preemptions.end() ? 0 : it->second;
}

// nonvoluntary_ctxt_switches of /proc/<pid>/status.
uint64_t NonvoluntarySwitches(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  EXPECT_TRUE(text.ok());
  if (!text.ok()) return 0;
  for (const std::string& line : Split(*text, '\n')) {
    if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
      return std::strtoull(line.substr(line.find(':') + 1).c_str(), nullptr, 10);
  }
  ADD_FAILURE() << "no nonvoluntary_ctxt_switches for pid " << pid;
  return 0;
}

int LastCpu() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) - 1; }

std::unique_ptr<TestCgroup> MakeCgroup(const std::string& name) {
  auto machine = test::MachineCgroups::Detect();
  EXPECT_TRUE(machine.ok()) << machine.error().message;
  if (!machine.ok()) return nullptr;
  auto cg = TestCgroup::Create(*machine, name);
  EXPECT_TRUE(cg.ok()) << cg.error().message;
  return cg.ok() ? std::move(*cg) : nullptr;
}

// On-CPU time of a task: first field of /proc/<pid>/schedstat (ns).
uint64_t RunTimeNs(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/schedstat");
  EXPECT_TRUE(text.ok());
  return text.ok() ? std::strtoull(text->c_str(), nullptr, 10) : 0;
}

// Whether the running kernel's `struct_name` has a member `member` (its BTF): feature probes.
bool KernelStructHasMember(const char* struct_name, const char* member) {
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) return false;
  bool found = false;
  int id = btf__find_by_name_kind(btf, struct_name, BTF_KIND_STRUCT);
  if (id > 0) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    const struct btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t) && !found; i++)
      found = std::string(btf__name_by_offset(btf, m[i].name_off)) == member;
  }
  btf__free(btf);
  return found;
}

// Task-based CFS throttling (v6.18+): task_struct has a `throttled` member (as the BPF probes).
bool TaskBasedThrottling() { return KernelStructHasMember("task_struct", "throttled"); }

// A 20% CFS quota on a busy loop, observed from SIGCONT until the loop is stopped again (a
// stopped task has no wait in progress, so every counter read at either edge is final).
// - Exact (see below for task-based throttling): every involuntary switch of the loop (the
//   kernel's nivcsw: switched out while still runnable) is either a BPF throttle event or a
//   preempted wait, and every throttle ended.
// - cpu.stat nr_throttled counts throttled *periods*: each throttle spans at least one period
//   timer, and more only when it lasted longer than a period (the vCPU or the loop was starved
//   and overran its quota), which the throttle-wait histogram shows.
// - The throttled time goes into the throttle-wait histogram (close to cpu.stat throttled time)
//   and not into run-queue latency: run time + wakeup + preempted + throttle waits add up to the
//   window, not more (double counting).
// Both program twins (the raw_tp one is the fallback for kernels without tp_btf, forced with
// observer.bpf_attach: raw_tp).
class BpfThrottle : public ::testing::TestWithParam<AttachKind> {};

TEST_P(BpfThrottle, EventsMatchCpuStatAndStayOutOfRunqLatency) {
  SW_REQUIRE_PRIVILEGED();
  constexpr uint64_t kPeriodUs = 100000;
  auto cg = MakeCgroup("throttle");
  ASSERT_TRUE(cg);
  auto quota = cg->SetCfsQuota(kPeriodUs / 5, kPeriodUs);
  ASSERT_TRUE(quota.ok()) << quota.error().message;
  auto src = StartObserver(BpfOptions{.attach = GetParam()});
  ASSERT_TRUE(src);
  auto pid = cg->SpawnBusy(LastCpu());  // stopped until Start()
  ASSERT_TRUE(pid.ok());

  uint64_t nivcsw0 = NonvoluntarySwitches(*pid), run0 = RunTimeNs(*pid);
  auto stat0 = cg->ReadThrottling();
  auto ev0 = src->Read();
  ASSERT_TRUE(stat0.ok()) << stat0.error().message;
  ASSERT_TRUE(ev0.ok()) << ev0.error().message;
  auto t0 = std::chrono::steady_clock::now();
  cg->Start();
  std::this_thread::sleep_for(milliseconds(4000));
  cg->Stop();
  auto t1 = std::chrono::steady_clock::now();
  auto stat1 = cg->ReadThrottling();
  auto ev1 = src->Read();
  uint64_t nivcsw = NonvoluntarySwitches(*pid) - nivcsw0, run_ns = RunTimeNs(*pid) - run0;
  // The loop may have run out of quota on its way to stopping: then its (now empty) group is
  // throttled until the next period timer, which counts one more throttled period that no task
  // waited for. Two periods later any such count has landed.
  std::this_thread::sleep_for(milliseconds(2 * kPeriodUs / 1000 + 50));
  auto stat2 = cg->ReadThrottling();
  cg->KillChildren();
  ASSERT_TRUE(stat1.ok() && stat2.ok() && ev1.ok());

  uint64_t nr_throttled = stat1->nr_throttled - stat0->nr_throttled;
  uint64_t throttled_at_stop = stat2->nr_throttled - stat1->nr_throttled;
  uint64_t throttled_ns = stat1->throttled_ns - stat0->throttled_ns;
  RawWorkloadStats a = StatsOf(*ev0, cg->id()), b = StatsOf(*ev1, cg->id());
  uint64_t events = b.throttle_events - a.throttle_events;
  LatencyHistogram wait = b.wait[SW_REASON_THROTTLED].Delta(a.wait[SW_REASON_THROTTLED]);
  LatencyHistogram wakeup = b.wait[SW_REASON_WAKEUP].Delta(a.wait[SW_REASON_WAKEUP]);
  LatencyHistogram preempted = b.wait[SW_REASON_PREEMPTED].Delta(a.wait[SW_REASON_PREEMPTED]);
  uint64_t window_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  uint64_t accounted = run_ns + wakeup.SumNs() + preempted.SumNs() + wait.SumNs();
  // Throttled periods the BPF throttle waits can account for: a wait of at most U ns spans at
  // most floor(U / period) period timers beyond the first (U: its bucket's upper edge, +1 ms for
  // the kernel throttling the group a moment before the switch-out). With task-based throttling
  // (6.18+) the group can also be throttled while the loop waits preempted in the kernel and be
  // unthrottled before the loop reaches user space to throttle itself: a throttled period inside
  // a preempted wait, at most floor(U / period) + 1 per wait. 6.12 throttles at the switch-out.
  auto timers_within = [&](const LatencyHistogram& h, uint64_t first) {
    uint64_t n = 0;
    for (int i = 0; i < LatencyHistogram::kBuckets; i++) {
      if (h.BucketCount(i) == 0) continue;
      EXPECT_LT(i, LatencyHistogram::kBuckets - 1) << "wait in the overflow bucket";
      n += h.BucketCount(i) *
           ((LatencyHistogram::UpperEdgeNs(i) + 1'000'000) / (kPeriodUs * 1000) + first);
    }
    return n;
  };
  uint64_t extra_periods = timers_within(wait, 0);
  const bool task_based = TaskBasedThrottling();
  uint64_t preempted_periods = task_based ? timers_within(preempted, 1) : 0;
  std::printf(
      "nivcsw=%lu = bpf throttle_events=%lu + preempted=%lu | cpu.stat nr_throttled=%lu (+%lu at "
      "stop) extra periods<=%lu+%lu throttled=%.1f ms | throttle_wait n=%lu sum=%.1f ms p50=%.1f "
      "max<=%.1f ms | preempted max<=%.1f ms | window %.1f ms = run %.1f + wakeup %.2f (n=%lu) + "
      "preempted %.2f + "
      "throttled %.1f (=%.1f ms)\n",
      nivcsw, events, preempted.Count(), nr_throttled, throttled_at_stop, extra_periods,
      preempted_periods, throttled_ns / 1e6, wait.Count(), wait.SumNs() / 1e6,
      wait.QuantileNs(0.5) / 1e6, wait.QuantileNs(1.0) / 1e6, preempted.QuantileNs(1.0) / 1e6,
      window_ns / 1e6, run_ns / 1e6, wakeup.SumNs() / 1e6, wakeup.Count(), preempted.SumNs() / 1e6,
      wait.SumNs() / 1e6, accounted / 1e6);

  // 4 s at a 100 ms period: ~40 throttled periods unless the CPU was starved by other load.
  ASSERT_GE(nr_throttled, 20u) << "the busy loop was barely throttled; machine overloaded?";
  // Nothing lost, nothing counted twice, no throttle mistaken for a preemption: exact where the
  // kernel throttles at the switch-out (6.12 under qemu: 34 = 32 + 2, 39 = 37 + 2, 40 = 39 + 1).
  // With task-based throttling (6.18 host, loaded) the kernel counted 2-5 more per ~100-270
  // (never fewer; 4 of 100 once), for a reason not yet found (no drops, no recursion misses,
  // either twin): bounded at 5% + 2, still far below what a lost or misfiled event class costs.
  uint64_t bpf_switches = events + preempted.Count();
  if (task_based) {
    EXPECT_LE(bpf_switches, nivcsw) << "more BPF switch-outs than the kernel's involuntary ones";
    EXPECT_LE(nivcsw - bpf_switches, nivcsw / 20 + 2)
        << "BPF throttle events + preempted waits " << bpf_switches
        << " vs the kernel's involuntary switches " << nivcsw;
  } else {
    EXPECT_EQ(bpf_switches, nivcsw)
        << "BPF throttle events + preempted waits vs the kernel's involuntary switches";
  }
  if (task_based) {  // 6.18 host: once in 4 runs one throttle wait (of 40) stayed open
    EXPECT_LE(wait.Count(), events);
    EXPECT_LE(events - wait.Count(), 1u) << "throttle waits that did not end inside the window";
  } else {
    EXPECT_EQ(wait.Count(), events) << "a throttle wait did not end inside the window";
  }
  EXPECT_EQ(wakeup.Count(), 1u) << "the only wakeup is SIGCONT's";
  // Each throttle is one or more throttled periods: exactly one when no wait outlasted a period
  // (and, with task-based throttling, the loop was never preempted).
  EXPECT_LE(throttled_at_stop, 1u);
  EXPECT_LE(events, nr_throttled);
  EXPECT_LE(nr_throttled, events + extra_periods + preempted_periods + throttled_at_stop)
      << "cpu.stat counted throttled periods that no BPF throttle wait spans";
  // Each throttle waits for the next period refill: ~80 ms at 20% of 100 ms on an idle CPU,
  // less when other load delayed the loop's 20 ms within the period.
  EXPECT_GE(wait.QuantileNs(0.5), 10'000'000u);
  // The throttle waits hold the throttled time. cpu.stat's runs from the group's throttle to its
  // unthrottle, a wait from the switch-out to the switch-in, which adds the queueing right after
  // the unthrottle behind whatever else is runnable on that CPU: the same competition that
  // preempts the loop, so bounded by the preempted waits (host under load: +41..+341 ms with
  // 1.3..2.5 s preempted). 1% for the rest: under qemu, where the loop is hardly preempted, the
  // waits came out -0.45%..+0.2% of cpu.stat (its rq clock is read earlier in the switch than
  // the BPF stamp, and need not tick at ktime's rate).
  // A wait still open at the read (6.18, see above) is in cpu.stat's time but not yet in the
  // histogram: at most one period each (seen: 3160 ms of waits for 3242 ms, one 82 ms wait open).
  const uint64_t open_waits = events > wait.Count() ? events - wait.Count() : 0;
  EXPECT_GE(wait.SumNs() + open_waits * kPeriodUs * 1000, throttled_ns - throttled_ns / 100)
      << "throttle waits shorter than cpu.stat throttled time";
  EXPECT_LE(wait.SumNs(), throttled_ns + throttled_ns / 100 + preempted.SumNs())
      << "throttle waits longer than cpu.stat throttled time plus all preempted waiting";
  // No double counting: everything adds up to the window, up to the edges (SIGCONT to first
  // run, stop to waitpid) and IRQ time missing from the task's run time.
  EXPECT_LE(accounted, window_ns + window_ns / 100);
  EXPECT_GE(accounted, window_ns - window_ns / 20);
  // So run-queue latency cannot also contain the throttled time the kernel reports.
  EXPECT_LE(wakeup.SumNs() + preempted.SumNs(), window_ns - run_ns - throttled_ns * 9 / 10);
  EXPECT_EQ(ev1->dropped[SW_DROP_WORKLOAD_MAP_FULL], 0u);
  EXPECT_EQ(ev1->dropped[SW_DROP_TASK_STAMP_FULL], 0u);
  EXPECT_EQ(ev1->dropped[SW_DROP_NEGATIVE_DELTA], 0u);
}

INSTANTIATE_TEST_SUITE_P(Twins, BpfThrottle,
                         ::testing::Values(AttachKind::kTpBtf, AttachKind::kRawTp),
                         [](const auto& info) { return std::string(AttachKindName(info.param)); });

struct Variant {
  AttachKind attach;
  WorkloadMapKind map;
};

void PrintTo(const Variant& v, std::ostream* os) {
  *os << AttachKindName(v.attach) << "/" << WorkloadMapKindName(v.map);
}

class BpfPreemption : public ::testing::TestWithParam<Variant> {};

// Two busy processes in two cgroups sharing one CPU: the scheduler alternates them, so each is
// preempted by the other (both directions counted) and waits about one slice (>= 1 ms) each time.
TEST_P(BpfPreemption, CountedBothWaysWithMillisecondWaits) {
  SW_REQUIRE_PRIVILEGED();
  auto a = MakeCgroup("victim");
  auto b = MakeCgroup("aggressor");
  ASSERT_TRUE(a && b);
  BpfOptions opts;
  opts.attach = GetParam().attach;
  opts.workload_map = GetParam().map;
  auto src = StartObserver(opts);
  ASSERT_TRUE(src);
  EXPECT_EQ(src->bpf().attach_kind(), opts.attach);
  int cpu = LastCpu();
  auto pid_a = a->SpawnBusy(cpu);
  auto pid_b = b->SpawnBusy(cpu);
  ASSERT_TRUE(pid_a.ok() && pid_b.ok());

  uint64_t nvcsw_a0 = NonvoluntarySwitches(*pid_a), nvcsw_b0 = NonvoluntarySwitches(*pid_b);
  auto ev0 = src->Read();
  ASSERT_TRUE(ev0.ok()) << ev0.error().message;
  a->Start();
  b->Start();
  std::this_thread::sleep_for(milliseconds(2500));
  auto ev1 = src->Read();
  uint64_t nvcsw_a = NonvoluntarySwitches(*pid_a) - nvcsw_a0;
  uint64_t nvcsw_b = NonvoluntarySwitches(*pid_b) - nvcsw_b0;
  a->KillChildren();
  b->KillChildren();
  ASSERT_TRUE(ev1.ok()) << ev1.error().message;

  uint64_t ab = PairOf(*ev1, a->id(), b->id()) - PairOf(*ev0, a->id(), b->id());
  uint64_t ba = PairOf(*ev1, b->id(), a->id()) - PairOf(*ev0, b->id(), a->id());
  LatencyHistogram pa = StatsOf(*ev1, a->id())
                            .wait[SW_REASON_PREEMPTED]
                            .Delta(StatsOf(*ev0, a->id()).wait[SW_REASON_PREEMPTED]);
  LatencyHistogram pb = StatsOf(*ev1, b->id())
                            .wait[SW_REASON_PREEMPTED]
                            .Delta(StatsOf(*ev0, b->id()).wait[SW_REASON_PREEMPTED]);
  std::printf(
      "%s/%s: (a,b)=%lu (b,a)=%lu | a preempted n=%lu (nvcsw %lu) p50=%.2f ms | "
      "b preempted n=%lu (nvcsw %lu) p50=%.2f ms\n",
      AttachKindName(opts.attach), WorkloadMapKindName(opts.workload_map), ab, ba, pa.Count(),
      nvcsw_a, pa.QuantileNs(0.5) / 1e6, pb.Count(), nvcsw_b, pb.QuantileNs(0.5) / 1e6);

  // 2.5 s of alternation with millisecond slices: ~300 switches each way on an idle CPU, fewer
  // when other tasks on the machine take turns in between (70 seen under load average 8).
  EXPECT_GE(ab, 20u);
  EXPECT_GE(ba, 20u);
  // Every (a, b) preemption left a preempted stamp on a; the wait is counted when a runs again,
  // so a's last preemption may still be waiting when the maps are read (seen once on 6.1: 103
  // waits for 104 preemptions). a is one thread: at most one wait in flight.
  EXPECT_GE(pa.Count() + 1, ab);
  // Kernel ground truth: every involuntary switch-out of a busy loop is one preempted wait
  // (the switch-out is counted by the kernel, the wait when it ends: allow the window edges).
  EXPECT_NEAR(static_cast<double>(pa.Count()), static_cast<double>(nvcsw_a), 2 + nvcsw_a * 0.05);
  EXPECT_NEAR(static_cast<double>(pb.Count()), static_cast<double>(nvcsw_b), 2 + nvcsw_b * 0.05);
  EXPECT_GE(pa.QuantileNs(0.5), 1'000'000u);
  EXPECT_GE(pb.QuantileNs(0.5), 1'000'000u);
  // Busy loops never sleep: their only wakeup in the window is the SIGCONT that started them,
  // so involuntary waits were not misfiled as wakeups.
  EXPECT_LE(StatsOf(*ev1, a->id()).wait[SW_REASON_WAKEUP].Count() -
                StatsOf(*ev0, a->id()).wait[SW_REASON_WAKEUP].Count(),
            1u);
  for (int d = 0; d < SW_NR_DROPS; d++) EXPECT_EQ(ev1->dropped[d], 0u) << "drop reason " << d;

  // Forget drops the entries of vanished cgroups from the kernel maps.
  src->Forget({a->id(), b->id()});
  auto ev2 = src->Read();
  ASSERT_TRUE(ev2.ok());
  EXPECT_EQ(ev2->workloads.count(a->id()), 0u);
  EXPECT_EQ(ev2->workloads.count(b->id()), 0u);
  for (const auto& [pair, n] : ev2->preemptions) {
    EXPECT_NE(pair.first, a->id());
    EXPECT_NE(pair.second, a->id());
    EXPECT_NE(pair.first, b->id());
    EXPECT_NE(pair.second, b->id());
  }
}

// Time a task spent queued: second field of /proc/<pid>/schedstat (the kernel's run_delay, ns).
uint64_t RunDelayNs(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/schedstat");
  EXPECT_TRUE(text.ok());
  if (!text.ok()) return 0;
  char* end = nullptr;
  std::strtoull(text->c_str(), &end, 10);
  return std::strtoull(end, nullptr, 10);
}

uint64_t WaitSumNs(const RawEvents& ev, uint64_t cgid) {
  RawWorkloadStats s = StatsOf(ev, cgid);
  uint64_t sum = 0;
  for (int r = 0; r < SW_NR_REASONS; r++) sum += s.wait[r].SumNs();
  return sum;
}

// Kernel ground truth for the waits themselves: between two moments both busy loops are stopped
// (no wait in flight), the waits of every reason counted for each cgroup add up to the run_delay
// its one task gained. To the nanosecond where the tp_btf program reads the kernel's sched_info;
// the stamp programs (raw_tp, or a kernel without CONFIG_SCHED_INFO) stamp at the tracepoints on
// another clock, a fraction of a microsecond from the kernel's enqueue and arrival per wait.
TEST_P(BpfPreemption, WaitsAddUpToTheKernelsRunDelay) {
  SW_REQUIRE_PRIVILEGED();
  auto a = MakeCgroup("rdelay-a");
  auto b = MakeCgroup("rdelay-b");
  ASSERT_TRUE(a && b);
  BpfOptions opts;
  opts.attach = GetParam().attach;
  opts.workload_map = GetParam().map;
  auto src = StartObserver(opts);
  ASSERT_TRUE(src);
  int cpu = LastCpu();
  auto pid_a = a->SpawnBusy(cpu);
  auto pid_b = b->SpawnBusy(cpu);
  ASSERT_TRUE(pid_a.ok() && pid_b.ok());
  a->Start();  // a first round, so both tasks have been switched in once before the window
  b->Start();
  std::this_thread::sleep_for(milliseconds(200));
  a->Stop();
  b->Stop();

  uint64_t rd_a0 = RunDelayNs(*pid_a), rd_b0 = RunDelayNs(*pid_b);
  auto ev0 = src->Read();
  ASSERT_TRUE(ev0.ok()) << ev0.error().message;
  a->Start();
  b->Start();
  std::this_thread::sleep_for(milliseconds(1500));
  a->Stop();
  b->Stop();
  uint64_t rd_a = RunDelayNs(*pid_a) - rd_a0, rd_b = RunDelayNs(*pid_b) - rd_b0;
  auto ev1 = src->Read();
  a->KillChildren();
  b->KillChildren();
  ASSERT_TRUE(ev1.ok()) << ev1.error().message;
  uint64_t w_a = WaitSumNs(*ev1, a->id()) - WaitSumNs(*ev0, a->id());
  uint64_t w_b = WaitSumNs(*ev1, b->id()) - WaitSumNs(*ev0, b->id());
  uint64_t n_a = 0;
  for (int r = 0; r < SW_NR_REASONS; r++)
    n_a += StatsOf(*ev1, a->id()).wait[r].Delta(StatsOf(*ev0, a->id()).wait[r]).Count();
  std::printf("%s/%s: a waited %lu ns in %lu waits (run_delay +%lu), b %lu ns (+%lu)\n",
              AttachKindName(opts.attach), WorkloadMapKindName(opts.workload_map), w_a, n_a, rd_a,
              w_b, rd_b);
  EXPECT_GE(rd_a, 100'000'000u);  // sharing one CPU for 1.5 s: hundreds of ms queued each
  EXPECT_GE(rd_b, 100'000'000u);
  if (opts.attach == AttachKind::kTpBtf && KernelStructHasMember("task_struct", "sched_info")) {
    EXPECT_EQ(w_a, rd_a);
    EXPECT_EQ(w_b, rd_b);
  } else {
    // Measured 6.18, 2 CPUs: 1.1% and 0.7% short (754 vs 762 ms, 758 vs 764 ms); not explained.
    EXPECT_NEAR(static_cast<double>(w_a), static_cast<double>(rd_a), 0.03 * rd_a);
    EXPECT_NEAR(static_cast<double>(w_b), static_cast<double>(rd_b), 0.03 * rd_b);
  }
  for (int d = 0; d < SW_NR_DROPS; d++) EXPECT_EQ(ev1->dropped[d], 0u) << "drop reason " << d;
}

// A task moved to another cgroup while it waits for nothing (stopped) has its waits counted in
// the new cgroup from its next one on, and none more in the old: the programs may not keep a
// task's workload from an earlier switch. Ground truth as above: the task's run_delay.
TEST_P(BpfPreemption, MovedTaskWaitsInItsNewCgroup) {
  SW_REQUIRE_PRIVILEGED();
  auto from = MakeCgroup("move-from");
  auto to = MakeCgroup("move-to");
  auto rival = MakeCgroup("move-rival");
  ASSERT_TRUE(from && to && rival);
  BpfOptions opts;
  opts.attach = GetParam().attach;
  opts.workload_map = GetParam().map;
  auto src = StartObserver(opts);
  ASSERT_TRUE(src);
  int cpu = LastCpu();
  auto pid = from->SpawnBusy(cpu);
  auto pid_r = rival->SpawnBusy(cpu);
  ASSERT_TRUE(pid.ok() && pid_r.ok());
  from->Start();  // waits and preemptions in `from` first, so the programs have seen it there
  rival->Start();
  std::this_thread::sleep_for(milliseconds(300));
  from->Stop();
  rival->Stop();
  auto ev_from = src->Read();
  ASSERT_TRUE(ev_from.ok()) << ev_from.error().message;
  ASSERT_GT(WaitSumNs(*ev_from, from->id()), 0u);

  Result<void> moved = from->MoveChild(*pid, *to);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  uint64_t rd0 = RunDelayNs(*pid);
  auto ev0 = src->Read();
  ASSERT_TRUE(ev0.ok()) << ev0.error().message;
  to->Start();
  rival->Start();
  std::this_thread::sleep_for(milliseconds(1500));
  to->Stop();
  rival->Stop();
  uint64_t rd = RunDelayNs(*pid) - rd0;
  auto ev1 = src->Read();
  to->KillChildren();
  rival->KillChildren();
  ASSERT_TRUE(ev1.ok()) << ev1.error().message;
  uint64_t w_from = WaitSumNs(*ev1, from->id()) - WaitSumNs(*ev0, from->id());
  uint64_t w_to = WaitSumNs(*ev1, to->id()) - WaitSumNs(*ev0, to->id());
  uint64_t pairs_from =
      PairOf(*ev1, from->id(), rival->id()) - PairOf(*ev0, from->id(), rival->id());
  uint64_t pairs_to = PairOf(*ev1, to->id(), rival->id()) - PairOf(*ev0, to->id(), rival->id());
  std::printf(
      "%s/%s: after the move: waits %lu ns in the old cgroup, %lu ns in the new "
      "(run_delay +%lu); preempted by the rival %lu times in the old, %lu in the new\n",
      AttachKindName(opts.attach), WorkloadMapKindName(opts.workload_map), w_from, w_to, rd,
      pairs_from, pairs_to);
  // It waited after the move, so the checks below count something. How long varies widely
  // (sharing one CPU for 1.5 s: 8-82 ms in the 6.1 cgroup-v2 VM cell); the attribution does not.
  EXPECT_GT(rd, 0u);
  EXPECT_EQ(w_from, 0u);
  EXPECT_EQ(pairs_from, 0u);
  EXPECT_GT(pairs_to, 0u);
  if (opts.attach == AttachKind::kTpBtf && KernelStructHasMember("task_struct", "sched_info"))
    EXPECT_EQ(w_to, rd);
  else
    EXPECT_NEAR(static_cast<double>(w_to), static_cast<double>(rd), 0.03 * rd);
  for (int d = 0; d < SW_NR_DROPS; d++) EXPECT_EQ(ev1->dropped[d], 0u) << "drop reason " << d;
}

INSTANTIATE_TEST_SUITE_P(Twins, BpfPreemption,
                         ::testing::Values(Variant{AttachKind::kTpBtf, WorkloadMapKind::kShared},
                                           Variant{AttachKind::kTpBtf, WorkloadMapKind::kPerCpu},
                                           Variant{AttachKind::kRawTp, WorkloadMapKind::kShared}),
                         [](const auto& info) {
                           return std::string(AttachKindName(info.param.attach)) + "_" +
                                  WorkloadMapKindName(info.param.map);
                         });

TEST(BpfObserver, ReportsProgramStatsAndDetachesOnDestruction) {
  SW_REQUIRE_PRIVILEGED();
  auto src = StartObserver(BpfOptions{});
  ASSERT_TRUE(src);
  std::this_thread::sleep_for(milliseconds(200));
  auto ev = src->Read();
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->programs.size(), 3u);
  EXPECT_EQ(ev->programs[2].name, "sched_switch");
  // bpf_stats_enabled must mirror the sysctl, whatever its current value.
  auto sysctl = ReadFile("/proc/sys/kernel/bpf_stats_enabled");
  ASSERT_TRUE(sysctl.ok());
  EXPECT_EQ(ev->bpf_stats_enabled, Trim(*sysctl) == "1");
  std::vector<int> fds;
  for (const auto& p : src->bpf().programs()) fds.push_back(p.fd);
  src->bpf().Detach();
  EXPECT_FALSE(src->bpf().attached());
  // Detached programs stop counting: sched_switch fires constantly, so a frozen count is proof.
  auto e1 = src->Read();
  std::this_thread::sleep_for(milliseconds(200));
  auto e2 = src->Read();
  ASSERT_TRUE(e1.ok() && e2.ok());
  uint64_t n1 = 0, n2 = 0;
  for (const auto& [id, w] : e1->workloads) n1 += w.wait[SW_REASON_WAKEUP].Count();
  for (const auto& [id, w] : e2->workloads) n2 += w.wait[SW_REASON_WAKEUP].Count();
  EXPECT_EQ(n1, n2);
}

// run_time_ns and run_cnt of a program as the kernel prints them in the fd's fdinfo (what
// `bpftool prog show` reports too; bpftool itself is not in the VM tier's initramfs).
std::pair<uint64_t, uint64_t> FdinfoRunStats(int prog_fd) {
  auto text = ReadFile("/proc/self/fdinfo/" + std::to_string(prog_fd));
  EXPECT_TRUE(text.ok());
  uint64_t ns = 0, cnt = 0;
  bool has_ns = false, has_cnt = false;
  for (const std::string& line : Split(text.ok() ? *text : "", '\n')) {
    if (line.rfind("run_time_ns:", 0) == 0) {
      ns = std::strtoull(line.c_str() + 12, nullptr, 10);
      has_ns = true;
    } else if (line.rfind("run_cnt:", 0) == 0) {
      cnt = std::strtoull(line.c_str() + 8, nullptr, 10);
      has_cnt = true;
    }
  }
  EXPECT_TRUE(has_ns && has_cnt) << "no run_time_ns/run_cnt in fdinfo";
  return {ns, cnt};
}

// Sets kernel.bpf_stats_enabled for the test and puts the previous value back.
bool SetBpfStatsSysctl(const std::string& value) {
  std::ofstream f("/proc/sys/kernel/bpf_stats_enabled");
  f << value;
  f.close();
  return !f.fail();
}
struct BpfStatsSysctl {
  std::string saved;
  explicit BpfStatsSysctl(const char* value) {
    auto r = ReadFile("/proc/sys/kernel/bpf_stats_enabled");
    saved = r.ok() ? Trim(*r) : "0";
    EXPECT_TRUE(SetBpfStatsSysctl(value));
  }
  ~BpfStatsSysctl() { SetBpfStatsSysctl(saved); }
};

void SwitchABit() {
  for (int i = 0; i < 50; i++) std::this_thread::sleep_for(milliseconds(2));
}

// Issue 10: with options.bpf_stats the observer holds BPF_ENABLE_STATS, so run time and count
// are kept with kernel.bpf_stats_enabled at 0; they agree with the kernel's fdinfo (read between
// two of ours); without it, or once the observer is gone, nothing counts.
TEST(BpfObserver, HeldBpfStatsCountWithoutTheSysctl) {
  SW_REQUIRE_PRIVILEGED();
  BpfStatsSysctl off("0");
  BpfOptions o;
  o.bpf_stats = true;
  auto src = StartObserver(o);
  ASSERT_TRUE(src);
  EXPECT_TRUE(src->bpf().holds_bpf_stats());
  SwitchABit();
  int fd = src->bpf().programs()[2].fd;  // sched_switch
  auto a = src->Read();
  auto [bt_ns, bt_cnt] = FdinfoRunStats(fd);
  auto c = src->Read();
  ASSERT_TRUE(a.ok() && c.ok());
  EXPECT_TRUE(a->bpf_stats_enabled);
  const BpfProgramStats &pa = a->programs[2], &pc = c->programs[2];
  std::printf("sched_switch: ours %lu runs %lu ns, fdinfo %lu runs %lu ns, ours %lu runs\n",
              pa.run_count, pa.run_time_ns, bt_cnt, bt_ns, pc.run_count);
  EXPECT_GT(pa.run_count, 0u);
  EXPECT_GT(pa.run_time_ns, 0u);
  EXPECT_LE(pa.run_count, bt_cnt);
  EXPECT_LE(bt_cnt, pc.run_count);
  EXPECT_LE(pa.run_time_ns, bt_ns);
  EXPECT_LE(bt_ns, pc.run_time_ns);
  src.reset();  // closes the stats fd

  auto plain = StartObserver(BpfOptions{});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->bpf().holds_bpf_stats());
  SwitchABit();
  auto e = plain->Read();
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->bpf_stats_enabled);
  EXPECT_EQ(e->programs[2].run_count, 0u) << "stats still on after the observer holding them went";
  EXPECT_EQ(FdinfoRunStats(plain->bpf().programs()[2].fd).second, 0u);
}

uint64_t MemlockOf(int fd) {
  auto text = ReadFile("/proc/self/fdinfo/" + std::to_string(fd));
  EXPECT_TRUE(text.ok());
  if (!text.ok()) return 0;
  for (const std::string& line : Split(*text, '\n'))
    if (line.rfind("memlock:", 0) == 0) return std::strtoull(line.c_str() + 8, nullptr, 10);
  ADD_FAILURE() << "no memlock in fdinfo";
  return 0;
}

// Whether the kernel's fdinfo "memlock" is the map's real memory (bpf_map_ops.map_mem_usage,
// Linux 6.4+) rather than the older page-rounded (key + value) x entries figure.
bool KernelAccountsMapMemory() { return KernelStructHasMember("bpf_map_ops", "map_mem_usage"); }

uint32_t MaxEntriesOf(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
  return info.max_entries;
}

// The memory numbers of docs/bpf.md come from EstimateMapMemory: check them against the kernel's
// own accounting of the maps really created, for both layouts and both stamp stores. Kernels
// before 6.4 (Debian 12's 6.1) account no real map memory: there the sizes the estimate rests on
// (entries of every map) are checked instead.
TEST(BpfObserver, MapMemoryMatchesKernelAccounting) {
  SW_REQUIRE_PRIVILEGED();
  int ncpus = libbpf_num_possible_cpus();
  ASSERT_GT(ncpus, 0);
  for (Variant v : {Variant{AttachKind::kTpBtf, WorkloadMapKind::kShared},
                    Variant{AttachKind::kTpBtf, WorkloadMapKind::kPerCpu},
                    Variant{AttachKind::kRawTp, WorkloadMapKind::kShared}}) {
    BpfOptions o;
    o.attach = v.attach;
    o.workload_map = v.map;
    o.workload_map_entries = 1000;  // not a power of two: exercises bucket rounding
    SchedObserverBpf bpf;
    Result<void> r = bpf.Open();
    if (r.ok()) r = bpf.Configure(o);
    if (r.ok()) r = bpf.Load();
    ASSERT_TRUE(r.ok()) << r.error().message;
    MapMemoryEstimate est = EstimateMapMemory(
        o.workload_map_entries, v.map == WorkloadMapKind::kPerCpu, o.preempt_map_entries,
        v.attach == AttachKind::kRawTp ? o.raw_stamp_entries : 0, ncpus);
    std::map<std::string, uint64_t> measured;
    for (const auto& [name, fd] : bpf.maps()) measured[name] = MemlockOf(fd);
    bool has_task_stamps = measured.count("task_stamps"),
         has_raw_stamps = measured.count("raw_stamps");
    std::printf(
        "%s/%s: workloads %lu (est %lu) preemptions %lu (est %lu) raw_stamps %lu (est "
        "%lu)\n",
        AttachKindName(v.attach), WorkloadMapKindName(v.map), measured["workloads"], est.workloads,
        measured["preemptions"], est.preemptions, measured["raw_stamps"], est.raw_stamps);
    if (KernelAccountsMapMemory()) {
      // Within 4 KiB: the estimate leaves out the map structs themselves.
      EXPECT_NEAR(double(measured["workloads"]), double(est.workloads), 4096);
      EXPECT_NEAR(double(measured["preemptions"]), double(est.preemptions), 4096);
      EXPECT_NEAR(double(measured["drops"]), double(est.drops), 4096);
      if (v.attach == AttachKind::kRawTp) {
        EXPECT_NEAR(double(measured["raw_stamps"]), double(est.raw_stamps), 4096);
      }
    } else {
      std::printf("kernel without map memory accounting: checking map sizes only\n");
      const auto list = bpf.maps();
      const std::map<std::string, int> fd(list.begin(), list.end());
      EXPECT_EQ(MaxEntriesOf(fd.at("workloads")), o.workload_map_entries);
      EXPECT_EQ(MaxEntriesOf(fd.at("preemptions")), o.preempt_map_entries);
      if (v.attach == AttachKind::kRawTp) {
        EXPECT_EQ(MaxEntriesOf(fd.at("raw_stamps")), o.raw_stamp_entries);
      }
    }
    if (v.attach == AttachKind::kRawTp) {
      EXPECT_TRUE(has_raw_stamps);
      EXPECT_FALSE(has_task_stamps);  // the unused twin's store is not created
    } else {
      EXPECT_TRUE(has_task_stamps);
      EXPECT_FALSE(has_raw_stamps);
    }
  }
}

// Issue 9: the maps sized from observer.max_workloads take the kernel memory docs/bpf.md ("Map
// sizes") states, formula written out here rather than taken from EstimateMapMemory.
TEST(BpfObserver, MapsSizedFromMaxWorkloadsMatchTheFormula) {
  SW_REQUIRE_PRIVILEGED();
  const uint64_t c = static_cast<uint64_t>(libbpf_num_possible_cpus());
  ASSERT_GT(c, 0u);
  for (int w : {1000, 3000}) {
    BpfOptions o;
    o.attach = AttachKind::kTpBtf;
    o.workload_map_entries = WorkloadMapEntriesFor(w);
    o.preempt_map_entries = PreemptMapEntriesFor(w);
    const uint64_t e = w == 1000 ? 4096 : 16384, p = w == 1000 ? 65536 : 262144;
    EXPECT_EQ(o.workload_map_entries, e);
    EXPECT_EQ(o.preempt_map_entries, p);
    SchedObserverBpf bpf;
    Result<void> r = bpf.Open();
    if (r.ok()) r = bpf.Configure(o);
    if (r.ok()) r = bpf.Load();
    ASSERT_TRUE(r.ok()) << r.error().message;
    const auto list = bpf.maps();
    const std::map<std::string, int> fd(list.begin(), list.end());
    EXPECT_EQ(MaxEntriesOf(fd.at("workloads")), e);
    EXPECT_EQ(MaxEntriesOf(fd.at("preemptions")), p);
    const uint64_t want = (e + c) * 2440 + 16 * e + (p + c) * 72 + 16 * p + 32 * c;
    const uint64_t got =
        MemlockOf(fd.at("workloads")) + MemlockOf(fd.at("preemptions")) + MemlockOf(fd.at("drops"));
    std::printf("max_workloads %d: E %lu P %lu: memlock %lu, formula %lu\n", w, e, p, got, want);
    if (KernelAccountsMapMemory()) {
      EXPECT_NEAR(double(got), double(want), 3 * 4096);  // + the three map structs
    }
  }
}

// Issue 9: both ways of walking the maps (BPF_MAP_LOOKUP_BATCH and get_next_key + lookup) read
// the same entries from real, frozen (detached) maps of either workload-map layout.
TEST(BpfObserver, BatchAndIteratedReadsAgree) {
  SW_REQUIRE_PRIVILEGED();
  for (WorkloadMapKind map : {WorkloadMapKind::kShared, WorkloadMapKind::kPerCpu}) {
    BpfOptions o;
    o.workload_map = map;
    auto src = StartObserver(o);
    ASSERT_TRUE(src);
    SwitchABit();
    src->bpf().Detach();
    src->set_map_read_mode(MapReadMode::kIterate);
    auto it = src->Read();
    EXPECT_FALSE(src->last_read_batched());
    src->set_map_read_mode(MapReadMode::kBatch);
    auto ba = src->Read();
    ASSERT_TRUE(it.ok() && ba.ok()) << (it.ok() ? ba.error().message : it.error().message);
    EXPECT_TRUE(src->last_read_batched());
    EXPECT_GT(it->workloads.size(), 0u);
    ASSERT_EQ(ba->workloads.size(), it->workloads.size());
    for (const auto& [id, w] : it->workloads) {
      ASSERT_TRUE(ba->workloads.count(id)) << id;
      const RawWorkloadStats& b = ba->workloads.at(id);
      for (int r = 0; r < SW_NR_REASONS; r++) {
        EXPECT_EQ(b.wait[r].Count(), w.wait[r].Count()) << id;
        EXPECT_EQ(b.wait[r].SumNs(), w.wait[r].SumNs()) << id;
      }
      EXPECT_EQ(b.throttle_events, w.throttle_events);
    }
    EXPECT_EQ(ba->preemptions, it->preemptions);
  }
}

// Batch reads over several chunks (and hash buckets of any size) return exactly the entries put
// in: 3,000 workloads and 20,000 pairs written from userspace into loaded, unattached maps.
TEST(BpfObserver, BatchReadReturnsEveryEntryPutIn) {
  SW_REQUIRE_PRIVILEGED();
  SchedObserverBpf bpf;
  Result<void> r = bpf.Open();
  if (r.ok()) r = bpf.Configure(BpfOptions{});
  if (r.ok()) r = bpf.Load();
  ASSERT_TRUE(r.ok()) << r.error().message;
  for (__u64 id = 1; id <= 3000; id++) {
    sw_workload_stats v{};
    v.throttle_events = id * 3;
    v.hist[SW_REASON_WAKEUP][5] = id;
    ASSERT_EQ(bpf_map_update_elem(bpf.workload_map_fd(), &id, &v, BPF_NOEXIST), 0);
  }
  for (__u64 i = 0; i < 20000; i++) {
    sw_preempt_key k{i / 100 + 1, i % 100 + 5000};
    __u64 n = i + 7;
    ASSERT_EQ(bpf_map_update_elem(bpf.preempt_map_fd(), &k, &n, BPF_NOEXIST), 0);
  }
  BpfEventSource src(std::move(bpf));
  src.set_map_read_mode(MapReadMode::kBatch);
  auto ev = src.Read();
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  ASSERT_EQ(ev->workloads.size(), 3000u);
  for (uint64_t id = 1; id <= 3000; id++) {
    EXPECT_EQ(ev->workloads.at(id).throttle_events, id * 3);
    EXPECT_EQ(ev->workloads.at(id).wait[SW_REASON_WAKEUP].Count(), id);
  }
  ASSERT_EQ(ev->preemptions.size(), 20000u);
  for (uint64_t i = 0; i < 20000; i++)
    EXPECT_EQ(ev->preemptions.at({i / 100 + 1, i % 100 + 5000}), i + 7);
}

// Without privileges the start-up error must say what is missing, not just "Operation not
// permitted". Runs the lifecycle in a child that dropped to nobody.
TEST(BpfObserver, WithoutPrivilegeTheErrorSaysWhatIsMissing) {
  SW_REQUIRE_PRIVILEGED();
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(out[0]);
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
    SchedObserverBpf bpf;
    Result<void> r = bpf.Open();
    if (r.ok()) r = bpf.Configure(BpfOptions{});
    if (r.ok()) r = bpf.Load();
    if (r.ok()) r = bpf.Attach();
    if (r.ok()) _exit(4);
    std::string msg = r.error().message + "|" + std::to_string(r.error().code);
    if (write(out[1], msg.data(), msg.size()) < 0) _exit(5);
    _exit(0);
  }
  close(out[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) msg.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "3: could not drop privileges, 4: loaded without them";
  std::printf("unprivileged start-up error: %s\n", msg.c_str());
  EXPECT_NE(msg.find("run schedwarden as root"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CAP_BPF"), std::string::npos) << msg;
  EXPECT_NE(msg.find("|" + std::to_string(EPERM)), std::string::npos) << msg;
}

}  // namespace
}  // namespace sw
