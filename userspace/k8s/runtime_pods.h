// Pod identity from the node's container runtime (docs/kubernetes.md#identity): what the runtime
// lists, folded into pods by UID, cached, and refreshed by a background thread with a deadline per
// call, so PodOf (called from the control loop) never waits on the runtime's socket. When the
// runtime is absent, slow or answers garbage, the last known pods stay, one log line says so, and
// the next successful refresh (logged once too) brings the directory up to date.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "k8s/pod_metadata.h"

namespace sw {

// Labels kubelet's CRI plugin (containerd 1.6) puts on every container it creates.
inline constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
inline constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
inline constexpr const char* kPodNamespaceLabel = "io.kubernetes.pod.namespace";
inline constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";
inline constexpr const char* kCriKindLabel = "io.cri-containerd.kind";  // "sandbox" | "container"
// The sandbox's extension holding the CRI PodSandboxConfig (JSON): the pod's labels, annotations.
inline constexpr const char* kSandboxMetadataExtension = "io.cri-containerd.sandbox.metadata";

// One container as the runtime lists it.
struct RuntimeContainer {
  std::string id;
  std::map<std::string, std::string> labels;
  std::string sandbox_metadata;  // value of kSandboxMetadataExtension; "" when absent
};

// Lists the runtime's containers; the containerd client (containerd_client.h) and test fakes.
class RuntimeLister {
 public:
  virtual ~RuntimeLister() = default;
  // Every container kubelet created, or an error; gives up after `timeout`.
  virtual Result<std::vector<RuntimeContainer>> List(std::chrono::nanoseconds timeout) = 0;
  // "containerd at unix:///run/containerd/containerd.sock (namespace k8s.io)", for log lines.
  virtual std::string Describe() const = 0;
};

struct PodDirectory {
  std::map<std::string, PodMeta> by_uid;
  // Pod UID -> what could not be read about it (kept: the pod is known from its labels).
  std::map<std::string, std::string> problems;
};

// Folds a listing into pods: identity from kubelet's labels, labels and annotations from the
// sandbox's CRI metadata when readable. Containers without a pod UID label are not kubelet's and
// are skipped. Never throws, whatever the listing holds.
PodDirectory PodsFromContainers(const std::vector<RuntimeContainer>& containers);

struct RuntimePodSourceOptions {
  std::chrono::nanoseconds refresh = std::chrono::seconds(5);
  std::chrono::nanoseconds timeout = std::chrono::seconds(2);
};

struct RuntimePodSourceHealth {
  bool ok = false;         // the last refresh succeeded
  uint64_t refreshes = 0;  // successful
  uint64_t failures = 0;   // failed
  size_t pods = 0;         // in the directory now
  std::string last_error;  // of the last failed refresh
};

class RuntimePodMetadataSource final : public PodMetadataSource {
 public:
  RuntimePodMetadataSource(std::unique_ptr<RuntimeLister> lister, RuntimePodSourceOptions options);
  ~RuntimePodMetadataSource() override;  // stops the thread (waits at most one call's timeout)

  // Refreshes every `refresh` on a thread of its own, the first time right away.
  void Start();
  void Stop();
  // One refresh on the caller's thread (tests; the background thread calls it too).
  Result<void> RefreshOnce();

  std::optional<PodMeta> PodOf(const std::string& cgroup_path) const override;
  RuntimePodSourceHealth Health() const;
  const RuntimePodSourceOptions& options() const { return options_; }

 private:
  void Run();
  void LogProblems(const PodDirectory& dir);

  std::unique_ptr<RuntimeLister> lister_;
  const RuntimePodSourceOptions options_;
  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const std::map<std::string, PodMeta>> pods_;
  RuntimePodSourceHealth health_;
  bool logged_failure_ = false;            // the failure line was logged; log the recovery once
  std::set<std::string> logged_problems_;  // pod UIDs whose problem was logged
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace sw
