// Pod identity against a REAL containerd: the test starts containerd on a private socket with its
// root and state under a temp dir, creates containers with the labels and sandbox metadata
// kubelet's CRI plugin gives them (through containerd's own API; a container record needs no
// image), and checks that the agent's pod source sees pods appear, restart (a new container id)
// and disappear, and that it keeps its last pods while containerd is down and recovers when it
// comes back. containerd is stopped and its dirs removed however the test ends.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli_helpers.h"
#include "containerd/services/containers/v1/containers.grpc.pb.h"
#include "http_get.h"
#include "k8s/containerd_client.h"
#include "k8s/runtime_pods.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/process.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

namespace fs = std::filesystem;
namespace api = containerd::services::containers::v1;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string WhyNot() {
  if (geteuid() != 0) return "needs root (containerd)";
  if (!fs::exists("/usr/bin/containerd"))
    return "/usr/bin/containerd missing: install the containerd package (scripts/setup.sh)";
  return "";
}

// containerd with everything under one temp dir; stopped and removed on destruction.
class PrivateContainerd {
 public:
  PrivateContainerd() {
    std::string t = (fs::temp_directory_path() / "sw-k8s-identity-XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    dir_ = t;
    std::ofstream(dir_ / "config.toml") << Config();
    Start();
  }
  ~PrivateContainerd() {
    Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string endpoint() const { return "unix://" + (dir_ / "containerd.sock").string(); }

  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test killed by its timeout takes containerd along
      const int log = open((dir_ / "containerd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      const std::string cfg = (dir_ / "config.toml").string();
      execl("/usr/bin/containerd", "containerd", "--config", cfg.c_str(), nullptr);
      _exit(127);
    }
  }
  // SIGTERM, then SIGKILL after 10 s; reaped either way.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; i++) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return void(pid_ = -1);
      std::this_thread::sleep_for(100ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string Log() const {
    std::ifstream in(dir_ / "containerd.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string Config() const {
    const std::string d = dir_.string();
    // The CRI plugin is not needed: kubelet's containers are created through the API below.
    return "version = 2\nroot = \"" + d + "/root\"\nstate = \"" + d + "/state\"\n" +
           "disabled_plugins = [\"io.containerd.grpc.v1.cri\", "
           "\"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\", "
           "\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.aufs\"]\n" +
           "[grpc]\n  address = \"" + d + "/containerd.sock\"\n" + "[ttrpc]\n  address = \"" + d +
           "/containerd.sock.ttrpc\"\n" + "[debug]\n  address = \"\"\n" +
           "[metrics]\n  address = \"\"\n" +
           "[plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n" + "    path = \"" + d +
           "/opt\"\n";
  }

  fs::path dir_;
  pid_t pid_ = -1;
};

// Creates and deletes container records as kubelet's CRI plugin would.
class Kubelet {
 public:
  explicit Kubelet(const std::string& endpoint)
      : stub_(api::Containers::NewStub(
            grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()))) {}

  grpc::Status Create(const std::string& id, const std::map<std::string, std::string>& labels,
                      const std::string& sandbox_json = "",
                      const std::string& ns = kDefaultRuntimeNamespace) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", ns);
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    api::CreateContainerRequest req;
    api::Container* c = req.mutable_container();
    c->set_id(id);
    c->mutable_labels()->insert(labels.begin(), labels.end());
    c->mutable_runtime()->set_name("io.containerd.runc.v2");
    c->mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Spec");
    c->mutable_spec()->set_value("{}");
    if (!sandbox_json.empty()) {
      google::protobuf::Any& ext = (*c->mutable_extensions())[kSandboxMetadataExtension];
      ext.set_type_url("github.com/containerd/cri/pkg/store/sandbox/Metadata");
      ext.set_value(sandbox_json);
    }
    api::CreateContainerResponse resp;
    return stub_->Create(&ctx, req, &resp);
  }

  grpc::Status Delete(const std::string& id) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", kDefaultRuntimeNamespace);
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    api::DeleteContainerRequest req;
    req.set_id(id);
    google::protobuf::Empty resp;
    return stub_->Delete(&ctx, req, &resp);
  }

 private:
  std::unique_ptr<api::Containers::Stub> stub_;
};

const std::string kUid = "5b0e7c1d-aaaa-bbbb-cccc-0123456789ab";
const std::string kPod = "/kubepods/burstable/pod" + kUid;

std::map<std::string, std::string> PodLabels(const std::string& kind) {
  std::map<std::string, std::string> l = {{kPodUidLabel, kUid},
                                          {kPodNameLabel, "web-0"},
                                          {kPodNamespaceLabel, "shop"},
                                          {kCriKindLabel, kind}};
  if (kind == "sandbox") l["app"] = "web";
  return l;
}

std::map<std::string, std::string> ContainerLabels(const std::string& name) {
  auto l = PodLabels("container");
  l[kContainerNameLabel] = name;
  return l;
}

// As containerd 1.6's CRI plugin writes it (fields the agent does not read trimmed).
std::string SandboxJson() {
  return R"({"Version":"v1","Metadata":{"ID":"sb1","Name":"web-0_shop_)" + kUid +
         R"(_0","Config":{"metadata":{"name":"web-0","uid":")" + kUid +
         R"(","namespace":"shop","attempt":0},"labels":{"app":"web","io.kubernetes.pod.name":"web-0"},"annotations":{"schedwarden.io/class":"latency-critical","kubernetes.io/config.source":"api"}},"NetNSPath":"","IP":"","RuntimeHandler":""}})";
}

// Polls `pred` until true or 20 s pass.
template <typename Pred>
bool Eventually(Pred pred) {
  const auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

TEST(ContainerdIdentity, PodsAppearRestartDisappearAndSurviveARuntimeRestart) {
  if (std::string why = WhyNot(); !why.empty()) {
    if (test::PrivilegedRequired()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  PrivateContainerd containerd;
  RuntimePodMetadataSource pods(MakeContainerdLister(containerd.endpoint(), "k8s.io"),
                                {.refresh = 100ms, .timeout = 2s});
  pods.Start();
  ASSERT_TRUE(Eventually([&] { return pods.Health().ok; })) << pods.Health().last_error << "\n"
                                                            << containerd.Log();

  Kubelet kubelet(containerd.endpoint());
  const std::string sandbox(64, 'a'), ctr1(64, '1'), ctr2(64, '2');
  ASSERT_TRUE(kubelet.Create(sandbox, PodLabels("sandbox"), SandboxJson()).ok());
  ASSERT_TRUE(kubelet.Create(ctr1, ContainerLabels("nginx")).ok());
  // Not kubelet's, and kubelet's labels in another containerd namespace: neither is a pod here.
  ASSERT_TRUE(kubelet.Create("buildkit-thing", {{"x", "y"}}).ok());
  ASSERT_TRUE(kubelet
                  .Create(std::string(64, 'f'),
                          {{kPodUidLabel, "99999999-aaaa-bbbb-cccc-0123456789ab"}}, "", "moby")
                  .ok());

  // Appears.
  ASSERT_TRUE(Eventually([&] {
    auto p = pods.PodOf(kPod + "/" + ctr1);
    return p && p->containers.count(ctr1);
  })) << containerd.Log();
  auto p = pods.PodOf(kPod + "/" + ctr1);
  EXPECT_EQ(p->namespace_name, "shop");
  EXPECT_EQ(p->name, "web-0");
  EXPECT_EQ(p->qos, PodQos::kBurstable);
  EXPECT_EQ(p->labels, (std::map<std::string, std::string>{{"app", "web"}}));
  EXPECT_EQ(p->annotations.at("schedwarden.io/class"), "latency-critical");
  EXPECT_EQ(p->containers, (std::map<std::string, std::string>{{ctr1, "nginx"}}));
  EXPECT_FALSE(pods.PodOf("/kubepods/besteffort/pod99999999-aaaa-bbbb-cccc-0123456789ab"));

  // Restarts: kubelet removes the old container and creates a new one.
  ASSERT_TRUE(kubelet.Delete(ctr1).ok());
  ASSERT_TRUE(kubelet.Create(ctr2, ContainerLabels("nginx")).ok());
  ASSERT_TRUE(Eventually([&] {
    auto q = pods.PodOf(kPod);
    return q && q->containers == std::map<std::string, std::string>{{ctr2, "nginx"}};
  }));

  // containerd goes away: the last pods stay; it comes back (same root): recovery.
  containerd.Stop();
  ASSERT_TRUE(Eventually([&] { return !pods.Health().ok; }));
  EXPECT_TRUE(pods.PodOf(kPod)) << "known pods are kept while the runtime is down";
  const uint64_t refreshes = pods.Health().refreshes;
  containerd.Start();
  ASSERT_TRUE(Eventually([&] { return pods.Health().ok && pods.Health().refreshes > refreshes; }))
      << pods.Health().last_error << "\n"
      << containerd.Log();
  EXPECT_EQ(pods.PodOf(kPod)->containers.count(ctr2), 1u);

  // Disappears.
  ASSERT_TRUE(kubelet.Delete(ctr2).ok());
  ASSERT_TRUE(kubelet.Delete(sandbox).ok());
  ASSERT_TRUE(Eventually([&] { return !pods.PodOf(kPod); }));
  pods.Stop();
}

// The agent itself: a pod cgroup (below a prefix of the test's own, so nothing else's kubepods is
// touched) with a busy task is named by the pod's namespace and name in /metrics.
TEST(ContainerdIdentity, TheAgentNamesPodWorkloadsInItsMetrics) {
  SW_REQUIRE_PRIVILEGED();
  if (std::string why = WhyNot(); !why.empty()) {
    if (test::PrivilegedRequired()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  PrivateContainerd containerd;
  Kubelet kubelet(containerd.endpoint());
  ASSERT_TRUE(Eventually([&] {
    return kubelet.Create(std::string(64, 'a'), PodLabels("sandbox"), SandboxJson()).ok();
  })) << containerd.Log();
  auto machine = test::MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  test::ScopedCgroups cgroups(*machine);
  const std::string prefix = "/sw-k8s-identity-" + std::to_string(getpid());
  const std::string pod = prefix + "/kubepods/burstable/pod" + kUid;
  for (const std::string& cg : {prefix, prefix + "/kubepods", prefix + "/kubepods/burstable", pod})
    ASSERT_NO_FATAL_FAILURE(cgroups.Create(cg));
  {
    test::ChildProcess busy = test::ChildProcess::Fork([] {
      for (;;) {  // runs and sleeps: run-queue waits after wakeups
        for (volatile int i = 0; i < 200000; i = i + 1) {
        }
        usleep(200);
      }
    });
    cgroups.Join(pod, busy.pid());
    test::TempTree t;
    const std::string config =
        t.Write("config.yaml",
                "interval: 200ms\nkubernetes:\n  runtime_endpoint: " + containerd.endpoint() +
                    "\n  refresh: 200ms\n  timeout: 200ms\n");
    const int port = test::FreePort();
    test::ChildProcess agent = test::ChildProcess::Exec(
        {SCHEDWARDEN_BINARY, "run", "--config", config, "--mode", "observe", "--state-dir",
         t.Path("state"), "--listen", "127.0.0.1:" + std::to_string(port)});
    const std::string want =
        "schedwarden_workload_info{workload=\"" + pod +
        "\",namespace=\"shop\",pod=\"web-0\",container=\"\",qos=\"Burstable\"} 1";
    std::string body;
    EXPECT_TRUE(Eventually([&] {
      body = test::HttpGet(port, "/metrics").body;
      return body.find(want) != std::string::npos;
    })) << want
        << "\nnot in\n"
        << body;
    agent.Signal(SIGTERM, 10000);
  }  // the busy task is gone before its cgroups are removed
}

}  // namespace
}  // namespace sw
