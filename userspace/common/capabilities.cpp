#include "common/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace sw {
namespace {

// Raw capget/capset (no libcap in sw_common): version 3, two 32-bit words per set.
struct CapSets {
  uint64_t effective = 0, permitted = 0, inheritable = 0;
};

Result<CapSets> GetCaps() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return Error::FromErrno(errno, "capget");
  auto join = [](uint32_t lo, uint32_t hi) { return (uint64_t{hi} << 32) | lo; };
  return CapSets{join(data[0].effective, data[1].effective),
                 join(data[0].permitted, data[1].permitted),
                 join(data[0].inheritable, data[1].inheritable)};
}

Result<void> SetCaps(const CapSets& c) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; i++) {
    data[i].effective = static_cast<uint32_t>(c.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(c.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(c.inheritable >> (32 * i));
  }
  if (::syscall(SYS_capset, &hdr, data) != 0) return Error::FromErrno(errno, "capset");
  return Ok();
}

int LastCap() {
  auto v = ReadInt("/proc/sys/kernel/cap_last_cap");
  return v && *v > 0 && *v < 64 ? static_cast<int>(*v) : 40;  // 40: CAP_CHECKPOINT_RESTORE
}

constexpr const char* kNames[] = {"CAP_CHOWN",
                                  "CAP_DAC_OVERRIDE",
                                  "CAP_DAC_READ_SEARCH",
                                  "CAP_FOWNER",
                                  "CAP_FSETID",
                                  "CAP_KILL",
                                  "CAP_SETGID",
                                  "CAP_SETUID",
                                  "CAP_SETPCAP",
                                  "CAP_LINUX_IMMUTABLE",
                                  "CAP_NET_BIND_SERVICE",
                                  "CAP_NET_BROADCAST",
                                  "CAP_NET_ADMIN",
                                  "CAP_NET_RAW",
                                  "CAP_IPC_LOCK",
                                  "CAP_IPC_OWNER",
                                  "CAP_SYS_MODULE",
                                  "CAP_SYS_RAWIO",
                                  "CAP_SYS_CHROOT",
                                  "CAP_SYS_PTRACE",
                                  "CAP_SYS_PACCT",
                                  "CAP_SYS_ADMIN",
                                  "CAP_SYS_BOOT",
                                  "CAP_SYS_NICE",
                                  "CAP_SYS_RESOURCE",
                                  "CAP_SYS_TIME",
                                  "CAP_SYS_TTY_CONFIG",
                                  "CAP_MKNOD",
                                  "CAP_LEASE",
                                  "CAP_AUDIT_WRITE",
                                  "CAP_AUDIT_CONTROL",
                                  "CAP_SETFCAP",
                                  "CAP_MAC_OVERRIDE",
                                  "CAP_MAC_ADMIN",
                                  "CAP_SYSLOG",
                                  "CAP_WAKE_ALARM",
                                  "CAP_BLOCK_SUSPEND",
                                  "CAP_AUDIT_READ",
                                  "CAP_PERFMON",
                                  "CAP_BPF",
                                  "CAP_CHECKPOINT_RESTORE"};

}  // namespace

std::string CapabilityNames(uint64_t mask) {
  std::string out;
  for (int c = 0; c < 64; c++) {
    if (!(mask & CapBit(c))) continue;
    if (!out.empty()) out += ", ";
    out += c < static_cast<int>(std::size(kNames)) ? kNames[c] : "cap " + std::to_string(c);
  }
  return out.empty() ? "none" : out;
}

Result<uint64_t> DropCapabilitiesExcept(uint64_t keep) {
  auto now = GetCaps();
  if (!now) return now.error();
  keep &= now->permitted;
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return Error::FromErrno(errno, "clearing the ambient capabilities");
  if (now->effective & CapBit(CAP_SETPCAP)) {
    for (int c = 0; c <= LastCap(); c++)
      if (!(keep & CapBit(c)) && ::prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
          ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
        return Error::FromErrno(
            errno, "dropping " + CapabilityNames(CapBit(c)) + " from the bounding set");
  }
  // No exec (there is none) may grant privileges again, set-user-ID or file capabilities.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Error::FromErrno(errno, "setting no_new_privs");
  if (auto r = SetCaps(CapSets{keep, keep, 0}); !r) return r.error();
  auto threads = ReadFile("/proc/self/status");
  if (threads && threads->find("\nThreads:\t1\n") == std::string::npos)
    return Error{EBUSY,
                 "capabilities were dropped in one thread only: the process already has other "
                 "threads (drop them before any thread starts)"};
  return keep;
}

}  // namespace sw
