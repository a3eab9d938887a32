#include "cli/preflight.h"

#include <sys/capability.h>

#include <cstdlib>

#include "common/capabilities.h"
#include "common/fs.h"

namespace sw {

std::vector<std::string> PreflightProblems(const PreflightInput& in) {
  std::vector<std::string> problems;
  if (!in.privileged) {
    std::string missing;
    for (const std::string& c : MissingAgentCapabilities())
      missing += (missing.empty() ? "" : ", ") + c;
    problems.push_back("not privileged" + (missing.empty() ? "" : " (missing " + missing + ")") +
                       ": run as root, or grant " + AgentCapabilityList() +
                       " (e.g. AmbientCapabilities= in the systemd unit)");
  }
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

std::vector<std::string> MissingAgentCapabilities() {
  std::vector<std::string> missing;
  cap_t caps = cap_get_proc();
  for (const NeededCapability& c : kAgentCapabilities) {
    if (!c.checked_at_start) continue;
    cap_value_t v;
    cap_flag_value_t set = CAP_CLEAR;
    if (!caps || cap_from_name(c.name, &v) != 0 ||
        cap_get_flag(caps, v, CAP_EFFECTIVE, &set) != 0 || set != CAP_SET)
      missing.push_back(c.name);
  }
  if (caps) cap_free(caps);
  return missing;
}

bool HasAgentCapabilities() { return MissingAgentCapabilities().empty(); }

uint64_t CapabilitiesKeptAfterStart(bool enforce, const std::string& listen) {
  uint64_t keep = 0;
  if (enforce) keep |= CapBit(kCapSysNice) | CapBit(kCapDacOverride);
  size_t colon = listen.rfind(':');
  int port = colon == std::string::npos ? 0 : std::atoi(listen.c_str() + colon + 1);
  if (port > 0 && port < 1024) keep |= CapBit(kCapNetBindService);
  return keep;
}

}  // namespace sw
