#include "k8s/pod_metadata.h"

namespace sw {

void StaticPodMetadataSource::Set(PodMeta pod) {
  std::lock_guard lock(mu_);
  std::string uid = pod.uid;
  by_uid_[uid] = std::move(pod);
}

void StaticPodMetadataSource::Remove(const std::string& uid) {
  std::lock_guard lock(mu_);
  by_uid_.erase(uid);
}

std::optional<PodMeta> StaticPodMetadataSource::PodOf(const std::string& cgroup_path) const {
  const auto id = ParseContainerIdentity(cgroup_path);
  if (!id || !id->kubernetes || id->pod_uid.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = by_uid_.find(id->pod_uid);
  if (it == by_uid_.end()) return std::nullopt;
  PodMeta pod = it->second;
  if (!pod.qos) pod.qos = id->qos;
  return pod;
}

}  // namespace sw
