// Kubernetes Events: a core/v1 Event on the pod for each enforcement action, posted to the API
// server with the pod's in-cluster service-account credentials. The control loop only queues
// (EventSink::Write never blocks, never does I/O); one thread posts. A full queue drops the
// event and counts it; an API server that is down or refuses costs only that thread's time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "k8s/pod_metadata.h"
#include "policy/decision.h"

namespace sw {

struct EventPosterOptions {
  // Base URL; "" = in cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
  std::string api_server;
  std::string credentials_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string host;  // the node, for source.host and reportingInstance
  size_t queue_capacity = 256;
  std::chrono::milliseconds timeout{5000};  // per post
};

struct PodEvent {
  std::string namespace_name, pod, uid;
  std::string reason;                // CamelCase, e.g. "ExclusiveCpusGranted"
  std::string message;               // one line
  std::string type = "Normal";       // or "Warning"
  std::chrono::nanoseconds wall{0};  // since the Unix epoch
};

struct EventCounts {
  uint64_t queued = 0, posted = 0, failed = 0, dropped = 0;
};

// The Event object for `e` (json text), as POSTed to /api/v1/namespaces/<ns>/events.
std::string EventJson(const PodEvent& e, const std::string& host);
// The API server URL: `configured`, else from the in-cluster environment; an error says which
// variable is missing.
Result<std::string> ResolveApiServer(const std::string& configured);

class EventPoster {
 public:
  // Checks the API server URL and that the token file is readable; starts the posting thread.
  static Result<std::unique_ptr<EventPoster>> Start(EventPosterOptions options);
  ~EventPoster();  // stops the thread; events still queued are dropped (counted)
  EventPoster(const EventPoster&) = delete;
  EventPoster& operator=(const EventPoster&) = delete;

  // Queues `e`; false (and counted as dropped) when the queue is full. Never blocks on I/O.
  bool Post(PodEvent e);
  EventCounts counts() const;
  // Tests: waits until the queue is empty and no post is in flight, up to `timeout`.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  explicit EventPoster(EventPosterOptions o, std::string url)
      : opts_(std::move(o)), url_(std::move(url)) {}
  void Run();
  bool Send(const PodEvent& e);  // one POST; false on any failure (logged)

  EventPosterOptions opts_;
  std::string url_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<PodEvent> queue_;
  bool stop_ = false, busy_ = false;
  EventCounts counts_;
  std::thread thread_;
};

// A DecisionSink in front of another (the audit log): every decision goes on to `next`; those
// that changed something (or failed to) on a pod's workload are also queued as an Event on
// that pod (PodMetadataSource::PodOf its cgroup). Decisions of non-pod workloads, dry-run and
// report-only decisions post nothing.
class EventSink final : public DecisionSink {
 public:
  EventSink(DecisionSink* next, const PodMetadataSource* pods, EventPoster* poster)
      : next_(next), pods_(pods), poster_(poster) {}
  void Write(const Decision& d) override;

 private:
  DecisionSink* next_;
  const PodMetadataSource* pods_;
  EventPoster* poster_;
};

// The Event for a decision, or nullopt when it posts none.
std::optional<PodEvent> EventFor(const Decision& d, const PodMeta& pod);

}  // namespace sw
