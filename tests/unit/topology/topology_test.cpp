#include "topology/topology.h"

#include <gtest/gtest.h>

#include "common/fs.h"

namespace sw {
namespace {

std::string Fixture(const std::string& name) { return JoinPath(SW_TOPOLOGY_FIXTURES, name); }

TEST(Topology, SyntheticTwoSocketsSmt) {
  auto t = LoadSyntheticTopology("pack:2 core:16 pu:2");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->packages, 2);
  ASSERT_EQ(t->cores.size(), 32u);
  EXPECT_EQ(t->ThreadsPerCore(), 2);
  EXPECT_EQ(t->AllCpus().size(), 64u);
  // Synthetic numbering: siblings are adjacent, package 0 holds CPUs 0-31.
  EXPECT_EQ(t->cores[0].cpus, (CpuSet{0, 1}));
  EXPECT_EQ(t->cores[0].package, 0);
  EXPECT_EQ(t->cores[16].cpus, (CpuSet{32, 33}));
  EXPECT_EQ(t->cores[16].package, 1);
  EXPECT_EQ(t->CoreOfCpu(33), 16);
  EXPECT_EQ(t->CoreOfCpu(64), -1);
}

TEST(Topology, SyntheticThisMachineNoSmt) {
  auto t = LoadSyntheticTopology("pack:1 core:2 pu:1");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->cores.size(), 2u);
  EXPECT_EQ(t->ThreadsPerCore(), 1);
  EXPECT_EQ(t->cores[1].cpus, (CpuSet{1}));
  EXPECT_EQ(t->Describe(), "1 packages, 1 NUMA nodes, 1 L3, 2 cores, 2 CPUs (1 threads/core)");
}

TEST(Topology, BadSyntheticDescriptionIsAnError) {
  auto t = LoadSyntheticTopology("pack:two");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("pack:two"), std::string::npos) << t.error().message;
}

TEST(Topology, XmlFixtureWithNumaAndSplitL3) {
  // lstopo -i "pack:2 [numa] l3:2 core:4 pu:2" --of xml
  auto t = LoadTopologyFromXml(Fixture("two_socket_l3split_smt2.xml"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->packages, 2);
  EXPECT_EQ(t->numa_nodes, 2);
  EXPECT_EQ(t->l3_domains, 4);
  ASSERT_EQ(t->cores.size(), 16u);
  EXPECT_EQ(t->cores[5].cpus, (CpuSet{10, 11}));
  EXPECT_EQ(t->cores[5].l3, 1);
  EXPECT_EQ(t->cores[5].numa, 0);
  EXPECT_EQ(t->cores[9].numa, 1);
  EXPECT_EQ(t->cores[9].l3, 2);
}

TEST(Topology, XmlFixtureInterleavedSiblings) {
  // Intel-style numbering: CPU n and n+8 are hyperthread siblings.
  auto t = LoadTopologyFromXml(Fixture("two_socket_interleaved_smt2.xml"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->cores.size(), 8u);
  EXPECT_EQ(t->cores[0].cpus, (CpuSet{0, 8}));
  EXPECT_EQ(t->cores[7].cpus, (CpuSet{7, 15}));
  EXPECT_EQ(t->cores[4].package, 1);
}

TEST(Topology, XmlFixtureOfTheDevelopmentMachine) {
  auto t = LoadTopologyFromXml(Fixture("this_machine_2cpu.xml"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cores.size(), 2u);
  EXPECT_EQ(t->ThreadsPerCore(), 1);
  EXPECT_EQ(t->numa_nodes, 1);
}

TEST(Topology, MissingXmlIsAnErrorNamingTheFile) {
  auto t = LoadTopologyFromXml("/nonexistent/topo.xml");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("/nonexistent/topo.xml"), std::string::npos);
}

TEST(Topology, LiveMachineMatchesSysfs) {
  auto t = LoadLiveTopology();
  ASSERT_TRUE(t.ok()) << t.error().message;
  // Ground truth: the kernel's list of online CPUs.
  auto online = ReadLine("/sys/devices/system/cpu/online");
  ASSERT_TRUE(online.ok());
  EXPECT_EQ(FormatCpuList(t->AllCpus()), Trim(*online));
  // And each core's siblings as the kernel reports them.
  for (const Core& c : t->cores) {
    auto sib = ReadLine("/sys/devices/system/cpu/cpu" + std::to_string(*c.cpus.begin()) +
                        "/topology/thread_siblings_list");
    ASSERT_TRUE(sib.ok());
    EXPECT_EQ(FormatCpuList(c.cpus), Trim(*sib));
  }
}

TEST(Topology, OwnerIsMovable) {
  auto a = HwlocTopology::LoadSynthetic("pack:1 core:2 pu:1");
  ASSERT_TRUE(a.ok());
  HwlocTopology b = std::move(*a);
  EXPECT_NE(b.get(), nullptr);
  EXPECT_EQ(a->get(), nullptr);
  ASSERT_TRUE(b.Extract().ok());
}

}  // namespace
}  // namespace sw
