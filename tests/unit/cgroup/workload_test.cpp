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

namespace sw {
namespace {

const std::string kUid = "8f3c1e2a-1111-2222-3333-444455556666";
const std::string kUid_ = "8f3c1e2a_1111_2222_3333_444455556666";
const std::string kCtr = std::string(64, 'c');
using L = KubernetesWorkloadLevel;

// A pod is one workload at the default depth on both kubelet drivers, Guaranteed pods included
// (their cgroup sits one level higher: at depth 3 their containers used to split them).
TEST(WorkloadPathOf, APodIsOneWorkloadOnBothDriversAndEveryQosClass) {
  const std::vector<std::pair<std::string, std::string>> pods = {
      {"/kubepods/burstable/pod" + kUid, "/" + kCtr},
      {"/kubepods/besteffort/pod" + kUid, "/" + kCtr},
      {"/kubepods/pod" + kUid, "/" + kCtr},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUid_ + ".slice",
       "/cri-containerd-" + kCtr + ".scope"},
      {"/kubepods.slice/kubepods-pod" + kUid_ + ".slice", "/cri-containerd-" + kCtr + ".scope"},
      // kubelet under a prefix (k3s in a container): deeper than 3
      {"/k3s/kubepods/burstable/pod" + kUid, "/" + kCtr},
  };
  for (const auto& [pod, ctr] : pods) {
    EXPECT_EQ(WorkloadPathOf(pod, 3, L::kPod), pod);
    EXPECT_EQ(WorkloadPathOf(pod + ctr, 3, L::kPod), pod);
    EXPECT_EQ(WorkloadPathOf(pod + ctr + "/sub", 3, L::kPod), pod);
    EXPECT_EQ(WorkloadPathOf(pod + ctr, 1, L::kPod), pod) << "whatever the depth";
    EXPECT_EQ(WorkloadPathOf(pod + ctr, 3, L::kContainer), pod + ctr);
    EXPECT_EQ(WorkloadPathOf(pod + ctr + "/sub", 3, L::kContainer), pod + ctr);
    EXPECT_EQ(WorkloadPathOf(pod, 3, L::kContainer), pod) << "the pod's own tasks";
    EXPECT_EQ(WorkloadPathOf(pod + ctr, 3, L::kDepth), WorkloadPathAtDepth(pod + ctr, 3));
  }
}

TEST(WorkloadPathOf, EverythingElseByDepth) {
  for (const std::string& p : {std::string("/kubepods"), std::string("/kubepods/burstable"),
                               std::string("/kubepods.slice/kubepods-besteffort.slice"),
                               std::string("/kubepods/podnotauid/x"),
                               std::string("/system.slice/docker-" + kCtr + ".scope"),
                               std::string("/a/b/c/d/e"), std::string("/")}) {
    EXPECT_EQ(WorkloadPathOf(p, 3, L::kPod), WorkloadPathAtDepth(p, 3)) << p;
    EXPECT_EQ(WorkloadPathOf(p, 2, L::kContainer), WorkloadPathAtDepth(p, 2)) << p;
  }
}

TEST(WorkloadLabeler, GuaranteedPodContainersFoldIntoThePod) {
  WorkloadLabeler l({.depth = 3, .max_workloads = 10});
  const std::string pod = "/kubepods/pod" + kUid;
  EXPECT_EQ(l.Assign(pod + "/" + kCtr), pod);
  EXPECT_EQ(l.Assign(pod + "/" + std::string(64, 'd')), pod);
  EXPECT_EQ(l.tracked(), 1u);
}

}  // namespace
}  // namespace sw
