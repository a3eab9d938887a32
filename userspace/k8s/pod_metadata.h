// What the node knows about the Kubernetes pod behind a cgroup: namespace, name, QoS class, labels,
// annotations and container names. The agent learns it from the container runtime on the node
// (docs/kubernetes.md), never from the API server; the classifier, the exporter's workload_info
// and the cluster feedback read it through PodMetadataSource, so tests use StaticPodMetadataSource.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "cgroup/container.h"

namespace sw {

struct PodMeta {
  std::string uid;  // with dashes, as in the API ("8f3c1e2a-...")
  std::string namespace_name;
  std::string name;
  std::optional<PodQos> qos;  // from the cgroup path when the runtime does not say
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> containers;  // container id (hex) -> container name
  bool operator==(const PodMeta&) const = default;
};

class PodMetadataSource {
 public:
  virtual ~PodMetadataSource() = default;
  // The pod that owns `cgroup_path` (a pod-level or container-level cgroup, either kubelet
  // driver), by the pod UID in the path; nullopt when the path is no pod's or the pod is unknown.
  // Never blocks on the runtime: answers from what was last learned. Thread-safe.
  virtual std::optional<PodMeta> PodOf(const std::string& cgroup_path) const = 0;
};

// Pods set by hand: tests, and anything that pushes pod metadata in.
class StaticPodMetadataSource final : public PodMetadataSource {
 public:
  void Set(PodMeta pod);
  void Remove(const std::string& uid);
  std::optional<PodMeta> PodOf(const std::string& cgroup_path) const override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, PodMeta> by_uid_;
};

}  // namespace sw
