// MachineCgroups on fake trees of the three layouts the privileged tests run on: the paths it
// derives from the product's detection and the v1/v2 files it reads and writes.
#include "support/cgroup_layout.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

MachineCgroups Detect(const TempTree& t) {
  auto m = MachineCgroups::Detect({t.Path("sys/fs/cgroup"), t.Path("proc")});
  EXPECT_TRUE(m.ok()) << m.error().message;
  return std::move(*m);
}

// Host layout: v1 cpu, cpuacct and cpuset as separate hierarchies, cgroup2 "unified" beside.
TEST(MachineCgroups, V1SeparateHierarchies) {
  TempTree t;
  t.Write("sys/fs/cgroup/cpu/cpu.shares", "1024\n");
  t.Write("sys/fs/cgroup/cpuacct/cpuacct.usage", "5\n");
  t.Write("sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  MachineCgroups m = Detect(t);
  EXPECT_FALSE(m.cpu_v2());
  EXPECT_EQ(m.cpu_root(), t.Path("sys/fs/cgroup/cpu"));
  EXPECT_EQ(m.cpuacct_root(), t.Path("sys/fs/cgroup/cpuacct"));
  EXPECT_EQ(m.cpuset_root(), t.Path("sys/fs/cgroup/cpuset"));
  EXPECT_FALSE(m.cpuset_v2());
  EXPECT_EQ(m.CpuRoots(), (std::vector<std::string>{m.cpu_root(), m.cpuacct_root()}));
  EXPECT_STREQ(m.weight_file(), "cpu.shares");
  EXPECT_STREQ(m.threads_file(), "tasks");
  EXPECT_STREQ(m.cpuset_threads_file(), "tasks");

  ASSERT_TRUE(m.CreateCpuCgroup("/sw-x").ok());
  EXPECT_EQ(m.CpuDir("/sw-x"), t.Path("sys/fs/cgroup/cpu/sw-x"));
  EXPECT_EQ(m.CpuacctDir("/sw-x"), t.Path("sys/fs/cgroup/cpuacct/sw-x"));
  EXPECT_EQ(m.CpusetDir("/sw-x"), t.Path("sys/fs/cgroup/cpuset/sw-x"));
  EXPECT_TRUE(PathExists(t.Path("sys/fs/cgroup/cpuacct/sw-x")));
  EXPECT_FALSE(PathExists(t.Path("sys/fs/cgroup/cpuset/sw-x")));  // cpu hierarchies only

  // (Empty: a regular file is not truncated on write like a cgroup file.)
  t.Write("sys/fs/cgroup/cpu/sw-x/cpu.cfs_period_us", "");
  t.Write("sys/fs/cgroup/cpu/sw-x/cpu.cfs_quota_us", "");
  ASSERT_TRUE(m.SetCfsQuota("/sw-x", 20000, 50000).ok());
  EXPECT_EQ(t.Read("sys/fs/cgroup/cpu/sw-x/cpu.cfs_period_us"), "50000");

  t.Write("sys/fs/cgroup/cpu/sw-x/cpu.shares", "1024\n");
  EXPECT_EQ(m.ReadWeight("/sw-x"), "1024");
  t.Write("sys/fs/cgroup/cpu/sw-x/cpu.shares", "");
  ASSERT_TRUE(m.WriteWeight("/sw-x", m.non_default_weight()).ok());
  EXPECT_EQ(t.Read("sys/fs/cgroup/cpu/sw-x/cpu.shares"), "2048");
  EXPECT_TRUE(m.IsIdleWeight("3"));
  EXPECT_FALSE(m.IsIdleWeight("1"));
  EXPECT_EQ(m.ReadWeight("/sw-gone"), "");
  EXPECT_FALSE(m.WriteWeight("/sw-gone", "2").ok());
  EXPECT_EQ(t.Read("sys/fs/cgroup/cpu/sw-x/cpu.cfs_quota_us"), "20000");

  t.Write("sys/fs/cgroup/cpu/sw-x/cpu.stat",
          "nr_periods 41\nnr_throttled 39\nthrottled_time 3120000000\nnr_bursts 0\n"
          "burst_time 0\n");
  auto th = m.ReadThrottling("/sw-x");
  ASSERT_TRUE(th.ok()) << th.error().message;
  EXPECT_EQ(th->nr_periods, 41u);
  EXPECT_EQ(th->nr_throttled, 39u);
  EXPECT_EQ(th->throttled_ns, 3120000000u);
  t.Write("sys/fs/cgroup/cpuacct/sw-x/cpuacct.usage", "812345678\n");
  auto usage = m.ReadUsageNs("/sw-x");
  ASSERT_TRUE(usage.ok()) << usage.error().message;
  EXPECT_EQ(*usage, 812345678u);
}

// systemd's hybrid layout: cpu,cpuacct co-mounted, cpuset apart, cgroup2 at unified.
TEST(MachineCgroups, V1CoMountedCpuCpuacct) {
  TempTree t;
  std::string cpu = t.MakeDir("sys/fs/cgroup/cpu,cpuacct");
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpu.shares", "1024\n");  // a real v1 root has its files
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "5\n");
  std::string cpuset = t.MakeDir("sys/fs/cgroup/cpuset");
  t.Write("sys/fs/cgroup/cpuset/cpuset.cpus", "0-3\n");
  std::string unified = t.MakeDir("sys/fs/cgroup/unified");
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "");
  t.Write("proc/self/mountinfo", "30 23 0:26 / " + t.Path("sys/fs/cgroup") +
                                     " ro - tmpfs tmpfs ro,mode=755\n" + "31 30 0:27 / " + unified +
                                     " rw - cgroup2 cgroup2 rw,nsdelegate\n" + "35 30 0:31 / " +
                                     cpu + " rw - cgroup cgroup rw,cpu,cpuacct\n" +
                                     "36 30 0:32 / " + cpuset + " rw - cgroup cgroup rw,cpuset\n");
  MachineCgroups m = Detect(t);
  EXPECT_FALSE(m.cpu_v2());
  EXPECT_EQ(m.cpu_root(), cpu);
  EXPECT_EQ(m.cpuacct_root(), cpu);
  EXPECT_EQ(m.cpuset_root(), cpuset);
  EXPECT_EQ(m.CpuRoots(), std::vector<std::string>{cpu});  // one mkdir, one join
  ASSERT_TRUE(m.CreateCpuCgroup("/sw-x").ok());
  EXPECT_EQ(m.CpuacctDir("/sw-x"), cpu + "/sw-x");
  t.Write("sys/fs/cgroup/cpu,cpuacct/sw-x/cpuacct.usage", "7\n");
  auto usage = m.ReadUsageNs("/sw-x");
  ASSERT_TRUE(usage.ok()) << usage.error().message;
  EXPECT_EQ(*usage, 7u);
  std::filesystem::remove(cpu + "/sw-x/cpuacct.usage");  // cgroupfs files do not block rmdir
  EXPECT_TRUE(m.RemoveCpuCgroup("/sw-x").ok());
  EXPECT_FALSE(PathExists(cpu + "/sw-x"));
  EXPECT_TRUE(m.RemoveCpuCgroup("/sw-x").ok());  // absent is fine
}

// The same on a kernel without v1 cpuset (Debian's 6.12): cpuset is on the unified mount.
TEST(MachineCgroups, V1CpuWithCpusetOnUnified) {
  TempTree t;
  std::string cpu = t.MakeDir("sys/fs/cgroup/cpu,cpuacct");
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpu.shares", "1024\n");
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "5\n");
  std::string unified = t.MakeDir("sys/fs/cgroup/unified");
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "cpuset\n");
  t.Write("proc/self/mountinfo", "31 30 0:27 / " + unified +
                                     " rw - cgroup2 cgroup2 rw,nsdelegate\n"
                                     "35 30 0:31 / " +
                                     cpu + " rw - cgroup cgroup rw,cpu,cpuacct\n");
  MachineCgroups m = Detect(t);
  EXPECT_FALSE(m.cpu_v2());
  EXPECT_EQ(m.cpu_root(), cpu);
  EXPECT_EQ(m.cpuset_root(), unified);
  EXPECT_TRUE(m.cpuset_v2());
  EXPECT_STREQ(m.threads_file(), "tasks");
  EXPECT_STREQ(m.cpuset_threads_file(), "cgroup.threads");
  EXPECT_EQ(m.CpusetDir("/sw-x"), unified + "/sw-x");
}

// cgroup v2 only.
TEST(MachineCgroups, V2) {
  TempTree t;
  std::string root = t.MakeDir("sys/fs/cgroup");
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  t.Write("sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu\n");
  t.Write("proc/self/mountinfo",
          "30 23 0:26 / " + root + " rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
  MachineCgroups m = Detect(t);
  EXPECT_TRUE(m.cpu_v2());
  EXPECT_EQ(m.cpu_root(), root);
  EXPECT_EQ(m.cpuacct_root(), "");
  EXPECT_EQ(m.cpuset_root(), root);
  EXPECT_TRUE(m.cpuset_v2());
  EXPECT_EQ(m.CpuRoots(), std::vector<std::string>{root});
  EXPECT_STREQ(m.weight_file(), "cpu.weight");
  EXPECT_STREQ(m.threads_file(), "cgroup.threads");
  EXPECT_STREQ(m.cpuset_threads_file(), "cgroup.threads");

  ASSERT_TRUE(m.CreateCpuCgroup("/sw-x").ok());
  EXPECT_EQ(t.Read("sys/fs/cgroup/cgroup.subtree_control"), "cpuset cpu\n");  // untouched
  // A child of a test cgroup: the test cgroup enables cpu for its children first.
  t.Write("sys/fs/cgroup/sw-x/cgroup.subtree_control", "\n");
  ASSERT_TRUE(m.CreateCpuCgroup("/sw-x/busy").ok());
  EXPECT_EQ(t.Read("sys/fs/cgroup/sw-x/cgroup.subtree_control"), "+cpu");
  EXPECT_EQ(m.CpuacctDir("/sw-x/busy"), root + "/sw-x/busy");

  t.Write("sys/fs/cgroup/sw-x/busy/cpu.weight", "");
  ASSERT_TRUE(m.WriteWeight("/sw-x/busy", m.non_default_weight()).ok());
  EXPECT_EQ(m.ReadWeight("/sw-x/busy"), "500");
  EXPECT_TRUE(m.IsIdleWeight("0"));  // before Linux 6.12
  EXPECT_TRUE(m.IsIdleWeight("1"));  // since
  EXPECT_FALSE(m.IsIdleWeight("3"));

  t.Write("sys/fs/cgroup/sw-x/busy/cpu.max", "");
  ASSERT_TRUE(m.SetCfsQuota("/sw-x/busy", 20000, 100000).ok());
  EXPECT_EQ(t.Read("sys/fs/cgroup/sw-x/busy/cpu.max"), "20000 100000");
  t.Write("sys/fs/cgroup/sw-x/busy/cpu.stat",
          "usage_usec 6255311\nuser_usec 6255311\nsystem_usec 0\ncore_sched.force_idle_usec 0\n"
          "nr_periods 41\nnr_throttled 39\nthrottled_usec 3120000\nnr_bursts 0\nburst_usec 0\n");
  auto th = m.ReadThrottling("/sw-x/busy");
  ASSERT_TRUE(th.ok()) << th.error().message;
  EXPECT_EQ(th->nr_periods, 41u);
  EXPECT_EQ(th->nr_throttled, 39u);
  EXPECT_EQ(th->throttled_ns, 3120000000u);
  auto usage = m.ReadUsageNs("/sw-x/busy");
  ASSERT_TRUE(usage.ok()) << usage.error().message;
  EXPECT_EQ(*usage, 6255311000u);

  // Without the cpu controller a v2 cpu.stat has no bandwidth fields: an error naming the file.
  t.Write("sys/fs/cgroup/sw-x/cpu.stat", "usage_usec 1\nuser_usec 1\nsystem_usec 0\n");
  auto none = m.ReadThrottling("/sw-x");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find(root + "/sw-x/cpu.stat has no \"nr_periods\""),
            std::string::npos)
      << none.error().message;
}

TEST(MachineCgroups, V2RootWithoutCpuForChildrenIsAClearErrorAndLeftAlone) {
  TempTree t;
  std::string root = t.MakeDir("sys/fs/cgroup");
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  t.Write("sys/fs/cgroup/cgroup.subtree_control", "memory pids\n");
  MachineCgroups m = Detect(t);
  auto r = m.CreateCpuCgroup("/sw-x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("echo +cpu > " + root + "/cgroup.subtree_control"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(t.Read("sys/fs/cgroup/cgroup.subtree_control"), "memory pids\n");
  EXPECT_FALSE(PathExists(root + "/sw-x"));
  EXPECT_FALSE(m.CreateCpuCgroup("relative").ok());
}

}  // namespace
}  // namespace sw::test
