// The collector on the real cgroup hierarchy (v1 or v2, whatever the machine has): a child cgroup
// with a 20% CFS quota running a busy loop. The ids come from the real directories, the workload's
// cpu.stat must show throttling and its CPU usage must match the quota (the injected ground
// truth) and the kernel's files read around the collector's; when the cgroup is removed, the
// collector forgets its id and keeps its counts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "collect/collector.h"
#include "support/cgroup_layout.h"
#include "support/fake_event_source.h"
#include "support/privileged.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

uint64_t Ino(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

std::chrono::nanoseconds Now() { return std::chrono::steady_clock::now().time_since_epoch(); }

// Creates cgroup <name>/busy in every cpu hierarchy (cpu, and cpuacct where separate) and removes
// it on destruction, after killing the busy child (a cgroup with tasks cannot be removed).
class TestCgroup {
 public:
  TestCgroup(const test::MachineCgroups& machine, std::string name)
      : machine_(machine), name_(std::move(name)) {
    for (const std::string& cg : {name_, path()}) {
      auto r = machine_.CreateCpuCgroup(cg);
      EXPECT_TRUE(r.ok()) << r.error().message;
      ok_ = ok_ && r.ok();
    }
  }
  ~TestCgroup() {
    KillChild();
    for (const std::string& cg : {path(), name_}) {
      auto r = machine_.RemoveCpuCgroup(cg);
      EXPECT_TRUE(r.ok()) << r.error().message;
    }
  }
  bool ok() const { return ok_; }
  void KillChild() {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
      child_ = -1;
    }
  }
  pid_t StartBusyChild() {
    child_ = fork();
    if (child_ == 0) {
      for (;;) asm volatile("" ::: "memory");
    }
    return child_;
  }
  // The workload's cgroup path ("/"-rooted, as the collector labels it).
  std::string path() const { return name_ + "/busy"; }

 private:
  test::MachineCgroups machine_;
  std::string name_;
  bool ok_ = true;
  pid_t child_ = -1;
};

TEST(CollectorOnCgroupfs, QuotaThrottlingAndUsageMatchGroundTruth) {
  SW_REQUIRE_PRIVILEGED();
  auto machine = test::MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  std::string name = "/schedwarden-test-" + std::to_string(getpid()) + "-collector";
  TestCgroup cg(*machine, name);
  ASSERT_TRUE(cg.ok());
  // 20 ms every 100 ms.
  auto quota = machine->SetCfsQuota(cg.path(), 20000, 100000);
  ASSERT_TRUE(quota.ok()) << quota.error().message;
  uint64_t id = Ino(machine->CpuDir(cg.path()));

  FakeEventSource source;
  source.AddWait(id, SW_REASON_THROTTLED, 80000000, 3);  // what the BPF side would report
  CgroupResolver resolver(machine->cpu_root(), {.min_refresh_interval = 1s, .gc_interval = 2s});
  CgroupStatReader reader(machine->mounts());
  Collector collector(source, resolver, reader, {.depth = 2, .max_workloads = 100});

  pid_t child = cg.StartBusyChild();
  ASSERT_GT(child, 0);
  auto joined = machine->JoinCpuCgroup(cg.path(), child);
  ASSERT_TRUE(joined.ok()) << joined.error().message;

  std::this_thread::sleep_for(200ms);  // let the first periods start
  auto t0 = Now();
  auto s0 = collector.Collect(t0);
  ASSERT_TRUE(s0.ok()) << s0.error().message;
  ASSERT_TRUE(s0->workloads.count(cg.path())) << "id " << id << " not resolved to " << cg.path();
  std::this_thread::sleep_for(1500ms);
  auto t1 = Now();
  auto usage_before = machine->ReadUsageNs(cg.path());
  auto throttling_before = machine->ReadThrottling(cg.path());
  auto s1 = collector.Collect(t1);
  auto usage_after = machine->ReadUsageNs(cg.path());
  auto throttling_after = machine->ReadThrottling(cg.path());
  ASSERT_TRUE(s1.ok()) << s1.error().message;
  cg.KillChild();
  ASSERT_TRUE(usage_before.ok() && usage_after.ok()) << usage_before.error().message;
  ASSERT_TRUE(throttling_before.ok() && throttling_after.ok()) << throttling_before.error().message;

  const WorkloadSample& a = s0->workloads.at(cg.path());
  const WorkloadSample& b = s1->workloads.at(cg.path());
  ASSERT_TRUE(a.cpu_stat && b.cpu_stat);
  uint64_t periods = b.cpu_stat->nr_periods - a.cpu_stat->nr_periods;
  uint64_t throttled = b.cpu_stat->nr_throttled - a.cpu_stat->nr_throttled;
  double window_s = std::chrono::duration<double>(t1 - t0).count();
  // One period per 100 ms while runnable, and a busy loop exhausts its 20 ms every period.
  EXPECT_NEAR(static_cast<double>(periods), window_s * 10, 3) << "window " << window_s << " s";
  // Nearly every period ends throttled; other builds competing for the 2 CPUs can make the loop
  // miss its 20 ms in some periods, hence only half.
  EXPECT_GE(throttled, periods / 2);
  EXPECT_GT(b.cpu_stat->throttled_ns, a.cpu_stat->throttled_ns);
  ASSERT_TRUE(a.cpu_usage_ns && b.cpu_usage_ns);
  double cpu_s = (*b.cpu_usage_ns - *a.cpu_usage_ns) / 1e9;
  // The quota caps usage at 20% of one CPU (plus one period's rounding); contention can only lower
  // it.
  EXPECT_LE(cpu_s / window_s, 0.20 + 0.03) << cpu_s << " s of CPU in " << window_s << " s";
  EXPECT_GE(cpu_s / window_s, 0.10) << cpu_s << " s of CPU in " << window_s << " s";
  EXPECT_EQ(b.throttle_wait.Count(), 3u);
  // What the collector read lies between the kernel's values read just before and after it: it
  // read the right files of this layout, in the right units (v2 counts microseconds).
  EXPECT_GE(*b.cpu_usage_ns, *usage_before);
  EXPECT_LE(*b.cpu_usage_ns, *usage_after);
  EXPECT_GE(b.cpu_stat->nr_throttled, throttling_before->nr_throttled);
  EXPECT_LE(b.cpu_stat->nr_throttled, throttling_after->nr_throttled);
  EXPECT_GE(b.cpu_stat->throttled_ns, throttling_before->throttled_ns);
  EXPECT_LE(b.cpu_stat->throttled_ns, throttling_after->throttled_ns);
  std::cout << "window " << window_s << " s: periods " << periods << ", throttled " << throttled
            << ", cpu " << cpu_s << " s (" << 100 * cpu_s / window_s << "% of one CPU)\n";

  // Remove the cgroup: after the next walk its id is forgotten and its counts stay.
  auto removed = machine->RemoveCpuCgroup(cg.path());
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  ASSERT_FALSE(std::filesystem::exists(machine->CpuDir(cg.path())));
  auto s2 = collector.Collect(t1 + 3s);
  ASSERT_TRUE(s2.ok()) << s2.error().message;
  EXPECT_TRUE(source.WasForgotten(id));
  auto s3 = collector.Collect(t1 + 4s);
  ASSERT_TRUE(s3.ok());
  // The retired counts stay in the series (now without cpu.stat: the cgroup vanished, which is
  // an absent sample, not an error)...
  ASSERT_TRUE(s3->workloads.count(cg.path()));
  EXPECT_EQ(s3->workloads.at(cg.path()).throttle_wait.Count(), 3u);
  EXPECT_FALSE(s3->workloads.at(cg.path()).cpu_stat);
  // ...until the next walk releases the label of a workload whose cgroups are all gone.
  auto s4 = collector.Collect(t1 + 6s);
  ASSERT_TRUE(s4.ok());
  EXPECT_FALSE(s4->workloads.count(cg.path()));
  EXPECT_TRUE(collector.warnings().empty());
}

}  // namespace
}  // namespace sw

namespace sw {
namespace {

// The reader keeps cgroupfs files open between intervals (OpenFileCache). A cgroup removed and
// created again under the same name is a new cgroup: its counters must be read from the new
// files, never from the old, still-open ones. Ground truth: the kernel's own files, read fresh.
TEST(CgroupStatReaderOnCgroupfs, ACgroupRecreatedUnderTheSameNameIsReadFresh) {
  SW_REQUIRE_PRIVILEGED();
  auto machine = test::MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  const std::string name = "/schedwarden-test-" + std::to_string(getpid()) + "-recreated";
  CgroupStatReader reader(machine->mounts());
  {
    TestCgroup cg(*machine, name);
    ASSERT_TRUE(cg.ok());
    pid_t child = cg.StartBusyChild();
    ASSERT_GT(child, 0);
    ASSERT_TRUE(machine->JoinCpuCgroup(cg.path(), child).ok());
    std::this_thread::sleep_for(300ms);
    auto busy = reader.ReadUsageNs(cg.path());
    ASSERT_TRUE(busy.ok() && *busy) << (busy.ok() ? "absent" : busy.error().message);
    EXPECT_GT(**busy, 10'000'000u) << "a busy loop ran 300 ms in it";
    reader.EndPass();
    EXPECT_GE(reader.open_files(), 1u) << "the file stays open for the next interval";
  }  // child killed, cgroups removed
  auto gone = reader.ReadUsageNs(name + "/busy");
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_FALSE(*gone) << "a removed cgroup is absent, not its last value";

  TestCgroup again(*machine, name);
  ASSERT_TRUE(again.ok());
  auto fresh = reader.ReadUsageNs(again.path());
  auto truth = machine->ReadUsageNs(again.path());
  ASSERT_TRUE(fresh.ok() && *fresh && truth.ok());
  EXPECT_LT(**fresh, 10'000'000u) << "read the old cgroup's counter through a stale file";
  EXPECT_LE(**fresh, *truth);
}

}  // namespace
}  // namespace sw
