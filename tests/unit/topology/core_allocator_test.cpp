#include "topology/core_allocator.h"

#include <gtest/gtest.h>

#include "common/fs.h"

namespace sw {
namespace {

Topology Synth(const std::string& d) {
  auto t = LoadSyntheticTopology(d);
  EXPECT_TRUE(t.ok()) << t.error().message;
  return *t;
}

CoreAllocator Make(const std::string& d, AllocatorConfig cfg = {}) {
  auto a = CoreAllocator::Create(Synth(d), cfg);
  EXPECT_TRUE(a.ok()) << a.error().message;
  return std::move(*a);
}

bool WholeCores(const Topology& t, const CpuSet& cpus) {
  for (int cpu : cpus)
    for (int sib : t.cores[t.CoreOfCpu(cpu)].cpus)
      if (!cpus.count(sib)) return false;
  return true;
}

TEST(CoreAllocator, SiblingsGoTogether) {
  CoreAllocator a = Make("pack:2 core:16 pu:2");
  Allocation r = a.Allocate({"web", 4, {}});
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_EQ(r.cpus.size(), 4u);
  EXPECT_EQ(r.cores, 2);
  EXPECT_TRUE(WholeCores(a.topology(), r.cpus)) << FormatCpuList(r.cpus);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(CoreAllocator, InterleavedSiblingNumbering) {
  auto t = LoadTopologyFromXml(JoinPath(SW_TOPOLOGY_FIXTURES, "two_socket_interleaved_smt2.xml"));
  ASSERT_TRUE(t.ok());
  auto a = CoreAllocator::Create(*t, {.keep_cpu0_shared = false});  // placement rules alone
  ASSERT_TRUE(a.ok());
  Allocation r = a->Allocate({"web", 2, {}});
  ASSERT_TRUE(r.granted);
  // Highest core first: core 7 = CPUs 7 and 15, never 14+15.
  EXPECT_EQ(r.cpus, (CpuSet{7, 15}));
}

TEST(CoreAllocator, StaysOnOneSocketWhenItFits) {
  CoreAllocator a = Make("pack:2 core:16 pu:2");
  Allocation r = a.Allocate({"db", 24, {}});  // 12 cores: fits in one socket of 16
  ASSERT_TRUE(r.granted) << r.reason;
  std::set<int> packages;
  for (int cpu : r.cpus) packages.insert(a.topology().cores[a.topology().CoreOfCpu(cpu)].package);
  EXPECT_EQ(packages.size(), 1u);
}

// Placement rules alone (CPU 0's core reserved makes package 0 the fuller one: see
// Cpu0StaysSharedEvenWhereTheWorkloadRunsUnlessConfigured).
TEST(CoreAllocator, PrefersTheNodeWhereTheWorkloadRuns) {
  CoreAllocator a = Make("pack:2 core:16 pu:2", {.keep_cpu0_shared = false});
  // Running on CPUs of package 0 (0-31): stay there even though package 1 is preferred otherwise.
  Allocation r = a.Allocate({"db", 4, CpuSet{2, 3, 4}});
  ASSERT_TRUE(r.granted);
  for (int cpu : r.cpus) EXPECT_LT(cpu, 32);
  // The cores it runs on are chosen first.
  EXPECT_TRUE(r.cpus.count(2) && r.cpus.count(3) && r.cpus.count(4) && r.cpus.count(5))
      << FormatCpuList(r.cpus);
  // Without a hint: best fit, i.e. the fuller package 0 (keeps package 1 whole for a big
  // request), highest cores first (CPU 0 stays shared).
  Allocation r2 = a.Allocate({"web", 4, {}});
  ASSERT_TRUE(r2.granted);
  EXPECT_EQ(r2.cpus, (CpuSet{28, 29, 30, 31}));
  // On an empty machine with no hint: the highest package.
  CoreAllocator b = Make("pack:2 core:16 pu:2", {.keep_cpu0_shared = false});
  EXPECT_EQ(b.Allocate({"web", 4, {}}).cpus, (CpuSet{60, 61, 62, 63}));
}

TEST(CoreAllocator, BestFitNodeKeepsBigHolesForLater) {
  CoreAllocator a = Make("pack:2 core:4 pu:1", {.keep_cpu0_shared = false});
  ASSERT_TRUE(a.Allocate({"a", 3, {}}).granted);  // takes 3 of package 1 (CPUs 5-7)
  Allocation r = a.Allocate({"b", 1, {}});        // package 1 has 1 left: best fit
  ASSERT_TRUE(r.granted);
  EXPECT_EQ(r.cpus, (CpuSet{4}));
}

TEST(CoreAllocator, CompactL3Domains) {
  auto t = LoadTopologyFromXml(JoinPath(SW_TOPOLOGY_FIXTURES, "two_socket_l3split_smt2.xml"));
  ASSERT_TRUE(t.ok());
  auto a = CoreAllocator::Create(*t, {});
  ASSERT_TRUE(a.ok());
  // 4 cores per L3, 2 L3 per package in this fixture. 2 cores: a single L3 domain.
  Allocation r = a->Allocate({"x", 4, {}});
  ASSERT_TRUE(r.granted);
  std::set<int> l3;
  for (int cpu : r.cpus) l3.insert(t->cores[t->CoreOfCpu(cpu)].l3);
  EXPECT_EQ(l3.size(), 1u) << FormatCpuList(r.cpus);
  // 6 cores: more than one L3 holds, so exactly two L3 domains, all on one socket.
  Allocation r2 = a->Allocate({"y", 12, {}});
  ASSERT_TRUE(r2.granted);
  std::set<int> l3b, pk;
  for (int cpu : r2.cpus) {
    l3b.insert(t->cores[t->CoreOfCpu(cpu)].l3);
    pk.insert(t->cores[t->CoreOfCpu(cpu)].package);
  }
  EXPECT_EQ(l3b.size(), 2u);
  EXPECT_EQ(pk.size(), 1u);
}

TEST(CoreAllocator, SpansNodesOnlyWhenNeededAndWarns) {
  CoreAllocator a = Make("pack:2 core:4 pu:2");
  Allocation r = a.Allocate({"big", 12, {}});  // 6 cores > 4 per socket
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_EQ(r.cpus.size(), 12u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("spanning 2 nodes"), std::string::npos);
}

// The VM matrix's machine (2 sockets x 1 core x 2 threads) with the workload running on CPU 0:
// the locality preference used to pick CPU 0's core ("0-1" exclusive).
TEST(CoreAllocator, Cpu0StaysSharedEvenWhereTheWorkloadRunsUnlessConfigured) {
  AllocatorConfig cfg;
  cfg.max_exclusive_fraction = 1.0;
  CoreAllocator a = Make("pack:2 core:1 pu:2", cfg);
  Allocation r = a.Allocate({"web", 2, {0, 1}});
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_EQ(r.cpus, (CpuSet{2, 3}));
  EXPECT_EQ(a.capacity().max_cores(), 1);
  // Nothing but CPU 0's core left: refused.
  Allocation r2 = a.Allocate({"db", 2, {}});
  EXPECT_FALSE(r2.granted);
  // With CPU 0's core out, package 0 is the fuller one: best fit puts a grant there.
  CoreAllocator e = Make("pack:2 core:2 pu:1", cfg);
  EXPECT_EQ(e.Allocate({"web", 1, {}}).cpus, (CpuSet{1}));
  cfg.keep_cpu0_shared = false;
  CoreAllocator b = Make("pack:2 core:1 pu:2", cfg);
  Allocation r3 = b.Allocate({"web", 2, {0, 1}});
  ASSERT_TRUE(r3.granted) << r3.reason;
  EXPECT_EQ(r3.cpus, (CpuSet{0, 1}));
  // This machine: 2 CPUs, no SMT; only CPU 1 can be exclusive.
  CoreAllocator c = Make("pack:1 core:2 pu:1", {.max_exclusive_fraction = 1.0});
  Allocation r4 = c.Allocate({"web", 1, {0}});
  ASSERT_TRUE(r4.granted) << r4.reason;
  EXPECT_EQ(r4.cpus, (CpuSet{1}));
}

TEST(CoreAllocator, ReservedCoresNameCpu0InTheReason) {
  ExclusiveCapacity cap(Synth("pack:1 core:4 pu:1"),
                        {.shared_pool_min_cores = 1, .max_exclusive_fraction = 1.0});
  EXPECT_EQ(cap.max_cores(), 3);
  ExclusiveCapacity cap2(
      Synth("pack:1 core:4 pu:1"),
      {.shared_pool_min_cores = 1, .reserved_cpus = {3}, .max_exclusive_fraction = 1.0});
  EXPECT_EQ(cap2.max_cores(), 2);
  EXPECT_NE(cap2.WhyNot(2, 1).find("reserved_cpus 3 and CPU 0 (keep_cpu0_shared)"),
            std::string::npos)
      << cap2.WhyNot(2, 1);
}

TEST(CoreAllocator, FloorKeepsOneCoreShared) {
  CoreAllocator a = Make("pack:1 core:2 pu:1");  // this machine
  Allocation r = a.Allocate({"lc", 1, {}});
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_EQ(r.cpus, (CpuSet{1}));  // CPU 0 stays shared
  EXPECT_EQ(a.SharedPool(), (CpuSet{0}));
  Allocation r2 = a.Allocate({"lc2", 1, {}});
  EXPECT_FALSE(r2.granted);
  EXPECT_NE(r2.reason.find("below its floor of 1"), std::string::npos) << r2.reason;
  EXPECT_EQ(a.SharedPool(), (CpuSet{0}));
}

TEST(CoreAllocator, ConfiguredFloorAndReservedCpus) {
  AllocatorConfig cfg;
  cfg.shared_pool_min_cores = 3;
  cfg.reserved_cpus = {6};
  CoreAllocator a = Make("pack:1 core:8 pu:1", cfg);
  Allocation r = a.Allocate({"a", 5, {}});
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_FALSE(r.cpus.count(6));
  EXPECT_EQ(r.cpus, (CpuSet{2, 3, 4, 5, 7}));
  EXPECT_FALSE(a.Allocate({"b", 1, {}}).granted);
}

TEST(CoreAllocator, ExclusiveFractionCap) {
  AllocatorConfig cfg;
  cfg.max_exclusive_fraction = 0.5;
  CoreAllocator a = Make("pack:1 core:8 pu:1", cfg);
  EXPECT_TRUE(a.Allocate({"a", 3, {}}).granted);
  Allocation r = a.Allocate({"b", 2, {}});
  EXPECT_FALSE(r.granted);
  EXPECT_NE(r.reason.find("above the cap of 4"), std::string::npos) << r.reason;
  EXPECT_TRUE(a.Allocate({"b", 1, {}}).granted);
}

TEST(CoreAllocator, SubCoreRequestRefusedWithWarning) {
  CoreAllocator a = Make("pack:2 core:16 pu:2");
  Allocation r = a.Allocate({"tiny", 1, {}});
  EXPECT_FALSE(r.granted);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("less than one physical core"), std::string::npos);
  EXPECT_EQ(r.reason, "sub-core request");
  EXPECT_TRUE(a.ExclusiveCpus().empty());
}

TEST(CoreAllocator, OddRequestRoundedUpWithWarning) {
  CoreAllocator a = Make("pack:2 core:16 pu:2");
  Allocation r = a.Allocate({"odd", 3, {}});
  ASSERT_TRUE(r.granted);
  EXPECT_EQ(r.cpus.size(), 4u);
  EXPECT_TRUE(WholeCores(a.topology(), r.cpus));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("rounded up to 2 whole core(s) = 4 CPUs"), std::string::npos)
      << r.warnings[0];
}

TEST(CoreAllocator, DeterministicForTheSameInput) {
  for (int i = 0; i < 3; i++) {
    CoreAllocator a = Make("pack:2 [numa] l3:2 core:4 pu:2");
    CoreAllocator b = Make("pack:2 [numa] l3:2 core:4 pu:2");
    for (const auto& req :
         std::vector<AllocationRequest>{{"a", 4, {}}, {"b", 3, {1}}, {"c", 6, {}}}) {
      Allocation x = a.Allocate(req), y = b.Allocate(req);
      EXPECT_EQ(x.granted, y.granted);
      EXPECT_EQ(x.cpus, y.cpus);
    }
  }
}

TEST(CoreAllocator, ReleaseReturnsCoresAndResizeKeepsOwnCores) {
  CoreAllocator a = Make("pack:1 core:8 pu:1");
  Allocation r = a.Allocate({"a", 2, {}});
  ASSERT_TRUE(r.granted);
  EXPECT_EQ(a.SharedPool().size(), 6u);
  // Same request again: same CPUs, no migration.
  EXPECT_EQ(a.Allocate({"a", 2, {}}).cpus, r.cpus);
  // Growing keeps the cores it has.
  Allocation g = a.Allocate({"a", 3, {}});
  for (int cpu : r.cpus) EXPECT_TRUE(g.cpus.count(cpu));
  EXPECT_TRUE(a.Release("a"));
  EXPECT_FALSE(a.Release("a"));
  EXPECT_EQ(a.SharedPool(), a.topology().AllCpus());
  EXPECT_TRUE(a.ExclusiveCpus().empty());
}

TEST(CoreAllocator, InvalidConfigurationsAreErrors) {
  Topology t = Synth("pack:1 core:2 pu:1");
  EXPECT_FALSE(CoreAllocator::Create(t, {0, {}, 1.0}).ok());
  EXPECT_FALSE(CoreAllocator::Create(t, {1, {}, 0.0}).ok());
  EXPECT_FALSE(CoreAllocator::Create(t, {1, {}, 1.5}).ok());
  auto bad = CoreAllocator::Create(t, {1, {5}, 1.0});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "reserved_cpus: CPU 5 does not exist (this machine has CPUs 0-1)");
  // A floor above the machine's cores, the same check check-config makes.
  auto floor = CoreAllocator::Create(t, {3, {}, 1.0});
  ASSERT_FALSE(floor.ok());
  EXPECT_EQ(floor.error().message,
            "shared_pool_min_cores: 3 is more than the 2 cores of this machine");
}

// kubelet's CPU manager: cores holding a CPU it assigned are never granted, whatever the
// preference, and count out of the shared pool for the floor.
TEST(CoreAllocator, CpusAssignedElsewhereAreNeverGranted) {
  CoreAllocator a = Make("pack:1 core:8 pu:2");
  EXPECT_EQ(a.Allocate({"probe", 4, {}}).cpus, (CpuSet{12, 13, 14, 15}));  // highest cores first
  a.Release("probe");
  a.SetUnavailable({5, 14}, "that kubelet's CPU manager assigned to Guaranteed containers");
  Allocation r = a.Allocate({"web", 4, {14, 15}});  // even where it runs now
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_EQ(r.cpus, (CpuSet{10, 11, 12, 13}));
  EXPECT_EQ(a.HoldersOf({5, 14}), std::vector<std::string>{});
  EXPECT_EQ(a.HoldersOf({11}), std::vector<std::string>{"web"});
  // A re-size after kubelet took one of its CPUs moves off that core.
  a.SetUnavailable({5, 14, 12}, "that kubelet's CPU manager assigned to Guaranteed containers");
  EXPECT_EQ(a.HoldersOf({5, 14, 12}), std::vector<std::string>{"web"});
  Allocation again = a.Allocate({"web", 4, {}});
  ASSERT_TRUE(again.granted) << again.reason;
  EXPECT_EQ(again.cpus.count(12) + again.cpus.count(13), 0u) << FormatCpuList(again.cpus);
}

TEST(CoreAllocator, CpusAssignedElsewhereCountOutOfTheSharedPoolFloor) {
  CoreAllocator a = Make("pack:1 core:4 pu:1");
  a.SetUnavailable({2, 3}, "that kubelet's CPU manager assigned to Guaranteed containers");
  Allocation r = a.Allocate({"lc", 1, {}});
  ASSERT_TRUE(r.granted) << r.reason;
  EXPECT_EQ(r.cpus, (CpuSet{1}));
  a.Release("lc");
  a.SetUnavailable({1, 2, 3}, "that kubelet's CPU manager assigned to Guaranteed containers");
  Allocation none = a.Allocate({"lc", 1, {}});
  EXPECT_FALSE(none.granted);
  EXPECT_EQ(none.reason,
            "granting 1 core(s) to 'lc' would leave 0 core(s) to the shared pool next to the 3 "
            "core(s) that kubelet's CPU manager assigned to Guaranteed containers, below its "
            "floor of 1 (shared_pool_min_cores)");
  // Nothing assigned any more: back to the machine's own limits.
  a.SetUnavailable({}, "");
  EXPECT_TRUE(a.Allocate({"lc", 1, {}}).granted);
}

}  // namespace
}  // namespace sw
