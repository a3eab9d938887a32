// Cgroup paths (named by whoever creates cgroups: runtimes, users, pods): container identity,
// pod QoS, path labels and workload folding.
#include "cgroup/container.h"
#include "cgroup/labels.h"
#include "cgroup/workload.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = FuzzText(data, size);
  (void)sw::ParseContainerIdentity(path);
  (void)sw::PodQosFromPath(path);
  (void)sw::IsKubeletQosLevel(path);
  (void)sw::LabelsFromPath(path);
  std::vector<std::string> parts = sw::CgroupPathComponents(path);
  for (const std::string& p : parts) FUZZ_CHECK(!p.empty() && p.find('/') == std::string::npos);
  for (int depth = 0; depth <= 4; depth++) {
    std::string w = sw::WorkloadPathAtDepth(path, depth);
    FUZZ_CHECK(!w.empty() && w[0] == '/');
    FUZZ_CHECK(sw::CgroupPathComponents(w).size() <= static_cast<size_t>(depth));
  }
  sw::WorkloadLabeler labeler({.depth = 2, .max_workloads = 2});
  std::string a = labeler.Assign(path);
  FUZZ_CHECK(labeler.Assign(path) == a);  // one workload never splits across two series
  return 0;
}
