#include "enforce/layout.h"

#include "common/fs.h"

namespace sw {

Result<CgroupLayout> DetectCgroupLayout(const std::string& root) {
  CgroupLayout l;
  if (PathExists(JoinPath(root, "cpuset/cpuset.cpus"))) {
    l.mode = CgroupMode::kV1;
    l.cpuset_root = JoinPath(root, "cpuset");
    l.cpu_root = JoinPath(root, "cpu");
    if (!PathExists(JoinPath(l.cpu_root, "cpu.shares")))
      return Error{ENOENT, "cgroup v1 cpuset found at " + l.cpuset_root +
                               " but no v1 cpu controller at " + l.cpu_root};
    return l;
  }
  auto controllers = ReadLine(JoinPath(root, "cgroup.controllers"));
  if (controllers) {
    for (const std::string& c : Split(Trim(*controllers), ' ')) {
      if (c == "cpuset") {
        l.mode = CgroupMode::kV2;
        l.cpuset_root = root;
        l.cpu_root = root;
        return l;
      }
    }
    return Error{ENOENT, "cgroup v2 at " + root + " has no cpuset controller (" +
                             JoinPath(root, "cgroup.controllers") + " lists '" +
                             Trim(*controllers) + "')"};
  }
  return Error{ENOENT, "no cgroup v1 cpuset hierarchy (" + JoinPath(root, "cpuset") +
                           ") and no cgroup v2 mount at " + root};
}

}  // namespace sw
