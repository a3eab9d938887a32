// Every query of the shipped Grafana dashboard (panels, variables, annotations) returns data from
// a real Prometheus (Debian's package) scraping a real agent under load: a latency-critical cgroup
// with a waking, working process next to CPU hogs under a CFS quota, the agent in dry-run (the
// policy decides, nothing is changed). The few queries that need something this machine may not
// have are listed in kNeeds (and docs/operations.md) and required whenever it is there. The
// alert rules are loaded too and must evaluate without errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../cli/cli_helpers.h"
#include "common/fs.h"
#include "http_get.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/process.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

using namespace std::chrono_literals;

std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(SW_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
    s.replace(at, from.size(), to);
  return s;
}

struct Query {
  std::string where;  // "panel title / refId", "variable job", "annotation ..."
  std::string expr;
  bool instant = false;
};

std::vector<Query> DashboardQueries(const nlohmann::json& dash) {
  std::vector<Query> out;
  for (const auto& v : dash["templating"]["list"])
    if (v.contains("definition"))
      out.push_back({"variable " + v["name"].get<std::string>(), v["definition"]});
  for (const auto& a : dash["annotations"]["list"])
    out.push_back({"annotation " + a["name"].get<std::string>(), a["expr"]});
  for (const auto& p : dash["panels"])
    for (const auto& t : p.value("targets", nlohmann::json::array()))
      out.push_back({p["title"].get<std::string>() + " / " + t["refId"].get<std::string>(),
                     t["expr"], t.value("instant", false)});
  return out;
}

// Grafana's variables as a dashboard showing this one agent over the last minute would expand
// them; label_values(m, l) becomes the query Grafana's data source sends, `count by (l) (m)`,
// and query_result(q) the instant query q.
std::string Expand(std::string e, const std::string& instance) {
  if (e.rfind("query_result(", 0) == 0 && e.back() == ')') e = e.substr(13, e.size() - 14);
  if (e.rfind("label_values(", 0) == 0) {
    auto comma = e.rfind(',');
    e = "count by (" + Trim(e.substr(comma + 1, e.size() - comma - 2)) + ") (" +
        e.substr(13, comma - 13) + ")";
  }
  e = Replace(e, "$__rate_interval", "10s");
  e = Replace(e, "$__range", "60s");
  e = Replace(e, "$__interval", "2s");
  e = Replace(e, "$job", "schedwarden");
  e = Replace(e, "$instance", instance);
  e = Replace(e, "$workload", ".*");
  e = Replace(e, "$namespace", ".*");
  e = Replace(e, "$pod", ".*");
  return e;
}

// Queries that are empty unless the machine has something: what, and whether it has it.
struct Need {
  std::string why;
  bool present;
};

bool PsiOnCgroupV2(const MachineCgroups& m) {
  return m.cpu_v2() && ReadFile("/proc/pressure/cpu").ok();
}

bool BpfStatsOn() {
  auto v = ReadFile("/proc/sys/kernel/bpf_stats_enabled");
  return v.ok() && Trim(*v) == "1";
}

TEST(PrometheusDashboard, EveryQueryReturnsDataFromARealScrape) {
  SW_REQUIRE_PRIVILEGED();
  ASSERT_EQ(access("/usr/bin/prometheus", X_OK), 0)
      << "Debian package prometheus (scripts/setup.sh)";
  auto detected = MachineCgroups::Detect();
  ASSERT_TRUE(detected.ok()) << detected.error().message;
  const MachineCgroups& machine = *detected;
  TempTree tmp;
  chmod(tmp.root().c_str(), 0755);

  // BPF per-program cost: the agent holds BPF stats itself when the config has
  // observer.bpf_stats (if this build accepts the key), else only with the sysctl on.
  const std::string stats_probe = tmp.Write("probe.yaml", "observer: { bpf_stats: true }\n");
  const bool agent_holds_stats =
      RunCommand({SCHEDWARDEN_BINARY, "check-config", stats_probe}).exit_code() == 0;
  const std::map<std::string, Need> needs = {
      {"CPU pressure (PSI, when enabled) / A",
       {"PSI: cgroup v2 and a kernel with psi=1", PsiOnCgroupV2(machine)}},
      {"BPF cost per event / A",
       {"BPF stats: observer.bpf_stats or kernel.bpf_stats_enabled=1",
        agent_holds_stats || BpfStatsOn()}},
      {"Agent CPU (process and BPF programs) / B",
       {"BPF stats: observer.bpf_stats or kernel.bpf_stats_enabled=1",
        agent_holds_stats || BpfStatsOn()}},
      // schedwarden_workload_info has a series per Kubernetes pod workload; this test's load has
      // none (the pod identity test, tests/integration/k8s, checks it on a pod cgroup).
      {"variable namespace", {"Kubernetes pods on the node", false}},
      {"variable pod", {"Kubernetes pods on the node", false}},
      {"Kubernetes pods by workload / A", {"Kubernetes pods on the node", false}},
  };

  // Load: /lc works 2 ms and sleeps 1 ms (wake-ups, preemptions); /be spins on half the CPUs under
  // a CFS quota of a tenth of a CPU (throttled even on a busy machine; preempting /lc when it
  // runs).
  const std::string base = "/ops-prom-" + std::to_string(getpid());
  const std::string lc = base + "-lc", be = base + "-be";
  ScopedCgroups cgroups(machine);
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(lc));
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(be));
  ASSERT_TRUE(machine.SetCfsQuota(be, 10000, 100000).ok());
  std::vector<ChildProcess> load;
  load.push_back(ChildProcess::Fork([] {
    for (;;) {
      auto until = std::chrono::steady_clock::now() + 2ms;
      while (std::chrono::steady_clock::now() < until) {
      }
      usleep(1000);
    }
  }));
  cgroups.Join(lc, load.back().pid());
  const long hogs = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN) / 2);
  for (long i = 0; i < hogs; i++) {
    load.push_back(ChildProcess::Fork([] {
      volatile unsigned long x = 0;
      for (;;) x = x + 1;
    }));
    cgroups.Join(be, load.back().pid());
  }

  const int agent_port = FreePort();
  const std::string config =
      tmp.Write("config.yaml",
                std::string("interval: 200ms\n") +
                    (agent_holds_stats ? "observer: { bpf_stats: true }\n" : "") +
                    "enforcement: { mode: dry-run }\n"
                    "controller: { violation_intervals: 2, verify_intervals: 2, cooldown: 1s }\n"
                    "workloads:\n"
                    "  - { name: lc, match: { cgroup: \"" +
                    lc +
                    "\" }, class: latency-critical,"
                    " slo: { runq_p99: 10us }, exclusive: on-interference }\n"
                    "  - { name: be, match: { cgroup: \"" +
                    be + "\" }, class: best-effort }\n");
  ChildProcess agent = ChildProcess::Exec({SCHEDWARDEN_BINARY, "run", "--config", config,
                                           "--state-dir", tmp.root() + "/state", "--listen",
                                           "127.0.0.1:" + std::to_string(agent_port)});
  const std::string instance = "127.0.0.1:" + std::to_string(agent_port);

  const int prom_port = FreePort();
  const std::string prom_config =
      tmp.Write("prometheus.yml",
                "global: { scrape_interval: 2s, evaluation_interval: 2s }\n"
                "rule_files: [\"" +
                    std::string(SW_SOURCE_DIR) +
                    "/dashboards/schedwarden-alerts.yml\"]\n"
                    "scrape_configs:\n"
                    "  - job_name: schedwarden\n"
                    "    scrape_timeout: 2s\n"
                    "    static_configs: [{ targets: [\"" +
                    instance + "\"] }]\n");
  ChildProcess prometheus = ChildProcess::Exec(
      {"/usr/bin/prometheus", "--config.file=" + prom_config,
       "--storage.tsdb.path=" + tmp.root() + "/tsdb",
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=error"});
  const auto t0 = std::chrono::system_clock::now();

  // Prometheus ready and the agent scraped successfully.
  const std::string up = "/api/v1/query?query=" + UrlEncode("up{job=\"schedwarden\"} == 1");
  bool scraped = false;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       !scraped && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(500ms)) {
    HttpReply r = HttpGet(prom_port, up);
    scraped = r.status == 200 && r.body.find("\"result\":[{") != std::string::npos;
  }
  ASSERT_TRUE(scraped) << "Prometheus never scraped the agent at " << instance;
  // Query until every query has data or a deadline passes (a loaded machine scrapes late):
  // each pass asks again only for what is still empty, over the whole run.
  auto secs = [](auto t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  std::vector<Query> pending =
      DashboardQueries(nlohmann::json::parse(ReadSource("dashboards/schedwarden.json")));
  std::vector<std::string> empty, errors, skipped;
  const auto deadline = std::chrono::steady_clock::now() + 75s;
  std::this_thread::sleep_for(15s);  // samples for rate() over 10 s windows
  for (;;) {
    const auto now = std::chrono::system_clock::now();
    const bool last = std::chrono::steady_clock::now() >= deadline;
    std::vector<Query> still;
    empty.clear();
    errors.clear();
    for (const Query& q : pending) {
      const std::string e = Expand(q.expr, instance);
      const std::string target = q.instant
                                     ? "/api/v1/query?query=" + UrlEncode(e) + "&time=" + secs(now)
                                     : "/api/v1/query_range?query=" + UrlEncode(e) +
                                           "&start=" + secs(t0) + "&end=" + secs(now) + "&step=2";
      HttpReply r = HttpGet(prom_port, target, 30000);  // a loaded machine answers slowly
      nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
      if (r.status != 200 || j.is_discarded() || j.value("status", "") != "success") {
        errors.push_back(q.where + ": " + std::to_string(r.status) + " " + r.body + "\n    " + e);
        still.push_back(q);
        continue;
      }
      if (!j["data"]["result"].empty()) continue;
      auto need = needs.find(q.where);
      if (need != needs.end() && !need->second.present) {
        skipped.push_back(q.where + " (needs " + need->second.why + ")");
        continue;
      }
      empty.push_back(q.where + "\n    " + e);
      still.push_back(q);
    }
    pending = std::move(still);
    if (pending.empty() || last) break;
    std::this_thread::sleep_for(5s);
  }
  for (const auto& s : skipped) std::printf("empty as documented: %s\n", s.c_str());
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += "  " + x + "\n";
    return s;
  };
  EXPECT_TRUE(errors.empty()) << "queries Prometheus rejected:\n" << join(errors);
  EXPECT_TRUE(empty.empty()) << "queries without data:\n" << join(empty);

  // The alert rules evaluate on real data without errors.
  HttpReply rules = HttpGet(prom_port, "/api/v1/rules");
  nlohmann::json rj = nlohmann::json::parse(rules.body, nullptr, false);
  ASSERT_FALSE(rj.is_discarded()) << rules.body;
  int n = 0;
  for (const auto& g : rj["data"]["groups"])
    for (const auto& rule : g["rules"]) {
      n++;
      EXPECT_EQ(rule.value("health", ""), "ok")
          << rule.value("name", "") << ": " << rule.value("lastError", "");
    }
  EXPECT_GE(n, 10);

  EXPECT_NE(agent.Signal(SIGTERM, 10000), -1) << "agent did not stop";
}

}  // namespace
}  // namespace sw::test
