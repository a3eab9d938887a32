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

template <typename Names, typename Labels>
Classification Classifier::Walk(const std::string& cgroup_path, Names&& names,
                                Labels&& runtime_labels) const {
  std::optional<std::map<std::string, std::string>> labels;  // path labels + runtime labels
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
          for (const auto& [k, v] : runtime_labels()) (*labels)[k] = v;
      }
      bool all = std::all_of(m.labels.begin(), m.labels.end(), [&](const auto& kv) {
        auto it = labels->find(kv.first);
        return it != labels->end() && Glob(kv.second, it->second);
      });
      if (!all) continue;
    }
    if (m.comm) {
      if (!process_names_) continue;
      const std::vector<std::string>& comms = names();
      if (std::none_of(comms.begin(), comms.end(),
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

WorkloadFacts Classifier::Gather(const std::string& cgroup_path) const {
  // The same walk as Classify, reading each fact once and only when a rule reaches it.
  WorkloadFacts f;
  bool have_names = false, have_labels = false;
  Walk(
      cgroup_path,
      [&]() -> const std::vector<std::string>& {
        if (!have_names) f.process_names = process_names_->ProcessNames(cgroup_path);
        have_names = true;
        return f.process_names;
      },
      [&]() -> const std::map<std::string, std::string>& {
        if (!have_labels) f.labels = labels_->Labels(cgroup_path);
        have_labels = true;
        return f.labels;
      });
  return f;
}

Classification Classifier::Classify(const std::string& cgroup_path,
                                    const WorkloadFacts& facts) const {
  return Walk(
      cgroup_path, [&]() -> const std::vector<std::string>& { return facts.process_names; },
      [&]() -> const std::map<std::string, std::string>& { return facts.labels; });
}

Classification Classifier::Classify(const std::string& cgroup_path) const {
  return Classify(cgroup_path, Gather(cgroup_path));
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
