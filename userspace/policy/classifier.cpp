#include "policy/classifier.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/fs.h"

namespace sw {

namespace {

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  for (auto& c : Split(path, '/'))
    if (!c.empty()) out.push_back(c);
  return out;
}

bool Glob(const std::string& pattern, const std::string& text) {
  return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

std::optional<K8sQos> K8sQosFromPath(const std::string& cgroup_path) {
  const auto parts = Components(cgroup_path);
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    const std::string& next = parts[i + 1];
    if (parts[i] == "kubepods") {  // cgroupfs driver
      if (next == "besteffort") return K8sQos::kBestEffort;
      if (next == "burstable") return K8sQos::kBurstable;
      if (StartsWith(next, "pod")) return K8sQos::kGuaranteed;
      return std::nullopt;
    }
    if (parts[i] == "kubepods.slice") {  // systemd driver
      if (next == "kubepods-besteffort.slice") return K8sQos::kBestEffort;
      if (next == "kubepods-burstable.slice") return K8sQos::kBurstable;
      if (StartsWith(next, "kubepods-pod")) return K8sQos::kGuaranteed;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::map<std::string, std::string> LabelsFromPath(const std::string& cgroup_path) {
  std::map<std::string, std::string> out;
  for (const auto& c : Components(cgroup_path)) {
    const size_t eq = c.find('=');
    if (eq != std::string::npos && eq > 0) out[c.substr(0, eq)] = c.substr(eq + 1);
  }
  return out;
}

CgroupProcessNames::CgroupProcessNames(std::string cpu_hierarchy_root, std::string proc_root,
                                       int max_pids)
    : cpu_root_(std::move(cpu_hierarchy_root)),
      proc_root_(std::move(proc_root)),
      max_pids_(max_pids) {}

std::vector<std::string> CgroupProcessNames::ProcessNames(const std::string& cgroup_path) {
  std::vector<std::string> names;
  std::vector<std::string> dirs{cpu_root_ + (cgroup_path == "/" ? "" : cgroup_path)};
  int pids = 0;
  while (!dirs.empty() && pids < max_pids_) {
    const std::string dir = dirs.back();
    dirs.pop_back();
    if (auto procs = ReadFile(JoinPath(dir, "cgroup.procs"))) {
      for (const auto& line : Split(*procs, '\n')) {
        const std::string pid = Trim(line);
        if (pid.empty() || pids >= max_pids_) continue;
        pids++;
        // The process may exit between the two reads: that is not an error.
        if (auto comm = ReadLine(JoinPath(JoinPath(proc_root_, pid), "comm")))
          names.push_back(Trim(*comm));
      }
    }
    if (auto entries = ListDir(dir)) {
      for (const auto& e : *entries) {
        std::error_code ec;
        const std::string child = JoinPath(dir, e);
        if (std::filesystem::is_directory(child, ec)) dirs.push_back(child);
      }
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::map<std::string, std::string> LabelDirectorySource::Labels(const std::string& cgroup_path) {
  std::map<std::string, std::string> out;
  std::string dir = root_;
  auto read = [&out](const std::string& d) {
    auto text = ReadFile(JoinPath(d, "labels"));
    if (!text) return;
    for (const auto& raw : Split(*text, '\n')) {
      const std::string line = Trim(raw);
      if (line.empty() || line[0] == '#') continue;
      size_t sep = line.find('=');
      if (sep == std::string::npos) sep = line.find(':');
      if (sep == std::string::npos || sep == 0) continue;
      out[Trim(line.substr(0, sep))] = Trim(line.substr(sep + 1));
    }
  };
  read(dir);
  for (const auto& c : Components(cgroup_path)) {
    dir = JoinPath(dir, c);
    read(dir);
  }
  return out;
}

Classifier::Classifier(std::vector<WorkloadRule> rules, ProcessNameSource* process_names,
                       LabelSource* labels)
    : rules_(std::move(rules)), process_names_(process_names), labels_(labels) {}

Classification Classifier::Classify(const std::string& cgroup_path) const {
  // Process names and runtime labels cost I/O: fetched once, and only if a rule needs them.
  std::optional<std::vector<std::string>> comms;
  std::optional<std::map<std::string, std::string>> labels;
  const std::optional<K8sQos> qos = K8sQosFromPath(cgroup_path);

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
