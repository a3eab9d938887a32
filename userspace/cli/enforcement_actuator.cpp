#include "cli/enforcement_actuator.h"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>

namespace sw {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : "; ") + s;
  return out;
}

Result<void> Check(const Result<UndoReport>& r, const std::string& what) {
  if (!r) return r.error();
  // Not errors, but an operator must see what was left as someone else set it.
  for (const auto& s : r->skipped) spdlog::warn("{}: skipped: {}", what, s);
  if (!r->Complete()) {
    std::vector<std::string> problems = r->failed;
    problems.insert(problems.end(), r->corrupt.begin(), r->corrupt.end());
    return Error{EIO, what + ": " + Join(problems)};
  }
  return Ok();
}

}  // namespace

std::string EnforcementActuator::ActuatorName(const std::string& workload) {
  auto plain_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  };
  // "/seg/seg" with non-empty segments of plain characters maps one-to-one onto "seg_seg": each
  // '_' stands for a '/' and no plain name contains "__".
  bool plain = workload.size() > 1 && workload.front() == '/' && workload.back() != '/';
  for (size_t i = 1; plain && i < workload.size(); i++)
    plain = plain_char(workload[i]) || (workload[i] == '/' && workload[i - 1] != '/');
  std::string out;
  for (char c : workload) {
    if (c == '/' && (out.empty() || out.back() == '_')) continue;
    out += plain_char(c) ? c : '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (plain) return out;
  // Anything else ('_', other characters, "/", "//") could meet another label's name: the
  // readable part, then "__" and a stable hash of the whole label.
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits: the same on every run and machine
  for (unsigned char c : workload) h = (h ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return (out.empty() ? "root" : out) + "__" + hex;
}

namespace {
Result<void> LogDemotion(const std::string& workload, const Result<DemoteResult>& r) {
  if (!r) return r.error();
  spdlog::info("{}: {} thread(s) now SCHED_IDLE, cpu.idle {}{}", workload, r->threads_demoted,
               r->cpu_idle_set ? "=1 in " + r->idle_dir : "not set",
               r->warnings.empty() ? "" : " (" + Join(r->warnings) + ")");
  return Ok();
}
}  // namespace

Result<void> EnforcementActuator::DemoteBestEffort(const std::string& workload,
                                                   const std::string& cgroup_path) {
  return LogDemotion(workload, enforcer_.Demote(ActuatorName(workload), cgroup_path));
}

Result<void> EnforcementActuator::DemoteBestEffortAt(const std::string& workload,
                                                     const std::string& cgroup_path,
                                                     const std::string& idle_cgroup) {
  return LogDemotion(workload, enforcer_.Demote(ActuatorName(workload), cgroup_path, idle_cgroup));
}

Result<void> EnforcementActuator::RestoreBestEffort(const std::string& workload,
                                                    const std::string&) {
  return Check(enforcer_.Revert(ActuatorName(workload)), "restoring " + workload);
}

Result<CpuSet> EnforcementActuator::GrantExclusive(const std::string& workload,
                                                   const std::string& cgroup_path, int cpus) {
  auto r = enforcer_.Promote(ActuatorName(workload), cgroup_path, cpus);
  if (!r) {
    // The kernel's own ENOSPC (a cpuset write) is a failure: only the allocator refuses.
    if (r.error().code == kCapacityRefused) return Error{EIO, r.error().message};
    return r.error();
  }
  for (const auto& w : r->allocation.warnings) spdlog::warn("{}: {}", workload, w);
  if (!r->granted()) return Error{kCapacityRefused, r->allocation.reason};
  for (const auto& w : r->applied->warnings) spdlog::warn("{}: {}", workload, w);
  return r->applied->cpus;
}

Result<void> EnforcementActuator::ReleaseExclusive(const std::string& workload,
                                                   const std::string&) {
  return Check(enforcer_.Release(ActuatorName(workload)), "releasing " + workload);
}

}  // namespace sw
