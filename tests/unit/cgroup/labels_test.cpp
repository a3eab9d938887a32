#include "cgroup/labels.h"

#include <gtest/gtest.h>

#include "support/temp_tree.h"

namespace sw {
namespace {

TEST(Labels, FromPathComponents) {
  auto l = LabelsFromPath("/mesos/cpu_hint=exclusive/abc");
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(l.at("cpu_hint"), "exclusive");
  EXPECT_TRUE(LabelsFromPath("/a/=b/c").empty());
}

TEST(Labels, DirectoryInheritsAndOverrides) {
  test::TempTree t;
  t.Write("labels/labels", "site=a\n");
  t.Write("labels/kubepods/pod1/labels", "# pod annotations\ncpu_hint=exclusive\ntier: gold\n");
  t.Write("labels/kubepods/pod1/ctr/labels", "tier=silver\n=nokey\nnoseparator\n");
  auto l = ReadLabelDirectory(t.Path("labels"), "/kubepods/pod1/ctr");
  EXPECT_EQ(l, (std::map<std::string, std::string>{
                   {"site", "a"}, {"cpu_hint", "exclusive"}, {"tier", "silver"}}));
  EXPECT_EQ(ReadLabelDirectory(t.Path("labels"), "/kubepods/pod1").at("tier"), "gold");
  EXPECT_EQ(ReadLabelDirectory(t.Path("labels"), "/other").size(), 1u);
  EXPECT_TRUE(ReadLabelDirectory(t.Path("nope"), "/kubepods").empty());
}

}  // namespace
}  // namespace sw
