// ExclusiveCapacity: the numbers every caller shares, checked by hand on synthetic machines and
// the SMT fixtures.
#include "topology/exclusive_capacity.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "topology/topology.h"

namespace sw {
namespace {

Topology Synth(const std::string& d) {
  auto t = LoadSyntheticTopology(d);
  EXPECT_TRUE(t.ok()) << t.error().message;
  return *t;
}

// The three numeric limits alone; CPU 0's rule is tested on its own (Cpu0CountsAsReserved).
ExclusiveLimits Limits(double fraction, int floor = 1, CpuSet reserved = {}) {
  return ExclusiveLimits{floor, std::move(reserved), fraction, /*keep_cpu0_shared=*/false};
}

TEST(ExclusiveCapacity, FractionOfCpusRoundedDownToWholeCores) {
  // 2 cores x 2 threads: 0.5 of 4 CPUs = 2 CPUs = 1 core.
  ExclusiveCapacity c(Synth("pack:1 core:2 pu:2"), Limits(0.5));
  EXPECT_EQ(c.cpus(), 4);
  EXPECT_EQ(c.cores(), 2);
  EXPECT_EQ(c.threads_per_core(), 2);
  EXPECT_EQ(c.fraction_cpus(), 2);
  EXPECT_EQ(c.max_cores(), 1);
  EXPECT_EQ(c.max_cpus(), 2);
  // 0.3 of 10 CPUs (5 cores x 2) = 3 CPUs: one whole core, not one and a half.
  ExclusiveCapacity d(Synth("pack:1 core:5 pu:2"), Limits(0.3));
  EXPECT_EQ(d.fraction_cpus(), 3);
  EXPECT_EQ(d.max_cores(), 1);
  EXPECT_EQ(d.binding_key(), std::string("max_exclusive_fraction"));
  // Without SMT, cores are CPUs: 0.5 of 2 = 1.
  EXPECT_EQ(ExclusiveCapacity(Synth("pack:1 core:2 pu:1"), Limits(0.5)).max_cores(), 1);
}

TEST(ExclusiveCapacity, TheTightestLimitWins) {
  // Fraction 1 = no cap beyond the floor: 8 cores, floor 1 -> 7.
  ExclusiveCapacity all(Synth("pack:1 core:8 pu:1"), Limits(1.0));
  EXPECT_EQ(all.max_cores(), 7);
  EXPECT_EQ(all.binding_key(), std::string("shared_pool_min_cores"));
  // Floor 3 beats 0.9 (7 cores).
  EXPECT_EQ(ExclusiveCapacity(Synth("pack:1 core:8 pu:1"), Limits(0.9, 3)).max_cores(), 5);
  // Reserved CPUs 0 and 4 sit on two different cores of a 4x2 machine (siblings 0,1 / 2,3 ...):
  // those 2 cores stay shared, 2 remain; that beats the floor of 1 (3).
  Topology smt = Synth("pack:1 core:4 pu:2");
  ASSERT_EQ(smt.cores[2].cpus, (CpuSet{4, 5}));
  ExclusiveCapacity r(smt, Limits(1.0, 1, {0, 4}));
  EXPECT_EQ(r.reserved_cores(), 2);
  EXPECT_EQ(r.max_cores(), 2);
  EXPECT_EQ(r.binding_key(), std::string("reserved_cpus"));
  // Reserved CPUs on one core count once.
  ExclusiveCapacity one(smt, Limits(1.0, 1, smt.cores[3].cpus));
  EXPECT_EQ(one.reserved_cores(), 1);
  EXPECT_EQ(one.max_cores(), 3);
}

TEST(ExclusiveCapacity, Cpu0CountsAsReservedByDefault) {
  ExclusiveLimits l;  // keep_cpu0_shared defaults to true
  l.max_exclusive_fraction = 1.0;
  ExclusiveCapacity c(Synth("pack:1 core:4 pu:2"), l);
  EXPECT_TRUE(c.Reserved(0));
  EXPECT_FALSE(c.Reserved(1));  // its sibling is not reserved, but its core is
  EXPECT_EQ(c.reserved_cores(), 1);
  EXPECT_EQ(c.max_cores(), 3);
  EXPECT_EQ(c.WhyNot(3, 1),
            "would leave 0 core(s) to the shared pool, below its floor of 1 "
            "(shared_pool_min_cores)");
  ExclusiveCapacity d(Synth("pack:1 core:4 pu:1"),
                      {.reserved_cpus = {3}, .max_exclusive_fraction = 1.0});
  EXPECT_EQ(d.max_cores(), 2);
  EXPECT_EQ(d.binding_key(), std::string("reserved_cpus"));
  EXPECT_NE(d.Describe().find("reserved_cpus 3 and CPU 0 (keep_cpu0_shared) allow 2"),
            std::string::npos)
      << d.Describe();
}

TEST(ExclusiveCapacity, OneCoreSmtMachineHasNoRoom) {
  // The 2-CPU SMT host: one core, the floor keeps it.
  ExclusiveCapacity c(Synth("pack:1 core:1 pu:2"), Limits(0.5));
  EXPECT_EQ(c.max_cores(), 0);
  EXPECT_EQ(c.WhyNot(0, 1),
            "would leave 0 core(s) to the shared pool, below its floor of 1 "
            "(shared_pool_min_cores)");
}

TEST(ExclusiveCapacity, CoresForRoundsUp) {
  ExclusiveCapacity c(Synth("pack:2 core:4 pu:2"), Limits(0.5));
  EXPECT_EQ(c.CoresFor(0), 0);
  EXPECT_EQ(c.CoresFor(1), 1);
  EXPECT_EQ(c.CoresFor(2), 1);
  EXPECT_EQ(c.CoresFor(3), 2);
}

TEST(ExclusiveCapacity, WhyNotNamesTheLimit) {
  ExclusiveCapacity c(Synth("pack:1 core:8 pu:1"), Limits(0.5));
  EXPECT_EQ(c.WhyNot(3, 1), "");
  EXPECT_EQ(c.WhyNot(3, 2),
            "would make 5 of 8 CPUs exclusive, above the cap of 4 CPUs = 4 whole core(s) "
            "(max_exclusive_fraction 0.5)");
  ExclusiveCapacity r(Synth("pack:1 core:4 pu:1"), Limits(1.0, 1, {0, 1}));
  EXPECT_EQ(r.WhyNot(2, 1),
            "would need 3 exclusive core(s), but only 2 of 4 cores hold no reserved CPU "
            "(reserved_cpus 0-1)");
  EXPECT_EQ(c.Describe(),
            "4 core(s) = 4 CPU(s) on this 8-CPU machine (8 cores x 1 threads): "
            "max_exclusive_fraction 0.5 allows 4 CPU(s) = 4 core(s), shared_pool_min_cores 1 "
            "allows 7");
}

TEST(ExclusiveCapacity, RangeAndMachineProblems) {
  EXPECT_TRUE(ExclusiveFractionProblem(0.0));
  EXPECT_TRUE(ExclusiveFractionProblem(-0.1));
  EXPECT_TRUE(ExclusiveFractionProblem(1.5));
  EXPECT_FALSE(ExclusiveFractionProblem(1.0));
  EXPECT_FALSE(ExclusiveFractionProblem(0.01));
  EXPECT_TRUE(SharedPoolFloorProblem(0));
  EXPECT_FALSE(SharedPoolFloorProblem(1));
  auto p = ExclusiveCapacity(Synth("pack:1 core:2 pu:2"), Limits(0.5, 3, {9})).Problems();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, "reserved_cpus");
  EXPECT_EQ(p[0].message, "CPU 9 does not exist (this machine has CPUs 0-3)");
  EXPECT_EQ(p[1].key, "shared_pool_min_cores");
  EXPECT_EQ(p[1].message, "3 is more than the 2 cores of this machine");
}

TEST(ExclusiveCapacity, InterleavedSmtFixture) {
  // Siblings numbered apart (0 and 16, ...): the reserved CPU's sibling is not counted twice.
  auto t = LoadTopologyFromXml(JoinPath(SW_TOPOLOGY_FIXTURES, "two_socket_interleaved_smt2.xml"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  const Core& first = t->cores[0];
  ExclusiveCapacity c(*t, Limits(0.5, 1, first.cpus));
  EXPECT_EQ(c.threads_per_core(), 2);
  EXPECT_EQ(c.reserved_cores(), 1);
  EXPECT_EQ(c.max_cores(), c.cpus() / 2 / 2);
}

}  // namespace
}  // namespace sw
