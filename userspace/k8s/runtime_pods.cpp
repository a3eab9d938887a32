#include "k8s/runtime_pods.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cgroup/container.h"
#include "common/duration.h"

namespace sw {
namespace {

using Json = nlohmann::json;

std::string LabelOr(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

// kubelet's own identity labels and the CRI plugin's are not the pod's labels.
bool IsRuntimeLabel(const std::string& key) {
  return key == kPodUidLabel || key == kPodNameLabel || key == kPodNamespaceLabel ||
         key.rfind("io.cri-containerd.", 0) == 0 || key.rfind("io.kubernetes.container.", 0) == 0;
}

std::map<std::string, std::string> PodLabelsOf(const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : labels)
    if (!IsRuntimeLabel(k)) out[k] = v;
  return out;
}

// A JSON object of strings into a map; false when `j` is anything else.
bool StringMap(const Json& j, std::map<std::string, std::string>* out) {
  if (j.is_null()) return true;  // omitted by the writer: empty
  if (!j.is_object()) return false;
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return false;
    m[k] = v.get<std::string>();
  }
  *out = std::move(m);
  return true;
}

// The CRI plugin's sandbox metadata: {"Version":"v1","Metadata":{"Config":<PodSandboxConfig>}},
// the config as Go's JSON of the CRI type (lower-case keys). Fills labels and annotations;
// returns what was wrong, "" when all was read.
std::string ReadSandboxMetadata(const std::string& text, PodMeta* pod) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "sandbox metadata is not a JSON object";
  auto md = j.find("Metadata");
  if (md == j.end() || !md->is_object()) return "sandbox metadata has no \"Metadata\" object";
  auto cfg = md->find("Config");
  if (cfg == md->end() || !cfg->is_object()) return "sandbox metadata has no \"Config\" object";
  auto field = [&](const char* key) { return cfg->contains(key) ? (*cfg)[key] : Json(); };
  std::map<std::string, std::string> labels, annotations;
  if (!StringMap(field("labels"), &labels)) return "sandbox labels are not a map of strings";
  if (!StringMap(field("annotations"), &annotations))
    return "sandbox annotations are not a map of strings";
  pod->labels = PodLabelsOf(labels);
  pod->annotations = std::move(annotations);
  return "";
}

// Identity from kubelet's labels, first container of the pod seen.
void TakeIdentity(const std::map<std::string, std::string>& labels, PodMeta* pod) {
  if (pod->name.empty()) pod->name = LabelOr(labels, kPodNameLabel);
  if (pod->namespace_name.empty()) pod->namespace_name = LabelOr(labels, kPodNamespaceLabel);
}

}  // namespace

PodDirectory PodsFromContainers(const std::vector<RuntimeContainer>& containers) {
  PodDirectory dir;
  std::set<std::string> from_sandbox;  // pods whose labels came from the sandbox's metadata
  for (const RuntimeContainer& c : containers) {
    const std::string uid = LabelOr(c.labels, kPodUidLabel);
    if (uid.empty()) continue;
    PodMeta& pod = dir.by_uid[uid];
    pod.uid = uid;
    TakeIdentity(c.labels, &pod);
    if (LabelOr(c.labels, kCriKindLabel) == "sandbox") {
      std::string problem = c.sandbox_metadata.empty()
                                ? "the sandbox has no " + std::string(kSandboxMetadataExtension)
                                : ReadSandboxMetadata(c.sandbox_metadata, &pod);
      if (problem.empty()) {
        from_sandbox.insert(uid);
        dir.problems.erase(uid);
        continue;
      }
      dir.problems[uid] =
          problem + " (sandbox " + c.id + "): labels from the container, " + "no annotations";
      if (!from_sandbox.count(uid)) pod.labels = PodLabelsOf(c.labels);
      continue;
    }
    const std::string name = LabelOr(c.labels, kContainerNameLabel);
    if (!c.id.empty() && !name.empty()) pod.containers[c.id] = name;
  }
  return dir;
}

RuntimePodMetadataSource::RuntimePodMetadataSource(std::unique_ptr<RuntimeLister> lister,
                                                   RuntimePodSourceOptions options)
    : lister_(std::move(lister)),
      options_(options),
      pods_(std::make_shared<const std::map<std::string, PodMeta>>()) {}

RuntimePodMetadataSource::~RuntimePodMetadataSource() { Stop(); }

void RuntimePodMetadataSource::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void RuntimePodMetadataSource::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RuntimePodMetadataSource::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    (void)RefreshOnce();
    lock.lock();
    wake_.wait_for(lock, options_.refresh, [this] { return stop_; });
  }
}

Result<void> RuntimePodMetadataSource::RefreshOnce() {
  auto listed = lister_->List(options_.timeout);
  std::unique_lock lock(mu_);
  if (!listed) {
    health_.ok = false;
    health_.failures++;
    health_.last_error = listed.error().message;
    const bool first = !logged_failure_;
    logged_failure_ = true;
    const size_t kept = pods_->size();
    lock.unlock();
    if (first)
      spdlog::warn(
          "pod identity: cannot list containers from {}: {}; keeping the {} pod(s) known so far "
          "(workloads keep their cgroup-path names), retrying every {} (logged again once it "
          "answers)",
          lister_->Describe(), listed.error().message, kept, FormatDuration(options_.refresh));
    else
      spdlog::debug("pod identity: {}: {}", lister_->Describe(), listed.error().message);
    return listed.error();
  }
  PodDirectory dir = PodsFromContainers(*listed);
  const bool recovered = logged_failure_;
  logged_failure_ = false;
  health_.ok = true;
  health_.refreshes++;
  health_.pods = dir.by_uid.size();
  pods_ = std::make_shared<const std::map<std::string, PodMeta>>(dir.by_uid);
  lock.unlock();
  if (recovered)
    spdlog::info("pod identity: {} answers again: {} pod(s)", lister_->Describe(),
                 dir.by_uid.size());
  LogProblems(dir);
  return Ok();
}

// Each pod's problem once (a listing every few seconds must not repeat it).
void RuntimePodMetadataSource::LogProblems(const PodDirectory& dir) {
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu_);
    for (const auto& [uid, problem] : dir.problems) {
      if (!logged_problems_.insert(uid).second) continue;
      const PodMeta& pod = dir.by_uid.at(uid);
      lines.push_back("pod " + pod.namespace_name + "/" + pod.name + " (uid " + uid +
                      "): " + problem);
    }
    // Forget pods that are gone or fixed, so a new problem with them is logged again.
    std::erase_if(logged_problems_, [&](const std::string& u) { return !dir.problems.count(u); });
  }
  for (const auto& l : lines) spdlog::warn("pod identity: {}", l);
}

std::optional<PodMeta> RuntimePodMetadataSource::PodOf(const std::string& cgroup_path) const {
  const auto id = ParseContainerIdentity(cgroup_path);
  if (!id || !id->kubernetes || id->pod_uid.empty()) return std::nullopt;
  std::shared_ptr<const std::map<std::string, PodMeta>> pods;
  {
    std::lock_guard lock(mu_);
    pods = pods_;
  }
  auto it = pods->find(id->pod_uid);
  if (it == pods->end()) return std::nullopt;
  PodMeta pod = it->second;
  if (!pod.qos) pod.qos = id->qos;
  return pod;
}

RuntimePodSourceHealth RuntimePodMetadataSource::Health() const {
  std::lock_guard lock(mu_);
  return health_;
}

}  // namespace sw
