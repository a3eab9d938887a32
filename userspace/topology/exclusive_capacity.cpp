#include "topology/exclusive_capacity.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "topology/topology.h"

namespace sw {

std::optional<std::string> ExclusiveFractionProblem(double fraction) {
  if (fraction > 0.0 && fraction <= 1.0) return std::nullopt;
  return std::string(
      "must be in (0, 1]: a fraction of all CPUs (1 = no cap beyond shared_pool_min_cores); "
      "to give no workload exclusive cores, set exclusive: never on them");
}

std::optional<std::string> SharedPoolFloorProblem(int cores) {
  if (cores >= 1) return std::nullopt;
  return std::string("must be at least 1: the shared pool can never be empty");
}

std::string FormatFraction(double fraction) {
  std::ostringstream s;
  s << fraction;
  return s.str();
}

ExclusiveCapacity::ExclusiveCapacity(const Topology& machine, const ExclusiveLimits& limits)
    : limits_(limits), all_(machine.AllCpus()) {
  cpus_ = static_cast<int>(all_.size());
  cores_ = static_cast<int>(machine.cores.size());
  tpc_ = machine.ThreadsPerCore();
  for (const Core& c : machine.cores)
    if (std::any_of(c.cpus.begin(), c.cpus.end(), [&](int cpu) { return Reserved(cpu); }))
      reserved_cores_++;
  // Out-of-range limits (reported by the range checks) are clamped so that this stays total.
  const double f = std::clamp(limits.max_exclusive_fraction, 0.0, 1.0);
  fraction_cpus_ = static_cast<int>(std::floor(f * cpus_ + 1e-9));
  fraction_cores_ = fraction_cpus_ / tpc_;
  const int floor_cores = std::max(1, limits.shared_pool_min_cores);
  max_cores_ =
      std::max(0, std::min({fraction_cores_, cores_ - floor_cores, cores_ - reserved_cores_}));
}

std::vector<ExclusiveCapacity::Problem> ExclusiveCapacity::Problems() const {
  std::vector<Problem> out;
  for (int cpu : limits_.reserved_cpus)
    if (!all_.count(cpu)) {
      out.push_back({"reserved_cpus", "CPU " + std::to_string(cpu) +
                                          " does not exist (this machine has CPUs " +
                                          FormatCpuList(all_) + ")"});
      break;
    }
  if (limits_.shared_pool_min_cores > cores_)
    out.push_back({"shared_pool_min_cores", std::to_string(limits_.shared_pool_min_cores) +
                                                " is more than the " + std::to_string(cores_) +
                                                " cores of this machine"});
  return out;
}

bool ExclusiveCapacity::Reserved(int cpu) const {
  return limits_.reserved_cpus.count(cpu) > 0 || (limits_.keep_cpu0_shared && cpu == 0);
}

// "reserved_cpus 3" / "CPU 0 (keep_cpu0_shared)" / both: what makes cores reserved.
static std::string ReservedText(const ExclusiveLimits& l) {
  std::string s;
  if (!l.reserved_cpus.empty()) s = "reserved_cpus " + FormatCpuList(l.reserved_cpus);
  if (l.keep_cpu0_shared && !l.reserved_cpus.count(0))
    s += std::string(s.empty() ? "" : " and ") + "CPU 0 (keep_cpu0_shared)";
  return s;
}

const char* ExclusiveCapacity::binding_key() const {
  if (max_cores_ == fraction_cores_) return "max_exclusive_fraction";
  if (limits_.shared_pool_min_cores >= reserved_cores_) return "shared_pool_min_cores";
  return limits_.reserved_cpus.empty() ? "keep_cpu0_shared" : "reserved_cpus";
}

int ExclusiveCapacity::CoresFor(int cpus) const { return cpus <= 0 ? 0 : (cpus + tpc_ - 1) / tpc_; }

std::string ExclusiveCapacity::WhyNot(int held, int more) const {
  const int total = held + more;
  if (total <= max_cores_) return "";
  const int floor_cores = std::max(1, limits_.shared_pool_min_cores);
  if (total > cores_ - floor_cores)
    return "would leave " + std::to_string(std::max(0, cores_ - total)) +
           " core(s) to the shared pool, below its floor of " + std::to_string(floor_cores) +
           " (shared_pool_min_cores)";
  if (total > cores_ - reserved_cores_)
    return "would need " + std::to_string(total) + " exclusive core(s), but only " +
           std::to_string(cores_ - reserved_cores_) + " of " + std::to_string(cores_) +
           " cores hold no reserved CPU (" + ReservedText(limits_) + ")";
  return "would make " + std::to_string(total * tpc_) + " of " + std::to_string(cpus_) +
         " CPUs exclusive, above the cap of " + std::to_string(fraction_cpus_) +
         " CPUs = " + std::to_string(fraction_cores_) + " whole core(s) (max_exclusive_fraction " +
         FormatFraction(limits_.max_exclusive_fraction) + ")";
}

std::string ExclusiveCapacity::Describe() const {
  std::string s =
      std::to_string(max_cores_) + " core(s) = " + std::to_string(max_cpus()) + " CPU(s) on this " +
      std::to_string(cpus_) + "-CPU machine (" + std::to_string(cores_) + " cores x " +
      std::to_string(tpc_) + " threads): max_exclusive_fraction " +
      FormatFraction(limits_.max_exclusive_fraction) + " allows " + std::to_string(fraction_cpus_) +
      " CPU(s) = " + std::to_string(fraction_cores_) + " core(s), shared_pool_min_cores " +
      std::to_string(limits_.shared_pool_min_cores) + " allows " +
      std::to_string(std::max(0, cores_ - limits_.shared_pool_min_cores));
  // CPU 0 alone never binds (the floor keeps at least its core): named with reserved_cpus only.
  if (!limits_.reserved_cpus.empty())
    s += ", " + ReservedText(limits_) + " allow " + std::to_string(cores_ - reserved_cores_);
  return s;
}

}  // namespace sw
