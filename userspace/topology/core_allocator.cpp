#include "topology/core_allocator.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace sw {

Result<CoreAllocator> CoreAllocator::Create(Topology topology, AllocatorConfig config) {
  if (topology.cores.empty()) return Error{EINVAL, "topology has no cores"};
  if (auto p = SharedPoolFloorProblem(config.shared_pool_min_cores))
    return Error{
        EINVAL, "shared_pool_min_cores " + std::to_string(config.shared_pool_min_cores) + " " + *p};
  if (auto p = ExclusiveFractionProblem(config.max_exclusive_fraction))
    return Error{EINVAL, "max_exclusive_fraction " + FormatFraction(config.max_exclusive_fraction) +
                             " " + *p};
  if (auto problems = ExclusiveCapacity(topology, config).Problems(); !problems.empty())
    return Error{EINVAL, problems[0].key + ": " + problems[0].message};
  return CoreAllocator(std::move(topology), std::move(config));
}

CpuSet CoreAllocator::CpusOf(const std::vector<int>& cores) const {
  CpuSet s;
  for (int i : cores) s.insert(topo_.cores[i].cpus.begin(), topo_.cores[i].cpus.end());
  return s;
}

CpuSet CoreAllocator::ExclusiveCpus() const {
  CpuSet s;
  for (const auto& [name, cores] : held_) {
    CpuSet c = CpusOf(cores);
    s.insert(c.begin(), c.end());
  }
  return s;
}

CpuSet CoreAllocator::SharedPool() const {
  CpuSet all = topo_.AllCpus();
  for (int c : ExclusiveCpus()) all.erase(c);
  return all;
}

namespace {

// Picks `k` cores out of `free` (core indexes), compact in `domain_of` groups: the best-fitting
// single group when one can hold them all (preferring groups the workload runs on, then the
// fullest group that fits, then the highest-numbered), otherwise groups in order of preference
// with the most free cores first. Inside a group, preferred cores first, then highest index.
template <typename DomainOf, typename Overlap>
std::vector<int> PickCompact(const std::vector<int>& free, int k, DomainOf domain_of,
                             Overlap overlap) {
  std::map<int, std::vector<int>> groups;
  for (int c : free) groups[domain_of(c)].push_back(c);
  struct G {
    int id, size, overlap;
  };
  std::vector<G> gs;
  for (auto& [id, cores] : groups) {
    int ov = 0;
    for (int c : cores) ov += overlap(c);
    gs.push_back({id, static_cast<int>(cores.size()), ov});
  }
  std::vector<int> order_ids;
  auto fits = [&](const G& g) { return g.size >= k; };
  bool any_fits = std::any_of(gs.begin(), gs.end(), fits);
  if (any_fits) {
    std::vector<G> cand;
    for (const G& g : gs)
      if (fits(g)) cand.push_back(g);
    std::sort(cand.begin(), cand.end(), [](const G& a, const G& b) {
      return std::make_tuple(-a.overlap, a.size, -a.id) <
             std::make_tuple(-b.overlap, b.size, -b.id);
    });
    order_ids.push_back(cand.front().id);
  } else {
    std::sort(gs.begin(), gs.end(), [](const G& a, const G& b) {
      return std::make_tuple(-a.overlap, -a.size, -a.id) <
             std::make_tuple(-b.overlap, -b.size, -b.id);
    });
    for (const G& g : gs) order_ids.push_back(g.id);
  }
  std::vector<int> picked;
  for (int id : order_ids) {
    std::vector<int> cores = groups[id];
    std::sort(cores.begin(), cores.end(), [&](int a, int b) {
      return std::make_tuple(-overlap(a), -a) < std::make_tuple(-overlap(b), -b);
    });
    for (int c : cores) {
      if (static_cast<int>(picked.size()) == k) break;
      picked.push_back(c);
    }
  }
  return picked;
}

// Refuses a request that is not a positive whole-core size (false, with out->reason), and warns
// when it is rounded up to whole cores.
bool CheckRequestSize(const AllocationRequest& req, int tpc, int k, Allocation* out) {
  if (req.cpus <= 0) {
    out->reason = "request for " + std::to_string(req.cpus) + " CPUs for '" + req.workload +
                  "': nothing to allocate";
    return false;
  }
  if (req.cpus < tpc) {
    // Warn, don't reject (the working group's wording): the request stays in the shared pool.
    out->warnings.push_back("'" + req.workload + "' asked for " + std::to_string(req.cpus) +
                            " CPU(s), less than one physical core (" + std::to_string(tpc) +
                            " threads); exclusive cores are whole cores, so it stays shared");
    out->reason = "sub-core request";
    return false;
  }
  if (k * tpc != req.cpus)
    out->warnings.push_back("'" + req.workload + "' asked for " + std::to_string(req.cpus) +
                            " CPUs; rounded up to " + std::to_string(k) + " whole core(s) = " +
                            std::to_string(k * tpc) + " CPUs so no core is shared with others");
  return true;
}

struct CoreAvailability {
  std::set<int> own;              // held by the requester: free for it (re-size) and preferred
  std::set<int> taken_by_others;  // held by other workloads
  std::vector<int> free;      // neither taken by others nor holding a reserved or unavailable CPU
  int unavailable_cores = 0;  // holding an unavailable CPU, not held by other workloads
};

CoreAvailability AvailabilityFor(const Topology& topo, const ExclusiveCapacity& capacity,
                                 const std::map<std::string, std::vector<int>>& held,
                                 const std::string& workload, const CpuSet& unavailable) {
  CoreAvailability a;
  if (auto it = held.find(workload); it != held.end())
    a.own.insert(it->second.begin(), it->second.end());
  for (const auto& [name, cores] : held)
    if (name != workload) a.taken_by_others.insert(cores.begin(), cores.end());
  for (const Core& c : topo.cores) {
    if (a.taken_by_others.count(c.index)) continue;
    bool is_reserved = false, is_unavailable = false;
    for (int cpu : c.cpus) {
      is_reserved |= capacity.Reserved(cpu);
      is_unavailable |= unavailable.count(cpu) > 0;
    }
    a.unavailable_cores += is_unavailable;
    if (!is_reserved && !is_unavailable) a.free.push_back(c.index);
  }
  return a;
}

// k cores out of a.free: first the node (NUMA node within a package: a machine whose one NUMA
// node spans two sockets still keeps a request on one socket), then L3 domains inside the chosen
// node. Sorted core indexes.
std::vector<int> PickCores(const Topology& topo, const AllocationRequest& req, int k,
                           const CoreAvailability& a, Allocation* out) {
  auto overlap = [&](int core) {
    int n = a.own.count(core) ? 1000 : 0;  // keep what it already has: no needless migration
    for (int cpu : topo.cores[core].cpus) n += req.running_on.count(cpu);
    return n;
  };
  auto node_of = [&](int c) { return topo.cores[c].numa * 4096 + topo.cores[c].package; };
  std::vector<int> node_pick = PickCompact(a.free, k, node_of, overlap);
  std::set<int> nodes;
  for (int c : node_pick) nodes.insert(node_of(c));
  if (nodes.size() > 1)
    out->warnings.push_back("'" + req.workload + "' needs " + std::to_string(k) +
                            " cores, more than any single socket/NUMA node has free; spanning " +
                            std::to_string(nodes.size()) + " nodes");
  std::vector<int> in_nodes;
  for (int c : a.free)
    if (nodes.count(node_of(c))) in_nodes.push_back(c);
  std::vector<int> picked =
      nodes.size() > 1 ? node_pick
                       : PickCompact(
                             in_nodes, k, [&](int c) { return topo.cores[c].l3; }, overlap);
  std::sort(picked.begin(), picked.end());
  return picked;
}

}  // namespace

Allocation CoreAllocator::Allocate(const AllocationRequest& req) {
  Allocation out;
  const int k = capacity_.CoresFor(req.cpus);
  if (!CheckRequestSize(req, topo_.ThreadsPerCore(), k, &out)) return out;
  const CoreAvailability a = AvailabilityFor(topo_, capacity_, held_, req.workload, unavailable_);

  // Floor, fraction cap and reserved cores, in whole cores: the same numbers the controller
  // and check-config use.
  if (std::string why = capacity_.WhyNot(static_cast<int>(a.taken_by_others.size()), k);
      !why.empty()) {
    out.reason = "granting " + std::to_string(k) + " core(s) to '" + req.workload + "' " + why;
    return out;
  }
  // Cores assigned elsewhere are no more shared than the agent's own.
  const int floor_cores = std::max(1, config_.shared_pool_min_cores);
  const int left =
      capacity_.cores() - static_cast<int>(a.taken_by_others.size()) - a.unavailable_cores - k;
  if (a.unavailable_cores > 0 && left < floor_cores) {
    out.reason = "granting " + std::to_string(k) + " core(s) to '" + req.workload +
                 "' would leave " + std::to_string(std::max(0, left)) +
                 " core(s) to the shared pool next to the " + std::to_string(a.unavailable_cores) +
                 " core(s) " + unavailable_by_ + ", below its floor of " +
                 std::to_string(floor_cores) + " (shared_pool_min_cores)";
    return out;
  }
  if (static_cast<int>(a.free.size()) < k) {
    out.reason = "only " + std::to_string(a.free.size()) +
                 " free whole core(s) (not reserved, not held by other workloads" +
                 (a.unavailable_cores ? ", none " + unavailable_by_ : std::string()) + "), '" +
                 req.workload + "' needs " + std::to_string(k);
    return out;
  }
  std::vector<int> picked = PickCores(topo_, req, k, a, &out);
  held_[req.workload] = picked;
  out.granted = true;
  out.cores = k;
  out.cpus = CpusOf(picked);
  return out;
}

bool CoreAllocator::Release(const std::string& workload) { return held_.erase(workload) > 0; }

void CoreAllocator::SetUnavailable(CpuSet cpus, std::string who) {
  unavailable_ = std::move(cpus);
  unavailable_by_ = std::move(who);
}

std::vector<std::string> CoreAllocator::HoldersOf(const CpuSet& cpus) const {
  std::vector<std::string> out;
  for (const auto& [name, cores] : held_)
    for (int cpu : CpusOf(cores))
      if (cpus.count(cpu)) {
        out.push_back(name);
        break;
      }
  return out;
}

bool CoreAllocator::Adopt(const std::string& workload, const std::vector<int>& cores) {
  const int n = static_cast<int>(topo_.cores.size());
  for (int c : cores) {
    if (c < 0 || c >= n) return false;
    for (const auto& [w, held] : held_)
      if (w != workload && std::find(held.begin(), held.end(), c) != held.end()) return false;
  }
  held_[workload] = cores;
  return true;
}

}  // namespace sw
