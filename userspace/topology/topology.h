// Machine topology for the enforcer: packages (sockets), NUMA nodes, L3 domains, physical cores
// and their hyperthread siblings, read with hwloc and flattened into a plain value type. The
// allocator only sees `Topology`, so it stays pure and is tested on synthetic machines and XML
// fixtures without touching the host.
#pragma once

#include <hwloc.h>

#include <string>
#include <vector>

#include "common/cpulist.h"
#include "common/result.h"

namespace sw {

// One physical core: all of its hardware threads (PUs) travel together when allocated.
struct Core {
  int index = 0;    // position in Topology::cores (sorted by lowest PU number)
  int package = 0;  // logical package (socket) index
  int numa = 0;     // logical NUMA node index (== package when hwloc reports no NUMA node)
  int l3 = 0;       // logical L3 domain index (== package when there is no L3 level)
  CpuSet cpus;      // OS CPU numbers of the core's hardware threads
};

struct Topology {
  std::vector<Core> cores;  // sorted by their lowest CPU number
  int packages = 0;
  int numa_nodes = 0;
  int l3_domains = 0;

  CpuSet AllCpus() const;
  // Hardware threads per core (max over cores; 1 without SMT).
  int ThreadsPerCore() const;
  // Index into `cores` of the core holding `cpu`, or -1.
  int CoreOfCpu(int cpu) const;
  // "2 packages, 2 NUMA nodes, 4 L3, 16 cores, 32 CPUs (2 threads/core)".
  std::string Describe() const;
};

// RAII owner of an hwloc_topology_t. Construction does nothing that can fail; Load*() do.
class HwlocTopology {
 public:
  HwlocTopology() = default;
  ~HwlocTopology();
  HwlocTopology(HwlocTopology&& o) noexcept;
  HwlocTopology& operator=(HwlocTopology&& o) noexcept;
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;

  // The running machine (restricted to the CPUs this process may use, like hwloc's default).
  static Result<HwlocTopology> LoadLive();
  // An XML export (`lstopo --of xml`); errors name the file.
  static Result<HwlocTopology> LoadXml(const std::string& path);
  // hwloc synthetic description, e.g. "pack:2 core:16 pu:2" or "pack:2 [numa] l3:2 core:4 pu:2".
  static Result<HwlocTopology> LoadSynthetic(const std::string& description);

  hwloc_topology_t get() const { return topo_; }
  // Flattens the hwloc tree into the value type.
  Result<Topology> Extract() const;

 private:
  explicit HwlocTopology(hwloc_topology_t t) : topo_(t) {}
  hwloc_topology_t topo_ = nullptr;
};

// Convenience: load and extract in one step.
Result<Topology> LoadLiveTopology();
Result<Topology> LoadTopologyFromXml(const std::string& path);
Result<Topology> LoadSyntheticTopology(const std::string& description);

}  // namespace sw
