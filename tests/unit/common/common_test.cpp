#include <gtest/gtest.h>

#include "common/cpulist.h"
#include "common/duration.h"
#include "common/fs.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

TEST(CpuList, ParsesRangesAndSingles) {
  auto s = ParseCpuList("0-2,5, 7-8\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(*s, (CpuSet{0, 1, 2, 5, 7, 8}));
  EXPECT_EQ(FormatCpuList(*s), "0-2,5,7-8");
  EXPECT_TRUE(ParseCpuList("")->empty());
}

TEST(CpuList, RejectsGarbageAndNamesToken) {
  auto s = ParseCpuList("0-2,x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("'x'"), std::string::npos);
  EXPECT_FALSE(ParseCpuList("3-1").ok());
  EXPECT_FALSE(ParseCpuList("-1").ok());
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*ParseDuration("500ms"), 500ms);
  EXPECT_EQ(*ParseDuration("2ms"), 2ms);
  EXPECT_EQ(*ParseDuration("1.5ms"), 1500us);
  EXPECT_EQ(*ParseDuration("30s"), 30s);
  EXPECT_EQ(*ParseDuration("1m"), 60s);
  EXPECT_EQ(*ParseDuration("250us"), 250us);
  EXPECT_FALSE(ParseDuration("5").ok());
  EXPECT_FALSE(ParseDuration("ms").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("1.2.3s").ok());
  EXPECT_EQ(FormatDuration(2ms), "2ms");
  EXPECT_EQ(FormatDuration(1500us), "1.5ms");
  EXPECT_EQ(FormatDuration(30s), "30s");
}

TEST(Fs, ReadIntAndErrors) {
  test::TempTree t;
  t.Write("a", "42\n");
  t.Write("b", "max\n");
  EXPECT_EQ(*ReadInt(t.Path("a")), 42);
  auto b = ReadInt(t.Path("b"));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find(t.Path("b")), std::string::npos);
  auto missing = ReadFile(t.Path("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_EQ(JoinPath("/sys/fs/cgroup/", "/cpu"), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(JoinPath("/", "x"), "/x");
}

}  // namespace
}  // namespace sw
