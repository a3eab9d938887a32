// The agent's configuration: the YAML schema of docs/configuration.md, parsed and validated in one
// pass. Every problem (unknown key, wrong type, bad duration or cpu list, impossible setting) is
// collected as a diagnostic naming the file, line and key, e.g.
//   config.yaml:12: workloads[0].slo.runq_p99: "0ms" must be > 0
// so that `schedwarden check-config` shows all of them at once and the agent refuses to start
// on any of them without changing anything.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpf/bpf_options.h"
#include "cgroup/container.h"
#include "cgroup/workload.h"
#include "common/cpulist.h"
#include "common/result.h"
#include "topology/exclusive_capacity.h"

namespace sw {

struct Topology;

// Ordered from most to least important: a lower enum value outranks a higher one.
enum class WorkloadClass {
  kLatencyCritical = 0,
  kLatencySensitive = 1,
  kNormal = 2,
  kBestEffort = 3
};
const char* WorkloadClassName(WorkloadClass c);  // "latency-critical", ...
std::optional<WorkloadClass> ParseWorkloadClass(const std::string& s);

inline constexpr const char* kWorkloadClassChoices =
    "latency-critical, latency-sensitive, normal, best-effort";

enum class ExclusivePolicy { kNever, kOnInterference, kAlways };
const char* ExclusivePolicyName(ExclusivePolicy p);  // "never" | "on-interference" | "always"
// The one parser of an exclusive policy, for the config and pod annotations.
std::optional<ExclusivePolicy> ParseExclusivePolicy(const std::string& s);
inline constexpr const char* kExclusivePolicyChoices = "never, on-interference, always";
// The range of `exclusive_cpus` (config and annotation).
inline constexpr int kMaxExclusiveCpus = 1 << 20;

enum class EnforcementMode { kObserve, kDryRun, kEnforce };
const char* EnforcementModeName(EnforcementMode m);  // "observe" | "dry-run" | "enforce"
// The one parser of a mode name, for the config file and `run --mode`; nullopt when unknown.
std::optional<EnforcementMode> ParseEnforcementMode(const std::string& s);
inline constexpr const char* kEnforcementModeChoices = "observe, dry-run, enforce";

enum class OnStop { kRestore, kHandover };
const char* OnStopName(OnStop s);  // "restore" | "handover"
std::optional<OnStop> ParseOnStop(const std::string& s);
inline constexpr const char* kOnStopChoices = "restore, handover";

// All given fields must match (AND); at least one is required.
struct WorkloadMatch {
  std::optional<std::string> cgroup;  // fnmatch glob on the "/"-rooted cpu-controller path
  std::optional<std::string> comm;    // fnmatch glob; matches if any process in the cgroup has it
  std::optional<PodQos> k8s_qos;      // from the kubelet's cgroup naming (cgroupfs or systemd)
  std::map<std::string, std::string> labels;  // key -> value glob (path labels, runtime labels)
  // Kubernetes pod metadata (PodMetadataSource): a workload that is no known pod never matches.
  std::optional<std::string> namespace_glob;       // fnmatch glob on the pod's namespace
  std::map<std::string, std::string> pod_labels;   // label key -> value glob
  std::map<std::string, std::string> annotations;  // annotation key -> value glob
};

struct WorkloadRule {
  std::string name;
  WorkloadMatch match;
  WorkloadClass cls = WorkloadClass::kNormal;
  std::optional<std::chrono::nanoseconds> slo_runq_p99;
  ExclusivePolicy exclusive = ExclusivePolicy::kNever;
  std::optional<int> exclusive_cpus;  // fixed size of the exclusive set; default: measured demand
  // Whether the schedwarden.io/* annotations of the pods it matches override it
  // (docs/kubernetes.md).
  bool pod_annotations = true;
  int line = 0;  // 1-based line of the rule in its file, for messages
};

struct EnforcementConfig {
  EnforcementMode mode = EnforcementMode::kEnforce;
  int shared_pool_min_cores = 1;        // whole cores, >= 1
  double max_exclusive_fraction = 0.5;  // of all CPUs, in (0, 1] (see ExclusiveCapacity)
  CpuSet reserved_cpus;
  bool keep_cpu0_shared = true;  // CPU 0's core never exclusive (housekeeping, interrupts)
  // Cgroup subtrees the enforcer may touch ("/kubepods", ...); empty = every cgroup.
  std::vector<std::string> allowed_cgroups;
  // What a stop (SIGTERM/SIGINT) does: undo every change, or leave them for the next start to
  // adopt (a rolling update without a latency cliff).
  OnStop on_stop = OnStop::kRestore;
};
// The limits ExclusiveCapacity and the CoreAllocator take.
ExclusiveLimits ExclusiveLimitsOf(const EnforcementConfig& e);

struct ObserverConfig {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
  std::string labels_dir;  // "" = no runtime label files
  int workload_depth = 3;
  int max_workloads = 1000;
  // The BPF object: program twin, workload map layout and map sizes.
  BpfOptions bpf;
  MapReadMode map_reads = MapReadMode::kAuto;  // batch lookups, or forced one way
};

struct ControllerConfig {
  int violation_intervals = 3;      // K: consecutive violated intervals before acting
  int verify_intervals = 4;         // M: intervals after an action before judging it
  double improvement_margin = 0.2;  // p99 must drop by this fraction, or the action is reverted
  std::chrono::nanoseconds relief_window = std::chrono::seconds(30);
  double relief_margin = 0.2;  // "held with margin": p99 <= slo * (1 - relief_margin)
  std::chrono::nanoseconds cooldown = std::chrono::seconds(10);
  int max_actions_per_minute = 12;
  double neighbour_cpu_threshold = 0.1;  // lower classes using >= this many CPUs = "they ran"
  std::chrono::nanoseconds reclassify_interval = std::chrono::seconds(10);
  int status_actions = 20;  // how many recent decisions status keeps
};

// What /metrics exports (docs/metrics.md, Cardinality).
enum class MetricBuckets {
  kDefault,  // 10 `le` edges, 16 us .. 268 ms
  kFull,     // every power of two of the BPF buckets, 1.024 us .. 17.18 s (25 edges)
};
inline constexpr const char* kMetricBucketsChoices = "default, full";

struct MetricsConfig {
  MetricBuckets buckets = MetricBuckets::kDefault;
  // user:sha256:<hex> lines; "" = /metrics without authentication (docs/operations.md).
  std::string basic_auth_file;
};

// Kubernetes integration (docs/kubernetes.md). Pod identity comes from the node's container
// runtime, never from the API server.
struct KubernetesConfig {
  // CRI runtime's containerd API socket; "" turns pod identity off.
  std::string runtime_endpoint = "unix:///run/containerd/containerd.sock";
  std::string runtime_namespace = "k8s.io";  // containerd namespace of kubelet's CRI plugin
  std::chrono::nanoseconds refresh = std::chrono::seconds(5);  // how often pods are listed
  std::chrono::nanoseconds timeout = std::chrono::seconds(2);  // deadline of one listing
  // Where pods' cgroups become workloads, whatever observer.workload_depth says.
  KubernetesWorkloadLevel workload_level = KubernetesWorkloadLevel::kPod;
  // kubelet's CPU manager checkpoint (static policy): CPUs it gives Guaranteed containers are
  // never exclusive, shielded or narrowed by the agent; "" = not read.
  std::string cpu_manager_state = "/var/lib/kubelet/cpu_manager_state";
  // A core/v1 Event on the pod for each enforcement action (needs RBAC: events create).
  bool events = false;
  // API server base URL; "" = in-cluster
  // (https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT).
  std::string api_server;
  // Service-account token and CA (token, ca.crt), as kubelet mounts them.
  std::string credentials_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

struct Config {
  std::string source = "<embedded default>";  // file the config came from, for messages
  std::string listen = "127.0.0.1:9750";
  std::chrono::nanoseconds interval = std::chrono::milliseconds(500);
  // The loop's period while no workload has a run-queue objective and nothing is held
  // (docs/configuration.md); unset: kIdleIntervalFactor x interval. Never below `interval`.
  std::optional<std::chrono::nanoseconds> idle_interval;
  std::chrono::nanoseconds IdleInterval() const {
    return idle_interval.value_or(kIdleIntervalFactor * interval);
  }
  static constexpr int kIdleIntervalFactor = 4;
  std::string state_dir = "/var/lib/schedwarden";
  EnforcementConfig enforcement;
  ObserverConfig observer;
  ControllerConfig controller;
  MetricsConfig metrics;
  KubernetesConfig kubernetes;
  std::vector<WorkloadRule> workloads;
};

struct ConfigDiagnostic {
  std::string file;
  int line = 0;     // 1-based; 0 when not tied to a line
  std::string key;  // "workloads[0].slo.runq_p99"; "" for the whole document
  std::string message;
  // "config.yaml:12: workloads[0].slo.runq_p99: \"0ms\" must be > 0"
  std::string ToString() const;
};

struct ConfigLoad {
  std::optional<Config> config;  // set only when there are no errors
  std::vector<ConfigDiagnostic> errors;
  std::vector<ConfigDiagnostic> warnings;  // valid but probably not what was meant
  // All errors then all warnings ("warning: " prefixed), one per line.
  std::string Text() const;
};

// machine: the topology of the machine the config is for; the capacity checks (reserved CPUs
// exist, exclusive capacity via ExclusiveCapacity) use it. nullptr checks ranges only, e.g. when
// validating a file for another machine.
ConfigLoad ParseConfig(const std::string& yaml_text, const std::string& file_name,
                       const Topology* machine);
ConfigLoad LoadConfigFile(const std::string& path, const Topology* machine);
ConfigLoad LoadDefaultConfig(const Topology* machine);
// The embedded default configuration's YAML text (userspace/config/default.yaml).
const char* DefaultConfigYaml();

// For `schedwarden check-config FILE`: the text to print and the exit code (0 valid, 1 invalid,
// 2 unreadable file).
struct CheckConfigReport {
  int exit_code = 0;
  std::string text;
};
CheckConfigReport CheckConfig(const std::string& path, const Topology* machine);

}  // namespace sw
