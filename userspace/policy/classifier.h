// Classification: which of the four classes a workload (a cpu-controller cgroup) belongs to,
// from the config's workload rules. First matching rule wins; unmatched workloads are normal.
// A rule matches on the cgroup path (glob), the names of the processes inside (comm), the
// Kubernetes QoS class encoded in the path by the kubelet, labels (key=value path components
// or labels given by the runtime through a LabelSource) and the pod's namespace, labels and
// annotations (PodMetadataSource). The pod's schedwarden.io/* annotations then override the
// rule's class, objective and exclusivity (pod_annotations.h) unless the rule says
// pod_annotations: ignore.
//
// Process names and runtime labels cost I/O (cgroup.procs, /proc/<pid>/comm, label files): the
// sources read them through the cgroup module's readers, which take a root path so the same code
// runs against fake trees. Gather() does that reading and Classify(path, facts) is pure, so the
// controller can read before it takes its lock.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "k8s/pod_metadata.h"
#include "policy/pod_annotations.h"

namespace sw {

// Names (comm) of the processes in a cgroup and its descendants.
class ProcessNameSource {
 public:
  virtual ~ProcessNameSource() = default;
  virtual std::vector<std::string> ProcessNames(const std::string& cgroup_path) = 0;
};

// ListProcessNames (cgroup/tasks.h) of <cpu_root><path>: cgroup.procs (recursively) and
// <proc_root>/<pid>/comm. Vanished processes and cgroups are skipped, not errors; at most
// max_pids processes are read per call so a huge cgroup cannot stall the control loop.
class CgroupProcessNames final : public ProcessNameSource {
 public:
  CgroupProcessNames(std::string cpu_hierarchy_root, std::string proc_root, int max_pids = 4096);
  std::vector<std::string> ProcessNames(const std::string& cgroup_path) override;

 private:
  std::string cpu_root_, proc_root_;
  int max_pids_;
};

// Labels a container runtime / orchestrator attaches to a cgroup (Kubernetes annotations, Mesos
// executor labels such as cpu_hint: exclusive).
class LabelSource {
 public:
  virtual ~LabelSource() = default;
  virtual std::map<std::string, std::string> Labels(const std::string& cgroup_path) = 0;
};

// ReadLabelDirectory (cgroup/labels.h): label files under a directory that mirrors the cgroup
// tree, <root><path>/labels; ancestors' labels are inherited, a deeper file overrides.
class LabelDirectorySource final : public LabelSource {
 public:
  explicit LabelDirectorySource(std::string root) : root_(std::move(root)) {}
  std::map<std::string, std::string> Labels(const std::string& cgroup_path) override;

 private:
  std::string root_;
};

// Fixed labels per cgroup path, for tests and for runtimes that push labels in.
class StaticLabelSource final : public LabelSource {
 public:
  void Set(const std::string& cgroup_path, std::map<std::string, std::string> labels) {
    labels_[cgroup_path] = std::move(labels);
  }
  std::map<std::string, std::string> Labels(const std::string& cgroup_path) override {
    auto it = labels_.find(cgroup_path);
    return it == labels_.end() ? std::map<std::string, std::string>{} : it->second;
  }

 private:
  std::map<std::string, std::map<std::string, std::string>> labels_;
};

// What classifying a workload reads beyond its path. Gathered by Classifier::Gather.
struct WorkloadFacts {
  std::vector<std::string> process_names;     // comm of the processes in the cgroup
  std::map<std::string, std::string> labels;  // from the LabelSource (path labels come on top)
  std::optional<PodMeta> pod;                 // the Kubernetes pod behind the cgroup, if known
};

struct Classification {
  WorkloadClass cls = WorkloadClass::kNormal;
  int rule = -1;          // index into the config's workloads; -1 = unmatched
  std::string rule_name;  // "" when unmatched
  std::optional<std::chrono::nanoseconds> slo_runq_p99;
  ExclusivePolicy exclusive = ExclusivePolicy::kNever;
  std::optional<int> exclusive_cpus;
  // Pod annotations: the ones that took effect ("key=value") and the ones ignored, with why.
  std::vector<std::string> annotations;
  std::vector<AnnotationProblem> annotation_problems;
  std::string pod;  // "namespace/name" when the workload is a known pod
  bool operator==(const Classification&) const = default;
};

class Classifier {
 public:
  // Any source may be null: rules that need it then never match (and, without pods, no
  // annotation applies).
  Classifier(std::vector<WorkloadRule> rules, ProcessNameSource* process_names, LabelSource* labels,
             const PodMetadataSource* pods = nullptr);
  // Reads from the sources what Classify(cgroup_path, facts) will look at, and only that (names
  // only if a rule reached in order needs comm, labels likewise). I/O: call it holding no lock.
  WorkloadFacts Gather(const std::string& cgroup_path) const;
  // The rule walk on gathered facts: no I/O.
  Classification Classify(const std::string& cgroup_path, const WorkloadFacts& facts) const;
  // Gather, then Classify.
  Classification Classify(const std::string& cgroup_path) const;

 private:
  // First-match walk; the callbacks return the process names / runtime labels on first use.
  template <typename Names, typename Labels>
  Classification Walk(const std::string& cgroup_path, const PodMeta* pod, Names&& names,
                      Labels&& labels) const;

  std::vector<WorkloadRule> rules_;
  ProcessNameSource* process_names_;
  LabelSource* labels_;
  const PodMetadataSource* pods_;
};

// The real sources for the agent: process names from the cpu hierarchy the agent detected
// (DetectCgroupMounts' cpu.path) and the observer's proc_root; label files when labels_dir is set
// (else null).
struct ClassifierSources {
  std::unique_ptr<ProcessNameSource> process_names;
  std::unique_ptr<LabelSource> labels;
};
ClassifierSources MakeClassifierSources(const ObserverConfig& observer,
                                        const std::string& cpu_hierarchy_root);

}  // namespace sw
