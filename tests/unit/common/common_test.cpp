#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/cpulist.h"
#include "common/duration.h"
#include "common/file_trust.h"
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

// Config and state files: refused when others can write them or when owned by another user.
namespace sw {
namespace {

class FileTrust : public ::testing::Test {
 protected:
  std::string File(const std::string& rel, mode_t mode) {
    std::string p = tree_.Write(rel, "x: 1\n");
    EXPECT_EQ(chmod(p.c_str(), mode), 0);
    return p;
  }
  // Some uid other than ours and root, owning `path`; as non-root the file stays ours and the
  // agent's uid is pretended to be another one (same check either way).
  uid_t MakeForeign(const std::string& path) {
    if (geteuid() == 0) {
      EXPECT_EQ(chown(path.c_str(), 65534, 65534), 0);
      return 0;
    }
    return geteuid() + 1;
  }
  test::TempTree tree_;
};

TEST_F(FileTrust, OwnerOnlyWritableFileIsAccepted) {
  chmod(tree_.root().c_str(), 0755);
  EXPECT_TRUE(CheckTrustedPath(File("c.yaml", 0644), "config file"));
  EXPECT_TRUE(CheckTrustedPath(File("d.yaml", 0600), "config file"));
}

TEST_F(FileTrust, GroupOrWorldWritableFileIsRefusedNamingModeAndFix) {
  chmod(tree_.root().c_str(), 0755);
  for (mode_t m : {0664, 0646, 0666}) {
    std::string p = File("c.yaml", m);
    auto r = CheckTrustedPath(p, "config file");
    ASSERT_FALSE(r) << std::oct << m;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", m);
    EXPECT_NE(r.error().message.find("config file " + p + " is mode " + mode), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("chmod go-w " + p), std::string::npos) << r.error().message;
  }
}

TEST_F(FileTrust, FileOwnedByAnotherUserIsRefused) {
  chmod(tree_.root().c_str(), 0755);
  std::string p = File("c.yaml", 0644);
  uid_t agent = MakeForeign(p);
  auto r = CheckTrustedPath(p, "config file", agent);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("chown root " + p), std::string::npos) << r.error().message;
}

TEST_F(FileTrust, WritableDirectoryIsRefusedUnlessSticky) {
  std::string dir = tree_.MakeDir("open");
  std::string p = File("open/c.yaml", 0644);
  chmod(dir.c_str(), 0777);
  auto r = CheckTrustedPath(p, "config file");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("directory of the config file " + dir + " is mode 0777"),
            std::string::npos)
      << r.error().message;
  chmod(dir.c_str(), 01777);  // like /tmp: others cannot rename or remove our file
  EXPECT_TRUE(CheckTrustedPath(p, "config file"));
}

TEST_F(FileTrust, StateDirIsCreated0700AndUnsafeEntriesAreRefused) {
  chmod(tree_.root().c_str(), 0755);
  std::string dir = tree_.Path("state");
  ASSERT_TRUE(PrepareStateDir(dir));
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  std::string journal = File("state/journal", 0600);
  EXPECT_TRUE(PrepareStateDir(dir));
  chmod(journal.c_str(), 0666);
  auto r = PrepareStateDir(dir);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("state file " + journal + " is mode 0666"), std::string::npos)
      << r.error().message;
  chmod(journal.c_str(), 0600);
  ASSERT_EQ(symlink("/etc/passwd", (dir + "/status.json").c_str()), 0);
  auto link = CheckStateDir(dir);
  ASSERT_FALSE(link);
  EXPECT_NE(link.error().message.find("is a symbolic link"), std::string::npos)
      << link.error().message;
  unlink((dir + "/status.json").c_str());
  chmod(dir.c_str(), 0777);
  auto open = CheckStateDir(dir);
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("state dir " + dir + " is mode 0777"), std::string::npos)
      << open.error().message;
}

}  // namespace
}  // namespace sw
