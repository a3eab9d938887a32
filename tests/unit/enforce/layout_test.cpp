#include "enforce/layout.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

TEST(CgroupLayout, HybridV1) {
  test::TempTree t;
  t.Write("cpuset/cpuset.cpus", "0-1\n");
  t.Write("cpu/cpu.shares", "1024\n");
  t.Write("unified/cgroup.controllers", "\n");
  auto l = DetectCgroupLayout(t.root(), t.Path("proc"));
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->mode, CgroupMode::kV1);
  EXPECT_EQ(l->cpuset_root, t.Path("cpuset"));
  EXPECT_EQ(l->cpu_root, t.Path("cpu"));
}

TEST(CgroupLayout, UnifiedV2WithAndWithoutCpuset) {
  test::TempTree t;
  t.Write("cgroup.controllers", "cpuset cpu io memory\n");
  auto l = DetectCgroupLayout(t.root(), t.Path("proc"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->mode, CgroupMode::kV2);
  EXPECT_EQ(l->cpuset_root, t.root());
  t.Write("cgroup.controllers", "cpu io memory\n");
  auto bad = DetectCgroupLayout(t.root(), t.Path("proc"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("no cpuset controller"), std::string::npos);
  EXPECT_FALSE(DetectCgroupLayout(t.Path("nothing"), t.Path("proc")).ok());
}

TEST(CgroupLayout, ThisMachine) {
  auto l = DetectCgroupLayout();
  if (PathExists("/sys/fs/cgroup/cpuset/cpuset.cpus")) {
    ASSERT_TRUE(l.ok()) << l.error().message;
    EXPECT_EQ(l->mode, CgroupMode::kV1);
    EXPECT_EQ(l->cpuset_root, "/sys/fs/cgroup/cpuset");
  } else if (!l.ok()) {
    EXPECT_FALSE(l.error().message.empty());
  }
}

}  // namespace
}  // namespace sw
