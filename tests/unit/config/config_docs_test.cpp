// docs/configuration.md and the config parser accept the same keys, in both directions: every key
// a section's table documents is accepted, and every key the parser accepts is documented. The
// parser's own list comes from its "unknown key (expected one of: ...)" error, so the test needs
// no second copy of it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "config/config.h"

namespace sw {
namespace {

std::set<std::string> AcceptedKeys(const std::string& yaml) {
  ConfigLoad load = ParseConfig(yaml, "config.yaml", nullptr);
  static const std::regex re("expected one of: ([^)]*)\\)");
  for (const ConfigDiagnostic& e : load.errors) {
    std::smatch m;
    if (e.key.find("zz_not_a_key") == std::string::npos || !std::regex_search(e.message, m, re))
      continue;
    std::set<std::string> out;
    std::stringstream ss(m[1].str());
    for (std::string k; std::getline(ss, k, ',');) out.insert(k.substr(k.find_first_not_of(' ')));
    return out;
  }
  ADD_FAILURE() << "no unknown-key error for:\n" << yaml << "\n" << load.Text();
  return {};
}

// Section name -> keys in the first column of its tables ("`slo.runq_p99`" adds "slo" to the
// section and "runq_p99" to "slo").
std::map<std::string, std::set<std::string>> DocumentedKeys() {
  std::ifstream in(std::string(SW_SOURCE_DIR) + "/docs/configuration.md");
  EXPECT_TRUE(in.good());
  std::map<std::string, std::set<std::string>> out;
  std::string section;
  static const std::regex row("^\\| `([a-z_0-9.]+)` \\|");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) {
      section = line == "## Top-level keys"  ? "top"
                : line == "## `enforcement`" ? "enforcement"
                : line == "## `observer`"    ? "observer"
                : line == "## `controller`"  ? "controller"
                : line == "## `metrics`"     ? "metrics"
                : line == "## `kubernetes`"  ? "kubernetes"
                : line == "## `workloads`"   ? "workloads"
                                             : "";
      continue;
    }
    if (section == "workloads" && line.rfind("`match` keys", 0) == 0) section = "match";
    std::smatch m;
    if (section.empty() || !std::regex_search(line, m, row)) continue;
    std::string key = m[1].str();
    if (auto dot = key.find('.'); dot != std::string::npos) {
      out[key.substr(0, dot)].insert(key.substr(dot + 1));
      key = key.substr(0, dot);
    }
    out[section].insert(key);
  }
  return out;
}

TEST(ConfigDocs, EveryDocumentedKeyIsAcceptedAndEveryAcceptedKeyDocumented) {
  const std::map<std::string, std::string> probes = {
      {"top", "zz_not_a_key: 1\n"},
      {"enforcement", "enforcement: { zz_not_a_key: 1 }\n"},
      {"observer", "observer: { zz_not_a_key: 1 }\n"},
      {"controller", "controller: { zz_not_a_key: 1 }\n"},
      {"metrics", "metrics: { zz_not_a_key: 1 }\n"},
      {"kubernetes", "kubernetes: { zz_not_a_key: 1 }\n"},
      {"workloads",
       "workloads:\n  - { name: a, class: normal, match: { cgroup: \"/a\" }, zz_not_a_key: 1 }\n"},
      {"match",
       "workloads:\n  - { name: a, class: normal, match: { cgroup: \"/a\", zz_not_a_key: 1 } }\n"},
      {"slo",
       "workloads:\n  - { name: a, class: latency-critical, match: { cgroup: \"/a\" },"
       " slo: { runq_p99: 1ms, zz_not_a_key: 1 } }\n"},
  };
  auto documented = DocumentedKeys();
  for (const auto& [section, yaml] : probes) {
    const std::set<std::string> accepted = AcceptedKeys(yaml);
    const std::set<std::string>& doc = documented[section];
    EXPECT_FALSE(doc.empty()) << "docs/configuration.md documents no keys for " << section;
    for (const std::string& k : accepted)
      EXPECT_TRUE(doc.count(k)) << "accepted but not documented in docs/configuration.md: "
                                << section << "." << k;
    for (const std::string& k : doc)
      EXPECT_TRUE(accepted.count(k)) << "documented in docs/configuration.md but rejected by the "
                                     << "parser: " << section << "." << k;
  }
}

// Dotted config keys named anywhere in the docs and README (`observer.max_workloads`) exist.
TEST(ConfigDocs, DottedKeysInDocsExist) {
  std::map<std::string, std::set<std::string>> accepted;
  for (const char* s : {"enforcement", "observer", "controller", "metrics", "kubernetes"})
    accepted[s] = AcceptedKeys(std::string(s) + ": { zz_not_a_key: 1 }\n");
  static const std::regex dotted(
      "`(enforcement|observer|controller|metrics|kubernetes)\\.([a-z_0-9]+)");
  for (const char* rel : {"README.md", "docs/configuration.md", "docs/metrics.md", "docs/bpf.md",
                          "docs/enforcement.md", "docs/architecture.md", "docs/testing.md"}) {
    std::ifstream in(std::string(SW_SOURCE_DIR) + "/" + rel);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    for (auto it = std::sregex_iterator(text.begin(), text.end(), dotted);
         it != std::sregex_iterator(); ++it)
      EXPECT_TRUE(accepted[(*it)[1]].count((*it)[2])) << rel << " names unknown key " << it->str();
  }
}

std::string ReadDoc(const std::string& rel) {
  std::ifstream in(std::string(SW_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What the docs say about keys and labels matches the code: max_preemption_pairs is a fixed
// collector bound, not a config key (check-config rejects it); workloads beyond max_workloads go
// to `overflow` (collector.h), not `unknown`; the `program` label is the tracepoint name
// (bpf_event_source.cpp), not the BPF function's.
TEST(ConfigDocs, DocsAgreeWithTheCode) {
  const std::set<std::string> observer = AcceptedKeys("observer: { zz_not_a_key: 1 }\n");
  EXPECT_FALSE(observer.count("max_preemption_pairs"));
  const std::string metrics = ReadDoc("docs/metrics.md");
  EXPECT_EQ(metrics.find("`max_preemption_pairs`"), std::string::npos)
      << "docs/metrics.md presents max_preemption_pairs as a setting";
  EXPECT_EQ(metrics.find("handle_sched_"), std::string::npos)
      << "docs/metrics.md names BPF function names as `program` labels";
  const std::string config = ReadDoc("docs/configuration.md");
  const auto row = config.find("| `max_workloads` |");
  ASSERT_NE(row, std::string::npos);
  const std::string line = config.substr(row, config.find('\n', row) - row);
  EXPECT_THAT(line, ::testing::HasSubstr("`overflow`"));
  EXPECT_THAT(line, ::testing::Not(::testing::HasSubstr("`unknown`")));
}

}  // namespace
}  // namespace sw
