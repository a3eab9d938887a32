#include "policy/classifier.h"

#include <fnmatch.h>

#include <algorithm>

#include "cgroup/container.h"
#include "cgroup/labels.h"
#include "cgroup/tasks.h"
#include "common/fs.h"

namespace sw {

namespace {

bool Glob(const std::string& pattern, const std::string& text) {
  return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace

CgroupProcessNames::CgroupProcessNames(std::string cpu_hierarchy_root, std::string proc_root,
                                       int max_pids)
    : cpu_root_(std::move(cpu_hierarchy_root)),
      proc_root_(std::move(proc_root)),
      max_pids_(max_pids) {}

std::vector<std::string> CgroupProcessNames::ProcessNames(const std::string& cgroup_path) {
  return ListProcessNames(cpu_root_ + (cgroup_path == "/" ? "" : cgroup_path), proc_root_,
                          max_pids_);
}

std::map<std::string, std::string> LabelDirectorySource::Labels(const std::string& cgroup_path) {
  return ReadLabelDirectory(root_, cgroup_path);
}

Classifier::Classifier(std::vector<WorkloadRule> rules, ProcessNameSource* process_names,
                       LabelSource* labels)
    : rules_(std::move(rules)), process_names_(process_names), labels_(labels) {}

Classification Classifier::Classify(const std::string& cgroup_path) const {
  // Process names and runtime labels cost I/O: fetched once, and only if a rule needs them.
  std::optional<std::vector<std::string>> comms;
  std::optional<std::map<std::string, std::string>> labels;
  const std::optional<PodQos> qos = PodQosFromPath(cgroup_path);

  for (size_t i = 0; i < rules_.size(); i++) {
    const WorkloadRule& r = rules_[i];
    const WorkloadMatch& m = r.match;
    if (m.cgroup && !Glob(*m.cgroup, cgroup_path)) continue;
    if (m.k8s_qos && qos != m.k8s_qos) continue;
    if (!m.labels.empty()) {
      if (!labels) {
        labels = LabelsFromPath(cgroup_path);
        if (labels_)
          for (auto& [k, v] : labels_->Labels(cgroup_path)) (*labels)[k] = v;
      }
      bool all = std::all_of(m.labels.begin(), m.labels.end(), [&](const auto& kv) {
        auto it = labels->find(kv.first);
        return it != labels->end() && Glob(kv.second, it->second);
      });
      if (!all) continue;
    }
    if (m.comm) {
      if (!process_names_) continue;
      if (!comms) comms = process_names_->ProcessNames(cgroup_path);
      if (std::none_of(comms->begin(), comms->end(),
                       [&](const std::string& c) { return Glob(*m.comm, c); }))
        continue;
    }
    Classification out;
    out.cls = r.cls;
    out.rule = static_cast<int>(i);
    out.rule_name = r.name;
    out.slo_runq_p99 = r.slo_runq_p99;
    out.exclusive = r.exclusive;
    out.exclusive_cpus = r.exclusive_cpus;
    return out;
  }
  return Classification{};
}

ClassifierSources MakeClassifierSources(const ObserverConfig& observer,
                                        const std::string& cpu_hierarchy_root) {
  ClassifierSources s;
  s.process_names = std::make_unique<CgroupProcessNames>(cpu_hierarchy_root, observer.proc_root);
  if (!observer.labels_dir.empty())
    s.labels = std::make_unique<LabelDirectorySource>(observer.labels_dir);
  return s;
}

}  // namespace sw
