#include "support/cgroup_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include "common/fs.h"

namespace sw::test {
namespace {

Result<void> WriteString(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open " + path);
  ssize_t n = write(fd, value.data(), value.size());
  int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    return Error::FromErrno(e, "write \"" + value + "\" to " + path);
  return Ok();
}

// "key value" lines of a flat-keyed file (cpu.stat).
Result<std::map<std::string, uint64_t>> ReadKeyed(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.error();
  std::map<std::string, uint64_t> out;
  std::istringstream in(*text);
  std::string key;
  uint64_t v;
  while (in >> key >> v) out[key] = v;
  return out;
}

Result<uint64_t> Field(const std::map<std::string, uint64_t>& kv, const std::string& key,
                       const std::string& path) {
  auto it = kv.find(key);
  if (it == kv.end()) return Error{ENOENT, path + " has no \"" + key + "\""};
  return it->second;
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w)
    if (w == word) return true;
  return false;
}

std::string Parent(const std::string& cgroup) {
  size_t slash = cgroup.find_last_of('/');
  return slash == std::string::npos ? "" : cgroup.substr(0, slash);
}

}  // namespace

Result<MachineCgroups> MachineCgroups::Detect(const CgroupMountsOptions& options) {
  Result<CgroupMounts> m = DetectCgroupMounts(options);
  if (!m.ok()) return m.error();
  return MachineCgroups(std::move(*m));
}

std::string MachineCgroups::cpuacct_root() const {
  return !cpu_v2() && mounts_.cpuacct ? mounts_.cpuacct->path : "";
}

std::string MachineCgroups::cpuset_root() const {
  return mounts_.cpuset ? mounts_.cpuset->path : "";
}

bool MachineCgroups::cpuset_v2() const {
  return mounts_.cpuset && mounts_.cpuset->version == CgroupVersion::kV2;
}

std::vector<std::string> MachineCgroups::CpuRoots() const {
  std::vector<std::string> roots = {cpu_root()};
  std::string acct = cpuacct_root();
  if (!acct.empty() && acct != cpu_root()) roots.push_back(acct);
  return roots;
}

std::string MachineCgroups::CpuDir(const std::string& cgroup) const {
  return JoinPath(cpu_root(), cgroup);
}

std::string MachineCgroups::CpuacctDir(const std::string& cgroup) const {
  return cpu_v2() ? CpuDir(cgroup) : JoinPath(cpuacct_root(), cgroup);
}

std::string MachineCgroups::CpusetDir(const std::string& cgroup) const {
  return JoinPath(cpuset_root(), cgroup);
}

Result<void> MachineCgroups::CreateCpuCgroup(const std::string& cgroup) const {
  if (cgroup.empty() || cgroup[0] != '/' || cgroup == "/")
    return Error{EINVAL,
                 "test cgroup \"" + cgroup + "\" must be a \"/\"-rooted path below the root"};
  if (cpu_v2()) {
    std::string parent = Parent(cgroup);
    std::string subtree = JoinPath(CpuDir(parent), "cgroup.subtree_control");
    Result<std::string> enabled = ReadFile(subtree);
    if (!enabled.ok()) return enabled.error();
    if (!HasWord(*enabled, "cpu")) {
      if (parent.empty())
        return Error{EPERM,
                     "the cgroup v2 root does not enable the cpu controller for its "
                     "children: run `echo +cpu > " +
                         subtree + "` first"};
      if (Result<void> r = WriteString(subtree, "+cpu"); !r.ok()) return r;
    }
  }
  std::vector<std::string> made;
  for (const std::string& root : CpuRoots()) {
    std::string dir = JoinPath(root, cgroup);
    if (mkdir(dir.c_str(), 0755) == 0) {
      made.push_back(dir);
    } else if (errno != EEXIST) {
      int e = errno;
      for (const std::string& d : made) rmdir(d.c_str());
      return Error::FromErrno(e, "mkdir " + dir);
    }
  }
  return Ok();
}

Result<void> MachineCgroups::JoinCpuCgroup(const std::string& cgroup, pid_t pid) const {
  for (const std::string& root : CpuRoots()) {
    Result<void> r = WriteString(JoinPath(JoinPath(root, cgroup), kProcsFile), std::to_string(pid));
    if (!r.ok()) return r;
  }
  return Ok();
}

Result<void> MachineCgroups::RemoveCpuCgroup(const std::string& cgroup) const {
  for (const std::string& root : CpuRoots()) {
    std::string dir = JoinPath(root, cgroup);
    int e = 0;
    for (int i = 0; i < 100; i++) {
      if (rmdir(dir.c_str()) == 0 || errno == ENOENT) {
        e = 0;
        break;
      }
      e = errno;
      if (e != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (e != 0) return Error::FromErrno(e, "rmdir " + dir);
  }
  return Ok();
}

bool MachineCgroups::IsIdleWeight(const std::string& value) const {
  return cpu_v2() ? value == "0" || value == "1" : value == "3";
}

std::string MachineCgroups::ReadWeight(const std::string& cgroup) const {
  return Trim(ReadLine(JoinPath(CpuDir(cgroup), weight_file())).value_or(""));
}

Result<void> MachineCgroups::WriteWeight(const std::string& cgroup,
                                         const std::string& value) const {
  return WriteString(JoinPath(CpuDir(cgroup), weight_file()), value);
}

Result<void> MachineCgroups::SetCfsQuota(const std::string& cgroup, uint64_t quota_us,
                                         uint64_t period_us) const {
  std::string dir = CpuDir(cgroup);
  if (cpu_v2())
    return WriteString(JoinPath(dir, "cpu.max"),
                       std::to_string(quota_us) + " " + std::to_string(period_us));
  if (Result<void> r = WriteString(JoinPath(dir, "cpu.cfs_period_us"), std::to_string(period_us));
      !r.ok())
    return r;
  return WriteString(JoinPath(dir, "cpu.cfs_quota_us"), std::to_string(quota_us));
}

Result<CpuThrottling> MachineCgroups::ReadThrottling(const std::string& cgroup) const {
  std::string path = JoinPath(CpuDir(cgroup), "cpu.stat");
  auto kv = ReadKeyed(path);
  if (!kv.ok()) return kv.error();
  auto periods = Field(*kv, "nr_periods", path);
  auto throttled = Field(*kv, "nr_throttled", path);
  auto time = Field(*kv, cpu_v2() ? "throttled_usec" : "throttled_time", path);
  for (const auto* r : {&periods, &throttled, &time})
    if (!r->ok()) return r->error();
  return CpuThrottling{*periods, *throttled, cpu_v2() ? *time * 1000 : *time};
}

Result<uint64_t> MachineCgroups::ReadUsageNs(const std::string& cgroup) const {
  if (cpu_v2()) {
    std::string path = JoinPath(CpuDir(cgroup), "cpu.stat");
    auto kv = ReadKeyed(path);
    if (!kv.ok()) return kv.error();
    auto usec = Field(*kv, "usage_usec", path);
    if (!usec.ok()) return usec.error();
    return *usec * 1000;
  }
  if (cpuacct_root().empty())
    return Error{ENOENT, "no cgroup v1 cpuacct hierarchy is mounted (CPU usage of " + cgroup +
                             " is counted nowhere)"};
  std::string path = JoinPath(CpuacctDir(cgroup), "cpuacct.usage");
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.error();
  char* end = nullptr;
  std::string t = Trim(*text);
  uint64_t v = std::strtoull(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0') return Error{EINVAL, path + ": not a number: \"" + t + "\""};
  return v;
}

}  // namespace sw::test
