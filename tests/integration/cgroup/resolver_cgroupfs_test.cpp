// The cgroup resolver on the real cgroup hierarchy (the unit tests use fake trees).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "cgroup/layout.h"
#include "cgroup/resolver.h"
#include "common/fs.h"
#include "support/privileged.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

uint64_t Ino(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// The premise of the resolver, checked on the real machine: the cgroup id the kernel reports (the
// kernfs node id, which is what name_to_handle_at returns as the file handle on cgroupfs, and what
// BPF reads as kn->id) equals the directory's inode number. Read-only, but it needs a real
// cgroupfs, so it lives in the privileged tier, whose gate turns "no cgroupfs" into a failure.
TEST(CgroupResolverOnThisMachine, InodeIsTheKernfsCgroupId) {
  SW_REQUIRE_PRIVILEGED();
  auto layout = DetectCgroupMounts();
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  CgroupResolver r(layout->cpu.path);
  ASSERT_TRUE(r.Refresh(0s).ok());
  ASSERT_GE(r.size(), 1u);
  int checked = 0;
  EXPECT_EQ(r.Lookup(Ino(layout->cpu.path)), "/");
  std::vector<std::string> dirs = {"/"};
  auto names = ListDir(layout->cpu.path);
  ASSERT_TRUE(names.ok());
  for (const std::string& n : *names)
    if (std::filesystem::is_directory(layout->cpu.path + "/" + n)) dirs.push_back("/" + n);
  for (const std::string& d : dirs) {
    std::string full = JoinPath(layout->cpu.path, d);
    struct {
      file_handle fh;
      unsigned char bytes[64];
    } h{};
    h.fh.handle_bytes = sizeof h.bytes;
    int mount_id = 0;
    ASSERT_EQ(name_to_handle_at(AT_FDCWD, full.c_str(), &h.fh, &mount_id, 0), 0) << full;
    ASSERT_EQ(h.fh.handle_bytes, 8u) << full;
    uint64_t kernfs_id = 0;
    memcpy(&kernfs_id, h.fh.f_handle, 8);
    EXPECT_EQ(kernfs_id, Ino(full)) << full;
    EXPECT_EQ(r.Lookup(kernfs_id), d) << full;
    checked++;
  }
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace sw
