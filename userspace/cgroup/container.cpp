#include "cgroup/container.h"

#include <cctype>
#include <vector>

#include "common/fs.h"

namespace sw {
namespace {

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

std::optional<PodQos> QosFromName(const std::string& s) {
  if (s == "burstable") return PodQos::kBurstable;
  if (s == "besteffort") return PodQos::kBestEffort;
  return std::nullopt;
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

const char* PodQosName(PodQos qos) {
  switch (qos) {
    case PodQos::kGuaranteed:
      return "Guaranteed";
    case PodQos::kBurstable:
      return "Burstable";
    case PodQos::kBestEffort:
      return "BestEffort";
  }
  return "?";
}

std::optional<ContainerIdentity> ParseContainerIdentity(const std::string& cgroup_path) {
  std::vector<std::string> parts;
  for (const std::string& p : Split(cgroup_path, '/'))
    if (!p.empty()) parts.push_back(p);

  // Kubernetes: find the kubepods level (it may sit below a runtime's own prefix).
  for (size_t i = 0; i < parts.size(); i++) {
    bool systemd = parts[i] == "kubepods.slice";
    if (parts[i] != "kubepods" && !systemd) continue;
    ContainerIdentity id;
    id.kubernetes = true;
    size_t j = i + 1;
    if (j >= parts.size()) return std::nullopt;  // the kubepods root itself is no pod
    std::string prefix = "kubepods-";
    if (systemd) {
      // kubepods-burstable.slice / kubepods-besteffort.slice / kubepods-pod<uid>.slice
      std::string c = parts[j];
      if (EndsWith(c, ".slice") && StartsWith(c, "kubepods-")) {
        std::string mid = c.substr(9, c.size() - 9 - 6);
        if (auto q = QosFromName(mid)) {
          id.qos = q;
          prefix = "kubepods-" + mid + "-";
          j++;
        }
      }
    } else if (auto q = QosFromName(parts[j])) {
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
