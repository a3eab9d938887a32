#include "cgroup/labels.h"

#include "cgroup/workload.h"
#include "common/fs.h"

namespace sw {
namespace {

void ReadLabelFile(const std::string& dir, std::map<std::string, std::string>& out) {
  auto text = ReadFile(JoinPath(dir, "labels"));
  if (!text) return;
  for (const auto& raw : Split(*text, '\n')) {
    const std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    size_t sep = line.find('=');
    if (sep == std::string::npos) sep = line.find(':');
    if (sep == std::string::npos || sep == 0) continue;
    out[Trim(line.substr(0, sep))] = Trim(line.substr(sep + 1));
  }
}

}  // namespace

std::map<std::string, std::string> LabelsFromPath(const std::string& cgroup_path) {
  std::map<std::string, std::string> out;
  for (const auto& c : CgroupPathComponents(cgroup_path)) {
    const size_t eq = c.find('=');
    if (eq != std::string::npos && eq > 0) out[c.substr(0, eq)] = c.substr(eq + 1);
  }
  return out;
}

std::map<std::string, std::string> ReadLabelDirectory(const std::string& root,
                                                      const std::string& cgroup_path) {
  std::map<std::string, std::string> out;
  std::string dir = root;
  ReadLabelFile(dir, out);
  for (const auto& c : CgroupPathComponents(cgroup_path)) {
    dir = JoinPath(dir, c);
    ReadLabelFile(dir, out);
  }
  return out;
}

}  // namespace sw
