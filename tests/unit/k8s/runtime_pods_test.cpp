#include "k8s/runtime_pods.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <future>
#include <random>
#include <sstream>

namespace sw {
namespace {

using namespace std::chrono_literals;

const std::string kUid = "8f3c1e2a-1111-2222-3333-444455556666";
const std::string kPodPath = "/kubepods/burstable/pod" + kUid;
const std::string kCtrA = std::string(64, 'a');
const std::string kCtrB = std::string(64, 'b');

// What containerd 1.6's CRI plugin stores in a sandbox's metadata extension (trimmed).
std::string SandboxJson(const std::string& labels, const std::string& annotations) {
  return R"({"Version":"v1","Metadata":{"ID":"s1","Name":"web-0_shop_)" + kUid +
         R"(_0","Config":{"metadata":{"name":"web-0","uid":")" + kUid +
         R"(","namespace":"shop"},"labels":)" + labels + R"(,"annotations":)" + annotations +
         R"(,"linux":{"cgroup_parent":"/kubepods/burstable/pod)" + kUid + R"("}},"NetNSPath":""}})";
}

std::map<std::string, std::string> KubeletLabels(const std::string& uid, const std::string& pod) {
  return {{kPodUidLabel, uid}, {kPodNameLabel, pod}, {kPodNamespaceLabel, "shop"}};
}

RuntimeContainer Sandbox(const std::string& uid, const std::string& pod, std::string metadata) {
  RuntimeContainer c{"sandbox-" + pod, KubeletLabels(uid, pod), std::move(metadata)};
  c.labels[kCriKindLabel] = "sandbox";
  c.labels["app"] = "web";
  return c;
}

RuntimeContainer Container(const std::string& uid, const std::string& pod, const std::string& id,
                           const std::string& name) {
  RuntimeContainer c{id, KubeletLabels(uid, pod), ""};
  c.labels[kCriKindLabel] = "container";
  c.labels[kContainerNameLabel] = name;
  return c;
}

std::vector<RuntimeContainer> WebPod(const std::string& ctr_id) {
  return {Sandbox(kUid, "web-0",
                  SandboxJson(R"({"app":"web","io.kubernetes.pod.uid":")" + kUid + R"("})",
                              R"({"schedwarden.io/class":"latency-critical"})")),
          Container(kUid, "web-0", ctr_id, "nginx")};
}

TEST(PodsFromContainers, IdentityLabelsAnnotationsAndContainerNames) {
  PodDirectory dir = PodsFromContainers(WebPod(kCtrA));
  ASSERT_EQ(dir.by_uid.size(), 1u);
  const PodMeta& p = dir.by_uid.at(kUid);
  EXPECT_EQ(p.uid, kUid);
  EXPECT_EQ(p.namespace_name, "shop");
  EXPECT_EQ(p.name, "web-0");
  EXPECT_EQ(p.labels, (std::map<std::string, std::string>{{"app", "web"}}))
      << "the pod's own labels, not kubelet's identity labels";
  EXPECT_EQ(p.annotations,
            (std::map<std::string, std::string>{{"schedwarden.io/class", "latency-critical"}}));
  EXPECT_EQ(p.containers, (std::map<std::string, std::string>{{kCtrA, "nginx"}}));
  EXPECT_TRUE(dir.problems.empty());
}

TEST(PodsFromContainers, ContainersWithoutAPodUidAreNotKubelets) {
  RuntimeContainer other{"x", {{"nerdctl/name", "x"}}, ""};
  EXPECT_TRUE(PodsFromContainers({other}).by_uid.empty());
}

TEST(PodsFromContainers, AContainerListedBeforeItsSandboxStillNamesThePod) {
  auto pod = WebPod(kCtrA);
  std::swap(pod[0], pod[1]);
  PodDirectory dir = PodsFromContainers(pod);
  EXPECT_EQ(dir.by_uid.at(kUid).name, "web-0");
  EXPECT_EQ(dir.by_uid.at(kUid).annotations.size(), 1u);
}

TEST(PodsFromContainers, GarbageSandboxMetadataKeepsThePodFromItsLabels) {
  for (const std::string& bad :
       {std::string("not json"), std::string("[1,2]"), std::string(R"({"Version":"v1"})"),
        std::string(R"({"Metadata":{"Config":7}})"), SandboxJson(R"({"app":7})", "{}"),
        SandboxJson("{}", R"({"a":["x"]})"), std::string("\xff\xfe{\"Metadata\"", 14)}) {
    PodDirectory dir = PodsFromContainers({Sandbox(kUid, "web-0", bad)});
    ASSERT_EQ(dir.by_uid.size(), 1u) << bad;
    const PodMeta& p = dir.by_uid.at(kUid);
    EXPECT_EQ(p.name, "web-0") << bad;
    EXPECT_EQ(p.labels, (std::map<std::string, std::string>{{"app", "web"}})) << bad;
    EXPECT_TRUE(p.annotations.empty()) << bad;
    ASSERT_EQ(dir.problems.count(kUid), 1u) << bad;
    EXPECT_NE(dir.problems.at(kUid).find("sandbox-web-0"), std::string::npos) << bad;
  }
}

TEST(PodsFromContainers, RandomBytesNeverThrow) {
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; i++) {
    std::string junk(rng() % 64, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    std::string meta = SandboxJson("{}", "{}");
    meta.replace(rng() % meta.size(), junk.size(), junk);
    EXPECT_NO_THROW(PodsFromContainers({Sandbox(kUid, "p", meta), Sandbox(junk, junk, junk)}));
  }
}

// Answers scripted results in order, then repeats the last one.
class FakeLister final : public RuntimeLister {
 public:
  void Push(Result<std::vector<RuntimeContainer>> r) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(r));
  }
  void BlockUntil(std::shared_future<void> f) { gate_ = std::move(f); }
  Result<std::vector<RuntimeContainer>> List(std::chrono::nanoseconds timeout) override {
    last_timeout = timeout;
    if (gate_.valid()) gate_.wait();
    std::lock_guard lock(mu_);
    calls++;
    if (script_.size() > 1) {
      auto r = std::move(script_.front());
      script_.pop_front();
      return r;
    }
    return script_.empty() ? Result<std::vector<RuntimeContainer>>(Error{0, "empty script"})
                           : script_.front();
  }
  std::string Describe() const override { return "fake runtime"; }
  std::atomic<int> calls{0};
  std::chrono::nanoseconds last_timeout{0};

 private:
  std::mutex mu_;
  std::deque<Result<std::vector<RuntimeContainer>>> script_;
  std::shared_future<void> gate_;
};

// Captures the default logger's lines for the test's lifetime.
class LogCapture {
 public:
  LogCapture() : saved_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    spdlog::set_level(spdlog::level::debug);
  }
  ~LogCapture() { spdlog::set_default_logger(saved_); }
  int Count(const std::string& needle, const char* level) const {
    std::istringstream in(out_.str());
    int n = 0;
    for (std::string line; std::getline(in, line);)
      if (line.find(needle) != std::string::npos && line.find(level) != std::string::npos) n++;
    return n;
  }
  std::string Text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> saved_;
  std::ostringstream out_;
};

Error Unavailable() { return Error{0, "unavailable: connect: No such file or directory"}; }

TEST(RuntimePodMetadataSource, PodAppearsRestartsAndDisappears) {
  auto lister = std::make_unique<FakeLister>();
  FakeLister& fake = *lister;
  fake.Push(std::vector<RuntimeContainer>{});
  fake.Push(WebPod(kCtrA));
  fake.Push(WebPod(kCtrB));  // restarted: kubelet created a new container
  fake.Push(std::vector<RuntimeContainer>{});
  RuntimePodMetadataSource src(std::move(lister), {.refresh = 1h, .timeout = 300ms});

  ASSERT_TRUE(src.RefreshOnce());
  EXPECT_FALSE(src.PodOf(kPodPath));
  EXPECT_EQ(fake.last_timeout, 300ms) << "the deadline is the lister's";

  ASSERT_TRUE(src.RefreshOnce());
  auto pod = src.PodOf(kPodPath + "/" + kCtrA);
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->name, "web-0");
  EXPECT_EQ(pod->qos, PodQos::kBurstable) << "from the path";
  EXPECT_EQ(pod->containers.at(kCtrA), "nginx");

  ASSERT_TRUE(src.RefreshOnce());
  pod = src.PodOf(kPodPath + "/" + kCtrB);
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->containers, (std::map<std::string, std::string>{{kCtrB, "nginx"}}));
  // The systemd driver's spelling of the same pod.
  std::string uid_ = kUid;
  std::replace(uid_.begin(), uid_.end(), '-', '_');
  EXPECT_TRUE(src.PodOf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid_ +
                        ".slice"));

  ASSERT_TRUE(src.RefreshOnce());
  EXPECT_FALSE(src.PodOf(kPodPath)) << "gone from the runtime, gone here";
  EXPECT_EQ(src.Health().refreshes, 4u);
}

TEST(RuntimePodMetadataSource, FailuresKeepThePodsAndLogOnceUntilRecovery) {
  LogCapture log;
  auto lister = std::make_unique<FakeLister>();
  FakeLister& fake = *lister;
  fake.Push(WebPod(kCtrA));
  for (int i = 0; i < 5; i++) fake.Push(Unavailable());
  fake.Push(WebPod(kCtrB));
  for (int i = 0; i < 3; i++) fake.Push(Error{0, "no answer within the timeout"});
  fake.Push(std::vector<RuntimeContainer>{});
  RuntimePodMetadataSource src(std::move(lister), {.refresh = 1h, .timeout = 1s});

  ASSERT_TRUE(src.RefreshOnce());
  for (int i = 0; i < 5; i++) {
    EXPECT_FALSE(src.RefreshOnce());
    EXPECT_TRUE(src.PodOf(kPodPath)) << "last known pods are kept while the runtime is down";
  }
  EXPECT_FALSE(src.Health().ok);
  EXPECT_EQ(src.Health().failures, 5u);
  EXPECT_NE(src.Health().last_error.find("unavailable"), std::string::npos);
  EXPECT_EQ(log.Count("cannot list containers from fake runtime", "warn"), 1) << log.Text();
  EXPECT_EQ(log.Count("keeping the 1 pod(s)", "warn"), 1) << log.Text();

  ASSERT_TRUE(src.RefreshOnce());
  EXPECT_TRUE(src.Health().ok);
  EXPECT_EQ(src.PodOf(kPodPath)->containers.count(kCtrB), 1u) << "recovered: up to date";
  EXPECT_EQ(log.Count("fake runtime answers again: 1 pod(s)", "info"), 1) << log.Text();

  for (int i = 0; i < 3; i++) EXPECT_FALSE(src.RefreshOnce());
  EXPECT_EQ(log.Count("cannot list containers from fake runtime", "warn"), 2)
      << "a new outage is logged again, once" << log.Text();
  ASSERT_TRUE(src.RefreshOnce());
  EXPECT_EQ(log.Count("answers again", "info"), 2) << log.Text();
}

TEST(RuntimePodMetadataSource, ABadSandboxIsLoggedOncePerPod) {
  LogCapture log;
  auto lister = std::make_unique<FakeLister>();
  lister->Push(std::vector<RuntimeContainer>{Sandbox(kUid, "web-0", "garbage")});
  RuntimePodMetadataSource src(std::move(lister), {.refresh = 1h, .timeout = 1s});
  for (int i = 0; i < 4; i++) ASSERT_TRUE(src.RefreshOnce());
  EXPECT_EQ(log.Count("pod shop/web-0 (uid " + kUid + ")", "warn"), 1) << log.Text();
  EXPECT_EQ(src.PodOf(kPodPath)->name, "web-0");
}

TEST(RuntimePodMetadataSource, PodOfNeverWaitsForAStuckListing) {
  std::promise<void> release;
  auto lister = std::make_unique<FakeLister>();
  FakeLister& fake = *lister;
  fake.Push(WebPod(kCtrA));
  RuntimePodMetadataSource src(std::move(lister), {.refresh = 10ms, .timeout = 1s});
  ASSERT_TRUE(src.RefreshOnce());
  fake.BlockUntil(release.get_future().share());
  src.Start();
  // The background thread is (or soon will be) stuck in List; PodOf answers from the cache.
  for (int i = 0; i < 50; i++) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(src.PodOf(kPodPath));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
    std::this_thread::sleep_for(1ms);
  }
  release.set_value();
  src.Stop();
}

TEST(RuntimePodMetadataSource, TheBackgroundThreadRefreshes) {
  auto lister = std::make_unique<FakeLister>();
  FakeLister& fake = *lister;
  fake.Push(std::vector<RuntimeContainer>{});
  fake.Push(WebPod(kCtrA));
  RuntimePodMetadataSource src(std::move(lister), {.refresh = 10ms, .timeout = 1s});
  src.Start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!src.PodOf(kPodPath) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(src.PodOf(kPodPath));
  src.Stop();
  const int calls = fake.calls;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(fake.calls, calls) << "stopped means stopped";
}

}  // namespace
}  // namespace sw
