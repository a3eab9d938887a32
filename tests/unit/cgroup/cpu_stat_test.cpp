#include "cgroup/cpu_stat.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_tree.h"

namespace sw {
namespace {

using test::TempTree;
using ::testing::HasSubstr;

// Real cpu.stat of a throttled v1 cgroup (Linux 6.18, quota 20 ms / 100 ms).
const char* kV1CpuStat =
    "nr_periods 312\n"
    "nr_throttled 298\n"
    "throttled_time 23847112930\n"
    "nr_bursts 0\n"
    "burst_time 0\n";

// Real cpu.stat of a throttled v2 cgroup (Linux 6.x).
const char* kV2CpuStat =
    "usage_usec 6255311\n"
    "user_usec 6250931\n"
    "system_usec 4379\n"
    "core_sched.force_idle_usec 0\n"
    "nr_periods 312\n"
    "nr_throttled 298\n"
    "throttled_usec 23847112\n"
    "nr_bursts 0\n"
    "burst_usec 0\n";

// v2 root cgroup: no bandwidth fields at all.
const char* kV2RootCpuStat =
    "usage_usec 236755209\n"
    "user_usec 189567834\n"
    "system_usec 47187374\n"
    "nice_usec 0\n";

TEST(ParseCpuStat, V1) {
  auto r = ParseCpuStat(kV1CpuStat, CgroupVersion::kV1, "cpu.stat");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->stat);
  EXPECT_EQ(r->stat->nr_periods, 312u);
  EXPECT_EQ(r->stat->nr_throttled, 298u);
  EXPECT_EQ(r->stat->throttled_ns, 23847112930u);
  EXPECT_FALSE(r->usage_ns);
}

TEST(ParseCpuStat, V2NormalisedToNanoseconds) {
  auto r = ParseCpuStat(kV2CpuStat, CgroupVersion::kV2, "cpu.stat");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->stat);
  EXPECT_EQ(r->stat->nr_periods, 312u);
  EXPECT_EQ(r->stat->nr_throttled, 298u);
  EXPECT_EQ(r->stat->throttled_ns, 23847112000u);
  EXPECT_EQ(r->usage_ns, 6255311000u);
}

TEST(ParseCpuStat, V2RootHasUsageOnly) {
  auto r = ParseCpuStat(kV2RootCpuStat, CgroupVersion::kV2, "cpu.stat");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->stat);
  EXPECT_EQ(r->usage_ns, 236755209000u);
}

TEST(ParseCpuStat, ErrorsNameFileLineAndField) {
  auto wrong_version = ParseCpuStat(kV1CpuStat, CgroupVersion::kV2, "/x/cpu.stat");
  ASSERT_FALSE(wrong_version.ok());
  EXPECT_THAT(wrong_version.error().message, HasSubstr("/x/cpu.stat: no 'usage_usec' field"));
  auto v2_as_v1 = ParseCpuStat(kV2CpuStat, CgroupVersion::kV1, "/x/cpu.stat");
  ASSERT_FALSE(v2_as_v1.ok());
  EXPECT_THAT(v2_as_v1.error().message, HasSubstr("'throttled_time'"));
  auto garbage = ParseCpuStat("nr_periods 1\nnr_throttled x1\n", CgroupVersion::kV1, "/y/cpu.stat");
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.error().message, HasSubstr("/y/cpu.stat:2:"));
  auto partial = ParseCpuStat("usage_usec 5\nnr_periods 1\n", CgroupVersion::kV2, "c");
  EXPECT_FALSE(partial.ok());  // bandwidth fields are all or none
}

TEST(ParseCpuacctUsage, Nanoseconds) {
  EXPECT_EQ(*ParseCpuacctUsage("182392812371\n", "u"), 182392812371u);
  auto bad = ParseCpuacctUsage("-1\n", "/a/cpuacct.usage");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("/a/cpuacct.usage"));
}

TEST(ParsePsi, SomeAndFull) {
  auto p = ParsePsi(
      "some avg10=2.58 avg60=0.99 avg300=0.51 total=5086370\n"
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=1200\n",
      "cpu.pressure");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->some_total_ns, 5086370000u);
  EXPECT_EQ(p->full_total_ns, 1200000u);
  // Kernels before 5.13 have no "full" line for cpu.
  auto some_only = ParsePsi("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n", "p");
  ASSERT_TRUE(some_only.ok());
  EXPECT_EQ(some_only->some_total_ns, 7000u);
  EXPECT_EQ(some_only->full_total_ns, 0u);
  EXPECT_FALSE(ParsePsi("", "p").ok());
  EXPECT_FALSE(ParsePsi("some avg10=0.00 total=x\n", "p").ok());
}

CgroupMounts V1Layout(const TempTree& t) {
  return CgroupMounts{{t.Path("cpu"), CgroupVersion::kV1},
                      ControllerMount{t.Path("cpuacct"), CgroupVersion::kV1},
                      std::nullopt};
}

TEST(CgroupStatReader, V1ReadsCpuStatAndCpuacct) {
  TempTree t;
  t.Write("cpu/be/cpu.stat", kV1CpuStat);
  t.Write("cpuacct/be/cpuacct.usage", "4000000123\n");
  CgroupStatReader r(V1Layout(t));
  auto s = r.ReadCpuStat("/be");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE(*s);
  EXPECT_EQ((*s)->stat->nr_throttled, 298u);
  auto u = r.ReadUsageNs("/be");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, 4000000123u);
  // v1 has no per-cgroup PSI: absent, not an error.
  auto psi = r.ReadPsi("/be");
  ASSERT_TRUE(psi.ok());
  EXPECT_FALSE(*psi);
}

TEST(CgroupStatReader, VanishedCgroupIsAbsentNotAnError) {
  TempTree t;
  t.MakeDir("cpu");
  CgroupStatReader r(V1Layout(t));
  auto s = r.ReadCpuStat("/gone");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(*s);
  auto u = r.ReadUsageNs("/gone");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(*u);
}

TEST(CgroupStatReader, MalformedFileIsAnErrorNamingIt) {
  TempTree t;
  t.Write("cpu/be/cpu.stat", "nr_periods lots\n");
  CgroupStatReader r(V1Layout(t));
  auto s = r.ReadCpuStat("/be");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr(t.Path("cpu/be/cpu.stat") + ":1"));
}

TEST(CgroupStatReader, V2UsageFromCpuStatAndPsiWhenPresent) {
  TempTree t;
  t.Write("cg/lc/cpu.stat", kV2CpuStat);
  t.Write("cg/lc/cpu.pressure",
          "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n"
          "full avg10=0.00 avg60=0.00 avg300=0.00 total=40\n");
  t.Write("cg/nopsi/cpu.stat", kV2RootCpuStat);
  CgroupStatReader r(CgroupMounts{{t.Path("cg"), CgroupVersion::kV2}, std::nullopt, std::nullopt});
  EXPECT_EQ(*r.ReadUsageNs("/lc"), 6255311000u);
  auto psi = r.ReadPsi("/lc");
  ASSERT_TRUE(psi.ok());
  ASSERT_TRUE(*psi);
  EXPECT_EQ((*psi)->some_total_ns, 42000u);
  EXPECT_EQ((*psi)->full_total_ns, 40000u);
  auto none = r.ReadPsi("/nopsi");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
}

}  // namespace
}  // namespace sw
