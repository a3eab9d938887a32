#include "common/open_file_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "support/temp_tree.h"

namespace sw {
namespace {

using test::TempTree;

TEST(OpenFileCache, RereadsTheOpenFileAndSeesNewContent) {
  TempTree t;
  const std::string f = t.Write("cg/cpu.stat", "nr_periods 1\n");
  OpenFileCache cache(8);
  EXPECT_EQ(*cache.Read(f), "nr_periods 1\n");
  EXPECT_EQ(cache.open_files(), 1u);
  std::ofstream(f, std::ios::trunc) << "nr_periods 22\n";  // same file, new content
  EXPECT_EQ(*cache.Read(f), "nr_periods 22\n");
}

TEST(OpenFileCache, AFileReplacedOrRemovedIsNeverReadStale) {
  TempTree t;
  const std::string f = t.Write("cg/cpu.stat", "old\n");
  OpenFileCache cache(8);
  ASSERT_EQ(*cache.Read(f), "old\n");
  const std::string tmp = t.Write("cg/cpu.stat.new", "new\n");
  std::filesystem::rename(tmp, f);  // the open file has no links left
  EXPECT_EQ(*cache.Read(f), "new\n");
  std::filesystem::remove_all(t.Path("cg"));
  auto gone = cache.Read(f);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_EQ(cache.open_files(), 0u);
}

TEST(OpenFileCache, SweepClosesFilesNotReadSinceThePreviousSweep) {
  TempTree t;
  const std::string a = t.Write("a", "1"), b = t.Write("b", "2");
  OpenFileCache cache(8);
  ASSERT_TRUE(cache.Read(a).ok());
  ASSERT_TRUE(cache.Read(b).ok());
  cache.Sweep();
  EXPECT_EQ(cache.open_files(), 2u);
  ASSERT_TRUE(cache.Read(a).ok());
  cache.Sweep();
  EXPECT_EQ(cache.open_files(), 1u) << "b was not read in the last pass";
}

TEST(OpenFileCache, BeyondItsLimitFilesAreReadWithoutBeingKept) {
  TempTree t;
  OpenFileCache cache(2);
  for (int i = 0; i < 5; i++) {
    const std::string f = t.Write("f" + std::to_string(i), std::to_string(i));
    EXPECT_EQ(*cache.Read(f), std::to_string(i));
  }
  EXPECT_EQ(cache.open_files(), 2u);
  EXPECT_GT(OpenFileCache::DefaultMaxOpen(), 0u);
  EXPECT_LE(OpenFileCache::DefaultMaxOpen(), 4096u);
}

TEST(OpenFileCache, AMissingFileIsAnErrorWithItsErrno) {
  OpenFileCache cache(2);
  auto r = cache.Read("/nonexistent-schedwarden/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
}

}  // namespace
}  // namespace sw
