#include "cgroup/container.h"

#include <gtest/gtest.h>

namespace sw {
namespace {

const std::string kId = "3f2a9c1b7d5e4f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";
const std::string kUid = "8f3c2b1a-0d9e-4c7b-a6f5-e4d3c2b1a098";
const std::string kUidSystemd = "8f3c2b1a_0d9e_4c7b_a6f5_e4d3c2b1a098";

TEST(ContainerIdentity, KubeletCgroupfsDriver) {
  auto b = ParseContainerIdentity("/kubepods/burstable/pod" + kUid + "/" + kId);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->kubernetes);
  EXPECT_EQ(b->qos, PodQos::kBurstable);
  EXPECT_EQ(b->pod_uid, kUid);
  EXPECT_EQ(b->container_id, kId);
  auto g = ParseContainerIdentity("/kubepods/pod" + kUid);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->qos, PodQos::kGuaranteed);
  EXPECT_EQ(g->container_id, "");
  auto be = ParseContainerIdentity("/kubepods/besteffort/pod" + kUid + "/" + kId);
  ASSERT_TRUE(be);
  EXPECT_EQ(be->qos, PodQos::kBestEffort);
}

TEST(ContainerIdentity, KubeletSystemdDriverWithEachRuntime) {
  auto c =
      ParseContainerIdentity("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                             kUidSystemd + ".slice/cri-containerd-" + kId + ".scope");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->qos, PodQos::kBurstable);
  EXPECT_EQ(c->pod_uid, kUid);  // underscores back to dashes
  EXPECT_EQ(c->container_id, kId);
  EXPECT_EQ(c->runtime, "containerd");
  auto crio =
      ParseContainerIdentity("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                             kUidSystemd + ".slice/crio-" + kId + ".scope");
  ASSERT_TRUE(crio);
  EXPECT_EQ(crio->qos, PodQos::kBestEffort);
  EXPECT_EQ(crio->runtime, "crio");
  auto docker = ParseContainerIdentity("/kubepods.slice/kubepods-pod" + kUidSystemd +
                                       ".slice/docker-" + kId + ".scope");
  ASSERT_TRUE(docker);
  EXPECT_EQ(docker->qos, PodQos::kGuaranteed);
  EXPECT_EQ(docker->runtime, "docker");
  // CRI-O's conmon monitor sits beside the container: the pod is known, the container is not.
  auto conmon = ParseContainerIdentity("/kubepods.slice/kubepods-pod" + kUidSystemd +
                                       ".slice/crio-conmon-" + kId + ".scope");
  ASSERT_TRUE(conmon);
  EXPECT_EQ(conmon->container_id, "");
}

TEST(ContainerIdentity, PlainContainers) {
  auto d = ParseContainerIdentity("/docker/" + kId);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->kubernetes);
  EXPECT_FALSE(d->qos);
  EXPECT_EQ(d->container_id, kId);
  auto s = ParseContainerIdentity("/system.slice/docker-" + kId + ".scope");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->runtime, "docker");
}

TEST(ContainerIdentity, NotContainers) {
  EXPECT_FALSE(ParseContainerIdentity("/"));
  EXPECT_FALSE(ParseContainerIdentity("/system.slice/ssh.service"));
  EXPECT_FALSE(ParseContainerIdentity("/kubepods"));
  EXPECT_FALSE(ParseContainerIdentity("/kubepods/burstable"));
  EXPECT_FALSE(ParseContainerIdentity("/kubepods.slice/kubepods-besteffort.slice"));
  EXPECT_FALSE(ParseContainerIdentity("/kubepods/burstable/podnot-a-uid/" + kId));
  EXPECT_FALSE(ParseContainerIdentity("/user.slice/session-3.scope"));
  EXPECT_FALSE(ParseContainerIdentity("/lc"));
}

TEST(ContainerIdentity, QosNames) {
  EXPECT_STREQ(PodQosName(PodQos::kGuaranteed), "Guaranteed");
  EXPECT_STREQ(PodQosName(PodQos::kBurstable), "Burstable");
  EXPECT_STREQ(PodQosName(PodQos::kBestEffort), "BestEffort");
}

}  // namespace
}  // namespace sw
