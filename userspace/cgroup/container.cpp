#include "cgroup/container.h"

#include <cctype>
#include <vector>

#include "cgroup/workload.h"

namespace sw {
namespace {

// Both spellings of each class, in enum order.
struct PodQosNames {
  PodQos qos;
  const char* display;  // Kubernetes' spelling
  const char* config;   // the config's and the kubelet's cgroup names
};
constexpr PodQosNames kPodQosNames[] = {{PodQos::kGuaranteed, "Guaranteed", "guaranteed"},
                                        {PodQos::kBurstable, "Burstable", "burstable"},
                                        {PodQos::kBestEffort, "BestEffort", "besteffort"}};

bool StartsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

bool IsHexId(const std::string& s) {
  if (s.size() < 12) return false;  // docker's short ids are 12; full ids 64
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c)))
      return false;
  return true;
}

// A pod UID is a UUID: 36 chars with dashes (cgroupfs) or underscores (systemd escapes dashes).
std::optional<std::string> PodUid(std::string s) {
  for (char& c : s)
    if (c == '_') c = '-';
  if (s.size() != 36) return std::nullopt;
  for (size_t i = 0; i < s.size(); i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  return s;
}

// The QoS-level component below the kubepods root: "burstable" / "besteffort" (cgroupfs driver),
// "kubepods-burstable.slice" / "kubepods-besteffort.slice" (systemd driver).
std::optional<PodQos> QosLevel(const std::string& comp, bool systemd) {
  for (PodQos q : {PodQos::kBurstable, PodQos::kBestEffort}) {
    const std::string name = PodQosConfigName(q);
    if (comp == (systemd ? "kubepods-" + name + ".slice" : name)) return q;
  }
  return std::nullopt;
}

bool IsKubepodsRoot(const std::string& comp, bool* systemd) {
  *systemd = comp == "kubepods.slice";
  return comp == "kubepods" || *systemd;
}

// A container component: "<id>", "docker-<id>.scope", "cri-containerd-<id>.scope",
// "crio-<id>.scope", "crio-conmon-<id>.scope" (the conmon monitor: not the container itself).
bool ParseContainer(const std::string& comp, ContainerIdentity* out) {
  std::string s = comp;
  if (EndsWith(s, ".scope")) s.resize(s.size() - 6);
  struct Prefix {
    const char* prefix;
    const char* runtime;
  };
  static const Prefix kPrefixes[] = {{"cri-containerd-", "containerd"},
                                     {"containerd-", "containerd"},
                                     {"docker-", "docker"},
                                     {"crio-", "crio"},
                                     {"libpod-", "podman"}};
  for (const Prefix& p : kPrefixes) {
    if (StartsWith(s, p.prefix) && IsHexId(s.substr(std::string(p.prefix).size()))) {
      out->container_id = s.substr(std::string(p.prefix).size());
      out->runtime = p.runtime;
      return true;
    }
  }
  if (IsHexId(s)) {  // cgroupfs driver: the bare id, runtime unknown from the path
    out->container_id = s;
    return true;
  }
  return false;
}

}  // namespace

const char* PodQosName(PodQos qos) { return kPodQosNames[static_cast<int>(qos)].display; }

const char* PodQosConfigName(PodQos qos) { return kPodQosNames[static_cast<int>(qos)].config; }

std::optional<PodQos> ParsePodQos(const std::string& s) {
  std::string lower;
  for (char ch : s)
    if (ch != '-' && ch != '_')
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const auto& n : kPodQosNames)
    if (lower == n.config) return n.qos;
  return std::nullopt;
}

std::optional<PodQos> PodQosFromPath(const std::string& cgroup_path) {
  const std::vector<std::string> parts = CgroupPathComponents(cgroup_path);
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    bool systemd = false;
    if (!IsKubepodsRoot(parts[i], &systemd)) continue;
    if (auto q = QosLevel(parts[i + 1], systemd)) return q;
    if (StartsWith(parts[i + 1], systemd ? "kubepods-pod" : "pod")) return PodQos::kGuaranteed;
    return std::nullopt;
  }
  return std::nullopt;
}

bool IsKubeletQosLevel(const std::string& cgroup_path) {
  const std::vector<std::string> parts = CgroupPathComponents(cgroup_path);
  if (parts.empty()) return false;
  bool systemd = false;
  if (IsKubepodsRoot(parts.back(), &systemd)) return true;
  return parts.size() > 1 && IsKubepodsRoot(parts[parts.size() - 2], &systemd) &&
         QosLevel(parts.back(), systemd).has_value();
}

std::optional<ContainerIdentity> ParseContainerIdentity(const std::string& cgroup_path) {
  const std::vector<std::string> parts = CgroupPathComponents(cgroup_path);

  // Kubernetes: find the kubepods level (it may sit below a runtime's own prefix).
  for (size_t i = 0; i < parts.size(); i++) {
    bool systemd = false;
    if (!IsKubepodsRoot(parts[i], &systemd)) continue;
    ContainerIdentity id;
    id.kubernetes = true;
    size_t j = i + 1;
    if (j >= parts.size()) return std::nullopt;  // the kubepods root itself is no pod
    std::string prefix = "kubepods-";
    if (systemd) {
      // kubepods-burstable.slice / kubepods-besteffort.slice / kubepods-pod<uid>.slice
      if (auto q = QosLevel(parts[j], true)) {
        id.qos = q;
        prefix = std::string("kubepods-") + PodQosConfigName(*q) + "-";
        j++;
      }
    } else if (auto q = QosLevel(parts[j], false)) {
      id.qos = q;
      j++;
    }
    if (!id.qos) id.qos = PodQos::kGuaranteed;
    if (j >= parts.size()) return std::nullopt;  // a QoS level, not a pod
    std::string pod = parts[j];
    if (systemd) {
      if (!StartsWith(pod, prefix + "pod") || !EndsWith(pod, ".slice")) return std::nullopt;
      pod = pod.substr(prefix.size() + 3, pod.size() - prefix.size() - 3 - 6);
    } else {
      if (!StartsWith(pod, "pod")) return std::nullopt;
      pod = pod.substr(3);
    }
    auto uid = PodUid(pod);
    if (!uid) return std::nullopt;
    id.pod_uid = *uid;
    if (j + 1 < parts.size()) ParseContainer(parts[j + 1], &id);
    return id;
  }

  // Plain containers: /docker/<id>, /system.slice/docker-<id>.scope,
  // /machine.slice/libpod-<id>.scope
  for (size_t i = 0; i < parts.size(); i++) {
    ContainerIdentity id;
    if (parts[i] == "docker" && i + 1 < parts.size() && IsHexId(parts[i + 1])) {
      id.container_id = parts[i + 1];
      id.runtime = "docker";
      return id;
    }
    if (EndsWith(parts[i], ".scope") && ParseContainer(parts[i], &id) && !id.runtime.empty())
      return id;
  }
  return std::nullopt;
}

}  // namespace sw
