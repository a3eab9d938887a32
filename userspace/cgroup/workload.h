// Workload identity: which Prometheus series a cgroup's numbers go to. A cgroup path is cut to a
// configurable depth (depth 2: /kubepods/burstable/pod1/ctr -> /kubepods/burstable), and at most
// max_workloads distinct labels are handed out; further workloads fold into the single
// kOverflowWorkload series and are counted, so cardinality stays bounded on a machine with
// thousands of cgroups. Labels of real cgroups always start with "/", so "overflow" and "unknown"
// can never collide with one.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace sw {

inline constexpr const char* kOverflowWorkload = "overflow";

// The components of a "/"-rooted cgroup path, empty ones (redundant slashes) dropped:
// "//a/b/" -> {"a", "b"}, "/" -> {}.
std::vector<std::string> CgroupPathComponents(const std::string& cgroup_path);

// The first `depth` components of a "/"-rooted path; shallower paths unchanged; depth 0 -> "/".
// Redundant slashes are ignored ("//a/b/" at depth 1 -> "/a").
std::string WorkloadPathAtDepth(const std::string& cgroup_path, int depth);

// Where cgroups of Kubernetes pods (kubelet's kubepods tree, either driver) become workloads.
enum class KubernetesWorkloadLevel {
  kPod,        // the pod's cgroup, at whatever depth kubelet put it (Guaranteed pods sit higher)
  kContainer,  // each container's cgroup below the pod (the pod's own tasks stay with the pod)
  kDepth,      // no special case: `depth` like every other cgroup
};
inline constexpr const char* kKubernetesWorkloadLevelChoices = "pod, container, depth";
const char* KubernetesWorkloadLevelName(KubernetesWorkloadLevel level);

// The workload path of a cgroup: under kubepods at `k8s` level whatever the depth, anything else
// (and kDepth) cut at `depth` like WorkloadPathAtDepth.
std::string WorkloadPathOf(const std::string& cgroup_path, int depth, KubernetesWorkloadLevel k8s);

struct WorkloadLabelerOptions {
  int depth = 3;  // /kubepods/<qos>/<pod>, /system.slice/<unit>, /<group>
  KubernetesWorkloadLevel k8s = KubernetesWorkloadLevel::kPod;
  size_t max_workloads = 500;  // real-cgroup series; "unknown" and "overflow" come on top
};

class WorkloadLabeler {
 public:
  explicit WorkloadLabeler(WorkloadLabelerOptions options = {});

  // Series label for a cgroup path: its WorkloadPathOf, or kOverflowWorkload once
  // max_workloads labels are in use. A label that overflowed keeps overflowing until released,
  // so one workload never splits across two series.
  std::string Assign(const std::string& cgroup_path);
  // Frees a depth label (its cgroups are gone), making room for another workload.
  void Release(const std::string& depth_label);

  const WorkloadLabelerOptions& options() const { return options_; }
  size_t tracked() const { return tracked_.size(); }
  // Distinct workloads currently folded into the overflow series.
  size_t overflowed() const { return overflowed_.size(); }
  bool IsTracked(const std::string& depth_label) const { return tracked_.count(depth_label) > 0; }
  const std::set<std::string>& tracked_labels() const { return tracked_; }
  const std::set<std::string>& overflowed_labels() const { return overflowed_; }

 private:
  WorkloadLabelerOptions options_;
  std::set<std::string> tracked_;
  std::set<std::string> overflowed_;
};

}  // namespace sw
