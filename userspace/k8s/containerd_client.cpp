#include "k8s/containerd_client.h"

#include <grpcpp/grpcpp.h>

#include "containerd/services/containers/v1/containers.grpc.pb.h"

namespace sw {
namespace {

namespace api = containerd::services::containers::v1;

// A node with hundreds of containers answers List with each one's OCI spec: well past gRPC's
// default 4 MiB.
constexpr int kMaxAnswerBytes = 256 << 20;

class ContainerdLister final : public RuntimeLister {
 public:
  ContainerdLister(std::string endpoint, std::string ns)
      : endpoint_(std::move(endpoint)), namespace_(std::move(ns)) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxAnswerBytes);
    // Reconnect soon after containerd comes back instead of backing off for minutes.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    stub_ = api::Containers::NewStub(
        grpc::CreateCustomChannel(endpoint_, grpc::InsecureChannelCredentials(), args));
  }

  Result<std::vector<RuntimeContainer>> List(std::chrono::nanoseconds timeout) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
    ctx.AddMetadata("containerd-namespace", namespace_);
    api::ListContainersRequest req;
    // Only kubelet's containers (containerd's filter syntax: the label is present).
    req.add_filters("labels.\"io.kubernetes.pod.uid\"");
    api::ListContainersResponse resp;
    const grpc::Status st = stub_->List(&ctx, req, &resp);
    if (!st.ok()) return Error{0, StatusText(st)};
    std::vector<RuntimeContainer> out;
    out.reserve(resp.containers_size());
    for (const api::Container& c : resp.containers()) {
      RuntimeContainer rc;
      rc.id = c.id();
      rc.labels.insert(c.labels().begin(), c.labels().end());
      // The CRI plugin stores its metadata as a typeurl Any holding JSON.
      if (auto it = c.extensions().find(kSandboxMetadataExtension); it != c.extensions().end())
        rc.sandbox_metadata = it->second.value();
      out.push_back(std::move(rc));
    }
    return out;
  }

  std::string Describe() const override {
    return "containerd at " + endpoint_ + " (namespace " + namespace_ + ")";
  }

 private:
  static std::string StatusText(const grpc::Status& st) {
    switch (st.error_code()) {
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "no answer within the timeout (kubernetes.timeout): " + st.error_message();
      case grpc::StatusCode::UNAVAILABLE:
        return "unavailable (is containerd running and the socket mounted?): " + st.error_message();
      default:
        return "gRPC error " + std::to_string(st.error_code()) + ": " + st.error_message();
    }
  }

  std::string endpoint_;
  std::string namespace_;
  std::unique_ptr<api::Containers::Stub> stub_;
};

}  // namespace

std::unique_ptr<RuntimeLister> MakeContainerdLister(const std::string& endpoint,
                                                    const std::string& runtime_namespace) {
  return std::make_unique<ContainerdLister>(endpoint, runtime_namespace);
}

}  // namespace sw
