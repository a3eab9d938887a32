#include "events/k8s_events.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/text.h"

namespace sw {
namespace {

using nlohmann::json;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// "2026-12-01T22:10:00Z": Events' timestamps are whole seconds (metav1.Time).
std::string Rfc3339(std::chrono::nanoseconds wall) {
  std::string s = FormatWallTime(wall);  // "...:00.123Z"
  const size_t dot = s.find('.');
  return dot == std::string::npos ? s : s.substr(0, dot) + "Z";
}

}  // namespace

std::string EventJson(const PodEvent& e, const std::string& host) {
  const std::string ts = Rfc3339(e.wall);
  json j{{"apiVersion", "v1"},
         {"kind", "Event"},
         {"metadata", {{"generateName", e.pod + ".schedwarden-"}, {"namespace", e.namespace_name}}},
         {"involvedObject",
          {{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"namespace", e.namespace_name},
           {"name", e.pod},
           {"uid", e.uid}}},
         {"reason", e.reason},
         {"message", e.message},
         {"type", e.type},
         {"source", {{"component", "schedwarden"}, {"host", host}}},
         {"reportingComponent", "schedwarden"},
         {"reportingInstance", host},
         {"firstTimestamp", ts},
         {"lastTimestamp", ts},
         {"count", 1}};
  return j.dump();
}

Result<std::string> ResolveApiServer(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return Error{ENOENT,
                 "kubernetes.events: not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and "
                 "no kubernetes.api_server configured"};
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 service address
  return "https://" + h + ":" + port;
}

Result<std::unique_ptr<EventPoster>> EventPoster::Start(EventPosterOptions o) {
  auto url = ResolveApiServer(o.api_server);
  if (!url) return url.error();
  const std::string token = JoinPath(o.credentials_dir, "token");
  if (auto t = ReadFile(token); !t)
    return Error{t.error().code, "kubernetes.events: cannot read the service-account token " +
                                     token + ": " + t.error().message +
                                     " (automountServiceAccountToken, kubernetes.credentials_dir)"};
  GlobalInit();
  std::unique_ptr<EventPoster> p(new EventPoster(std::move(o), *url));
  p->thread_ = std::thread([q = p.get()] { q->Run(); });
  return p;
}

EventPoster::~EventPoster() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    counts_.dropped += queue_.size();
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool EventPoster::Post(PodEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= opts_.queue_capacity) {
      counts_.dropped++;
      return false;
    }
    queue_.push_back(std::move(e));
    counts_.queued++;
  }
  cv_.notify_one();
  return true;
}

EventCounts EventPoster::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

bool EventPoster::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

void EventPoster::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    PodEvent e = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    const bool ok = Send(e);
    lock.lock();
    busy_ = false;
    (ok ? counts_.posted : counts_.failed)++;
    idle_cv_.notify_all();
  }
}

bool EventPoster::Send(const PodEvent& e) {
  auto token = ReadFile(JoinPath(opts_.credentials_dir, "token"));  // re-read: tokens rotate
  if (!token) {
    spdlog::warn("kubernetes event for {}/{}: token: {}", e.namespace_name, e.pod,
                 token.error().message);
    return false;
  }
  const std::string url = url_ + "/api/v1/namespaces/" + e.namespace_name + "/events";
  const std::string body = EventJson(e, opts_.host);
  const std::string ca = JoinPath(opts_.credentials_dir, "ca.crt");
  std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) return false;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("Authorization: Bearer " + Trim(*token)).c_str());
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, Discard);
  if (PathExists(ca)) curl_easy_setopt(c.get(), CURLOPT_CAINFO, ca.c_str());
  const CURLcode rc = curl_easy_perform(c.get());
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && status >= 200 && status < 300) return true;
  spdlog::warn("kubernetes event {} for {}/{}: {}", e.reason, e.namespace_name, e.pod,
               rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP " + std::to_string(status));
  return false;
}

std::optional<PodEvent> EventFor(const Decision& d, const PodMeta& pod) {
  const bool failed = d.result == result::kFailed;
  if (d.result != result::kApplied && !failed) return std::nullopt;  // dry-run, reports
  std::string reason;
  if (d.action == action::kGrant) reason = "ExclusiveCpusGranted";
  if (d.action == action::kRelease) reason = "ExclusiveCpusReleased";
  if (d.action == action::kDemote) reason = "DemotedBestEffort";
  if (d.action == action::kRestore) reason = "RestoredBestEffort";
  if (reason.empty()) return std::nullopt;
  PodEvent e;
  e.namespace_name = pod.namespace_name;
  e.pod = pod.name;
  e.uid = pod.uid;
  e.reason = failed ? reason + "Failed" : reason;
  e.type = failed ? "Warning" : "Normal";
  e.message = FormatDecision(d);
  if (e.message.size() > 1024) e.message.resize(1024);
  e.wall = d.wall;
  return e;
}

void EventSink::Write(const Decision& d) {
  if (next_) next_->Write(d);
  if (!pods_ || !poster_) return;
  auto pod = pods_->PodOf(d.cgroup_path.empty() ? d.workload : d.cgroup_path);
  if (!pod || pod->namespace_name.empty() || pod->name.empty()) return;
  if (auto e = EventFor(d, *pod)) poster_->Post(std::move(*e));
}

}  // namespace sw
