#include "cgroup/workload.h"

#include "common/fs.h"

namespace sw {

std::vector<std::string> CgroupPathComponents(const std::string& cgroup_path) {
  std::vector<std::string> out;
  for (std::string& part : Split(cgroup_path, '/'))
    if (!part.empty()) out.push_back(std::move(part));
  return out;
}

std::string WorkloadPathAtDepth(const std::string& cgroup_path, int depth) {
  std::string out;
  int taken = 0;
  for (const std::string& part : CgroupPathComponents(cgroup_path)) {
    if (taken >= depth) break;
    out += "/" + part;
    taken++;
  }
  return out.empty() ? "/" : out;
}

WorkloadLabeler::WorkloadLabeler(WorkloadLabelerOptions options) : options_(options) {}

std::string WorkloadLabeler::Assign(const std::string& cgroup_path) {
  std::string label = WorkloadPathAtDepth(cgroup_path, options_.depth);
  if (tracked_.count(label)) return label;
  if (!overflowed_.count(label) && tracked_.size() < options_.max_workloads) {
    tracked_.insert(label);
    return label;
  }
  overflowed_.insert(label);
  return kOverflowWorkload;
}

void WorkloadLabeler::Release(const std::string& depth_label) {
  tracked_.erase(depth_label);
  overflowed_.erase(depth_label);
}

}  // namespace sw
