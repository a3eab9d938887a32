// The process_* reader on a fake /proc tree (ground truth written by hand) and on the real one
// against getrusage / getrlimit / the kernel's own numbers.
#include "export/self_stats.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "support/temp_tree.h"

namespace sw {
namespace {

using ::testing::HasSubstr;

void FakeProc(test::TempTree& t, const std::string& limits_line) {
  // utime 250, stime 150 ticks; starttime 5000 ticks; vsize 123456789; rss 300 pages. The
  // command has a space and a parenthesis, which a naive split would miscount.
  t.Write("proc/42/stat",
          "42 (we ird) agent) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 5000 "
          "123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
  t.Write("proc/stat", "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n");
  t.Write("proc/42/limits",
          "Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max cpu time              unlimited            unlimited            seconds   \n" +
              limits_line +
              "Max processes             63508                63508                processes \n");
  for (const char* fd : {"0", "1", "2", "7"}) t.Write(std::string("proc/42/fd/") + fd, "");
}

TEST(ProcessStats, ReadsAFakeProcTree) {
  test::TempTree t;
  FakeProc(t, "Max open files            1024                 524288               files     \n");
  auto s = ReadProcessStats(t.Path("proc"), "42", 100, 4096);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);                       // (250 + 150) / 100
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000000.0 + 50);  // btime + 5000 / 100
  EXPECT_EQ(s->virtual_bytes, 123456789u);
  EXPECT_EQ(s->resident_bytes, 300u * 4096);
  EXPECT_EQ(s->open_fds, 4u);
  ASSERT_TRUE(s->max_fds.has_value());
  EXPECT_EQ(*s->max_fds, 1024u);
}

TEST(ProcessStats, UnlimitedFilesAndBrokenFilesAreReported) {
  test::TempTree t;
  FakeProc(t, "Max open files            unlimited            unlimited            files     \n");
  auto s = ReadProcessStats(t.Path("proc"), "42", 100, 4096);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->max_fds.has_value());
  t.Write("proc/42/stat", "42 (x) S 1 2\n");
  auto broken = ReadProcessStats(t.Path("proc"), "42", 100, 4096);
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.error().message, HasSubstr("proc/42/stat"));
  auto missing = ReadProcessStats(t.Path("proc"), "43", 100, 4096);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("43"));
}

TEST(ProcessStats, MatchesTheKernelsOwnNumbersForThisProcess) {
  // Burn a little CPU so the tick-granular counters are not all zero.
  volatile uint64_t x = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
  while (std::chrono::steady_clock::now() < until) x = x + 1;
  rusage before{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &before), 0);
  auto s = ReadProcessStats();
  rusage after{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &after), 0);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto secs = [](const rusage& r) {
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
  };
  const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  // /proc counts whole ticks; getrusage is finer: they agree within a tick or two.
  EXPECT_GE(s->cpu_seconds, secs(before) - 2 * tick);
  EXPECT_LE(s->cpu_seconds, secs(after) + 2 * tick);
  // RSS: getrusage's maximum RSS bounds the current one.
  EXPECT_GT(s->resident_bytes, 0u);
  EXPECT_LE(s->resident_bytes, static_cast<uint64_t>(after.ru_maxrss) * 1024 + 4096 * 64);
  EXPECT_GE(s->virtual_bytes, s->resident_bytes);
  rlimit nofile{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &nofile), 0);
  if (nofile.rlim_cur == RLIM_INFINITY)
    EXPECT_FALSE(s->max_fds.has_value());
  else
    EXPECT_EQ(s->max_fds.value_or(0), nofile.rlim_cur);
  // One more open descriptor is seen as one more.
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto more = ReadProcessStats();
  close(fd);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->open_fds, s->open_fds + 1);
  // Started after boot and before now.
  struct sysinfo si {};
  ASSERT_EQ(sysinfo(&si), 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(s->start_time_seconds, now + 1);
  EXPECT_GE(s->start_time_seconds, now - si.uptime - 2);
}

}  // namespace
}  // namespace sw
