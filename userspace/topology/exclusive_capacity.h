// ExclusiveCapacity: the one definition of how much of the machine may be exclusive. Config
// validation (check-config), the controller (caps, dry-run) and the CoreAllocator (enforce) all
// ask it, so what check-config accepts, what dry-run decides and what enforce grants agree.
//
//  - unit: whole physical cores, each of `threads_per_core` CPUs (hardware threads; on machines
//    whose cores differ, every core counts as the largest);
//  - max_exclusive_fraction is a fraction of all CPUs, in (0, 1]; the CPUs it allows are rounded
//    down to whole cores (0.5 of 4 CPUs with 2 threads per core = 2 CPUs = 1 core);
//  - the shared pool (every core nobody holds, reserved ones included) keeps at least
//    shared_pool_min_cores (>= 1) cores;
//  - a core holding a reserved CPU is never exclusive; CPU 0 (housekeeping, most interrupts)
//    counts as reserved unless keep_cpu0_shared is false.
// The capacity is the tightest of the three. Pure logic over a Topology value.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/cpulist.h"

namespace sw {

struct Topology;

struct ExclusiveLimits {
  int shared_pool_min_cores = 1;        // >= 1
  CpuSet reserved_cpus;                 // never exclusive; their cores stay shared
  double max_exclusive_fraction = 1.0;  // of all CPUs, in (0, 1]
  bool keep_cpu0_shared = true;         // CPU 0 (and its core) stays shared, as if reserved
};

// Checks that need no machine: nullopt when fine, otherwise what is wrong, to follow the value
// in a message ("\"0\" must be in (0, 1]: ...").
std::optional<std::string> ExclusiveFractionProblem(double fraction);
std::optional<std::string> SharedPoolFloorProblem(int cores);
// "0.5": the fraction as a user wrote it, for messages.
std::string FormatFraction(double fraction);

class ExclusiveCapacity {
 public:
  ExclusiveCapacity(const Topology& machine, const ExclusiveLimits& limits);

  // What makes the limits unusable on this machine, by config key ("reserved_cpus",
  // "shared_pool_min_cores"): reserved CPUs it does not have, a floor above its cores.
  struct Problem {
    std::string key;
    std::string message;
  };
  std::vector<Problem> Problems() const;

  int cpus() const { return cpus_; }
  int cores() const { return cores_; }
  int threads_per_core() const { return tpc_; }
  int reserved_cores() const { return reserved_cores_; }  // cores holding a reserved CPU
  // reserved_cpus, plus CPU 0 with keep_cpu0_shared: never exclusive.
  bool Reserved(int cpu) const;
  int fraction_cpus() const { return fraction_cpus_; }  // floor(fraction x CPUs)
  int max_cores() const { return max_cores_; }          // >= 0
  int max_cpus() const { return max_cores_ * tpc_; }
  const ExclusiveLimits& limits() const { return limits_; }
  // The config key of the limit that sets max_cores.
  const char* binding_key() const;

  // Whole cores a request for `cpus` CPUs occupies (rounded up; 0 for none).
  int CoresFor(int cpus) const;
  // "" when `more` cores fit next to `held` exclusive ones; otherwise why not, naming the limit
  // ("would leave 0 core(s) to the shared pool, below its floor of 1 (shared_pool_min_cores)").
  std::string WhyNot(int held, int more) const;
  // "1 core(s) = 2 CPUs on this 4-CPU machine (2 cores x 2 threads): max_exclusive_fraction 0.5
  // allows 2 CPUs = 1 core(s), shared_pool_min_cores 1 leaves 1"
  std::string Describe() const;

 private:
  ExclusiveLimits limits_;
  CpuSet all_;
  int cpus_ = 0, cores_ = 0, tpc_ = 1, reserved_cores_ = 0, fraction_cpus_ = 0;
  int fraction_cores_ = 0, max_cores_ = 0;
};

}  // namespace sw
