#include "cgroup/container.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

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

TEST(PodQos, NamesAndBothSpellingsParse) {
  EXPECT_STREQ(PodQosName(PodQos::kGuaranteed), "Guaranteed");
  EXPECT_STREQ(PodQosName(PodQos::kBurstable), "Burstable");
  EXPECT_STREQ(PodQosName(PodQos::kBestEffort), "BestEffort");
  EXPECT_STREQ(PodQosConfigName(PodQos::kGuaranteed), "guaranteed");
  EXPECT_STREQ(PodQosConfigName(PodQos::kBurstable), "burstable");
  EXPECT_STREQ(PodQosConfigName(PodQos::kBestEffort), "besteffort");
  for (PodQos q : {PodQos::kGuaranteed, PodQos::kBurstable, PodQos::kBestEffort}) {
    EXPECT_EQ(ParsePodQos(PodQosName(q)), q);
    EXPECT_EQ(ParsePodQos(PodQosConfigName(q)), q);
  }
  EXPECT_EQ(ParsePodQos("best-effort"), PodQos::kBestEffort);
  EXPECT_EQ(ParsePodQos("BEST_EFFORT"), PodQos::kBestEffort);
  EXPECT_EQ(ParsePodQos("gold"), std::nullopt);
  EXPECT_EQ(ParsePodQos(""), std::nullopt);
}

TEST(PodQosFromPath, CgroupfsDriver) {
  EXPECT_EQ(PodQosFromPath("/kubepods/besteffort/pod1234/abcd"), PodQos::kBestEffort);
  EXPECT_EQ(PodQosFromPath("/kubepods/burstable/pod1234"), PodQos::kBurstable);
  EXPECT_EQ(PodQosFromPath("/kubepods/pod5678/ctr"), PodQos::kGuaranteed);
  EXPECT_EQ(PodQosFromPath("/kubepods/besteffort"), PodQos::kBestEffort);
  EXPECT_EQ(PodQosFromPath("/kubepods"), std::nullopt);
  EXPECT_EQ(PodQosFromPath("/kubepods/system"), std::nullopt);
  EXPECT_EQ(PodQosFromPath("/system.slice/pod123"), std::nullopt);
  EXPECT_EQ(PodQosFromPath("/"), std::nullopt);
}

TEST(PodQosFromPath, SystemdDriver) {
  EXPECT_EQ(PodQosFromPath("/kubepods.slice/kubepods-besteffort.slice/"
                           "kubepods-besteffort-pod1a2b.slice/cri-containerd-9f.scope"),
            PodQos::kBestEffort);
  EXPECT_EQ(
      PodQosFromPath("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"),
      PodQos::kBurstable);
  EXPECT_EQ(PodQosFromPath("/kubepods.slice/kubepods-pod3c4d.slice/cri-containerd-1.scope"),
            PodQos::kGuaranteed);
  EXPECT_EQ(PodQosFromPath("/kubepods.slice"), std::nullopt);
  EXPECT_EQ(PodQosFromPath("/system.slice/kubelet.service"), std::nullopt);
}

TEST(PodQosFromPath, AgreesWithContainerIdentityOnEveryPod) {
  for (const std::string& p :
       {"/kubepods/burstable/pod" + kUid + "/" + kId, "/kubepods/pod" + kUid,
        "/kubepods/besteffort/pod" + kUid,
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd + ".slice",
        "/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/crio-" + kId + ".scope"}) {
    auto id = ParseContainerIdentity(p);
    ASSERT_TRUE(id) << p;
    EXPECT_EQ(PodQosFromPath(p), id->qos) << p;
  }
}

TEST(KubeletQosLevel, RootAndQosLevelsOfBothDrivers) {
  for (const char* p : {"/kubepods", "/kubepods/besteffort", "/kubepods/burstable",
                        "/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice",
                        "/kubepods.slice/kubepods-burstable.slice", "/custom/kubepods/burstable/"})
    EXPECT_TRUE(IsKubeletQosLevel(p)) << p;
  for (const char* p : {"/", "", "/kubepods/besteffort/pod1", "/kubepods/pod1", "/burstable",
                        "/kubepods.slice/kubepods-pod1.slice", "/kubepods.slice/burstable",
                        "/kubepods/kubepods-burstable.slice", "/system.slice"})
    EXPECT_FALSE(IsKubeletQosLevel(p)) << p;
}

// The parsers take any string (they are fuzz targets): random paths built from the pieces the
// parsers look for must never crash or throw, and what they return must be consistent.
TEST(ContainerIdentity, AnyPathIsSafeToParse) {
  const std::vector<std::string> pieces = {"/",
                                           "kubepods",
                                           "kubepods.slice",
                                           "kubepods-",
                                           ".slice",
                                           "pod",
                                           "burstable",
                                           "besteffort",
                                           "-",
                                           "_",
                                           ".scope",
                                           "docker",
                                           "crio-",
                                           "cri-containerd-",
                                           kUid,
                                           kUidSystemd,
                                           kId,
                                           "abc",
                                           "=",
                                           "x=y",
                                           ""};
  uint64_t seed = 42;
  auto next = [&seed] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; };
  for (int i = 0; i < 20000; i++) {
    std::string p;
    for (int n = next() % 9; n > 0; n--) p += pieces[(next() >> 33) % pieces.size()];
    std::optional<ContainerIdentity> id;
    ASSERT_NO_THROW(id = ParseContainerIdentity(p)) << p;
    ASSERT_NO_THROW(PodQosFromPath(p)) << p;
    ASSERT_NO_THROW(IsKubeletQosLevel(p)) << p;
    if (!id) continue;
    EXPECT_EQ(id->kubernetes, id->qos.has_value()) << p;
    EXPECT_TRUE(id->pod_uid.empty() || id->pod_uid.size() == 36) << p;
    if (id->kubernetes) {
      EXPECT_EQ(PodQosFromPath(p), id->qos) << p;
    }
  }
}

}  // namespace
}  // namespace sw
