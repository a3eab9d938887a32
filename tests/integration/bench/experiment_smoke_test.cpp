// Smoke test of bench/experiment/run.sh (issue 12): one short repetition of every scenario exits 0,
// writes a JSON that parses with sane numbers (percentiles ordered, the load really ran, no batch
// throughput when LC runs alone, the agent exited cleanly), the Markdown table and a PNG; and
// nothing it made is left, also after Ctrl-C. No performance figure is checked here.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "script_run.h"
#include "support/privileged.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

using namespace std::chrono_literals;

// Cgroups of the run with script pid `pid` ("sw-exp-<pid>-...") in any hierarchy.
std::vector<std::string> LeftoverCgroups(pid_t pid) {
  std::vector<std::string> left;
  const std::string prefix = "sw-exp-" + std::to_string(pid) + "-";
  std::vector<std::string> roots{"/sys/fs/cgroup"};
  for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup"))
    if (e.is_directory()) roots.push_back(e.path().string());
  for (const auto& r : roots)
    for (const auto& e : std::filesystem::directory_iterator(r))
      if (e.path().filename().string().rfind(prefix, 0) == 0) left.push_back(e.path().string());
  return left;
}

TEST(ExperimentBenchSmoke, EveryScenarioProducesSaneOutputsAndCleansUp) {
  SW_REQUIRE_PRIVILEGED();
  TempTree tmp;
  const std::string out = tmp.Path("out"), log = tmp.Path("run.log");
  pid_t pid = StartScript(EXPERIMENT_SCRIPT, BUILD_DIR,
                          "--reps 1 --seconds 3 --settle 2 --out " + out, log);
  int status = WaitScript(pid, 300s);
  std::string text = ReadFile(log).value_or("(no log)");
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << text;
  EXPECT_TRUE(GroupLeft(pid).empty()) << "processes left:\n" << Joined(GroupLeft(pid));
  EXPECT_TRUE(LeftoverCgroups(pid).empty()) << Joined(LeftoverCgroups(pid));

  auto raw = ReadFile(out + "/results.json");
  ASSERT_TRUE(raw.ok()) << text;
  auto j = nlohmann::json::parse(*raw, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << *raw;
  ASSERT_TRUE(j["runs"].is_array());
  std::set<std::string> seen;
  for (const auto& r : j["runs"]) {
    const std::string s = r["scenario"].get<std::string>();
    seen.insert(s);
    const auto& lc = r["lc"];
    SCOPED_TRACE(s + ": " + r.dump());
    ASSERT_TRUE(lc["p50_us"].is_number() && lc["p99_us"].is_number() && lc["p999_us"].is_number());
    EXPECT_GT(lc["p50_us"].get<double>(), 0);
    EXPECT_LE(lc["p50_us"].get<double>(), lc["p99_us"].get<double>());
    EXPECT_LE(lc["p99_us"].get<double>(), lc["p999_us"].get<double>());
    EXPECT_LE(lc["p999_us"].get<double>(), lc["max_us"].get<double>());
    // The open-loop client kept its rate (5,000/s) and memcached answered.
    EXPECT_NEAR(lc["rate_achieved"].get<double>(), lc["rate_requested"].get<double>(),
                0.2 * lc["rate_requested"].get<double>());
    EXPECT_GT(lc["cpus_received"].get<double>(), 0);
    EXPECT_FALSE(r["windows"].empty());
    if (s == "alone") {
      EXPECT_TRUE(r["be"]["events_per_s"].is_null());
      EXPECT_TRUE(r["be_start_unix"].is_null());
    } else {
      ASSERT_TRUE(r["be"]["events_per_s"].is_number());
      EXPECT_GT(r["be"]["events_per_s"].get<double>(), 0);
      EXPECT_GT(r["be"]["cpus_received"].get<double>(), 0);
    }
    if (s == "observe" || s == "enforce") {
      EXPECT_EQ(r["agent_exit"], 0);
    } else {
      EXPECT_TRUE(r["agent_exit"].is_null());
      EXPECT_TRUE(r["actions"].empty());
    }
    if (s == "observe") EXPECT_TRUE(r["first_action"].is_null()) << "observe mode acted";
  }
  EXPECT_EQ(seen, (std::set<std::string>{"alone", "no-agent", "observe", "sched-idle", "static",
                                         "enforce"}));
  EXPECT_EQ(j["scenarios"].size(), 6u);
  EXPECT_TRUE(j["machine"]["kernel"].is_string());

  auto md = ReadFile(out + "/results.md");
  ASSERT_TRUE(md.ok());
  EXPECT_NE(md->find("| LC + BE, agent enforcing |"), std::string::npos) << *md;
  EXPECT_NE(md->find("Targets"), std::string::npos) << *md;
  auto png = ReadFile(out + "/results.png");
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

// Ctrl-C while the agent enforces: the trap stops everything, the agent undoes its changes and
// every cgroup is removed.
TEST(ExperimentBenchSmoke, InterruptedRunLeavesNothing) {
  SW_REQUIRE_PRIVILEGED();
  TempTree tmp;
  const std::string log = tmp.Path("run.log");
  pid_t pid =
      StartScript(EXPERIMENT_SCRIPT, BUILD_DIR,
                  "--reps 1 --seconds 30 --scenarios enforce --out " + tmp.Path("out"), log);
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (ReadFile(log).value_or("").find("rep 1/1: enforce") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    int early = 0;
    ASSERT_EQ(waitpid(pid, &early, WNOHANG), 0) << "the run ended early\n"
                                                << ReadFile(log).value_or("");
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(8s);  // the batch work runs, the agent has had time to act
  ASSERT_FALSE(LeftoverCgroups(pid).empty()) << "the run's cgroups should exist mid-run\n"
                                             << ReadFile(log).value_or("");
  kill(-pid, SIGINT);
  int status = WaitScript(pid, 60s);
  std::string text = ReadFile(log).value_or("(no log)");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << "status " << status << "\n"
                                                               << text;
  EXPECT_TRUE(GroupLeft(pid).empty()) << "processes left:\n" << Joined(GroupLeft(pid));
  EXPECT_TRUE(LeftoverCgroups(pid).empty()) << Joined(LeftoverCgroups(pid));
  // The agent's shield (if any) is gone: this test process may run on every CPU again.
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(CPU_COUNT(&set), static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
}

}  // namespace
}  // namespace sw::test
