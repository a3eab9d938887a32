// The containerd client against a stand-in containerd (a gRPC server of the same service) that
// answers, or answers too late, and against sockets that are absent, silent or answer garbage:
// each failure is an error of the call, within the deadline, never a crash or a hang.
#include "k8s/containerd_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "containerd/services/containers/v1/containers.grpc.pb.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace api = containerd::services::containers::v1;

std::filesystem::path TempDir() {
  std::string t = (std::filesystem::temp_directory_path() / "k8s-identity-ctrd-XXXXXX").string();
  if (!mkdtemp(t.data())) ADD_FAILURE() << "mkdtemp";
  return t;
}

// A unix socket server that accepts and then writes `reply` (nothing: never answers).
class RogueServer {
 public:
  RogueServer(const std::filesystem::path& path, std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RogueServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    for (int c : conns_) close(c);
  }

 private:
  void Serve() {
    while (!stop_) {
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      if (!reply_.empty()) {
        (void)!write(c, reply_.data(), reply_.size());
        close(c);
      } else {
        conns_.push_back(c);  // held open, silent
      }
    }
  }
  int fd_ = -1;
  std::string reply_;
  std::atomic<bool> stop_{false};
  std::vector<int> conns_;
  std::thread thread_;
};

TEST(ContainerdClient, AnAbsentSocketIsAnErrorSayingSo) {
  auto dir = TempDir();
  auto lister = MakeContainerdLister("unix://" + (dir / "absent.sock").string(), "k8s.io");
  const auto t0 = Clock::now();
  auto r = lister->List(2s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unavailable"), std::string::npos) << r.error().message;
  EXPECT_LT(Clock::now() - t0, 2500ms);
  EXPECT_NE(lister->Describe().find("absent.sock (namespace k8s.io)"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ContainerdClient, ASilentSocketIsAnErrorWithinTheDeadline) {
  auto dir = TempDir();
  {
    RogueServer silent(dir / "silent.sock", "");
    auto lister = MakeContainerdLister("unix://" + (dir / "silent.sock").string(), "k8s.io");
    const auto t0 = Clock::now();
    auto r = lister->List(300ms);
    ASSERT_FALSE(r);
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_LT(Clock::now() - t0, 3s) << "bounded by the deadline (slack for a loaded machine)";
  }
  std::filesystem::remove_all(dir);
}

// A containerd stand-in: a real gRPC server of the containers service.
class FakeContainerd final : public api::Containers::Service {
 public:
  grpc::Status List(grpc::ServerContext* ctx, const api::ListContainersRequest* req,
                    api::ListContainersResponse* resp) override {
    if (slow) {  // answers nothing until the client gives up
      while (!ctx->IsCancelled()) std::this_thread::sleep_for(5ms);
      return grpc::Status::CANCELLED;
    }
    auto ns = ctx->client_metadata().find("containerd-namespace");
    if (ns == ctx->client_metadata().end())
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "namespace is required");
    namespace_seen = std::string(ns->second.data(), ns->second.size());
    filters.assign(req->filters().begin(), req->filters().end());
    api::Container* c = resp->add_containers();
    c->set_id("sb1");
    (*c->mutable_labels())[kPodUidLabel] = "u1";
    (*c->mutable_labels())[kCriKindLabel] = "sandbox";
    google::protobuf::Any& ext = (*c->mutable_extensions())[kSandboxMetadataExtension];
    ext.set_type_url("github.com/containerd/cri/pkg/store/sandbox/Metadata");
    ext.set_value(R"({"Version":"v1"})");
    api::Container* d = resp->add_containers();
    d->set_id("c1");
    (*d->mutable_labels())[kContainerNameLabel] = "app";
    return grpc::Status::OK;
  }
  std::atomic<bool> slow{false};
  std::string namespace_seen;
  std::vector<std::string> filters;
};

struct FakeServer {
  explicit FakeServer(const std::string& endpoint) {
    grpc::ServerBuilder b;
    b.AddListeningPort(endpoint, grpc::InsecureServerCredentials());
    b.RegisterService(&service);
    server = b.BuildAndStart();
  }
  ~FakeServer() { server->Shutdown(std::chrono::system_clock::now() + 1s); }
  FakeContainerd service;
  std::unique_ptr<grpc::Server> server;
};

TEST(ContainerdClient, ListsLabelsAndSandboxMetadataInTheNamespace) {
  auto dir = TempDir();
  {
    const std::string ep = "unix://" + (dir / "ok.sock").string();
    FakeServer fake(ep);
    auto r = MakeContainerdLister(ep, "my-ns")->List(5s);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].id, "sb1");
    EXPECT_EQ((*r)[0].labels.at(kCriKindLabel), "sandbox");
    EXPECT_EQ((*r)[0].sandbox_metadata, R"({"Version":"v1"})");
    EXPECT_EQ((*r)[1].labels.at(kContainerNameLabel), "app");
    EXPECT_EQ((*r)[1].sandbox_metadata, "");
    EXPECT_EQ(fake.service.namespace_seen, "my-ns");
    EXPECT_EQ(fake.service.filters, std::vector<std::string>{"labels.\"io.kubernetes.pod.uid\""});
  }
  std::filesystem::remove_all(dir);
}

TEST(ContainerdClient, ASlowRuntimeGivesUpAtTheDeadline) {
  auto dir = TempDir();
  {
    const std::string ep = "unix://" + (dir / "slow.sock").string();
    FakeServer fake(ep);
    fake.service.slow = true;
    auto lister = MakeContainerdLister(ep, "k8s.io");
    const auto t0 = Clock::now();
    auto r = lister->List(300ms);
    const auto took = Clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("kubernetes.timeout"), std::string::npos) << r.error().message;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 3s) << "bounded by the deadline (slack for a loaded machine)";
  }
  std::filesystem::remove_all(dir);
}

TEST(ContainerdClient, GarbageIsAnErrorNotACrash) {
  auto dir = TempDir();
  {
    std::string junk;
    for (int i = 0; i < 4096; i++) junk += static_cast<char>((i * 7919) & 0xff);
    RogueServer garbage(dir / "garbage.sock", junk);
    auto lister = MakeContainerdLister("unix://" + (dir / "garbage.sock").string(), "k8s.io");
    for (int i = 0; i < 3; i++) {
      const auto t0 = Clock::now();
      auto r = lister->List(1s);
      ASSERT_FALSE(r);
      EXPECT_FALSE(r.error().message.empty());
      EXPECT_LT(Clock::now() - t0, 3s);
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sw
