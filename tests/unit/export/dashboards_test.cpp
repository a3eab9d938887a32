// The Grafana dashboard, the Prometheus alert rules and docs/metrics.md against the exporter: they
// parse, and every schedwarden_* metric they name is one the exporter really produces.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "export/metric_registry.h"

namespace sw {
namespace {

std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(SW_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// schedwarden_* names in a PromQL expression or text, histogram suffixes folded to the family.
std::set<std::string> MetricNames(const std::string& text) {
  const std::set<std::string> declared(ExportedMetricNames().begin(), ExportedMetricNames().end());
  std::set<std::string> out;
  static const std::regex re("schedwarden_[a-zA-Z0-9_]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    std::string name = it->str();
    for (const std::string suffix : {"_bucket", "_count", "_sum"}) {
      if (declared.count(name)) break;
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::string base = name.substr(0, name.size() - suffix.size());
        if (declared.count(base)) name = base;
      }
    }
    out.insert(name);
  }
  return out;
}

// One registry holds every metric the endpoint serves (export/metric_registry.h).
bool Known(const std::string& name) {
  const auto& n = ExportedMetricNames();
  return std::find(n.begin(), n.end(), name) != n.end();
}

void CollectExprs(const nlohmann::json& j, std::vector<std::string>* out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if ((it.key() == "expr" || it.key() == "definition") && it.value().is_string())
        out->push_back(it.value().get<std::string>());
      else
        CollectExprs(it.value(), out);
    }
  } else if (j.is_array()) {
    for (const auto& e : j) CollectExprs(e, out);
  }
}

TEST(Dashboard, ParsesAndUsesOnlyExportedMetrics) {
  nlohmann::json dash;
  ASSERT_NO_THROW(dash = nlohmann::json::parse(ReadSource("dashboards/schedwarden.json")));
  ASSERT_TRUE(dash.contains("panels"));
  std::set<int> ids;
  int with_queries = 0;
  for (const auto& p : dash["panels"]) {
    ASSERT_TRUE(p.contains("id"));
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate panel id " << p["id"];
    if (p["type"] == "row") continue;
    ASSERT_TRUE(p.contains("targets")) << p["title"];
    EXPECT_FALSE(p["targets"].empty()) << p["title"];
    for (const auto& t : p["targets"]) {
      EXPECT_FALSE(t.value("expr", "").empty()) << p["title"];
      EXPECT_FALSE(t.value("refId", "").empty()) << p["title"];
    }
    with_queries++;
  }
  EXPECT_GE(with_queries, 10);

  std::vector<std::string> exprs;
  CollectExprs(dash, &exprs);
  std::set<std::string> used;
  for (const std::string& e : exprs)
    for (const std::string& n : MetricNames(e)) used.insert(n);
  for (const std::string& n : used) EXPECT_TRUE(Known(n)) << "dashboard uses unknown metric " << n;
  // The panels the observer issue asks for are there.
  for (const char* must :
       {"schedwarden_runq_latency_seconds", "schedwarden_throttle_wait_seconds",
        "schedwarden_cgroup_cpu_throttled_periods_total", "schedwarden_preemptions_total",
        "schedwarden_cpu_usage_seconds_total", "schedwarden_bpf_program_run_seconds_total",
        "schedwarden_bpf_dropped_total", "schedwarden_actions_total", "schedwarden_exclusive_cpus",
        "schedwarden_shared_pool_cpus", "schedwarden_slo_violation_intervals_total"})
    EXPECT_TRUE(used.count(must)) << "no panel shows " << must;
}

// Every panel query, variable and annotation is scoped to the selected job and node: one agent
// per node, so a query that sums across nodes is wrong. Quantiles guard against NaN, and no
// description calls a histogram_quantile exact.
TEST(Dashboard, EveryQueryFollowsTheNodeVariableAndShowsNoNaN) {
  nlohmann::json dash = nlohmann::json::parse(ReadSource("dashboards/schedwarden.json"));
  std::set<std::string> vars;
  for (const auto& v : dash["templating"]["list"]) vars.insert(v["name"].get<std::string>());
  for (const char* v : {"job", "instance", "workload"}) EXPECT_TRUE(vars.count(v)) << v;

  std::vector<std::string> exprs;
  CollectExprs(dash, &exprs);
  static const std::regex selector("(schedwarden_[a-z0-9_]+|process_[a-z_]+)(\\{[^}]*\\})?");
  for (const std::string& e : exprs) {
    if (e.find("label_values(schedwarden_build_info") != std::string::npos)
      continue;  // job, instance
    for (auto it = std::sregex_iterator(e.begin(), e.end(), selector); it != std::sregex_iterator();
         ++it) {
      const std::string sel = (*it)[2].str();
      EXPECT_THAT(sel, ::testing::HasSubstr("instance=~\"$instance\"")) << (*it)[1] << " in " << e;
      EXPECT_THAT(sel, ::testing::HasSubstr("job=~\"$job\"")) << (*it)[1] << " in " << e;
    }
    if (e.find("histogram_quantile") != std::string::npos)
      EXPECT_THAT(e, ::testing::ContainsRegex("and sum by \\([^)]*\\) \\(rate\\([a-z_]+_count"))
          << "quantile without a guard on waits (NaN lines): " << e;
  }
  std::map<std::string, int> types;
  for (const auto& p : dash["panels"]) {
    types[p["type"].get<std::string>()]++;
    const std::string desc = p.value("description", "");
    bool quantile = false;
    for (const auto& t : p.value("targets", nlohmann::json::array()))
      quantile |= t.value("expr", "").find("histogram_quantile") != std::string::npos;
    if (quantile)
      EXPECT_THAT(desc, ::testing::Not(::testing::ContainsRegex("[Ee]xact")))
          << p["title"] << ": histogram_quantile interpolates";
  }
  EXPECT_GE(types["heatmap"], 1);
  EXPECT_GE(types["table"], 1);                       // the preemption matrix
  EXPECT_FALSE(dash["annotations"]["list"].empty());  // enforcement actions
}

TEST(Dashboard, AlertRulesUseOnlyExportedMetrics) {
  std::set<std::string> used = MetricNames(ReadSource("dashboards/schedwarden-alerts.yml"));
  EXPECT_GE(used.size(), 4u);
  for (const std::string& n : used) EXPECT_TRUE(Known(n)) << "alert rule uses unknown metric " << n;
}

TEST(Dashboard, MetricsDocDescribesEveryExportedMetric) {
  std::string doc = ReadSource("docs/metrics.md");
  for (const std::string& n : ExportedMetricNames())
    EXPECT_THAT(doc, ::testing::HasSubstr("`" + n + "`")) << "docs/metrics.md misses " << n;
  for (const std::string& n : MetricNames(doc))
    EXPECT_TRUE(Known(n)) << "docs/metrics.md names unknown metric " << n;
}

}  // namespace
}  // namespace sw
