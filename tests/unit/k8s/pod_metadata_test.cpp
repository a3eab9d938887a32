#include "k8s/pod_metadata.h"

#include <gtest/gtest.h>

namespace sw {
namespace {

PodMeta Pod(const std::string& uid, const std::string& name) {
  PodMeta p;
  p.uid = uid;
  p.namespace_name = "shop";
  p.name = name;
  p.containers["0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd"] = "web";
  return p;
}

TEST(StaticPodMetadataSource, FindsThePodOfPodAndContainerCgroupsOnBothDrivers) {
  StaticPodMetadataSource src;
  src.Set(Pod("8f3c1e2a-1111-2222-3333-444455556666", "web-0"));
  for (const char* path : {"/kubepods/burstable/pod8f3c1e2a-1111-2222-3333-444455556666",
                           "/kubepods/burstable/pod8f3c1e2a-1111-2222-3333-444455556666/"
                           "0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd",
                           "/kubepods.slice/kubepods-burstable.slice/"
                           "kubepods-burstable-pod8f3c1e2a_1111_2222_3333_444455556666.slice"}) {
    auto pod = src.PodOf(path);
    ASSERT_TRUE(pod.has_value()) << path;
    EXPECT_EQ(pod->name, "web-0");
    EXPECT_EQ(pod->qos, PodQos::kBurstable) << "QoS filled from the path";
  }
}

TEST(StaticPodMetadataSource, UnknownPodsAndNonPodPathsAreNullopt) {
  StaticPodMetadataSource src;
  src.Set(Pod("8f3c1e2a-1111-2222-3333-444455556666", "web-0"));
  EXPECT_FALSE(src.PodOf("/system.slice/ssh.service"));
  EXPECT_FALSE(src.PodOf("/kubepods/besteffort/pod00000000-1111-2222-3333-444455556666"));
  src.Remove("8f3c1e2a-1111-2222-3333-444455556666");
  EXPECT_FALSE(src.PodOf("/kubepods/burstable/pod8f3c1e2a-1111-2222-3333-444455556666"));
}

}  // namespace
}  // namespace sw
