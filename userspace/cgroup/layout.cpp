#include "cgroup/layout.h"

#include <cerrno>
#include <sstream>
#include <vector>

#include "common/fs.h"

namespace sw {
namespace {

bool HasToken(const std::string& list, const std::string& token, char sep) {
  for (const std::string& t : Split(Trim(list), sep))
    if (Trim(t) == token) return true;
  return false;
}

// mountinfo escapes blanks in paths as octal (\040).
std::string UnescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; k++) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

struct CgroupMount {
  std::string mount_point;
  std::string fstype;         // "cgroup" or "cgroup2"
  std::string super_options;  // "rw,cpu,cpuacct" for v1
};

std::vector<CgroupMount> ParseMountinfo(const std::string& text) {
  std::vector<CgroupMount> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount_point options [optional...] - fstype source super_options
    std::istringstream ls(line);
    std::vector<std::string> f;
    std::string w;
    while (ls >> w) f.push_back(w);
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); i++)
      if (f[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || dash + 1 >= f.size()) continue;
    const std::string& fstype = f[dash + 1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    out.push_back({UnescapeMountPath(f[4]), fstype, dash + 3 < f.size() ? f[dash + 3] : ""});
  }
  return out;
}

bool V2HasController(const std::string& dir, const std::string& controller) {
  auto c = ReadFile(JoinPath(dir, "cgroup.controllers"));
  return c.ok() && HasToken(*c, controller, ' ');
}

bool IsUnder(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          (root.back() == '/' || path[root.size()] == '/'));
}

// Finds a v1 hierarchy carrying `controller`, or a v2 mount that has it enabled. Mounts under
// cgroup_root win over mounts elsewhere (e.g. a container runtime's bind mounts). A v1 hierarchy
// counts only when its root has the controller's files (`v1_file`): kernels built without a
// controller's v1 interface (Debian's 6.12 has no CONFIG_CPUSETS_V1) still mount it, empty,
// while the controller itself is usable on the cgroup2 hierarchy only.
std::optional<ControllerMount> FromMountinfo(const std::vector<CgroupMount>& mounts,
                                             const std::string& controller,
                                             const std::string& v1_file,
                                             const std::string& cgroup_root) {
  std::optional<ControllerMount> best;
  bool best_under_root = false;
  for (const CgroupMount& m : mounts) {
    std::optional<ControllerMount> cand;
    if (m.fstype == "cgroup" && HasToken(m.super_options, controller, ',') &&
        PathExists(JoinPath(m.mount_point, v1_file)))
      cand = ControllerMount{m.mount_point, CgroupVersion::kV1};
    else if (m.fstype == "cgroup2" && V2HasController(m.mount_point, controller))
      cand = ControllerMount{m.mount_point, CgroupVersion::kV2};
    if (!cand) continue;
    bool under = IsUnder(m.mount_point, cgroup_root);
    if (!best || (under && !best_under_root)) {
      best = cand;
      best_under_root = under;
    }
  }
  return best;
}

// Without mountinfo (or without cgroup entries in it): the directories systemd and the
// distributions use. A v1 hierarchy is recognised by its controller-prefixed files.
std::optional<ControllerMount> FromProbe(const std::string& root, const std::string& controller,
                                         const std::string& v1_file,
                                         std::vector<std::string>* looked_at) {
  std::vector<std::string> v1_dirs = {JoinPath(root, controller)};
  if (controller == "cpu" || controller == "cpuacct") {
    v1_dirs.push_back(JoinPath(root, "cpu,cpuacct"));
    v1_dirs.push_back(JoinPath(root, "cpuacct,cpu"));
  }
  for (const std::string& d : v1_dirs) {
    looked_at->push_back(JoinPath(d, v1_file));
    if (PathExists(JoinPath(d, v1_file))) return ControllerMount{d, CgroupVersion::kV1};
  }
  if (controller == "cpuacct") return std::nullopt;  // v2 has no cpuacct
  for (const std::string& d : {root, JoinPath(root, "unified")}) {
    looked_at->push_back(JoinPath(d, "cgroup.controllers") + " (for \"" + controller + "\")");
    if (V2HasController(d, controller)) return ControllerMount{d, CgroupVersion::kV2};
  }
  return std::nullopt;
}

}  // namespace

const char* CgroupVersionName(CgroupVersion v) { return v == CgroupVersion::kV1 ? "v1" : "v2"; }

Result<CgroupMounts> DetectCgroupMounts(const CgroupMountsOptions& options) {
  std::vector<std::string> looked_at;
  std::vector<CgroupMount> mounts;
  std::string mountinfo_path = JoinPath(options.proc_root, "self/mountinfo");
  if (auto text = ReadFile(mountinfo_path); text.ok()) mounts = ParseMountinfo(*text);
  looked_at.push_back(mountinfo_path + " (" + std::to_string(mounts.size()) + " cgroup mounts)");

  auto find = [&](const std::string& controller,
                  const std::string& v1_file) -> std::optional<ControllerMount> {
    auto m = FromMountinfo(mounts, controller, v1_file, options.cgroup_root);
    if (m && controller == "cpuacct" && m->version == CgroupVersion::kV2) m.reset();
    if (m) return m;
    return FromProbe(options.cgroup_root, controller, v1_file, &looked_at);
  };

  CgroupMounts layout;
  auto cpu = find("cpu", "cpu.shares");
  if (!cpu) {
    std::string msg = "no cgroup cpu controller is mounted; looked at:";
    for (const std::string& l : looked_at) msg += " " + l + ";";
    msg +=
        " mount one (cgroup v2 with \"+cpu\" in cgroup.subtree_control, or a v1 \"cpu\" "
        "hierarchy) or pass the right cgroup root";
    return Error{ENOENT, msg};
  }
  layout.cpu = *cpu;
  if (layout.cpu.version == CgroupVersion::kV1) layout.cpuacct = find("cpuacct", "cpuacct.usage");
  layout.cpuset = find("cpuset", "cpuset.cpus");
  return layout;
}

Result<ControllerMount> CpusetMount(const CgroupMounts& m) {
  if (!m.cpuset)
    return Error{ENOENT,
                 "no cpuset controller: exclusive cores need a cgroup v1 cpuset hierarchy "
                 "or a cgroup v2 mount whose cgroup.controllers lists cpuset (cpu "
                 "controller found at " +
                     m.cpu.path + ")"};
  return *m.cpuset;
}

}  // namespace sw
