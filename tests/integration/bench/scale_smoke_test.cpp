// bench/scale.sh keeps working: a small run (20 workloads, 5 s windows, churn on) exits 0, writes
// a JSON with every field the README table needs, its load really ran (wake-up rate within 20% of
// the requested one), and nothing it made is left. No performance figure is checked here.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
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

// Runs the script with `args` in its own process group, output to `log`; returns its pid.

// Cgroup directories the run with script pid `pid` would have made, that still exist.
std::vector<std::string> LeftoverCgroups(pid_t pid) {
  std::vector<std::string> left;
  for (const char* kind : {"sw-bench-scale-", "sw-bench-churn-"}) {
    std::string name = kind + std::to_string(pid);
    if (PathExists("/sys/fs/cgroup/" + name)) left.push_back("/sys/fs/cgroup/" + name);
    for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup"))
      if (PathExists(e.path().string() + "/" + name))
        left.push_back(e.path().string() + "/" + name);
  }
  return left;
}

const nlohmann::json& At(const nlohmann::json& j, const std::string& pointer) {
  static const nlohmann::json kMissing;
  auto p = nlohmann::json::json_pointer(pointer);
  return j.contains(p) ? j.at(p) : kMissing;
}

TEST(ScaleBenchSmoke, WritesEveryFieldRunsTheLoadAndCleansUp) {
  SW_REQUIRE_PRIVILEGED();
  TempTree tmp;
  const std::string json_path = tmp.Path("scale.json"), log = tmp.Path("scale.log");
  const std::string args =
      "--workloads 20 --threads-per-workload 2 --seconds 5 --bpf-runs 5 --bpf-seconds 1 "
      "--profile-seconds 3 --churn --churn-per-minute 600 --churn-seconds 5 --churn-settle 12 "
      "--json ";
  pid_t pid = StartScript(SCALE_SCRIPT, BUILD_DIR, args + json_path, log);
  int status = WaitScript(pid, 240s);
  std::string out = ReadFile(log).value_or("(no log)");
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << out;
  auto procs = GroupLeft(pid);
  EXPECT_TRUE(procs.empty()) << "processes of the run are left:\n" << Joined(procs);
  auto left = LeftoverCgroups(pid);
  EXPECT_TRUE(left.empty()) << Joined(left);

  auto text = ReadFile(json_path);
  ASSERT_TRUE(text.ok()) << out;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << *text;

  // Numbers on every machine; the ones that may be n/a (null) until the agent exports them.
  for (const char* p : {"/workloads",
                        "/threads_per_workload",
                        "/seconds",
                        "/cpus",
                        "/load/requested_wakeups_per_s",
                        "/load/achieved_wakeups_per_s",
                        "/cpu_percent/no_scrapes",
                        "/cpu_percent/scrape_every_2s",
                        "/cpu_percent/scrape_every_15s",
                        "/cpu_percent/scrape_cpu_ms",
                        "/cpu_percent/scrape_every_15s_added",
                        "/rss_mib/idle",
                        "/rss_mib/peak",
                        "/scrape/series",
                        "/scrape/bytes_plain",
                        "/scrape/seconds_median",
                        "/bpf_dropped_total",
                        "/bpf_ns_per_event/sched_switch/schedwarden",
                        "/bpf_ns_per_event/sched_switch/runqlat",
                        "/bpf_ns_per_event/sched_switch/ratio",
                        "/bpf_ns_per_event/sched_wakeup/schedwarden",
                        "/bpf_ns_per_event/sched_wakeup/runqlat",
                        "/bpf_ns_per_event/sched_wakeup/ratio",
                        "/churn/achieved_per_minute",
                        "/churn/created",
                        "/churn/removed",
                        "/churn/rss_growth_mib",
                        "/churn/stale_series",
                        "/churn/series_after"})
    EXPECT_TRUE(At(j, p).is_number()) << p << " in\n" << j.dump(2);
  for (const char* p : {"/scrape/bytes_gzip", "/scrape/seconds_gzip_median",
                        "/scrape/series_per_workload", "/control_loop_percent"})
    EXPECT_TRUE(j.contains(nlohmann::json::json_pointer(p))) << p << " missing";
  for (const char* p : {"/date", "/command", "/kernel", "/cgroup_layout", "/loadavg_start"})
    EXPECT_TRUE(At(j, p).is_string()) << p;
  EXPECT_TRUE(At(j, "/bpf_dropped").is_object());
  EXPECT_TRUE(At(j, "/profile_percent_of_core").is_array());

  // The load ran: 20 workloads x 2 threads, a wake-up every 100 ms = 400/s.
  EXPECT_EQ(At(j, "/load/requested_wakeups_per_s"), 400);
  double achieved = At(j, "/load/achieved_wakeups_per_s").get<double>();
  EXPECT_GE(achieved, 320);
  EXPECT_LE(achieved, 480);
  EXPECT_GT(At(j, "/churn/created").get<double>(), 0);
  EXPECT_GT(At(j, "/churn/removed").get<double>(), 0);
  EXPECT_GT(At(j, "/scrape/series").get<double>(), 0);
}

// Ctrl-C in the middle of a run: the trap stops the agent and the load, removes every cgroup.
TEST(ScaleBenchSmoke, InterruptedRunLeavesNothing) {
  SW_REQUIRE_PRIVILEGED();
  TempTree tmp;
  const std::string log = tmp.Path("scale.log");
  pid_t pid = StartScript(SCALE_SCRIPT, BUILD_DIR,
                          "--workloads 20 --seconds 60 --bpf-runs 0 --profile-seconds 0", log);
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (ReadFile(log).value_or("").find("phase A") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  ASSERT_NE(ReadFile(log).value_or("").find("phase A"), std::string::npos)
      << ReadFile(log).value_or("");
  ASSERT_FALSE(LeftoverCgroups(pid).empty()) << "the load's cgroups should exist mid-run";
  kill(-pid, SIGINT);  // what a terminal's Ctrl-C does: the whole process group
  int status = WaitScript(pid, 60s);
  std::string out = ReadFile(log).value_or("(no log)");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << "status " << status << "\n"
                                                               << out;
  auto procs = GroupLeft(pid);
  EXPECT_TRUE(procs.empty()) << "processes of the run are left:\n" << Joined(procs);
  auto left = LeftoverCgroups(pid);
  EXPECT_TRUE(left.empty()) << Joined(left);
}

}  // namespace
}  // namespace sw::test
