#include "cgroup/workload.h"

#include <gtest/gtest.h>

#include <set>

namespace sw {
namespace {

TEST(WorkloadPathAtDepth, CutsToDepth) {
  EXPECT_EQ(WorkloadPathAtDepth("/kubepods/burstable/pod1/ctr", 2), "/kubepods/burstable");
  EXPECT_EQ(WorkloadPathAtDepth("/kubepods/burstable/pod1/ctr", 3), "/kubepods/burstable/pod1");
  EXPECT_EQ(WorkloadPathAtDepth("/kubepods/burstable/pod1/ctr", 9), "/kubepods/burstable/pod1/ctr");
  EXPECT_EQ(WorkloadPathAtDepth("/lc", 2), "/lc");  // shallower paths stay
  EXPECT_EQ(WorkloadPathAtDepth("/", 2), "/");
  EXPECT_EQ(WorkloadPathAtDepth("/a/b", 0), "/");
  EXPECT_EQ(WorkloadPathAtDepth("//a//b/c/", 2), "/a/b");
}

TEST(WorkloadLabeler, FoldsByDepth) {
  WorkloadLabeler l({.depth = 2, .max_workloads = 10});
  EXPECT_EQ(l.Assign("/kubepods/burstable/pod1/ctr1"), "/kubepods/burstable");
  EXPECT_EQ(l.Assign("/kubepods/burstable/pod2/ctr9"), "/kubepods/burstable");
  EXPECT_EQ(l.Assign("/kubepods/besteffort/pod3"), "/kubepods/besteffort");
  EXPECT_EQ(l.Assign("/"), "/");
  EXPECT_EQ(l.tracked(), 3u);
  EXPECT_EQ(l.overflowed(), 0u);
}

TEST(WorkloadLabeler, ThousandsOfCgroupsStayWithinTheCap) {
  constexpr size_t kMax = 50;
  WorkloadLabeler l({.depth = 3, .max_workloads = kMax});
  std::set<std::string> series;
  for (int pod = 0; pod < 3000; pod++)
    for (int ctr = 0; ctr < 2; ctr++)
      series.insert(
          l.Assign("/kubepods/burstable/pod" + std::to_string(pod) + "/c" + std::to_string(ctr)));
  EXPECT_EQ(series.size(), kMax + 1);  // kMax pods + "overflow"
  EXPECT_TRUE(series.count(kOverflowWorkload));
  EXPECT_EQ(l.tracked(), kMax);
  EXPECT_EQ(l.overflowed(), 3000 - kMax);  // counted per workload, not per cgroup
  // The first pods got their own series; a pod's two containers never split.
  EXPECT_EQ(l.Assign("/kubepods/burstable/pod0/c1"), "/kubepods/burstable/pod0");
  EXPECT_EQ(l.Assign("/kubepods/burstable/pod2999/c0"), kOverflowWorkload);
}

TEST(WorkloadLabeler, ReleaseMakesRoomAndOverflowIsSticky) {
  WorkloadLabeler l({.depth = 1, .max_workloads = 2});
  EXPECT_EQ(l.Assign("/a"), "/a");
  EXPECT_EQ(l.Assign("/b"), "/b");
  EXPECT_EQ(l.Assign("/c"), kOverflowWorkload);
  l.Release("/a");
  // "/c" already overflowed: it stays there until it is released, so its numbers never jump.
  EXPECT_EQ(l.Assign("/c/x"), kOverflowWorkload);
  EXPECT_EQ(l.Assign("/d"), "/d");
  l.Release("/c");
  EXPECT_EQ(l.overflowed(), 0u);
  EXPECT_EQ(l.Assign("/c"), kOverflowWorkload);  // still full: /b and /d
  EXPECT_EQ(l.tracked(), 2u);
}

}  // namespace
}  // namespace sw
