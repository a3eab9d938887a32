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
                       LabelSource* labels, const PodMetadataSource* pods)
    : rules_(std::move(rules)), process_names_(process_names), labels_(labels), pods_(pods) {}

namespace {

// Every key present with a value matching its glob.
bool AllMatch(const std::map<std::string, std::string>& globs,
              const std::map<std::string, std::string>& values) {
  return std::all_of(globs.begin(), globs.end(), [&](const auto& kv) {
    auto it = values.find(kv.first);
    return it != values.end() && Glob(kv.second, it->second);
  });
}

bool PodMatches(const WorkloadMatch& m, const PodMeta* pod) {
  if (!m.namespace_glob && m.pod_labels.empty() && m.annotations.empty()) return true;
  if (!pod) return false;
  if (m.namespace_glob && !Glob(*m.namespace_glob, pod->namespace_name)) return false;
  return AllMatch(m.pod_labels, pod->labels) && AllMatch(m.annotations, pod->annotations);
}

// The rule's classification (or the unmatched default) with the pod's annotations on top.
Classification WithAnnotations(Classification c, const PodMeta* pod, bool apply) {
  if (!pod) return c;
  c.pod = pod->namespace_name + "/" + pod->name;
  if (!apply) return c;
  Annotated a =
      ApplyPodAnnotations(pod->annotations, {c.cls, c.slo_runq_p99, c.exclusive, c.exclusive_cpus});
  c.cls = a.cls;
  c.slo_runq_p99 = a.slo_runq_p99;
  c.exclusive = a.exclusive;
  c.exclusive_cpus = a.exclusive_cpus;
  c.annotations = std::move(a.applied);
  c.annotation_problems = std::move(a.problems);
  return c;
}

}  // namespace

template <typename Names, typename Labels>
Classification Classifier::Walk(const std::string& cgroup_path, const PodMeta* pod, Names&& names,
                                Labels&& runtime_labels) const {
  std::optional<std::map<std::string, std::string>> labels;  // path labels + runtime labels
  const std::optional<PodQos> qos = PodQosFromPath(cgroup_path);

  for (size_t i = 0; i < rules_.size(); i++) {
    const WorkloadRule& r = rules_[i];
    const WorkloadMatch& m = r.match;
    if (m.cgroup && !Glob(*m.cgroup, cgroup_path)) continue;
    if (m.k8s_qos && qos != m.k8s_qos) continue;
    if (!PodMatches(m, pod)) continue;
    if (!m.labels.empty()) {
      if (!labels) {
        labels = LabelsFromPath(cgroup_path);
        if (labels_)
          for (const auto& [k, v] : runtime_labels()) (*labels)[k] = v;
      }
      if (!AllMatch(m.labels, *labels)) continue;
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
    return WithAnnotations(std::move(out), pod, r.pod_annotations);
  }
  return WithAnnotations(Classification{}, pod, true);
}

WorkloadFacts Classifier::Gather(const std::string& cgroup_path) const {
  // The same walk as Classify, reading each fact once and only when a rule reaches it.
  WorkloadFacts f;
  // A cache lookup, no I/O (PodMetadataSource never blocks).
  if (pods_) f.pod = pods_->PodOf(cgroup_path);
  bool have_names = false, have_labels = false;
  Walk(
      cgroup_path, f.pod ? &*f.pod : nullptr,
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
      cgroup_path, facts.pod ? &*facts.pod : nullptr,
      [&]() -> const std::vector<std::string>& { return facts.process_names; },
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
