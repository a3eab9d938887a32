#include "cli/preflight.h"

#include <sys/capability.h>

#include "common/capabilities.h"
#include "common/fs.h"

namespace sw {

std::vector<std::string> PreflightProblems(const PreflightInput& in) {
  std::vector<std::string> problems;
  if (!in.privileged)
    problems.push_back("not privileged: run as root, or grant " + AgentCapabilityList() +
                       " (e.g. AmbientCapabilities= in the systemd unit)");
  std::string btf = JoinPath(in.sys_root, "kernel/btf/vmlinux");
  if (!PathExists(btf))
    problems.push_back("kernel BTF not found at " + btf +
                       ": schedwarden's CO-RE BPF programs need a kernel built with "
                       "CONFIG_DEBUG_INFO_BTF=y");
  std::string cg = JoinPath(in.sys_root, "fs/cgroup");
  if (!PathExists(JoinPath(cg, "cgroup.controllers")) && !PathExists(JoinPath(cg, "cpu")) &&
      !PathExists(JoinPath(cg, "cpu,cpuacct")))
    problems.push_back("no cgroup filesystem with a cpu controller under " + cg +
                       ": mount cgroup2 there, or the cgroup v1 cpu controller at " + cg + "/cpu");
  return problems;
}

bool HasAgentCapabilities() {
  cap_t caps = cap_get_proc();
  if (!caps) return false;
  auto has = [&](cap_value_t c) {
    cap_flag_value_t v = CAP_CLEAR;
    return cap_get_flag(caps, c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
  };
  bool ok = true;
  for (const NeededCapability& c : kAgentCapabilities) {
    cap_value_t v;
    ok = ok && cap_from_name(c.name, &v) == 0 && has(v);
  }
  cap_free(caps);
  return ok;
}

}  // namespace sw
