#include "topology/topology.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

namespace sw {

CpuSet Topology::AllCpus() const {
  CpuSet all;
  for (const Core& c : cores) all.insert(c.cpus.begin(), c.cpus.end());
  return all;
}

int Topology::ThreadsPerCore() const {
  size_t t = 1;
  for (const Core& c : cores) t = std::max(t, c.cpus.size());
  return static_cast<int>(t);
}

int Topology::CoreOfCpu(int cpu) const {
  for (const Core& c : cores)
    if (c.cpus.count(cpu)) return c.index;
  return -1;
}

std::string Topology::Describe() const {
  return std::to_string(packages) + " packages, " + std::to_string(numa_nodes) + " NUMA nodes, " +
         std::to_string(l3_domains) + " L3, " + std::to_string(cores.size()) + " cores, " +
         std::to_string(AllCpus().size()) + " CPUs (" + std::to_string(ThreadsPerCore()) +
         " threads/core)";
}

HwlocTopology::~HwlocTopology() {
  if (topo_) hwloc_topology_destroy(topo_);
}

HwlocTopology::HwlocTopology(HwlocTopology&& o) noexcept : topo_(std::exchange(o.topo_, nullptr)) {}

HwlocTopology& HwlocTopology::operator=(HwlocTopology&& o) noexcept {
  if (this != &o) {
    if (topo_) hwloc_topology_destroy(topo_);
    topo_ = std::exchange(o.topo_, nullptr);
  }
  return *this;
}

namespace {

// Shared init → configure → load sequence; `configure` selects the source.
Result<HwlocTopology> LoadWith(const std::string& what,
                               const std::function<int(hwloc_topology_t)>& configure,
                               const std::function<Result<HwlocTopology>(hwloc_topology_t)>& wrap) {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0) return Error::FromErrno(errno, "hwloc_topology_init");
  // Owned from here on, so every early return destroys it.
  Result<HwlocTopology> owner = wrap(t);
  if (configure && configure(t) != 0) {
    return Error::FromErrno(errno ? errno : EINVAL, "hwloc: cannot use " + what);
  }
  if (hwloc_topology_load(t) != 0) {
    return Error::FromErrno(errno ? errno : EINVAL, "hwloc: cannot load topology from " + what);
  }
  return owner;
}

int AncestorIndex(hwloc_topology_t topo, hwloc_obj_t obj, hwloc_obj_type_t type, int fallback) {
  hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(topo, type, obj);
  return a ? static_cast<int>(a->logical_index) : fallback;
}

CpuSet ToCpuSet(hwloc_const_bitmap_t bm) {
  CpuSet s;
  unsigned i;
  hwloc_bitmap_foreach_begin(i, bm) s.insert(static_cast<int>(i));
  hwloc_bitmap_foreach_end();
  return s;
}

}  // namespace

Result<HwlocTopology> HwlocTopology::LoadLive() {
  // The whole machine, not only the CPUs this process may run on: an agent started after a
  // handover (or in a pod with a narrowed cpuset) runs inside the shared pool the previous one
  // left, and must still see the exclusive cores it is to adopt.
  return LoadWith(
      "the running machine",
      [](hwloc_topology_t t) {
        return hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
      },
      [](hwloc_topology_t t) { return Result<HwlocTopology>(HwlocTopology(t)); });
}

Result<HwlocTopology> HwlocTopology::LoadXml(const std::string& path) {
  return LoadWith(
      "XML file " + path,
      [&](hwloc_topology_t t) { return hwloc_topology_set_xml(t, path.c_str()); },
      [](hwloc_topology_t t) { return Result<HwlocTopology>(HwlocTopology(t)); });
}

Result<HwlocTopology> HwlocTopology::LoadSynthetic(const std::string& description) {
  return LoadWith(
      "synthetic description '" + description + "'",
      [&](hwloc_topology_t t) { return hwloc_topology_set_synthetic(t, description.c_str()); },
      [](hwloc_topology_t t) { return Result<HwlocTopology>(HwlocTopology(t)); });
}

Result<Topology> HwlocTopology::Extract() const {
  if (!topo_) return Error{EINVAL, "hwloc topology not loaded"};
  Topology out;
  out.packages = std::max(1, hwloc_get_nbobjs_by_type(topo_, HWLOC_OBJ_PACKAGE));
  const int l3_count = hwloc_get_nbobjs_by_type(topo_, HWLOC_OBJ_L3CACHE);
  const int numa_count = hwloc_get_nbobjs_by_type(topo_, HWLOC_OBJ_NUMANODE);

  // Cores are the allocation unit. Machines (or synthetic descriptions) without a Core level
  // expose bare PUs: then each PU is its own core.
  hwloc_obj_type_t unit =
      hwloc_get_nbobjs_by_type(topo_, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  const int n = hwloc_get_nbobjs_by_type(topo_, unit);
  for (int i = 0; i < n; i++) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo_, unit, i);
    Core core;
    core.cpus = ToCpuSet(obj->cpuset);
    if (core.cpus.empty()) continue;  // a core whose PUs are all disallowed
    core.package = AncestorIndex(topo_, obj, HWLOC_OBJ_PACKAGE, 0);
    core.l3 = l3_count > 0 ? AncestorIndex(topo_, obj, HWLOC_OBJ_L3CACHE, 0) : core.package;
    // NUMA nodes are memory children in hwloc 2, not ancestors: find the local node by cpuset.
    core.numa = core.package;
    if (numa_count > 0) {
      hwloc_obj_t node = nullptr;
      while ((node = hwloc_get_next_obj_by_type(topo_, HWLOC_OBJ_NUMANODE, node)) != nullptr) {
        if (hwloc_bitmap_isincluded(obj->cpuset, node->cpuset)) {
          core.numa = static_cast<int>(node->logical_index);
          break;
        }
      }
    }
    out.cores.push_back(std::move(core));
  }
  if (out.cores.empty()) return Error{ENODEV, "hwloc found no usable CPU"};
  std::sort(out.cores.begin(), out.cores.end(),
            [](const Core& a, const Core& b) { return *a.cpus.begin() < *b.cpus.begin(); });
  std::map<int, int> numa_ids, l3_ids;
  for (size_t i = 0; i < out.cores.size(); i++) {
    out.cores[i].index = static_cast<int>(i);
    numa_ids[out.cores[i].numa]++;
    l3_ids[out.cores[i].l3]++;
  }
  out.numa_nodes = static_cast<int>(numa_ids.size());
  out.l3_domains = static_cast<int>(l3_ids.size());
  return out;
}

namespace {
Result<Topology> ExtractFrom(Result<HwlocTopology> t) {
  if (!t) return t.error();
  return t->Extract();
}
}  // namespace

Result<Topology> LoadLiveTopology() { return ExtractFrom(HwlocTopology::LoadLive()); }
Result<Topology> LoadTopologyFromXml(const std::string& path) {
  return ExtractFrom(HwlocTopology::LoadXml(path));
}
Result<Topology> LoadSyntheticTopology(const std::string& description) {
  return ExtractFrom(HwlocTopology::LoadSynthetic(description));
}

}  // namespace sw
