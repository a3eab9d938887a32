// The live agent's HTTP endpoint, scraped: /metrics parses (ours and promtool's parser), its
// numbers match kernel ground truth (a busy cgroup's CPU usage from cgroupfs, the agent's own
// /proc), gzip is served when asked, /healthz and /readyz answer, and nothing else is served.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "cli_helpers.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/process.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

using namespace std::chrono_literals;

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

HttpResult Get(int port, const std::string& path, bool gzip = false) {
  HttpResult r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" +
                    (gzip ? "Accept-Encoding: gzip\r\n" : "") + "\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string resp;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t end = resp.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  std::istringstream head(resp.substr(0, end));
  std::string line;
  std::getline(head, line);
  r.status = std::stoi(line.substr(line.find(' ') + 1));
  while (std::getline(head, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    for (char& c : k) c = static_cast<char>(tolower(c));
    while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
    r.headers[k] = v;
  }
  r.body = resp.substr(end + 4);
  return r;
}

std::string Gunzip(const std::string& gz) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

// Value of the one sample line starting with `series ` (name and labels exactly as printed).
std::optional<double> Value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return std::nullopt;
}

TEST(MetricsEndpoint, LiveAgentServesMetricsMatchingGroundTruth) {
  SW_REQUIRE_PRIVILEGED();
  auto machine = MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  ScopedCgroups cgroups(*machine);
  const std::string cg = "/schedwarden-metrics-" + std::to_string(getpid());
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(cg));
  ChildProcess busy = ChildProcess::Fork([] {
    volatile unsigned long x = 0;
    for (;;) x = x + 1;
  });
  cgroups.Join(cg, busy.pid());
  TempTree t;
  const std::string config = t.Write("config.yaml",
                                     "interval: 200ms\n"
                                     "workloads:\n"
                                     "  - name: probe\n"
                                     "    match: { cgroup: \"" +
                                         cg +
                                         "\" }\n"
                                         "    class: latency-critical\n"
                                         "    slo: { runq_p99: 2ms }\n");
  const int port = FreePort();
  ChildProcess agent = ChildProcess::Exec({SCHEDWARDEN_BINARY, "run", "--config", config, "--mode",
                                           "observe", "--state-dir", t.Path("state"), "--listen",
                                           "127.0.0.1:" + std::to_string(port)});
  // Ready once BPF is attached and a snapshot is published.
  HttpResult ready;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(100ms)) {
    ready = Get(port, "/readyz");
    if (ready.status == 200) break;
  }
  ASSERT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body, "ready\n");
  std::this_thread::sleep_for(1s);  // a few intervals with the busy process running

  HttpResult health = Get(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(Get(port, "/nothing").status, 404);

  HttpResult m = Get(port, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = m.body;
  // The agent's CPU usage of the busy cgroup can only lag the kernel's, read just after.
  auto usage = machine->ReadUsageNs(cg);
  ASSERT_TRUE(usage.ok()) << usage.error().message;
  auto exported = Value(text, "schedwarden_cpu_usage_seconds_total{workload=\"" + cg + "\"}");
  ASSERT_TRUE(exported) << "no usage series for " << cg;
  EXPECT_GT(*exported, 0.2);
  EXPECT_LE(*exported, *usage / 1e9 + 1e-9);
  EXPECT_GE(*exported, *usage / 1e9 - 1.0);  // at most a few 200 ms intervals behind
  EXPECT_EQ(Value(text, "schedwarden_workload_runq_objective_seconds{workload=\"" + cg + "\"}"),
            0.002);
  EXPECT_EQ(Value(text, "schedwarden_agent_mode{mode=\"observe\"}"), 1);
  EXPECT_GE(Value(text, "schedwarden_control_loop_runs_total").value_or(0), 3);
  // The agent's own process, against its /proc.
  std::error_code ec;
  size_t fds = 0;
  for (auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(agent.pid()) + "/fd", ec)) {
    (void)e;
    fds++;
  }
  auto open_fds = Value(text, "process_open_fds");
  ASSERT_TRUE(open_fds);
  EXPECT_NEAR(*open_fds, static_cast<double>(fds), 8);  // connections come and go
  EXPECT_GT(Value(text, "process_resident_memory_bytes").value_or(0), 1e6);
  // `le` values are short exact decimals; no library series.
  EXPECT_NE(text.find("le=\"1.6384e-05\""), std::string::npos);
  EXPECT_EQ(text.find("le=\"8.192000000000001e-06\""), std::string::npos);
  EXPECT_EQ(text.find("exposer_"), std::string::npos);

  // The same body, gzipped, when asked for.
  HttpResult gz = Get(port, "/metrics", true);
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.headers["content-encoding"], "gzip");
  const std::string plain = Gunzip(gz.body);
  EXPECT_NE(plain.find("schedwarden_build_info"), std::string::npos);

  // Prometheus' own parser and linter, on the host (the VM's initramfs has no promtool; the unit
  // tier lints a rendered exposition there too).
  if (std::getenv("SCHEDWARDEN_VM") == nullptr) {
    const std::string path = t.Write("scrape.txt", text);
    FILE* f = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    const int st = pclose(f);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
  }

  const int status = agent.Signal(SIGTERM, 20000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

// The loop runs every `interval` while a workload has an objective, every `idle_interval` while
// none has: the agent's own run counter against the wall clock, for both configs.
TEST(MetricsEndpoint, LoopRunsAtTheIdleIntervalWhileNoWorkloadHasAnObjective) {
  SW_REQUIRE_PRIVILEGED();
  auto machine = MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  ScopedCgroups cgroups(*machine);
  const std::string cg = "/schedwarden-pace-" + std::to_string(getpid());
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(cg));
  ChildProcess sleeper = ChildProcess::Fork([] {  // waits to be seen: the workload exists
    for (;;) usleep(1000);
  });
  cgroups.Join(cg, sleeper.pid());
  auto runs_per_second = [&](const std::string& rules) -> double {
    TempTree t;
    const std::string config =
        t.Write("config.yaml", "interval: 100ms\nidle_interval: 1s\n" + rules);
    const int port = FreePort();
    ChildProcess agent = ChildProcess::Exec({SCHEDWARDEN_BINARY, "run", "--config", config,
                                             "--mode", "observe", "--state-dir", t.Path("state"),
                                             "--listen", "127.0.0.1:" + std::to_string(port)});
    auto runs = [&]() -> std::optional<double> {
      return Value(Get(port, "/metrics").body, "schedwarden_control_loop_runs_total");
    };
    std::optional<double> before;
    for (auto deadline = std::chrono::steady_clock::now() + 60s;
         !before && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(100ms))
      if (Get(port, "/readyz").status == 200) before = runs();
    if (!before) return -1;
    std::this_thread::sleep_for(1500ms);  // past the first two intervals at the fast pace
    before = runs();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(5s);
    const auto after = runs();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return before && after ? (*after - *before) / secs : -1;
  };
  const double idle = runs_per_second("");
  const double watched =
      runs_per_second("workloads:\n  - name: probe\n    match: { cgroup: \"" + cg +
                      "\" }\n    class: latency-critical\n"
                      "    slo: { runq_p99: 2ms }\n");
  EXPECT_GE(idle, 0.5);  // every 1 s
  EXPECT_LE(idle, 1.6);
  EXPECT_GE(watched, 6);  // every 100 ms
}

}  // namespace
}  // namespace sw::test
