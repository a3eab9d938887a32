// Labels of a workload's cgroup: key=value components of its path (pure), and label files an
// operator or runtime keeps in a directory that mirrors the cgroup tree (a reader that takes the
// directory's root, so it runs against fake trees).
#pragma once

#include <map>
#include <string>

namespace sw {

// Labels written into the path as key=value components, e.g. /mesos/cpu_hint=exclusive/<id>.
std::map<std::string, std::string> LabelsFromPath(const std::string& cgroup_path);

// Label files under `root`: <root><path>/labels, one "key=value" or "key: value" per line, '#'
// comments. Ancestors' labels are inherited (a pod's annotations apply to its containers); a
// deeper file overrides. Missing files are no labels, not errors.
std::map<std::string, std::string> ReadLabelDirectory(const std::string& root,
                                                      const std::string& cgroup_path);

}  // namespace sw
