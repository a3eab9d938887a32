#include "support/privileged.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/fs.h"
#include "support/cgroup_layout.h"

namespace sw::test {

std::string PrivilegedUnavailableReason() {
  if (geteuid() != 0) return "needs root";
  if (!PathExists("/sys/kernel/btf/vmlinux")) return "needs kernel BTF (/sys/kernel/btf/vmlinux)";
  // Any layout the product supports, found by the product's own detection.
  auto cgroups = MachineCgroups::Detect();
  if (!cgroups.ok()) return cgroups.error().message;  // says where it looked, what to mount
  if (cgroups->cpu_v2()) {
    // Test cgroups are made under the root: it must give its children the cpu controller.
    std::string subtree = JoinPath(cgroups->cpu_root(), "cgroup.subtree_control");
    auto enabled = ReadFile(subtree);
    std::istringstream words(enabled.ok() ? *enabled : "");
    std::string w;
    bool cpu = false;
    while (words >> w) cpu = cpu || w == "cpu";
    if (!cpu)
      return "the cgroup v2 root " + cgroups->cpu_root() +
             " does not enable the cpu controller for its children: run `echo +cpu > " + subtree +
             "`";
  }
  return "";
}

bool PrivilegedRequired() {
  const char* v = std::getenv("SCHEDWARDEN_REQUIRE_PRIVILEGED");
  return v && std::strcmp(v, "1") == 0;
}

}  // namespace sw::test
