#include "cgroup/resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/fs.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using test::TempTree;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The kernel's cgroup id is the directory's inode number; on a fake tree the temp directories'
// real inode numbers play that part.
uint64_t Ino(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

struct Tree {
  explicit Tree(bool v2) {
    if (v2) {
      root = t.MakeDir("cgroup");
      t.Write("cgroup/cgroup.controllers", "cpuset cpu io\n");
      t.Write("cgroup/kubepods/burstable/pod1/ctr/cpu.stat", "usage_usec 1\n");
      t.Write("cgroup/system.slice/ssh.service/cpu.stat", "usage_usec 1\n");
    } else {
      root = t.MakeDir("cgroup/cpu");
      t.Write("cgroup/cpu/cpu.shares", "1024\n");
      t.Write("cgroup/cpu/kubepods/burstable/pod1/ctr/cpu.stat", "nr_periods 0\n");
      t.Write("cgroup/cpu/system.slice/ssh.service/cpu.stat", "nr_periods 0\n");
    }
  }
  std::string P(const std::string& rel) const { return root + rel; }
  TempTree t;
  std::string root;
};

class ResolverTest : public ::testing::TestWithParam<bool> {};

TEST_P(ResolverTest, ResolvesIdsToPathsByWalking) {
  Tree tree(GetParam());
  CgroupResolver r(tree.root);
  ASSERT_TRUE(r.Refresh(1s).ok());
  EXPECT_EQ(r.Lookup(Ino(tree.root)), "/");
  EXPECT_EQ(r.Lookup(Ino(tree.P("/kubepods"))), "/kubepods");
  EXPECT_EQ(r.Lookup(Ino(tree.P("/kubepods/burstable/pod1/ctr"))), "/kubepods/burstable/pod1/ctr");
  EXPECT_EQ(r.Lookup(Ino(tree.P("/system.slice/ssh.service"))), "/system.slice/ssh.service");
  // Files are not cgroups.
  EXPECT_EQ(r.Lookup(Ino(tree.P("/system.slice/ssh.service/cpu.stat"))), std::nullopt);
  EXPECT_EQ(r.size(), 7u);  // root, kubepods, burstable, pod1, ctr, system.slice, ssh.service
}

TEST_P(ResolverTest, AutogroupIdZeroIsTheRootCgroupWithoutAWalk) {
  Tree tree(GetParam());
  CgroupResolver r(tree.root);
  auto p = r.Resolve(0, 1s);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "/");
  EXPECT_EQ(r.walks(), 0u);
}

TEST_P(ResolverTest, UnknownIdTriggersARefresh) {
  Tree tree(GetParam());
  CgroupResolver r(tree.root);
  ASSERT_TRUE(r.Refresh(1s).ok());
  std::string fresh =
      tree.t.MakeDir(tree.P("/kubepods/besteffort/pod2").substr(tree.t.root().size()));
  auto p = r.Resolve(Ino(fresh), 3s);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "/kubepods/besteffort/pod2");
  EXPECT_EQ(r.walks(), 2u);
  // A cached id costs no walk.
  ASSERT_TRUE(r.Resolve(Ino(fresh), 10s).ok());
  EXPECT_EQ(r.walks(), 2u);
}

TEST_P(ResolverTest, RefreshIsRateLimited) {
  Tree tree(GetParam());
  CgroupResolver r(tree.root, {.min_refresh_interval = 1s, .gc_interval = 10s});
  ASSERT_TRUE(r.Refresh(100s).ok());
  std::string fresh = tree.t.MakeDir(tree.P("/late").substr(tree.t.root().size()));
  // A flood of ids that resolve to nothing, within one interval: at most one walk.
  for (uint64_t id = 1u << 30; id < (1u << 30) + 5000; id++) {
    auto p = r.Resolve(id, 100s + 500ms);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, std::nullopt);
  }
  EXPECT_EQ(r.walks(), 1u);
  // The new directory is not found until the interval has passed.
  EXPECT_EQ(*r.Resolve(Ino(fresh), 100s + 900ms), std::nullopt);
  EXPECT_EQ(*r.Resolve(Ino(fresh), 101s + 1ms), "/late");
  EXPECT_EQ(r.walks(), 2u);
}

TEST_P(ResolverTest, GarbageCollectsRemovedDirectories) {
  Tree tree(GetParam());
  CgroupResolver r(tree.root, {.min_refresh_interval = 1s, .gc_interval = 10s});
  std::string ctr = tree.P("/kubepods/burstable/pod1/ctr");
  uint64_t ctr_id = Ino(ctr), pod_id = Ino(tree.P("/kubepods/burstable/pod1"));
  ASSERT_TRUE(r.Refresh(0s).ok());
  ASSERT_TRUE(r.Lookup(ctr_id));
  std::filesystem::remove_all(tree.P("/kubepods/burstable/pod1"));
  // Not yet: the last walk is recent.
  ASSERT_TRUE(r.MaybeCollectGarbage(5s).ok());
  EXPECT_THAT(r.TakeRemoved(), IsEmpty());
  EXPECT_EQ(r.walks(), 1u);
  ASSERT_TRUE(r.MaybeCollectGarbage(11s).ok());
  EXPECT_EQ(r.walks(), 2u);
  std::vector<uint64_t> removed = r.TakeRemoved();
  std::sort(removed.begin(), removed.end());
  std::vector<uint64_t> want = {ctr_id, pod_id};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(removed, want);
  EXPECT_THAT(r.TakeRemoved(), IsEmpty());  // reported once
  EXPECT_EQ(r.Lookup(ctr_id), std::nullopt);
  EXPECT_TRUE(r.Lookup(Ino(tree.P("/kubepods/burstable"))));
  EXPECT_FALSE(r.PathExists("/kubepods/burstable/pod1"));
  EXPECT_TRUE(r.PathExists("/kubepods/burstable"));
}

TEST_P(ResolverTest, MissingHierarchyIsAClearError) {
  Tree tree(GetParam());
  CgroupResolver r(tree.root + "/does-not-exist");
  auto res = r.Refresh(0s);
  ASSERT_FALSE(res.ok());
  EXPECT_THAT(res.error().message, ::testing::HasSubstr(tree.root + "/does-not-exist"));
  // Retried at most once per interval, not once per unknown id.
  EXPECT_FALSE(r.Resolve(42, 2s).ok());
  for (uint64_t id = 43; id < 1000; id++) EXPECT_TRUE(r.Resolve(id, 2s + 100ms).ok());
  EXPECT_EQ(r.walks(), 0u);
}

INSTANTIATE_TEST_SUITE_P(V1AndV2, ResolverTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "V2" : "V1"; });

}  // namespace
}  // namespace sw
