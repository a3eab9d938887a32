#include "cgroup/layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fs.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using test::TempTree;
using ::testing::HasSubstr;

CgroupMountsOptions Opts(const TempTree& t) {
  return {t.Path("sys/fs/cgroup"), t.Path("proc")};  // proc has no mountinfo: probing only
}

TEST(CgroupMounts, V1HybridAsOnTheDevelopmentMachines) {
  TempTree t;
  t.Write("sys/fs/cgroup/cpu/cpu.shares", "1024\n");
  t.Write("sys/fs/cgroup/cpuacct/cpuacct.usage", "5\n");
  t.Write("sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  auto l = DetectCgroupMounts(Opts(t));
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, t.Path("sys/fs/cgroup/cpu"));
  EXPECT_EQ(l->cpu.version, CgroupVersion::kV1);
  ASSERT_TRUE(l->cpuacct);
  EXPECT_EQ(l->cpuacct->path, t.Path("sys/fs/cgroup/cpuacct"));
  ASSERT_TRUE(l->cpuset);
  EXPECT_EQ(l->cpuset->path, t.Path("sys/fs/cgroup/cpuset"));
  EXPECT_EQ(l->cpuset->version, CgroupVersion::kV1);
}

TEST(CgroupMounts, V1CoMountedCpuAndCpuacct) {
  TempTree t;
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpu.shares", "1024\n");
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "5\n");
  auto l = DetectCgroupMounts(Opts(t));
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, t.Path("sys/fs/cgroup/cpu,cpuacct"));
  ASSERT_TRUE(l->cpuacct);
  EXPECT_EQ(l->cpuacct->path, t.Path("sys/fs/cgroup/cpu,cpuacct"));
  EXPECT_FALSE(l->cpuset);
}

TEST(CgroupMounts, V2Unified) {
  TempTree t;
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  auto l = DetectCgroupMounts(Opts(t));
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, t.Path("sys/fs/cgroup"));
  EXPECT_EQ(l->cpu.version, CgroupVersion::kV2);
  EXPECT_FALSE(l->cpuacct);  // v2 has none: usage comes from cpu.stat
  ASSERT_TRUE(l->cpuset);
  EXPECT_EQ(l->cpuset->version, CgroupVersion::kV2);
}

TEST(CgroupMounts, V2UnifiedSubdirectoryWithCpu) {
  TempTree t;
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "cpu io\n");
  auto l = DetectCgroupMounts(Opts(t));
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, t.Path("sys/fs/cgroup/unified"));
  EXPECT_EQ(l->cpu.version, CgroupVersion::kV2);
  EXPECT_FALSE(l->cpuset);
}

TEST(CgroupMounts, ControllerNameMustMatchExactly) {
  // "cpuset" in cgroup.controllers is not "cpu".
  TempTree t;
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpuset io\n");
  auto l = DetectCgroupMounts(Opts(t));
  EXPECT_FALSE(l.ok());
}

TEST(CgroupMounts, MountinfoWinsAndNamesRealMountPoints) {
  TempTree t;
  std::string cpu = t.MakeDir("mnt/weird place/cpu");
  t.Write("mnt/weird place/cpu/cpu.shares", "1024\n");  // a real v1 root has its files
  t.Write("mnt/weird place/cpu/cpuacct.usage", "5\n");
  std::string v2 = t.MakeDir("mnt/v2");
  t.Write("mnt/v2/cgroup.controllers", "hugetlb\n");
  std::string cpuset = t.MakeDir("mnt/cs");
  t.Write("mnt/cs/cpuset.cpus", "0-3\n");
  std::string escaped = t.Path("mnt/weird\\040place/cpu");
  t.Write("proc/self/mountinfo",
          "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
          "32 31 0:29 / " +
              escaped +
              " rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
              "34 31 0:31 / " +
              cpuset +
              " rw,relatime - cgroup cgroup rw,cpuset\n"
              "41 31 0:38 / " +
              v2 + " rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n");
  auto l = DetectCgroupMounts({t.Path("sys/fs/cgroup"), t.Path("proc")});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, cpu);
  EXPECT_EQ(l->cpu.version, CgroupVersion::kV1);
  ASSERT_TRUE(l->cpuacct);
  EXPECT_EQ(l->cpuacct->path, cpu);
  ASSERT_TRUE(l->cpuset);
  EXPECT_EQ(l->cpuset->path, cpuset);
}

TEST(CgroupMounts, MountinfoV2WithCpu) {
  TempTree t;
  std::string v2 = t.MakeDir("sys/fs/cgroup");
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  t.Write("proc/self/mountinfo", "30 23 0:26 / " + v2 +
                                     " rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
                                     "rw,nsdelegate,memory_recursiveprot\n");
  auto l = DetectCgroupMounts({t.Path("sys/fs/cgroup"), t.Path("proc")});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, v2);
  EXPECT_EQ(l->cpu.version, CgroupVersion::kV2);
  EXPECT_FALSE(l->cpuacct);
}

// Debian's 6.12 (no CONFIG_CPUSETS_V1) mounts a v1 cpuset hierarchy without any cpuset file, as
// systemd's hybrid layout asks; the controller is usable only on the cgroup2 mount.
TEST(CgroupMounts, EmptyV1HierarchyLosesToTheUnifiedMount) {
  TempTree t;
  std::string cpu = t.MakeDir("sys/fs/cgroup/cpu,cpuacct");
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpu.shares", "1024\n");
  t.Write("sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "5\n");
  std::string cpuset = t.MakeDir("sys/fs/cgroup/cpuset");
  t.Write("sys/fs/cgroup/cpuset/cgroup.procs", "1\n");
  std::string unified = t.MakeDir("sys/fs/cgroup/unified");
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "cpuset hugetlb misc\n");
  t.Write("proc/self/mountinfo", "25 24 0:23 / " + unified +
                                     " rw - cgroup2 cgroup2 rw,nsdelegate\n" + "28 24 0:26 / " +
                                     cpu + " rw - cgroup cgroup rw,cpu,cpuacct\n" +
                                     "29 24 0:27 / " + cpuset + " rw - cgroup cgroup rw,cpuset\n");
  auto l = DetectCgroupMounts({t.Path("sys/fs/cgroup"), t.Path("proc")});
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->cpu.path, cpu);
  EXPECT_EQ(l->cpu.version, CgroupVersion::kV1);
  ASSERT_TRUE(l->cpuset);
  EXPECT_EQ(l->cpuset->path, unified);
  EXPECT_EQ(l->cpuset->version, CgroupVersion::kV2);
}

TEST(CgroupMounts, NoCpuControllerNamesWhatWasLookedAt) {
  TempTree t;
  t.Write("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  auto l = DetectCgroupMounts(Opts(t));
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.error().message, HasSubstr("no cgroup cpu controller is mounted"));
  EXPECT_THAT(l.error().message, HasSubstr(t.Path("proc/self/mountinfo")));
  EXPECT_THAT(l.error().message, HasSubstr(t.Path("sys/fs/cgroup/cpu/cpu.shares")));
  EXPECT_THAT(l.error().message, HasSubstr(t.Path("sys/fs/cgroup/unified/cgroup.controllers")));
}

TEST(CpusetMount, UnifiedV2WithAndWithoutCpuset) {
  TempTree t;
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory\n");
  auto l = DetectCgroupMounts(Opts(t));
  ASSERT_TRUE(l.ok()) << l.error().message;
  auto cs = CpusetMount(*l);
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(cs->path, t.Path("sys/fs/cgroup"));
  EXPECT_EQ(cs->version, CgroupVersion::kV2);
  t.Write("sys/fs/cgroup/cgroup.controllers", "cpu io memory\n");
  l = DetectCgroupMounts(Opts(t));
  ASSERT_TRUE(l.ok()) << l.error().message;
  auto bad = CpusetMount(*l);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("no cpuset controller"));
  EXPECT_THAT(bad.error().message, HasSubstr(t.Path("sys/fs/cgroup")));
}

TEST(CpusetMount, ThisMachine) {
  auto l = DetectCgroupMounts();
  if (!l.ok()) GTEST_SKIP() << l.error().message;
  auto cs = CpusetMount(*l);
  if (PathExists("/sys/fs/cgroup/cpuset/cpuset.cpus")) {
    ASSERT_TRUE(cs.ok()) << cs.error().message;
    EXPECT_EQ(cs->version, CgroupVersion::kV1);
    EXPECT_EQ(cs->path, "/sys/fs/cgroup/cpuset");
  } else if (!cs.ok()) {
    EXPECT_FALSE(cs.error().message.empty());
  }
}

}  // namespace
}  // namespace sw
