#include "enforce/layout.h"

namespace sw {

Result<CgroupLayout> LayoutFromMounts(const CgroupMounts& m) {
  if (!m.cpuset)
    return Error{ENOENT,
                 "no cpuset controller: exclusive cores need a cgroup v1 cpuset hierarchy "
                 "or a cgroup v2 mount whose cgroup.controllers lists cpuset (cpu "
                 "controller found at " +
                     m.cpu.path + ")"};
  CgroupLayout l;
  l.mode = m.cpuset->version == CgroupVersion::kV1 ? CgroupMode::kV1 : CgroupMode::kV2;
  l.cpuset_root = m.cpuset->path;
  l.cpu_root = m.cpu.path;
  return l;
}

Result<CgroupLayout> DetectCgroupLayout(const std::string& root, const std::string& proc_root) {
  auto m = DetectCgroupMounts({.cgroup_root = root, .proc_root = proc_root});
  if (!m) return m.error();
  return LayoutFromMounts(*m);
}

}  // namespace sw
