// CoreAllocator: decides which CPUs an exclusive request gets. Pure logic over a `Topology`
// value (no I/O), deterministic for the same inputs, so the policy engine can ask "what would I
// get?" in dry-run and tests can check every rule on synthetic machines.
//
// Rules (whole cores, because hyperthread siblings share the core's pipeline and caches):
//  - whole physical cores only: all hyperthread siblings of a core go together;
//  - a request below one core is refused with a warning (not an error); a request that is not a
//    multiple of the threads per core is rounded up to whole cores with a warning;
//  - one NUMA node / socket when the request fits there, preferring the node the workload already
//    runs on, then the fullest node that still fits; inside it, the fewest L3 domains;
//  - higher-numbered cores first; CPU 0's core (housekeeping, most IRQs) is never taken unless
//    keep_cpu0_shared is false (a locality preference does not override it);
//  - never takes reserved CPUs, never leaves the shared pool with fewer than
//    `shared_pool_min_cores` whole cores, never exceeds `max_exclusive_fraction` of all CPUs
//    (rounded down to whole cores): the limits of ExclusiveCapacity, shared with the controller
//    and config validation;
//  - never takes a core with a CPU someone else assigned (SetUnavailable: kubelet's CPU manager),
//    and counts such cores out of the shared pool for its floor.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/cpulist.h"
#include "common/result.h"
#include "topology/exclusive_capacity.h"
#include "topology/topology.h"

namespace sw {

// shared_pool_min_cores, reserved_cpus, max_exclusive_fraction (see ExclusiveCapacity).
using AllocatorConfig = ExclusiveLimits;

struct AllocationRequest {
  std::string workload;  // key for Release(); one allocation per workload
  int cpus = 0;          // requested CPUs (hardware threads)
  CpuSet running_on;     // where the workload runs now (locality preference); may be empty
};

struct Allocation {
  bool granted = false;
  CpuSet cpus;                        // the exclusive CPUs when granted
  int cores = 0;                      // number of whole cores in `cpus`
  std::vector<std::string> warnings;  // rounding, sub-core refusal, spanning nodes
  std::string reason;                 // why nothing was granted (empty when granted)
};

class CoreAllocator {
 public:
  // Validates the configuration against the topology (unknown reserved CPUs, a floor < 1 or
  // above the machine's cores, a fraction outside (0, 1] are errors; a floor that leaves nothing
  // to allocate is fine).
  static Result<CoreAllocator> Create(Topology topology, AllocatorConfig config);

  // Exclusive cores for a workload. A workload that already holds cores is re-sized: its own
  // cores count as free and are preferred, so a same-size request returns the same CPUs.
  Allocation Allocate(const AllocationRequest& request);
  // Returns the workload's cores to the shared pool; false when it held none.
  bool Release(const std::string& workload);
  // CPUs assigned outside the agent (kubelet's CPU manager for Guaranteed containers): no core
  // holding one is granted from now on. `who` names the assigner for refusal reasons. What a
  // workload already holds is not taken back here: HoldersOf tells who must release.
  void SetUnavailable(CpuSet cpus, std::string who);
  const CpuSet& unavailable() const { return unavailable_; }
  // Workloads whose exclusive CPUs include any of `cpus`.
  std::vector<std::string> HoldersOf(const CpuSet& cpus) const;
  // Takes back cores a previous agent granted (handover): false, changing nothing, when an index
  // is unknown or already held by another workload.
  bool Adopt(const std::string& workload, const std::vector<int>& cores);

  CpuSet SharedPool() const;  // every CPU not held exclusively
  CpuSet ExclusiveCpus() const;
  const std::map<std::string, std::vector<int>>& allocations() const { return held_; }
  const Topology& topology() const { return topo_; }
  const AllocatorConfig& config() const { return config_; }
  const ExclusiveCapacity& capacity() const { return capacity_; }

 private:
  CoreAllocator(Topology t, AllocatorConfig c)
      : topo_(std::move(t)), config_(std::move(c)), capacity_(topo_, config_) {}
  CpuSet CpusOf(const std::vector<int>& cores) const;

  Topology topo_;
  AllocatorConfig config_;
  ExclusiveCapacity capacity_;
  std::map<std::string, std::vector<int>> held_;  // workload -> core indexes
  CpuSet unavailable_;
  std::string unavailable_by_;
};

}  // namespace sw
