// Outputs of the policy: the JSON-lines audit log, the status model (JSON round trip and table)
// and its Prometheus metrics as export/ renders them, all checked against a controller driven
// through a real episode.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/fs.h"
#include "export/render.h"
#include "policy/controller.h"
#include "policy_fakes.h"
#include "support/machines.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

struct Episode {
  explicit Episode(DecisionSink* sink) {
    ConfigLoad load = ParseConfig(R"(controller: { verify_intervals: 2, cooldown: 1s }
workloads:
  - name: web
    match: { cgroup: "/lc-web" }
    class: latency-critical
    slo: { runq_p99: 2ms }
  - name: batch
    match: { cgroup: "/be*" }
    class: best-effort
)",
                                  "t.yaml", test::SyntheticMachine(4));
    EXPECT_TRUE(load.config) << load.Text();
    classifier = std::make_unique<Classifier>(load.config->workloads, nullptr, nullptr);
    controller = std::make_unique<Controller>(*load.config, *classifier, &actuator, sink, clock,
                                              *test::SyntheticMachine(4));
    for (auto w : {"/lc-web", "/be-batch", "/other"}) m.Add(w);
    Step();
    // Interfered for 5 intervals: demote at 3, not improved at 5 -> revert.
    for (int i = 0; i < 5; i++) {
      m.Wakeups("/lc-web", 100us, 90);
      m.Preempted("/lc-web", 5ms, 10);
      m.Preempt("/lc-web", "/be-batch", 10);
      m.Cpu("/be-batch", 1.0);
      m.Cpu("/lc-web", 0.5);
      Step();
    }
  }
  void Step() {
    clock.Advance(500ms);
    m.snap.taken_at = clock.Monotonic();
    feed.Step(*controller, m.snap);
  }
  FakeClock clock;
  test::FakeActuator actuator;
  test::Machine m;
  test::ControllerFeed feed;
  std::unique_ptr<Classifier> classifier;
  std::unique_ptr<Controller> controller;
};

TEST(AuditLog, OneJsonObjectPerDecisionAppended) {
  test::TempTree t;
  const std::string path = t.Path(kAuditLogName);
  t.Write(kAuditLogName, "{\"earlier\":true}\n");  // an earlier run's line survives
  auto sink = JsonLinesFileSink::Open(path);
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  Episode e(sink->get());
  auto lines = Split(Trim(t.Read(kAuditLogName)), '\n');
  ASSERT_EQ(lines.size(), 4u);  // earlier + demote + verify + restore
  auto demote = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(demote["action"], "demote-best-effort");
  EXPECT_EQ(demote["workload"], "/be-batch");
  EXPECT_EQ(demote["victim"], "/lc-web");
  EXPECT_EQ(demote["result"], "applied");
  EXPECT_EQ(demote["before"]["preemptions_by_lower"], 10);
  EXPECT_EQ(demote["time_ns"], e.clock.Wall().count() - 2 * 500000000);
  EXPECT_THAT(demote["time"].get<std::string>(), HasSubstr("T"));
  auto verify = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(verify["action"], "verify");
  EXPECT_EQ(verify["result"], "not-improved");
  EXPECT_GT(verify["after"]["runq_p99_ns"].get<uint64_t>(), 2000000u);
  auto restore = nlohmann::json::parse(lines[3]);
  EXPECT_EQ(restore["action"], "restore-best-effort");
  EXPECT_THAT(restore["reason"].get<std::string>(), HasSubstr("reverted:"));
  EXPECT_EQ(sink.value()->write_errors(), 0u);

  EXPECT_FALSE(JsonLinesFileSink::Open(t.Path("no/such/dir/x.jsonl")).ok());
}

TEST(Status, JsonRoundTripAndTable) {
  MemorySink sink;
  Episode e(&sink);
  StatusModel s = e.controller->Status();
  EXPECT_EQ(s.mode, "enforce");
  EXPECT_EQ(s.cpu_count, 4);
  EXPECT_EQ(s.intervals, 6u);
  EXPECT_EQ(s.unmatched_workloads, 1u);
  ASSERT_EQ(s.workloads.size(), 2u);
  ASSERT_EQ(s.recent.size(), 3u);

  auto back = StatusFromJson(nlohmann::json::parse(StatusToJson(s).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(StatusToJson(*back), StatusToJson(s));
  EXPECT_EQ(back->workloads[1].slo_runq_p99_ns, 2000000);
  EXPECT_EQ(back->workloads[1].state, "interfered");
  EXPECT_EQ(back->recent[2].action, "restore-best-effort");
  EXPECT_FALSE(StatusFromJson(nlohmann::json::parse("{\"mode\": 3}")).ok());

  std::string table = FormatStatusTable(s);
  EXPECT_THAT(table, HasSubstr("mode enforce, 4 CPUs, shared pool 4 CPUs"));
  EXPECT_THAT(table, HasSubstr("WORKLOAD"));
  EXPECT_THAT(table, HasSubstr("/lc-web    latency-critical  web"));
  EXPECT_THAT(table, HasSubstr("2.00ms"));
  EXPECT_THAT(table, HasSubstr("5.24ms"));
  EXPECT_THAT(table, HasSubstr("restore-best-effort  applied"));
}

// status.json at 1,000 workloads: every 2 s (500 ms intervals), at once after a decision, and its
// rates over the whole window since the previous write (the agent keeps their RatesBase).
TEST(Status, FilePacedEveryPeriodOrAtADecision) {
  using std::chrono::milliseconds;
  StatusFilePacer p(std::chrono::seconds(2), milliseconds(500));
  EXPECT_TRUE(p.Due(milliseconds(500), false)) << "the first interval writes";
  p.Written(milliseconds(500));
  for (int ms : {1000, 1500, 2000}) EXPECT_FALSE(p.Due(milliseconds(ms), false)) << ms;
  EXPECT_TRUE(p.Due(milliseconds(1500), true)) << "a decision is shown at once";
  EXPECT_TRUE(p.Due(milliseconds(2490), false)) << "an interval 10 ms early is on time";
  EXPECT_TRUE(p.Due(milliseconds(2500), false));
  p.Written(milliseconds(2500));
  EXPECT_FALSE(p.Due(milliseconds(3000), false));
  // An interval longer than the period: every interval.
  StatusFilePacer slow(std::chrono::seconds(2), std::chrono::seconds(5));
  slow.Written(std::chrono::seconds(5));
  EXPECT_TRUE(slow.Due(std::chrono::seconds(10), false));
}

TEST(Status, FileWrittenAtomicallyAndReadBack) {
  MemorySink sink;
  Episode e(&sink);
  test::TempTree t;
  EXPECT_EQ(ReadStatusFile(t.root()).error().code, ENOENT);
  nlohmann::json written = StatusToJson(e.controller->Status());
  written["pid"] = 42;  // the agent's own fields survive the round trip
  ASSERT_TRUE(WriteStatusFile(t.root(), written).ok());
  EXPECT_FALSE(PathExists(t.Path("status.json.tmp")));
  auto back = ReadStatusFile(t.root());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, written);
  auto model = StatusFromJson(*back);
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_EQ(StatusToJson(*model), StatusToJson(e.controller->Status()));
  t.Write("status.json", "{\"mode\": ");
  EXPECT_THAT(ReadStatusFile(t.root()).error().message, HasSubstr("not valid JSON"));
  EXPECT_FALSE(WriteStatusFile(t.Path("missing-dir"), written).ok());
}

TEST(Metrics, FamiliesFromControllerState) {
  MemorySink sink;
  Episode e(&sink);
  PublishedView view;
  view.status = e.controller->Status();
  view.action_counts = e.controller->ActionCounts();
  const std::string text = RenderMetricsText(view, RenderOptions{});
  EXPECT_THAT(text, HasSubstr("schedwarden_actions_total{action=\"demote-best-effort\","
                              "workload=\"/be-batch\",result=\"applied\"} 1"));
  EXPECT_THAT(text, HasSubstr("schedwarden_actions_total{action=\"verify\",workload=\"/lc-web\","
                              "result=\"not-improved\"} 1"));
  EXPECT_THAT(text, HasSubstr("schedwarden_workload_class{workload=\"/lc-web\",class=\"latency-"
                              "critical\",rule=\"web\"} 1"));
  EXPECT_THAT(text, HasSubstr("schedwarden_workload_class{workload=\"/be-batch\",class=\"best-"
                              "effort\",rule=\"batch\"} 1"));
  EXPECT_THAT(text, HasSubstr("schedwarden_exclusive_cpus{workload=\"/lc-web\"} 0"));
  EXPECT_THAT(text, HasSubstr("schedwarden_shared_pool_cpus 4"));
  EXPECT_THAT(text, HasSubstr("schedwarden_slo_violation_intervals_total{workload=\"/lc-web\"} 5"));
  EXPECT_THAT(text, HasSubstr("schedwarden_workload_runq_p99_seconds{workload=\"/lc-web\"} "
                              "0.005242"));
}

}  // namespace
}  // namespace sw
