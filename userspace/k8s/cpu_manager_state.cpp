#include "k8s/cpu_manager_state.h"

#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace sw {

CpuSet CpuManagerState::Assigned() const {
  CpuSet out;
  if (policy_name == "none") return out;
  for (const auto& [pod, containers] : entries)
    for (const auto& [name, cpus] : containers) out.insert(cpus.begin(), cpus.end());
  return out;
}

std::map<int, std::string> CpuManagerState::Owners() const {
  std::map<int, std::string> out;
  if (policy_name == "none") return out;
  for (const auto& [pod, containers] : entries)
    for (const auto& [name, cpus] : containers)
      for (int cpu : cpus)
        out.emplace(cpu,
                    pod.empty() ? "container " + name : "container " + name + " of pod " + pod);
  return out;
}

namespace {

Result<CpuSet> Cpus(const nlohmann::json& v, const std::string& where) {
  if (!v.is_string()) return Error{EINVAL, where + ": expected a cpu list string"};
  auto cpus = ParseCpuList(v.get<std::string>());
  if (!cpus) return Error{EINVAL, where + ": " + cpus.error().message};
  return *cpus;
}

}  // namespace

Result<CpuManagerState> ParseCpuManagerState(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error{EINVAL, "not a JSON object"};
  CpuManagerState s;
  if (!j.contains("policyName") || !j["policyName"].is_string())
    return Error{EINVAL, "policyName: missing or not a string"};
  s.policy_name = j["policyName"].get<std::string>();
  if (j.contains("defaultCpuSet")) {
    auto d = Cpus(j["defaultCpuSet"], "defaultCpuSet");
    if (!d) return d.error();
    s.default_cpuset = *d;
  }
  if (j.contains("entries") && !j["entries"].is_null()) {
    if (!j["entries"].is_object()) return Error{EINVAL, "entries: expected an object"};
    for (const auto& [pod, v] : j["entries"].items()) {
      if (v.is_string()) {  // old format: container id -> cpus
        auto c = Cpus(v, "entries." + pod);
        if (!c) return c.error();
        s.entries[""][pod] = *c;
        continue;
      }
      if (!v.is_object()) return Error{EINVAL, "entries." + pod + ": expected an object"};
      for (const auto& [ctr, cv] : v.items()) {
        auto c = Cpus(cv, "entries." + pod + "." + ctr);
        if (!c) return c.error();
        s.entries[pod][ctr] = *c;
      }
    }
  }
  if (j.contains("checksum")) s.checksum = j["checksum"].dump();
  return s;
}

CpuManagerStateReader::Refreshed CpuManagerStateReader::Refresh() {
  const View before = view_;
  const bool first = first_;
  first_ = false;
  std::optional<std::string> problem;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    // Absent: kubelet without the static policy's checkpoint, or not a Kubernetes node.
    if (stat_seen_ && !last_problem_.empty()) problem = path_ + ": gone; nothing assigned";
    stat_seen_ = false;
    last_problem_.clear();
    have_good_ = true;
    view_ = View{};
    return {view_, first || !(view_ == before), problem};
  }
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  if (stat_seen_ && st.st_ino == ino_ && st.st_size == size_ && mtime == mtime_ns_)
    return {view_, false, std::nullopt};
  stat_seen_ = true;
  ino_ = st.st_ino;
  size_ = st.st_size;
  mtime_ns_ = mtime;
  auto text = ReadFile(path_);
  Result<CpuManagerState> parsed =
      text ? ParseCpuManagerState(*text) : Result<CpuManagerState>(text.error());
  if (!parsed) {
    std::string p = path_ + ": cannot use kubelet's CPU manager state (" + parsed.error().message +
                    "): " +
                    (have_good_ ? "keeping the CPUs it assigned last time"
                                : "no CPU is made exclusive until it reads well");
    if (p != last_problem_) problem = p;
    last_problem_ = p;
    if (!have_good_) view_ = View{false, {}, {}};
    return {view_, first || !(view_ == before), problem};
  }
  if (!last_problem_.empty())
    problem = path_ + ": readable again (policy " + parsed->policy_name + ")";
  last_problem_.clear();
  have_good_ = true;
  view_ = View{true, parsed->Assigned(), parsed->Owners()};
  return {view_, first || !(view_ == before), problem};
}

}  // namespace sw
