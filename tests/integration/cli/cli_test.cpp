// Unprivileged CLI contracts: check-config exit codes and messages, version, status without an
// agent, and that `run` refuses (changing nothing) when not privileged or given a broken config.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "cli_helpers.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

constexpr int kNobody = 65534;

const char* kValidConfig =
    "listen: 127.0.0.1:19752\n"
    "interval: 200ms\n"
    "enforcement:\n"
    "  mode: enforce\n"
    "workloads:\n"
    "  - name: probe\n"
    "    match: { cgroup: \"/lc*\" }\n"
    "    class: latency-critical\n"
    "    slo: { runq_p99: 2ms }\n"
    "    exclusive: always\n"
    "    exclusive_cpus: 1\n"
    "  - name: hogs\n"
    "    match: { cgroup: \"/be*\" }\n"
    "    class: best-effort\n";

TEST(CliCheckConfig, ValidFileExitsZero) {
  TempTree t;
  const std::string path = t.Write("ok.yaml", kValidConfig);
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "check-config", path});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
}

TEST(CliCheckConfig, UnknownKeyNamesFileLineAndKey) {
  TempTree t;
  // Line 5 holds the misspelt key.
  const std::string path = t.Write("bad.yaml",
                                   "listen: 127.0.0.1:19752\n"
                                   "interval: 200ms\n"
                                   "enforcement:\n"
                                   "  mode: enforce\n"
                                   "  max_exclusiv_fraction: 0.5\n");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "check-config", path});
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, path + ":5:")) << r.err;
  EXPECT_TRUE(Contains(r.err, "max_exclusiv_fraction")) << r.err;
}

// 0 used to pass check-config, and then the agent refused to start in enforce mode.
TEST(CliCheckConfig, ExclusiveFractionOutsideItsRangeIsRejected) {
  TempTree t;
  for (const char* v : {"0", "1.5"}) {
    const std::string path = t.Write("bad.yaml", std::string("listen: 127.0.0.1:19752\n"
                                                             "interval: 200ms\n"
                                                             "enforcement:\n"
                                                             "  mode: enforce\n"
                                                             "  max_exclusive_fraction: ") +
                                                     v + "\n");
    CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "check-config", path});
    EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
    EXPECT_TRUE(Contains(
        r.err, path + ":5: enforcement.max_exclusive_fraction: \"" + v + "\" must be in (0, 1]"))
        << r.err;
  }
  const std::string one = t.Write("one.yaml", "enforcement: { max_exclusive_fraction: 1 }\n");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "check-config", one});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
}

TEST(CliCheckConfig, BadDurationNamesFileLineAndKey) {
  TempTree t;
  std::string text = kValidConfig;
  text.replace(text.find("2ms"), 3, "2 parsecs");  // line 9
  const std::string path = t.Write("bad.yaml", text);
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "check-config", path});
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, path + ":9:")) << r.err;
  EXPECT_TRUE(Contains(r.err, "runq_p99")) << r.err;
}

TEST(CliCheckConfig, UnreadableFileExitsTwoNamingIt) {
  TempTree t;
  const std::string path = t.Path("does-not-exist.yaml");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "check-config", path});
  EXPECT_EQ(r.exit_code(), 2) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, path)) << r.err;
}

TEST(CliVersion, PrintsVersion) {
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "version"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^schedwarden [0-9]+\.[0-9]+)"))) << r.out;
  CommandResult flag = RunCommand({SCHEDWARDEN_BINARY, "--version"});
  EXPECT_EQ(flag.exit_code(), 0) << flag.err;
  // The same version string both ways.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(schedwarden (\S+))")));
  EXPECT_TRUE(Contains(flag.out, m[1].str())) << flag.out;
}

TEST(CliStatus, NoAgentExitsOneNamingThePath) {
  TempTree t;
  const std::string dir = t.MakeDir("state");
  for (bool json : {false, true}) {
    std::vector<std::string> argv = {SCHEDWARDEN_BINARY, "status", "--state-dir", dir};
    if (json) argv.push_back("--json");
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
    EXPECT_TRUE(Contains(r.err, dir + "/status.json")) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;  // scripts parsing --json get nothing, not garbage
  }
}

// Issue 13 part 6: a status file naming a pid that now belongs to another process (here pid 1,
// always alive, with a start time it never had) is stale, not a live agent.
TEST(CliStatus, RecycledAgentPidIsStale) {
  TempTree t;
  const std::string dir = t.MakeDir("state");
  t.Write("state/status.json", R"({"pid": 1, "pid_start": 18446744073709551615, "workloads": []})");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "status", "--state-dir", dir});
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "is not running")) << r.err;
}

TEST(CliRestore, EmptyStateDirIsNothingToRestore) {
  TempTree t;
  const std::string dir = t.MakeDir("state");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", dir});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "nothing to restore")) << r.out;
}

TEST(CliRestore, MissingStateDirIsAnErrorNamingItAndIsNotCreated) {
  TempTree t;
  const std::string dir = t.Path("no-such-state");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", dir});
  EXPECT_EQ(r.exit_code(), 2) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, dir)) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir)) << "restore created the state dir it was given";
}

TEST(CliRestore, SetAsideCorruptMovesAnInspectedJournalAway) {
  TempTree t;
  const std::string dir = t.MakeDir("state");
  const std::string journal = dir + "/journal";
  const std::string garbage = "this is not a journal record\n";
  t.Write("state/journal", garbage);

  // Plain restore cannot clear it: exit 1 naming the corrupt line, the file untouched.
  CommandResult plain = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", dir});
  EXPECT_EQ(plain.exit_code(), 1) << plain.out << plain.err;
  EXPECT_TRUE(Contains(plain.out, "corrupt: " + journal + " line 1")) << plain.out;
  EXPECT_TRUE(std::filesystem::exists(journal));

  CommandResult aside =
      RunCommand({SCHEDWARDEN_BINARY, "restore", "--set-aside-corrupt", "--state-dir", dir});
  EXPECT_EQ(aside.exit_code(), 0) << aside.out << aside.err;
  EXPECT_FALSE(std::filesystem::exists(journal));
  std::vector<std::string> moved;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("journal.aside-", 0) == 0) moved.push_back(e.path());
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_TRUE(Contains(aside.out, "set the journal aside as " + moved[0])) << aside.out;
  std::ifstream in(moved[0]);
  std::stringstream kept;
  kept << in.rdbuf();
  EXPECT_EQ(kept.str(), garbage);  // kept byte for byte, for inspection

  CommandResult after = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", dir});
  EXPECT_EQ(after.exit_code(), 0) << after.out << after.err;
  EXPECT_TRUE(Contains(after.out, "nothing to restore")) << after.out;
}

TEST(CliRestore, SetAsideCorruptWithoutCorruptRecordsIsAPlainRestore) {
  TempTree t;
  const std::string dir = t.MakeDir("state");
  CommandResult r =
      RunCommand({SCHEDWARDEN_BINARY, "restore", "--set-aside-corrupt", "--state-dir", dir});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "nothing to restore")) << r.out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().rfind("journal.aside-", 0), std::string::npos);
}

TEST(CliRun, NonRootRefusesNamingPrivilegeAndChangesNothing) {
  TempTree t;
  const std::string state = t.Path("state");
  const auto cpusets_before = SchedwardenCpusets();
  const std::string self_cpus = CpusAllowed(getpid());
  std::vector<std::string> argv = {SCHEDWARDEN_BINARY, "run",
                                   "--state-dir",      state,
                                   "--listen",         "127.0.0.1:" + std::to_string(FreePort()),
                                   "--mode",           "enforce"};
  // The embedded default config: a file in the (0700) temp dir would not be readable by nobody.
  CommandResult r = RunCommand(argv, 60000, geteuid() == 0 ? kNobody : -1);
  ASSERT_NE(r.exit_code(), 126) << "could not switch to uid " << kNobody;
  EXPECT_NE(r.exit_code(), 0) << r.out << r.err;
  EXPECT_NE(r.status, -1) << "run as non-root did not exit";
  EXPECT_TRUE(Contains(r.err, "not privileged")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(state)) << "state dir created by a refused run";
  EXPECT_EQ(SchedwardenCpusets(), cpusets_before);
  EXPECT_EQ(CpusAllowed(getpid()), self_cpus);
}

TEST(CliRun, BrokenConfigRefusesAndChangesNothing) {
  TempTree t;
  std::string text = kValidConfig;
  text.replace(text.find("best-effort"), 11, "bestest-effort");
  const std::string config = t.Write("broken.yaml", text);
  const std::string state = t.Path("state");
  const auto cpusets_before = SchedwardenCpusets();
  const std::string self_cpus = CpusAllowed(getpid());
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "run", "--config", config, "--state-dir", state,
                                "--listen", "127.0.0.1:" + std::to_string(FreePort())});
  EXPECT_NE(r.status, -1) << "run with a broken config did not exit";
  EXPECT_NE(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, config + ":")) << r.err;
  EXPECT_TRUE(Contains(r.err, "class")) << r.err;
  EXPECT_TRUE(Contains(r.err, "nothing was changed")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(state)) << "state dir created by a refused run";
  EXPECT_EQ(SchedwardenCpusets(), cpusets_before);
  EXPECT_EQ(CpusAllowed(getpid()), self_cpus);
}

}  // namespace
}  // namespace sw::test
