#include "support/privileged.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/fs.h"

namespace sw::test {

std::string PrivilegedUnavailableReason() {
  if (geteuid() != 0) return "needs root";
  if (!PathExists("/sys/kernel/btf/vmlinux")) return "needs kernel BTF (/sys/kernel/btf/vmlinux)";
  if (!PathExists("/sys/fs/cgroup/cpu/cpu.shares") &&
      !PathExists("/sys/fs/cgroup/cgroup.controllers"))
    return "needs a mounted cgroup cpu controller";
  return "";
}

bool PrivilegedRequired() {
  const char* v = std::getenv("SCHEDWARDEN_REQUIRE_PRIVILEGED");
  return v && std::strcmp(v, "1") == 0;
}

}  // namespace sw::test
