// What a cgroup path says about Kubernetes pods and containers, as laid out by the kubelet's
// cgroupfs and systemd drivers and by docker, containerd and CRI-O:
//   /kubepods/burstable/pod<uid>/<id>
//   /kubepods/pod<uid>/<id>                                     (Guaranteed: no QoS level)
//   /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope
//   /system.slice/docker-<id>.scope, /docker/<id>
// Pure string functions (no I/O, no exceptions on any input), so the classifier, the safety
// rails and a fuzzer can call them on anything.
#pragma once

#include <optional>
#include <string>

namespace sw {

// The pod QoS classes of Kubernetes: the one type for the config's `k8s_qos` and the parsers.
enum class PodQos { kGuaranteed, kBurstable, kBestEffort };

// "Guaranteed", "Burstable", "BestEffort" (Kubernetes' spelling, for display).
const char* PodQosName(PodQos qos);
// "guaranteed", "burstable", "besteffort" (the config's spelling, and the kubelet's in paths).
const char* PodQosConfigName(PodQos qos);
inline constexpr const char* kPodQosConfigChoices = "guaranteed, burstable, besteffort";
// Either spelling: case-insensitive, '-' and '_' ignored ("BestEffort", "best-effort"); nullopt
// when unknown.
std::optional<PodQos> ParsePodQos(const std::string& s);

// The QoS class of a cgroup from the kubelet's naming: cgroupfs driver
// (/kubepods/besteffort/..., /kubepods/burstable/..., /kubepods/pod<uid>/... = guaranteed) or
// systemd driver (/kubepods.slice/kubepods-besteffort.slice/..., kubepods-burstable.slice,
// kubepods-pod<uid>.slice = guaranteed). A QoS-level cgroup itself has its class; nullopt outside
// kubepods and for the kubepods root itself.
std::optional<PodQos> PodQosFromPath(const std::string& cgroup_path);

// Whether the path's last component is one of the kubelet's own cgroups above the pods: the
// kubepods root (kubepods, kubepods.slice) or a QoS level (kubepods/besteffort,
// kubepods.slice/kubepods-burstable.slice, ...).
bool IsKubeletQosLevel(const std::string& cgroup_path);

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
