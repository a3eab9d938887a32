// The collector on the real cgroup hierarchy (v1 here, v2 where the machine has it): a child cgroup
// with a 20% CFS quota running a busy loop. The ids come from the real directories, the workload's
// cpu.stat must show throttling and its CPU usage must match the quota (the injected ground
// truth); when the cgroup is removed, the collector forgets its id and keeps its counts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cgroup/layout.h"
#include "collect/collector.h"
#include "collect/fake_event_source.h"
#include "common/fs.h"
#include "support/privileged.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

bool WriteFile(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return out.good();
}

uint64_t Ino(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

std::chrono::nanoseconds Now() { return std::chrono::steady_clock::now().time_since_epoch(); }

// Creates <root>/<name>/busy in each hierarchy and removes it on destruction, after killing the
// busy child (a cgroup with tasks cannot be removed).
class TestCgroup {
 public:
  TestCgroup(std::vector<std::string> roots, std::string name)
      : roots_(std::move(roots)), name_(std::move(name)) {
    for (const std::string& r : roots_) std::filesystem::create_directories(r + name_ + "/busy");
  }
  ~TestCgroup() {
    KillChild();
    for (const std::string& r : roots_) {
      rmdir((r + name_ + "/busy").c_str());
      rmdir((r + name_).c_str());
    }
  }
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
  std::string Dir(size_t i) const { return roots_[i] + name_ + "/busy"; }
  std::string path() const { return name_ + "/busy"; }

 private:
  std::vector<std::string> roots_;
  std::string name_;
  pid_t child_ = -1;
};

TEST(CollectorOnCgroupfs, QuotaThrottlingAndUsageMatchGroundTruth) {
  SW_REQUIRE_PRIVILEGED();
  auto layout = DetectCgroupMounts();
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  bool v1 = layout->cpu.version == CgroupVersion::kV1;
  std::vector<std::string> roots = {layout->cpu.path};
  if (v1 && layout->cpuacct && layout->cpuacct->path != layout->cpu.path)
    roots.push_back(layout->cpuacct->path);
  std::string name = "/schedwarden-test-" + std::to_string(getpid()) + "-collector";
  // v2: the cpu controller must be enabled down to our cgroup; enable it at the root only if it
  // is not, and put that back afterwards.
  std::string root_subtree = layout->cpu.path + "/cgroup.subtree_control";
  bool enabled_root_cpu = false;
  if (!v1) {
    auto ctl = ReadFile(root_subtree);
    ASSERT_TRUE(ctl.ok()) << ctl.error().message;
    auto tokens = Split(Trim(*ctl), ' ');
    if (std::find(tokens.begin(), tokens.end(), "cpu") == tokens.end()) {
      ASSERT_TRUE(WriteFile(root_subtree, "+cpu"));
      enabled_root_cpu = true;
    }
  }
  struct RestoreRootCpu {
    bool on;
    std::string path;
    ~RestoreRootCpu() {
      if (on) WriteFile(path, "-cpu");
    }
  } restore_root{enabled_root_cpu, root_subtree};
  TestCgroup cg(roots, name);
  if (!v1) {
    ASSERT_TRUE(WriteFile(layout->cpu.path + name + "/cgroup.subtree_control", "+cpu"));
  }
  // 20 ms every 100 ms.
  if (v1) {
    ASSERT_TRUE(WriteFile(cg.Dir(0) + "/cpu.cfs_period_us", "100000"));
    ASSERT_TRUE(WriteFile(cg.Dir(0) + "/cpu.cfs_quota_us", "20000"));
  } else {
    ASSERT_TRUE(WriteFile(cg.Dir(0) + "/cpu.max", "20000 100000"));
  }
  uint64_t id = Ino(cg.Dir(0));

  FakeEventSource source;
  source.AddWait(id, SW_REASON_THROTTLED, 80000000, 3);  // what the BPF side would report
  CgroupResolver resolver(layout->cpu.path, {.min_refresh_interval = 1s, .gc_interval = 2s});
  CgroupStatReader reader(*layout);
  Collector collector(source, resolver, reader, {.depth = 2, .max_workloads = 100});

  pid_t child = cg.StartBusyChild();
  ASSERT_GT(child, 0);
  for (size_t i = 0; i < roots.size(); i++)
    ASSERT_TRUE(WriteFile(cg.Dir(i) + "/cgroup.procs", std::to_string(child)));

  std::this_thread::sleep_for(200ms);  // let the first periods start
  auto t0 = Now();
  auto s0 = collector.Collect(t0);
  ASSERT_TRUE(s0.ok()) << s0.error().message;
  ASSERT_TRUE(s0->workloads.count(cg.path())) << "id " << id << " not resolved to " << cg.path();
  std::this_thread::sleep_for(1500ms);
  auto t1 = Now();
  auto s1 = collector.Collect(t1);
  ASSERT_TRUE(s1.ok()) << s1.error().message;
  cg.KillChild();

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
  std::cout << "window " << window_s << " s: periods " << periods << ", throttled " << throttled
            << ", cpu " << cpu_s << " s (" << 100 * cpu_s / window_s << "% of one CPU)\n";

  // Remove the cgroup: after the next walk its id is forgotten and its counts stay.
  for (size_t i = 0; i < roots.size(); i++) rmdir(cg.Dir(i).c_str());
  ASSERT_FALSE(std::filesystem::exists(cg.Dir(0)));
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
