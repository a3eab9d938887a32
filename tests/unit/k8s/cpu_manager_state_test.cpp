// kubelet's CPU manager checkpoint: parsing both formats, and the reader's rules for absent,
// "none", garbage and rewritten files (docs/kubernetes.md, "CPU manager").
#include "k8s/cpu_manager_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "support/temp_tree.h"

namespace sw {
namespace {

using ::testing::HasSubstr;

// As kubelet 1.2x writes it (static policy, one Guaranteed pod with two containers).
constexpr const char* kStatic =
    R"({"policyName":"static","defaultCpuSet":"0,3-7","entries":{"6f1a2b3c-0000-4000-8000-)"
    R"(000000000001":{"app":"1","sidecar":"2"}},"checksum":1418227524})";

TEST(CpuManagerState, ParsesTheStaticPolicy) {
  auto s = ParseCpuManagerState(kStatic);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->policy_name, "static");
  EXPECT_EQ(s->default_cpuset, (CpuSet{0, 3, 4, 5, 6, 7}));
  EXPECT_EQ(s->Assigned(), (CpuSet{1, 2}));
  EXPECT_EQ(s->Owners().at(2), "container sidecar of pod 6f1a2b3c-0000-4000-8000-000000000001");
  EXPECT_EQ(s->checksum, "1418227524");
}

TEST(CpuManagerState, NonePolicyAndOldFormat) {
  auto none = ParseCpuManagerState(R"({"policyName":"none","defaultCpuSet":"","checksum":1})");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_TRUE(none->Assigned().empty());
  auto old = ParseCpuManagerState(
      R"({"policyName":"static","defaultCpuSet":"0-1","entries":{"abc123":"2-3"}})");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->Assigned(), (CpuSet{2, 3}));
  EXPECT_EQ(old->Owners().at(3), "container abc123");
}

TEST(CpuManagerState, GarbageIsAnErrorSayingWhat) {
  for (auto [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"", "not a JSON object"},
           {"{\"policyName\":\"static\",", "not a JSON object"},
           {"[1,2]", "not a JSON object"},
           {"{\"defaultCpuSet\":\"0\"}", "policyName: missing"},
           {R"({"policyName":"static","entries":{"p":{"c":7}}})", "entries.p.c: expected a cpu"},
           {R"({"policyName":"static","entries":{"p":{"c":"3-1"}}})", "entries.p.c: "},
           {R"({"policyName":"static","entries":[]})", "entries: expected an object"}}) {
    auto s = ParseCpuManagerState(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.error().message, HasSubstr(what)) << text;
  }
}

class CpuManagerReaderTest : public ::testing::Test {
 protected:
  // Replaced like kubelet does (a new file renamed over the old): a new inode every time.
  void Put(const std::string& text) {
    const std::string tmp = t.Write("state.tmp", text);
    ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
  }
  test::TempTree t;
  std::string path = t.Path("cpu_manager_state");
};

TEST_F(CpuManagerReaderTest, AbsentFileMeansNothingAssignedAndRewritesAreSeen) {
  CpuManagerStateReader r(path);
  auto first = r.Refresh();
  EXPECT_TRUE(first.changed);  // the first reading is always applied
  EXPECT_TRUE(first.view.known);
  EXPECT_TRUE(first.view.assigned.empty());
  EXPECT_FALSE(first.problem);
  EXPECT_FALSE(r.Refresh().changed);
  Put(kStatic);
  auto st = r.Refresh();
  EXPECT_TRUE(st.changed);
  EXPECT_EQ(st.view.assigned, (CpuSet{1, 2}));
  EXPECT_FALSE(r.Refresh().changed);  // unchanged file: a stat, no re-read
  Put(R"({"policyName":"static","defaultCpuSet":"0-2,4-7","entries":{"p":{"c":"3"}}})");
  EXPECT_EQ(r.Refresh().view.assigned, (CpuSet{3}));
  Put(R"({"policyName":"none","defaultCpuSet":"","checksum":1})");
  auto none = r.Refresh();
  EXPECT_TRUE(none.changed);
  EXPECT_TRUE(none.view.assigned.empty());
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_FALSE(r.Refresh().changed);  // still nothing assigned
}

TEST_F(CpuManagerReaderTest, GarbageKeepsTheLastGoodReadingAndIsLoggedOnce) {
  Put(kStatic);
  CpuManagerStateReader r(path);
  EXPECT_EQ(r.Refresh().view.assigned, (CpuSet{1, 2}));
  Put("{\"policyName\": \"static\", \"entries\": ");  // truncated
  auto bad = r.Refresh();
  EXPECT_FALSE(bad.changed);
  EXPECT_EQ(bad.view.assigned, (CpuSet{1, 2}));
  ASSERT_TRUE(bad.problem);
  EXPECT_EQ(*bad.problem, path +
                              ": cannot use kubelet's CPU manager state (not a JSON object): "
                              "keeping the CPUs it assigned last time");
  Put("{\"policyName\": \"static\", \"entries\": ");  // rewritten, same garbage: no new line
  EXPECT_FALSE(r.Refresh().problem);
  Put(R"({"policyName":"static","entries":{"p":{"c":"5"}}})");
  auto good = r.Refresh();
  EXPECT_TRUE(good.changed);
  EXPECT_EQ(good.view.assigned, (CpuSet{5}));
  ASSERT_TRUE(good.problem);
  EXPECT_THAT(*good.problem, HasSubstr("readable again (policy static)"));
}

TEST_F(CpuManagerReaderTest, GarbageFromTheStartFailsClosed) {
  Put("not json");
  CpuManagerStateReader r(path);
  auto bad = r.Refresh();
  EXPECT_TRUE(bad.changed);
  EXPECT_FALSE(bad.view.known);
  ASSERT_TRUE(bad.problem);
  EXPECT_THAT(*bad.problem, HasSubstr("no CPU is made exclusive until it reads well"));
  Put(kStatic);
  auto good = r.Refresh();
  EXPECT_TRUE(good.changed);
  EXPECT_TRUE(good.view.known);
  EXPECT_EQ(good.view.assigned, (CpuSet{1, 2}));
}

}  // namespace
}  // namespace sw
