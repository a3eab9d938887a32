// Container identity from a cgroup path: Kubernetes pods (QoS class, pod UID) and container ids
// as laid out by the kubelet's cgroupfs and systemd drivers and by docker, containerd and CRI-O.
// Pure string logic, so the policy engine can classify pods by QoS without a runtime API.
//   /kubepods/burstable/pod<uid>/<id>
//   /kubepods/pod<uid>/<id>                                     (Guaranteed: no QoS level)
//   /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope
//   /system.slice/docker-<id>.scope, /docker/<id>
#pragma once

#include <optional>
#include <string>

namespace sw {

enum class PodQos { kGuaranteed, kBurstable, kBestEffort };

// "Guaranteed", "Burstable", "BestEffort" (Kubernetes' spelling).
const char* PodQosName(PodQos qos);

struct ContainerIdentity {
  bool kubernetes = false;
  std::optional<PodQos> qos;  // set for Kubernetes pods
  std::string pod_uid;        // with dashes ("8f3c...-..."), empty when not a pod
  std::string container_id;   // hex id, empty for a pod-level cgroup
  std::string runtime;        // "docker", "containerd", "crio" or "" when not recognisable
};

// nullopt when the path belongs to no recognisable pod or container.
std::optional<ContainerIdentity> ParseContainerIdentity(const std::string& cgroup_path);

}  // namespace sw
