#include "cli/enforcement_actuator.h"

#include <spdlog/spdlog.h>

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
  std::string out;
  for (char c : workload) {
    if (c == '/') {
      if (!out.empty() && out.back() != '_') out += '_';
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    out += ok ? c : '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "root" : out;
}

Result<void> EnforcementActuator::DemoteBestEffort(const std::string& workload,
                                                   const std::string& cgroup_path) {
  auto r = enforcer_.Demote(ActuatorName(workload), cgroup_path);
  if (!r) return r.error();
  spdlog::info("{}: {} thread(s) now SCHED_IDLE, cpu.idle {}{}", workload, r->threads_demoted,
               r->cpu_idle_set ? "=1" : "not available",
               r->warnings.empty() ? "" : " (" + Join(r->warnings) + ")");
  return Ok();
}

Result<void> EnforcementActuator::RestoreBestEffort(const std::string& workload,
                                                    const std::string&) {
  return Check(enforcer_.Revert(ActuatorName(workload)), "restoring " + workload);
}

Result<CpuSet> EnforcementActuator::GrantExclusive(const std::string& workload,
                                                   const std::string& cgroup_path, int cpus) {
  auto r = enforcer_.Promote(ActuatorName(workload), cgroup_path, cpus);
  if (!r) return r.error();
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
