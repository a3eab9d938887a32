#include "support/scoped_cgroups.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "common/fs.h"

namespace sw::test {
namespace {

bool WriteString(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

ScopedCgroups::~ScopedCgroups() {
  for (auto it = cpuset_dirs_.rbegin(); it != cpuset_dirs_.rend(); ++it) {
    int i = 0;
    while (rmdir(it->c_str()) != 0 && errno == EBUSY && i++ < 100)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (PathExists(*it)) ADD_FAILURE() << "could not remove " << *it << ": " << strerror(errno);
  }
  for (auto it = made_.rbegin(); it != made_.rend(); ++it)
    if (auto r = m_.RemoveCpuCgroup(*it); !r.ok()) ADD_FAILURE() << r.error().message;
}

void ScopedCgroups::Create(const std::string& cgroup) {
  auto r = m_.CreateCpuCgroup(cgroup);
  ASSERT_TRUE(r.ok()) << r.error().message;
  made_.push_back(cgroup);
  if (!m_.cpuset_v2()) return;
  const std::string parent = cgroup.substr(0, cgroup.rfind('/'));
  const std::string dir = m_.CpusetDir(cgroup);
  if (dir != m_.CpuDir(cgroup)) {  // cpuset on its own cgroup2 hierarchy beside v1 cpu
    ASSERT_TRUE(mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST)
        << "mkdir " << dir << ": " << strerror(errno);
    cpuset_dirs_.push_back(dir);
  }
  // A parent made here gets +cpuset for its children; the root must have it already.
  if (!parent.empty()) {
    const std::string sub = JoinPath(m_.CpusetDir(parent), "cgroup.subtree_control");
    if (ReadFile(sub).value_or("").find("cpuset") == std::string::npos) {
      ASSERT_TRUE(WriteString(sub, "+cpuset")) << "enable +cpuset in " << sub;
    }
  }
}

void ScopedCgroups::Join(const std::string& cgroup, pid_t pid) const {
  auto r = m_.JoinCpuCgroup(cgroup, pid);
  ASSERT_TRUE(r.ok()) << r.error().message;
  if (m_.cpuset_v2() && m_.CpusetDir(cgroup) != m_.CpuDir(cgroup)) {
    const std::string procs = JoinPath(m_.CpusetDir(cgroup), MachineCgroups::kProcsFile);
    ASSERT_TRUE(WriteString(procs, std::to_string(pid))) << "join " << procs;
  }
}

std::string ScopedCgroups::ReadCpu(const std::string& cgroup, const std::string& file) const {
  return Trim(ReadFile(JoinPath(m_.CpuDir(cgroup), file)).value_or("?"));
}

void ScopedCgroups::WriteCpu(const std::string& cgroup, const std::string& file,
                             const std::string& v) const {
  const std::string path = JoinPath(m_.CpuDir(cgroup), file);
  ASSERT_TRUE(WriteString(path, v)) << "write " << v << " to " << path;
}

std::vector<std::pair<std::string, std::string>> ScopedCgroups::CpusetFiles(
    const std::string& cgroup) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (!m_.cpuset_v2()) return out;
  for (const char* f :
       {"cpuset.cpus", "cpuset.cpus.effective", "cpuset.cpus.exclusive", "cpuset.cpus.partition"}) {
    const std::string path = JoinPath(m_.CpusetDir(cgroup), f);
    if (PathExists(path)) out.emplace_back(f, Trim(ReadFile(path).value_or("?")));
  }
  return out;
}

std::string ScopedCgroups::CpusetRestoreDiff(
    const std::string& cgroup,
    const std::vector<std::pair<std::string, std::string>>& before) const {
  const auto now = CpusetFiles(cgroup);
  if (now == before) return "";
  bool has_exclusive = false;
  for (const auto& [f, v] : before) has_exclusive |= f == "cpuset.cpus.exclusive";
  const std::string parent = cgroup.substr(0, cgroup.rfind('/'));
  const std::string inherited =
      Trim(ReadFile(JoinPath(m_.CpusetDir(parent.empty() ? "/" : parent), "cpuset.cpus.effective"))
               .value_or("?"));
  auto allowed = before;
  for (auto& [f, v] : allowed)
    if (f == "cpuset.cpus" && v.empty() && !has_exclusive) v = inherited;
  if (now == allowed) return "";
  std::string diff;
  for (size_t i = 0; i < std::max(now.size(), before.size()); i++) {
    std::string n = i < now.size() ? now[i].first + "=" + now[i].second : "-";
    std::string b = i < before.size() ? before[i].first + "=" + before[i].second : "-";
    if (n != b) diff += " " + b + " -> " + n + ";";
  }
  return "cpuset files of " + cgroup + ":" + diff;
}

}  // namespace sw::test
