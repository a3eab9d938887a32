#include "cgroup/workload.h"

#include "cgroup/container.h"
#include "common/fs.h"

namespace sw {

std::vector<std::string> CgroupPathComponents(const std::string& cgroup_path) {
  std::vector<std::string> out;
  for (std::string& part : Split(cgroup_path, '/'))
    if (!part.empty()) out.push_back(std::move(part));
  return out;
}

std::string WorkloadPathAtDepth(const std::string& cgroup_path, int depth) {
  std::string out;
  int taken = 0;
  for (const std::string& part : CgroupPathComponents(cgroup_path)) {
    if (taken >= depth) break;
    out += "/" + part;
    taken++;
  }
  return out.empty() ? "/" : out;
}

const char* KubernetesWorkloadLevelName(KubernetesWorkloadLevel level) {
  switch (level) {
    case KubernetesWorkloadLevel::kPod:
      return "pod";
    case KubernetesWorkloadLevel::kContainer:
      return "container";
    case KubernetesWorkloadLevel::kDepth:
      return "depth";
  }
  return "?";
}

std::string WorkloadPathOf(const std::string& cgroup_path, int depth, KubernetesWorkloadLevel k8s) {
  if (k8s == KubernetesWorkloadLevel::kDepth || cgroup_path.find("kubepods") == std::string::npos)
    return WorkloadPathAtDepth(cgroup_path, depth);
  const std::vector<std::string> parts = CgroupPathComponents(cgroup_path);
  std::string prefix;
  for (size_t i = 0; i < parts.size(); i++) {
    prefix += "/" + parts[i];
    const auto id = ParseContainerIdentity(prefix);
    if (!id || !id->kubernetes || id->pod_uid.empty()) continue;
    // prefix is the pod's cgroup; a container is the component below it.
    if (k8s == KubernetesWorkloadLevel::kContainer && i + 1 < parts.size())
      prefix += "/" + parts[i + 1];
    return prefix;
  }
  return WorkloadPathAtDepth(cgroup_path, depth);  // kubepods itself, a QoS level, not a pod
}

WorkloadLabeler::WorkloadLabeler(WorkloadLabelerOptions options) : options_(options) {}

std::string WorkloadLabeler::Assign(const std::string& cgroup_path) {
  std::string label = WorkloadPathOf(cgroup_path, options_.depth, options_.k8s);
  if (tracked_.count(label)) return label;
  if (!overflowed_.count(label) && tracked_.size() < options_.max_workloads) {
    tracked_.insert(label);
    return label;
  }
  overflowed_.insert(label);
  return kOverflowWorkload;
}

void WorkloadLabeler::Release(const std::string& depth_label) {
  tracked_.erase(depth_label);
  overflowed_.erase(depth_label);
}

}  // namespace sw
