// RealSystemWriter's confinement on a fake tree (tmpfs, so require_cgroupfs is off): writes land
// only beneath the roots, never through a symlink or "..", with openat2 and with its fallback.
// Ground truth: the files' contents on disk, read back without the writer.
#include "enforce/system_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/temp_tree.h"

namespace sw {
namespace {

using ::testing::HasSubstr;

class Confinement : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    cg_ = tree_.MakeDir("cgroup");
    tree_.Write("cgroup/a/cpu.weight", "1\n");  // as long as the value written: no O_TRUNC
    secret_ = tree_.Write("outside/secret", "untouched\n");
    tree_.MakeDir("outside/dir");
  }
  RealSystemWriter Writer() {
    return RealSystemWriter(
        WriteConfinement{.roots = {cg_}, .require_cgroupfs = false, .use_openat2 = GetParam()});
  }
  test::TempTree tree_;
  std::string cg_, secret_;
};

TEST_P(Confinement, WritesBeneathTheRoot) {
  RealSystemWriter w = Writer();
  ASSERT_TRUE(w.WriteFile(cg_ + "/a/cpu.weight", "50"));
  EXPECT_EQ(tree_.Read("cgroup/a/cpu.weight"), "50");
  ASSERT_TRUE(w.MakeDir(cg_ + "/a/child"));
  EXPECT_EQ(access((cg_ + "/a/child").c_str(), F_OK), 0);
  ASSERT_TRUE(w.RemoveDir(cg_ + "/a/child"));
  EXPECT_NE(access((cg_ + "/a/child").c_str(), F_OK), 0);
  auto gone = w.WriteFile(cg_ + "/vanished/cpu.weight", "1");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);  // a vanished cgroup stays ENOENT for the callers
}

TEST_P(Confinement, PathsOutsideTheRootOrWithDotDotAreRefused) {
  RealSystemWriter w = Writer();
  for (const std::string& p :
       {secret_, cg_ + "/../outside/secret", cg_ + "/a/../../outside/secret",
        cg_ + "/./a/cpu.weight", std::string("outside/secret"), cg_ + "x/secret"}) {
    auto r = w.WriteFile(p, "owned");
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(r.error().code, EPERM) << r.error().message;
    EXPECT_THAT(r.error().message, HasSubstr("refusing to write " + p));
  }
  EXPECT_FALSE(w.MakeDir(cg_ + "/../outside/new"));
  EXPECT_FALSE(w.RemoveDir(cg_ + "/../outside/dir"));
  EXPECT_EQ(tree_.Read("outside/secret"), "untouched\n");
  EXPECT_NE(access(tree_.Path("outside/new").c_str(), F_OK), 0);
  EXPECT_EQ(access(tree_.Path("outside/dir").c_str(), F_OK), 0);
}

TEST_P(Confinement, SymlinksOutOfTheTreeAreRefused) {
  RealSystemWriter w = Writer();
  // A directory symlink inside the tree pointing out of it, and a file symlink.
  ASSERT_EQ(symlink(tree_.Path("outside").c_str(), (cg_ + "/escape").c_str()), 0);
  ASSERT_EQ(symlink(secret_.c_str(), (cg_ + "/a/cpu.idle").c_str()), 0);
  for (const std::string& p : {cg_ + "/escape/secret", cg_ + "/a/cpu.idle"}) {
    auto r = w.WriteFile(p, "owned");
    ASSERT_FALSE(r) << p;
    EXPECT_THAT(r.error().message, HasSubstr("symbolic link")) << r.error().message;
  }
  EXPECT_FALSE(w.MakeDir(cg_ + "/escape/new"));
  EXPECT_FALSE(w.RemoveDir(cg_ + "/escape/dir"));
  EXPECT_FALSE(w.MoveTask(cg_ + "/escape/secret", 1));
  EXPECT_EQ(tree_.Read("outside/secret"), "untouched\n");
  EXPECT_NE(access(tree_.Path("outside/new").c_str(), F_OK), 0);
  EXPECT_EQ(access(tree_.Path("outside/dir").c_str(), F_OK), 0);
}

TEST_P(Confinement, CgroupfsIsRequiredByDefault) {
  RealSystemWriter w(WriteConfinement{.roots = {cg_}, .use_openat2 = GetParam()});
  auto r = w.WriteFile(cg_ + "/a/cpu.weight", "50");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("not on a cgroup filesystem"));
  EXPECT_EQ(tree_.Read("cgroup/a/cpu.weight"), "1\n");
}

TEST(CgroupMountsConfinement, EveryCgroupMountOfMountinfoIsARoot) {
  test::TempTree tree;
  const std::string mi = tree.Write(
      "mountinfo",
      "25 1 0:23 / /sys rw - sysfs sysfs rw\n"
      "30 25 0:26 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n"
      "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct\n"
      "36 30 0:32 / /host/cg\\040x rw - cgroup2 cgroup2 rw\n");
  EXPECT_EQ(CgroupMountsConfinement(mi).roots,
            (std::vector<std::string>{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/cpu,cpuacct",
                                      "/host/cg x"}));
  EXPECT_TRUE(CgroupMountsConfinement(mi).require_cgroupfs);
  EXPECT_EQ(CgroupMountsConfinement(tree.Path("none")).roots,
            (std::vector<std::string>{"/sys/fs/cgroup"}));
}

INSTANTIATE_TEST_SUITE_P(OpenAt2AndFallback, Confinement, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "openat2" : "walk"; });

}  // namespace
}  // namespace sw
