// Classification: which of the four classes a workload (a cpu-controller cgroup) belongs to,
// from the config's workload rules. First matching rule wins; unmatched workloads are normal.
// A rule matches on the cgroup path (glob), the names of the processes inside (comm), the
// Kubernetes QoS class encoded in the path by the kubelet, and labels (key=value path components
// or labels given by the runtime through a LabelSource). All I/O goes through the cgroup module's
// readers, which take a root path so the same code runs against fake trees.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

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

struct Classification {
  WorkloadClass cls = WorkloadClass::kNormal;
  int rule = -1;          // index into the config's workloads; -1 = unmatched
  std::string rule_name;  // "" when unmatched
  std::optional<std::chrono::nanoseconds> slo_runq_p99;
  ExclusivePolicy exclusive = ExclusivePolicy::kNever;
  std::optional<int> exclusive_cpus;
};

class Classifier {
 public:
  // Either source may be null: rules that need it then never match.
  Classifier(std::vector<WorkloadRule> rules, ProcessNameSource* process_names,
             LabelSource* labels);
  Classification Classify(const std::string& cgroup_path) const;

 private:
  std::vector<WorkloadRule> rules_;
  ProcessNameSource* process_names_;
  LabelSource* labels_;
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
