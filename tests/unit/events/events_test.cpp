// Kubernetes Events against a fake API server (fake_apiserver.py, started by each test on a
// private port): what is posted, where, with which credentials; nothing for dry-run or non-pod
// decisions; refusals counted; a hung server never blocks the caller (full queue: dropped).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "events/k8s_events.h"
#include "support/process.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kUid = "8f3c1e2a-1111-2222-3333-444455556666";
constexpr const char* kPodCgroup = "/kubepods/burstable/pod8f3c1e2a-1111-2222-3333-444455556666";

class FakeApiServer {
 public:
  FakeApiServer(test::TempTree& t, const std::string& mode)
      : dir_(t.MakeDir("apiserver")),
        proc_(test::ChildProcess::Exec({"/usr/bin/python3", SW_FAKE_APISERVER, dir_, mode})) {
    for (int i = 0; i < 500 && port_.empty(); i++) {
      std::ifstream in(dir_ + "/port");
      std::getline(in, port_);
      if (port_.empty()) std::this_thread::sleep_for(10ms);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + port_; }
  bool up() const { return !port_.empty(); }
  std::vector<json> Requests() const {
    std::vector<json> out;
    std::ifstream in(dir_ + "/requests.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

 private:
  std::string dir_;
  test::ChildProcess proc_;
  std::string port_;
};

class Events : public ::testing::Test {
 protected:
  void SetUp() override {
    t.Write("sa/token", "tok-123\n");
    pods.Set(PodMeta{.uid = kUid, .namespace_name = "shop", .name = "web-0"});
  }
  std::unique_ptr<EventPoster> Start(const std::string& url, size_t capacity = 256,
                                     std::chrono::milliseconds timeout = 5000ms) {
    EventPosterOptions o;
    o.api_server = url;
    o.credentials_dir = t.Path("sa");
    o.host = "node-a";
    o.queue_capacity = capacity;
    o.timeout = timeout;
    auto p = EventPoster::Start(o);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? std::move(*p) : nullptr;
  }
  static Decision Grant(const std::string& result) {
    Decision d;
    d.workload = kPodCgroup;
    d.cgroup_path = kPodCgroup;
    d.victim = kPodCgroup;
    d.action = action::kGrant;
    d.result = result;
    d.cpus = "2-3";
    d.reason = "interference";
    d.wall = std::chrono::seconds(1764626400);  // 2025-12-01T22:00:00Z
    return d;
  }
  test::TempTree t;
  StaticPodMetadataSource pods;
  MemorySink audit;
};

TEST_F(Events, AnActionPostsAnEventOnItsPodWithTheServiceAccountToken) {
  FakeApiServer api(t, "ok");
  ASSERT_TRUE(api.up());
  auto poster = Start(api.url());
  ASSERT_TRUE(poster);
  EventSink sink(&audit, &pods, poster.get());
  sink.Write(Grant(result::kApplied));
  ASSERT_TRUE(poster->WaitIdle(10s));
  EXPECT_EQ(audit.records.size(), 1u);  // the audit log still gets every decision
  auto reqs = api.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const json& r = reqs[0];
  EXPECT_EQ(r["path"], "/api/v1/namespaces/shop/events");
  EXPECT_EQ(r["authorization"], "Bearer tok-123");
  EXPECT_EQ(r["content_type"], "application/json");
  const json& ev = r["body"];
  EXPECT_EQ(ev["kind"], "Event");
  EXPECT_EQ(ev["metadata"]["namespace"], "shop");
  EXPECT_EQ(ev["involvedObject"], (json{{"apiVersion", "v1"},
                                        {"kind", "Pod"},
                                        {"namespace", "shop"},
                                        {"name", "web-0"},
                                        {"uid", kUid}}));
  EXPECT_EQ(ev["reason"], "ExclusiveCpusGranted");
  EXPECT_EQ(ev["type"], "Normal");
  EXPECT_EQ(ev["source"]["host"], "node-a");
  EXPECT_EQ(ev["firstTimestamp"], "2025-12-01T22:00:00Z");
  EXPECT_NE(ev["message"].get<std::string>().find("cpus=2-3"), std::string::npos) << ev["message"];
  EventCounts c = poster->counts();
  EXPECT_EQ(c.posted, 1u);
  EXPECT_EQ(c.failed + c.dropped, 0u);
}

TEST_F(Events, DryRunReportsAndNonPodWorkloadsPostNothing) {
  FakeApiServer api(t, "ok");
  ASSERT_TRUE(api.up());
  auto poster = Start(api.url());
  ASSERT_TRUE(poster);
  EventSink sink(&audit, &pods, poster.get());
  sink.Write(Grant(result::kDryRun));
  Decision report = Grant(result::kReported);
  report.action = action::kExhausted;
  sink.Write(report);
  Decision host = Grant(result::kApplied);
  host.workload = host.cgroup_path = "/system.slice/nginx.service";
  sink.Write(host);
  Decision failed = Grant(result::kFailed);  // a failure is an event too, a warning
  sink.Write(failed);
  ASSERT_TRUE(poster->WaitIdle(10s));
  auto reqs = api.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0]["body"]["reason"], "ExclusiveCpusGrantedFailed");
  EXPECT_EQ(reqs[0]["body"]["type"], "Warning");
  EXPECT_EQ(audit.records.size(), 4u);
}

TEST_F(Events, RefusedPostsAreCountedAsFailed) {
  FakeApiServer api(t, "forbid");  // no RBAC for events
  ASSERT_TRUE(api.up());
  auto poster = Start(api.url());
  ASSERT_TRUE(poster);
  EventSink sink(nullptr, &pods, poster.get());
  sink.Write(Grant(result::kApplied));
  ASSERT_TRUE(poster->WaitIdle(10s));
  EXPECT_EQ(poster->counts().failed, 1u);
  EXPECT_EQ(poster->counts().posted, 0u);
}

TEST_F(Events, AHungApiServerNeverBlocksTheCallerAndAFullQueueDrops) {
  FakeApiServer api(t, "hang");
  ASSERT_TRUE(api.up());
  auto poster = Start(api.url(), /*capacity=*/2, /*timeout=*/1000ms);
  ASSERT_TRUE(poster);
  EventSink sink(nullptr, &pods, poster.get());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; i++) sink.Write(Grant(result::kApplied));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 200ms);  // ten queue operations; a post would take the 1s timeout
  EventCounts c = poster->counts();
  // One may be in flight, two queued: at least seven dropped.
  EXPECT_GE(c.dropped, 7u);
  EXPECT_LE(c.dropped, 8u);
}

TEST(EventsConfig, InClusterApiServerComesFromTheEnvironment) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const std::string saved_host = host ? host : "";
  unsetenv("KUBERNETES_SERVICE_HOST");
  auto missing = ResolveApiServer("");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto url = ResolveApiServer("");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "https://10.96.0.1:443");
  EXPECT_EQ(*ResolveApiServer("https://api:6443"), "https://api:6443");
  if (saved_host.empty())
    unsetenv("KUBERNETES_SERVICE_HOST");
  else
    setenv("KUBERNETES_SERVICE_HOST", saved_host.c_str(), 1);
}

TEST(EventsConfig, MissingTokenIsAClearError) {
  test::TempTree t;
  EventPosterOptions o;
  o.api_server = "https://api:6443";
  o.credentials_dir = t.MakeDir("empty");
  auto p = EventPoster::Start(o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find(t.Path("empty") + "/token"), std::string::npos)
      << p.error().message;
}

}  // namespace
}  // namespace sw
