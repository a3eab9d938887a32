// `schedwarden run`: wires the modules together and runs the control interval.
//
//   config -> preflight -> reconcile a previous run's journal -> BPF load/attach -> HTTP endpoint
//   every interval: Collector -> Snapshot -> IntervalDelta (once) -> Controller (observe: none)
//     -> one immutable PublishedView -> rendered once for /metrics; status file
//   SIGINT/SIGTERM: controller undoes its actions, the journal restores anything left, BPF
//   links detach, exit 0.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "bpf/bpf_event_source.h"
#include "bpf/sched_observer_bpf.h"
#include "cgroup/layout.h"
#include "cgroup/resolver.h"
#include "cgroup/tasks.h"
#include "cli/commands.h"
#include "cli/enforcement_actuator.h"
#include "cli/live_view.h"
#include "cli/preflight.h"
#include "collect/collector.h"
#include "collect/interval_delta.h"
#include "common/capabilities.h"
#include "common/duration.h"
#include "common/file_trust.h"
#include "common/fs.h"
#include "config/config.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "enforce/system_writer.h"
#include "events/k8s_events.h"
#include "export/exporter.h"
#include "export/http_server.h"
#include "k8s/containerd_client.h"
#include "k8s/cpu_manager_state.h"
#include "k8s/runtime_pods.h"
#include "policy/classifier.h"
#include "policy/controller.h"
#include "policy/status.h"
#include "topology/topology.h"

namespace sw {
namespace {

// Fatal start-up error: main prints it and exits 1.
[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

template <typename T>
T Must(Result<T> r, const std::string& context) {
  if (!r) Fail(context + ": " + r.error().message);
  return std::move(r).value();
}

void Must(Result<void> r, const std::string& context) {
  if (!r) Fail(context + ": " + r.error().message);
}

void CheckPrivileges() {
  PreflightInput pre;
  pre.privileged = geteuid() == 0 || HasAgentCapabilities();
  if (auto problems = PreflightProblems(pre); !problems.empty()) {
    std::string msg = "cannot start:";
    for (const auto& p : problems) msg += "\n  - " + p;
    // Its own exit code: a supervisor can tell an unsupported kernel from a fixable setup.
    if (!PathExists(JoinPath(pre.sys_root, "kernel/btf/vmlinux")))
      throw ExitError(kExitNoKernelSupport, msg);
    Fail(msg);
  }
}

Config LoadAgentConfig(const RunOptions& o, const Topology& machine) {
  ConfigLoad load =
      o.config_path.empty() ? LoadDefaultConfig(&machine) : LoadConfigFile(o.config_path, &machine);
  for (const auto& w : load.warnings) spdlog::warn("{}", w.ToString());
  if (!load.config) Fail("refusing to start, nothing was changed:\n" + load.Text());
  Config c = *load.config;
  if (!o.listen.empty()) c.listen = o.listen;
  if (!o.state_dir.empty()) c.state_dir = o.state_dir;
  if (!o.mode.empty()) {
    auto mode = ParseEnforcementMode(o.mode);
    if (!mode)
      Fail("--mode \"" + o.mode + "\" must be one of: " + kEnforcementModeChoices +
           "; nothing was changed");
    c.enforcement.mode = *mode;
  }
  if (!o.on_stop.empty()) {
    auto on_stop = ParseOnStop(o.on_stop);
    if (!on_stop)
      Fail("--on-stop \"" + o.on_stop + "\" must be one of: " + kOnStopChoices +
           "; nothing was changed");
    c.enforcement.on_stop = *on_stop;
  }
  CheckPrivileges();  // before resolving paths: a non-root user is told that first
  // Symlinks and ".." resolved once: every later check and write sees the real location.
  for (std::string* p :
       {&c.state_dir, &c.observer.cgroup_root, &c.observer.proc_root, &c.observer.labels_dir}) {
    if (p->empty()) continue;
    std::error_code ec;
    std::string canonical = std::filesystem::weakly_canonical(*p, ec).string();
    if (ec) Fail("cannot resolve path " + *p + ": " + ec.message());
    if (canonical != *p) spdlog::info("path {} resolves to {}", *p, canonical);
    *p = canonical;
  }
  return c;
}

// Blocks SIGINT/SIGTERM in every thread (the HTTP server's included, as they inherit the mask) so
// the loop receives them synchronously with sigtimedwait.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits until `deadline` (monotonic) or a stop signal; returns the signal or 0.
int WaitUntil(const sigset_t& set, std::chrono::nanoseconds deadline, const Clock& clock) {
  auto left = deadline - clock.Monotonic();
  if (left < std::chrono::nanoseconds(0)) left = std::chrono::nanoseconds(0);
  timespec ts{static_cast<time_t>(left.count() / 1000000000),
              static_cast<long>(left.count() % 1000000000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

// A journal left by a previous run (crash, kill -9, power cut) is restored before anything else.
void ReconcilePreviousRun(const Config& cfg, SystemWriter& writer) {
  RestoreOptions restore_opts;
  restore_opts.proc_root = cfg.observer.proc_root;
  // A handover journal is adopted by the enforcer (only an enforcing agent can hold changes).
  restore_opts.may_adopt = cfg.enforcement.mode == EnforcementMode::kEnforce;
  RestoreReport reconciled = Must(ReconcileAtStartup(cfg.state_dir, writer, restore_opts),
                                  "reconciling the journal in " + cfg.state_dir);
  if (reconciled.handed_over) {
    spdlog::info("the previous agent handed over {} change(s): checking and adopting them",
                 reconciled.outstanding_before);
    return;
  }
  if (reconciled.outstanding_before > 0)
    spdlog::warn("restored {} change(s) left by a previous run:\n{}", reconciled.outstanding_before,
                 reconciled.Summary());
  if (reconciled.Complete()) return;
  std::string fix =
      "fix what is listed above, then run `schedwarden restore --state-dir " + cfg.state_dir + "`";
  // Corrupt records cannot be restored by any rerun: once inspected, set the journal aside.
  if (!reconciled.undo.corrupt.empty())
    fix +=
        "; the journal has corrupt records: after inspecting them, run `schedwarden "
        "restore --set-aside-corrupt --state-dir " +
        cfg.state_dir + "`";
  Fail("a previous run's changes could not all be restored" +
       (reconciled.outstanding_before > 0 ? std::string("; ") : ":\n" + reconciled.Summary()) +
       fix);
}

// The observer side: BPF programs, cgroup readers and the collector over them (heap members:
// the collector keeps references to the others).
struct Observer {
  CgroupMounts layout;
  std::unique_ptr<BpfEventSource> source;
  std::unique_ptr<CgroupResolver> resolver;
  std::unique_ptr<CgroupStatReader> reader;
  std::unique_ptr<Collector> collector;
  bool throttle_probe = false;  // observer.bpf_throttle resolved against the kernel
};

Observer StartObserver(const Config& cfg) {
  Observer o;
  o.layout = Must(DetectCgroupMounts({cfg.observer.cgroup_root, cfg.observer.proc_root}),
                  "cgroup filesystem");
  spdlog::info("cpu controller: {} (cgroup {})", o.layout.cpu.path,
               CgroupVersionName(o.layout.cpu.version));
  SchedObserverBpf bpf;
  Must(bpf.Open(), "opening the BPF object");
  Must(bpf.Configure(cfg.observer.bpf), "configuring the BPF object");
  Must(bpf.Load(), "loading the BPF programs");
  Must(bpf.Attach(), "attaching the BPF programs");
  spdlog::info("BPF programs attached ({}, {} workload map, {} map reads)",
               AttachKindName(bpf.attach_kind()), WorkloadMapKindName(bpf.workload_map_kind()),
               MapReadModeName(cfg.observer.map_reads));
  o.throttle_probe = bpf.throttle_probe();
  spdlog::info("CFS throttling from {} (observer.bpf_throttle: {})",
               o.throttle_probe ? "BPF and cpu.stat" : "cpu.stat only",
               ThrottleProbeName(cfg.observer.bpf.throttle));
  o.source = std::make_unique<BpfEventSource>(std::move(bpf), cfg.observer.proc_root);
  o.source->set_map_read_mode(cfg.observer.map_reads);
  o.resolver = std::make_unique<CgroupResolver>(o.layout.cpu.path);
  o.reader = std::make_unique<CgroupStatReader>(o.layout);
  o.collector = std::make_unique<Collector>(
      *o.source, *o.resolver, *o.reader,
      CollectorOptions{.depth = cfg.observer.workload_depth,
                       .k8s = cfg.kubernetes.workload_level,
                       .max_workloads = static_cast<size_t>(cfg.observer.max_workloads)});
  return o;
}

// Pod identity from the container runtime (docs/kubernetes.md#identity); null when
// kubernetes.runtime_endpoint is "". Listed on a thread of its own: a missing or stuck runtime
// never holds up start-up or the control loop. Shared by whoever names workloads by their pod (the
// exporter's workload_info, the classifier).
std::shared_ptr<RuntimePodMetadataSource> StartPodIdentity(const KubernetesConfig& k) {
  if (k.runtime_endpoint.empty()) {
    spdlog::info("pod identity off (kubernetes.runtime_endpoint is \"\")");
    return nullptr;
  }
  auto pods = std::make_shared<RuntimePodMetadataSource>(
      MakeContainerdLister(k.runtime_endpoint, k.runtime_namespace),
      RuntimePodSourceOptions{.refresh = k.refresh, .timeout = k.timeout});
  pods->Start();
  spdlog::info("pod identity from containerd at {} (namespace {}), listed every {}",
               k.runtime_endpoint, k.runtime_namespace, FormatDuration(k.refresh));
  return pods;
}

// Journal and actuators, only when the agent may change the machine.
struct Enforcement {
  std::unique_ptr<Enforcer> enforcer;
  std::unique_ptr<EnforcementActuator> actuator;
};

Enforcement StartEnforcement(const Config& cfg, const CgroupMounts& layout, const Topology& machine,
                             SystemWriter& writer) {
  Enforcement e;
  if (cfg.enforcement.mode != EnforcementMode::kEnforce) return e;
  EnforcerConfig ec;
  ec.state_dir = cfg.state_dir;
  Must(CpusetMount(layout), "exclusive cores");
  ec.mounts = layout;
  ec.proc_root = cfg.observer.proc_root;
  ec.rails.allowed_cgroups = cfg.enforcement.allowed_cgroups;
  ec.topology = machine;
  ec.allocator = ExclusiveLimitsOf(cfg.enforcement);
  e.enforcer = Must(Enforcer::Create(std::move(ec), writer), "enforcement");
  e.actuator = std::make_unique<EnforcementActuator>(*e.enforcer);
  const AdoptReport& a = e.enforcer->adopt_report();
  if (a.adopted) {
    const bool clean = a.dropped.empty() && a.undone_groups.empty();
    if (clean) spdlog::info("{}", a.Summary());
    if (!clean) spdlog::warn("{}", a.Summary());
    if (!a.Complete())
      Fail(
          "changes handed over by the previous agent no longer hold and could not all be "
          "undone (listed above): fix them, then run `schedwarden restore --state-dir " +
          cfg.state_dir + "`");
  }
  return e;
}

// BPF is loaded and attached and the journal reconciled: keep only what the loop still needs.
// Before the HTTP server (or any other thread) starts, as capabilities are per thread.
void DropStartupCapabilities(const Config& cfg) {
  const bool enforce = cfg.enforcement.mode == EnforcementMode::kEnforce;
  uint64_t kept = Must(DropCapabilitiesExcept(CapabilitiesKeptAfterStart(enforce, cfg.listen)),
                       "dropping the capabilities needed only at start-up");
  spdlog::info("capabilities kept after start-up: {}", CapabilityNames(kept));
}

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// One control interval after another: collect, compute the interval's delta once, control,
// publish one immutable view (rendered once for every scrape) and the status file.
class ControlLoop {
 public:
  ControlLoop(const Config& cfg, Collector& collector, Controller& controller, Enforcer* enforcer,
              MetricsExporter& exporter, const Clock& clock, const PodMetadataSource* pods,
              const EventPoster* events)
      : events_(events),
        cfg_(cfg),
        collector_(collector),
        controller_(controller),
        enforcer_(enforcer),
        exporter_(exporter),
        clock_(clock),
        pods_(pods) {
    if (enforcer_ && !cfg.kubernetes.cpu_manager_state.empty())
      cpu_manager_ = std::make_unique<CpuManagerStateReader>(cfg.kubernetes.cpu_manager_state);
  }

  // The time to the next interval: `interval` while the controller needs it (a workload with an
  // objective, something held) and for the first two (baseline, first classification), else
  // `idle_interval`: with nothing to decide, collecting 1,000 workloads every 500 ms only
  // refreshes metrics a scrape reads every 15 s (docs/configuration.md).
  std::chrono::nanoseconds Period() const {
    const bool holds =
        enforcer_ && (!enforcer_->Exclusive().empty() || !enforcer_->Demoted().empty());
    return loop_.runs < 2 || holds || controller_.NeedsInterval() ? cfg_.interval
                                                                  : cfg_.IdleInterval();
  }

  // period: the time this interval has before the next (an overrun when it takes longer).
  void RunInterval(std::chrono::nanoseconds period) {
    const auto start = clock_.Monotonic();
    auto snap = collector_.Collect(start);
    if (!snap) {
      spdlog::error("collecting: {}", snap.error().message);
      return;
    }
    for (const auto& w : collector_.warnings()) spdlog::debug("collect: {}", w.message);
    auto shared = std::make_shared<const Snapshot>(std::move(snap).value());
    std::shared_ptr<const IntervalDelta> delta = tracker_.Advance(shared);
    const auto collected = clock_.Monotonic();
    const bool decided = Control(*shared, delta.get());
    const auto controlled = clock_.Monotonic();
    Publish(std::move(shared), decided);
    const auto published = clock_.Monotonic();
    loop_.phase_ns["collect"] += (collected - start).count();
    loop_.phase_ns["controller"] += (controlled - collected).count();
    loop_.phase_ns["publish"] += (published - controlled).count();
    if (published - start > period) loop_.overruns++;
  }

 private:
  // In observe mode the controller only classifies and measures (status, metrics). True when it
  // decided something (the status file shows it at once).
  bool Control(const Snapshot& snap, const IntervalDelta* delta) {
    FollowCpuManager();
    bool decided = false;
    for (const Decision& d : controller_.Step(snap, delta)) {
      spdlog::info("{}", FormatDecision(d));
      decided = true;
    }
    for (const std::string& n : controller_.TakeNotices()) spdlog::warn("{}", n);
    if (!enforcer_) return decided;
    if (auto r = enforcer_->Sweep(); !r) spdlog::warn("sweep: {}", r.error().message);
    for (const DriftRecord& d : enforcer_->TakeDrift())
      for (const Decision& rec :
           controller_.RecordDrift(DriftWorkload(d.group), d.path, d.kind, d.wrote, d.found)) {
        spdlog::warn("{}", FormatDecision(rec));
        decided = true;
      }
    return decided;
  }

  // The workload whose journal group ("idle:<name>", "exclusive:<name>") drifted; "" for the
  // shield's own changes.
  std::string DriftWorkload(const std::string& group) const {
    const size_t colon = group.find(':');
    if (colon == std::string::npos) return "";
    const std::string name = group.substr(colon + 1);
    for (const auto& w : controller_.Status().workloads)
      if (EnforcementActuator::ActuatorName(w.workload) == name) return w.workload;
    return name;
  }

  // kubelet's CPU manager state, before the controller acts: its CPUs leave the allocator and
  // their holders are released in this interval's Step (docs/kubernetes.md, CPU manager).
  void FollowCpuManager() {
    if (!cpu_manager_) return;
    auto r = cpu_manager_->Refresh();
    if (r.problem) spdlog::warn("{}", *r.problem);
    if (!r.changed) return;
    if (!r.view.known) {  // unreadable from the start: nothing may be granted
      enforcer_->SetUnavailableCpus(
          enforcer_->allocator().topology().AllCpus(),
          "whose assignment by kubelet's CPU manager is unknown (its state "
          "file does not read)");
      return;
    }
    for (const std::string& w : enforcer_->SetUnavailableCpus(r.view.assigned,
                                                              "that kubelet's CPU manager assigned "
                                                              "to Guaranteed containers"))
      spdlog::warn("'{}' holds CPUs kubelet's CPU manager assigned; released this interval", w);
    controller_.SetKubeletCpus(r.view.owners);
    spdlog::info("{}: kubelet assigned CPUs {} to Guaranteed containers", cpu_manager_->path(),
                 r.view.assigned.empty() ? "none" : FormatCpuList(r.view.assigned));
  }

  void Publish(std::shared_ptr<const Snapshot> snap, bool decided) {
    loop_.runs++;
    loop_.last_run_unix_seconds = Seconds(clock_.Wall());
    auto view = std::make_shared<PublishedView>();
    view->snapshot = snap;
    view->workload_info = WorkloadInfoOf(*view->snapshot, pods_);
    view->status = controller_.Status();
    view->action_counts = controller_.ActionCounts();
    view->drift_counts = controller_.DriftCounts();
    view->self.mode = EnforcementModeName(cfg_.enforcement.mode);
    view->self.loop = loop_;  // this interval's publish time shows in the next view
    if (events_) {
      const EventCounts c = events_->counts();
      view->self.events = EventStats{c.posted, c.failed, c.dropped};
    }
    std::shared_ptr<const PublishedView> shown = std::move(view);
    exporter_.Publish(shown);
    WriteStatus(*shown->status, *snap, decided);
  }

  // status.json, every kStatusFilePeriod or at once after a decision (StatusFilePacer).
  void WriteStatus(const StatusModel& model, const Snapshot& snap, bool decided) {
    const auto now = clock_.Monotonic();
    if (!status_pacer_.Due(now, decided)) return;
    nlohmann::json status = StatusToJson(model);
    if (status_base_) status["observer"] = WorkloadRates(*status_base_, snap);  // since last write
    // Where CFS throttling is known from (observer.bpf_throttle, docs/configuration.md).
    status["throttle_source"] =
        cfg_.observer.bpf.throttle == ThrottleProbe::kOff ? "cpu.stat" : "bpf+cpu.stat";
    status["pid"] = getpid();  // lets `status` tell a live agent from a killed one
    if (pid_start_) status["pid_start"] = *pid_start_;  // ... and from a recycled pid
    if (auto w = WriteStatusFile(cfg_.state_dir, status); !w)
      spdlog::warn("status file: {}", w.error().message);
    status_pacer_.Written(now);
    status_base_.emplace(snap);  // compact: the snapshot itself is not kept for 2 s
  }

  const EventPoster* events_;
  const Config& cfg_;
  Collector& collector_;
  Controller& controller_;
  Enforcer* enforcer_;
  MetricsExporter& exporter_;
  const Clock& clock_;
  const PodMetadataSource* pods_;  // null: pod identity off
  IntervalTracker tracker_;
  StatusFilePacer status_pacer_{kStatusFilePeriod, cfg_.interval};
  std::optional<RatesBase> status_base_;  // what the next status.json's rates start from
  // Our start time, for the status file (read once: it never changes).
  std::optional<uint64_t> pid_start_ = [] {
    auto self = ReadTaskStat("/proc", getpid());
    return self ? std::optional<uint64_t>(self->start_time) : std::nullopt;
  }();
  LoopStats loop_;
  std::unique_ptr<CpuManagerStateReader> cpu_manager_;
};

// Kubernetes Events (kubernetes.events): the controller's decisions go through an EventSink in
// front of the audit log. Off, or not possible (no pod identity, not in a cluster): the audit
// log alone, with a warning saying why.
struct Events {
  std::unique_ptr<EventPoster> poster;
  std::unique_ptr<EventSink> sink;
};

Events StartEvents(const Config& cfg, const PodMetadataSource* pods) {
  Events ev;
  if (!cfg.kubernetes.events) return ev;
  if (!pods) {
    spdlog::warn("kubernetes.events: no pod identity (kubernetes.runtime_endpoint); no events");
    return ev;
  }
  EventPosterOptions o;
  o.api_server = cfg.kubernetes.api_server;
  o.credentials_dir = cfg.kubernetes.credentials_dir;
  const char* node = std::getenv("NODE_NAME");  // the DaemonSet's downward API
  char host[256] = {};
  if (!node && gethostname(host, sizeof host - 1) == 0) node = host;
  o.host = node ? node : "";
  auto p = EventPoster::Start(o);
  if (!p) {
    spdlog::warn("{}; no events", p.error().message);
    return ev;
  }
  ev.poster = std::move(*p);
  spdlog::info("kubernetes events: posting enforcement actions to the pods' namespaces");
  return ev;
}

// Runs intervals until SIGINT/SIGTERM; returns the signal.
int RunUntilStopped(const Config& cfg, ControlLoop& loop, const sigset_t& stop_signals,
                    const Clock& clock) {
  auto next = clock.Monotonic();
  while (true) {
    const auto period = loop.Period();
    next += period;
    if (int sig = WaitUntil(stop_signals, next, clock); sig != 0) return sig;
    if (clock.Monotonic() > next + period) next = clock.Monotonic();  // overran: no burst
    loop.RunInterval(period);
  }
}

// Tells the controller what it holds after a handover: the previous agent's holds that the
// enforcer adopted. Exclusive CPUs or demotions the enforcer holds with no victim left to own
// them are given back now (nothing would ever release them).
void AdoptIntoController(Enforcer& enforcer, Controller& controller) {
  if (!enforcer.adopt_report().adopted) return;
  std::vector<AdoptedHold> holds;
  if (!enforcer.adopted_controller().empty()) {
    auto h = AdoptedHoldsFromJson(enforcer.adopted_controller());
    if (!h) spdlog::warn("handover: {}; its holds are given back", h.error().message);
    if (h) holds = std::move(*h);
  }
  const auto exclusive = enforcer.Exclusive();
  const auto demoted = enforcer.Demoted();
  std::set<std::string> owned;
  for (AdoptedHold& h : holds) {
    auto it = exclusive.find(EnforcementActuator::ActuatorName(h.workload));
    if (it == exclusive.end() || it->second != h.cpus)
      h.cpus.clear();
    else
      owned.insert(it->first);
    std::erase_if(h.demoted, [&](const auto& be) {
      return std::find(demoted.begin(), demoted.end(),
                       EnforcementActuator::ActuatorName(be.first)) == demoted.end();
    });
    for (const auto& [be, _] : h.demoted) owned.insert(EnforcementActuator::ActuatorName(be));
  }
  for (const auto& [name, cpus] : exclusive) {
    if (owned.count(name)) continue;
    spdlog::warn("handover: releasing {} (no victim holds it)", name);
    if (auto r = enforcer.Release(name); !r || !r->Complete())
      spdlog::error("handover: releasing {}: {}", name,
                    r ? (r->failed.empty() ? std::string("incomplete") : r->failed.front())
                      : r.error().message);
  }
  for (const std::string& name : demoted) {
    if (owned.count(name)) continue;
    spdlog::warn("handover: restoring {} (no victim holds it)", name);
    if (auto r = enforcer.Revert(name); !r || !r->Complete())
      spdlog::error("handover: restoring {}: {}", name,
                    r ? (r->failed.empty() ? std::string("incomplete") : r->failed.front())
                      : r.error().message);
  }
  controller.Adopt(holds);
  for (const AdoptedHold& h : holds)
    spdlog::info("handover: {} holds exclusive CPUs '{}' and {} demoted neighbour(s)", h.workload,
                 FormatCpuList(h.cpus), h.demoted.size());
}

// Handover stop: nothing is undone; the journal gets the marker the next start adopts. When the
// marker cannot be written, everything is undone as on a restore stop.
bool HandOver(Controller& controller, Enforcer& enforcer) {
  auto r = enforcer.Handover(AdoptedHoldsToJson(controller.Held()));
  if (r) {
    spdlog::info("handed over: every change stays in place for the next start to adopt");
    return true;
  }
  spdlog::error("handover marker: {}; undoing every change instead", r.error().message);
  return false;
}

// Undoes every change: the controller's own, then whatever the journal still records.
int Shutdown(Controller& controller, Enforcer* enforcer, OnStop on_stop) {
  if (enforcer && on_stop == OnStop::kHandover && HandOver(controller, *enforcer)) return 0;
  int exit_code = 0;
  for (const Decision& d : controller.Shutdown()) spdlog::info("{}", FormatDecision(d));
  if (enforcer) {  // the backstop
    RestoreReport r = enforcer->Shutdown();
    if (!r.Complete()) {
      spdlog::error("restore incomplete:\n{}", r.Summary());
      exit_code = 1;
    }
  }
  return exit_code;
}

// The exposition is rendered by whichever of the HTTP server's 64 threads takes the first scrape of
// an interval; with glibc's default of one malloc arena per thread (up to 8 per CPU) each arena
// kept a few freed multi-MB bodies: 226 MiB peak RSS at 1,000 workloads after 80 scrapes. One
// arena, and buffers of 1 MiB or more mmap'd (so freed bodies go back to the kernel): 48 MiB.
void BoundHeapGrowth() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

// The collector keeps two cgroupfs files open per workload (OpenFileCache: a pread instead of an
// open every interval); the soft limit of 1024 would cap that near 500 workloads.
void RaiseOpenFileLimit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
    spdlog::warn("cannot raise the open-file limit: {}", std::strerror(errno));
}

}  // namespace

int RunAgent(const RunOptions& o) {
  BoundHeapGrowth();
  RaiseOpenFileLimit();
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  // One topology for config validation, the controller and the allocator: they compute the
  // same exclusive capacity from it.
  const Topology machine = Must(LoadLiveTopology(), "reading the CPU topology (hwloc)");
  Config cfg = LoadAgentConfig(o, machine);  // and CheckPrivileges()
  const sigset_t stop_signals = BlockStopSignals();
  Must(PrepareStateDir(cfg.state_dir), "state dir");
  // Every write stays beneath the cgroup root (the journal's paths included).
  RealSystemWriter writer(WriteConfinement{.roots = {cfg.observer.cgroup_root}});
  ReconcilePreviousRun(cfg, writer);

  Observer observer = StartObserver(cfg);
  // The controller and the status file go by what the kernel took, not by `auto`.
  cfg.observer.bpf.throttle = observer.throttle_probe ? ThrottleProbe::kOn : ThrottleProbe::kOff;
  Enforcement enforcement = StartEnforcement(cfg, observer.layout, machine, writer);
  std::map<std::string, std::string> basic_auth;
  if (!cfg.metrics.basic_auth_file.empty())
    basic_auth = Must(LoadBasicAuthFile(cfg.metrics.basic_auth_file), "metrics endpoint");
  DropStartupCapabilities(cfg);
  const std::shared_ptr<RuntimePodMetadataSource> pods = StartPodIdentity(cfg.kubernetes);
  auto sources = MakeClassifierSources(cfg.observer, observer.layout.cpu.path);
  Classifier classifier(cfg.workloads, sources.process_names.get(), sources.labels.get(),
                        pods.get());
  std::unique_ptr<JsonLinesFileSink> audit = Must(
      JsonLinesFileSink::Open(JoinPath(cfg.state_dir, kAuditLogName)), "opening the audit log");
  SystemClock clock;
  Events events = StartEvents(cfg, pods.get());
  if (events.poster)
    events.sink = std::make_unique<EventSink>(audit.get(), pods.get(), events.poster.get());
  DecisionSink* decisions =
      events.sink ? static_cast<DecisionSink*>(events.sink.get()) : audit.get();
  Controller controller(cfg, classifier, enforcement.actuator.get(), decisions, clock, machine);
  if (enforcement.enforcer) AdoptIntoController(*enforcement.enforcer, controller);

  MetricsExporter exporter(ExporterOptions{.le_buckets = cfg.metrics.buckets == MetricBuckets::kFull
                                                             ? RenderOptions::FullLeBuckets()
                                                             : RenderOptions::DefaultLeBuckets(),
                                           .interval = cfg.IdleInterval(),  // the longest
                                           // our own /proc/self, whatever proc_root says; read
                                           // when scraped, not every interval
                                           .process_stats = [] { return ReadProcessStats(); }},
                           clock);
  exporter.SetAttached();
  // Declared after the exporter: stopped first, so no request sees a dead exporter.
  std::unique_ptr<HttpServer> server =
      Must(HttpServer::Start(HttpServerOptions{.listen = cfg.listen, .basic_auth = basic_auth},
                             exporter.Routes()),
           "metrics endpoint");
  using std::chrono::milliseconds;
  spdlog::info(
      "serving metrics on http://{}/metrics; mode {}; interval {}ms ({}ms while no workload has "
      "an objective); state {}",
      cfg.listen, EnforcementModeName(cfg.enforcement.mode),
      std::chrono::duration_cast<milliseconds>(cfg.interval).count(),
      std::chrono::duration_cast<milliseconds>(cfg.IdleInterval()).count(), cfg.state_dir);

  ControlLoop loop(cfg, *observer.collector, controller, enforcement.enforcer.get(), exporter,
                   clock, pods.get(), events.poster.get());
  const int sig = RunUntilStopped(cfg, loop, stop_signals, clock);
  spdlog::info(
      "received {}, {}", sig == SIGINT ? "SIGINT" : "SIGTERM",
      cfg.enforcement.on_stop == OnStop::kHandover ? "handing over" : "undoing every change");
  exporter.SetShuttingDown();
  const int exit_code = Shutdown(controller, enforcement.enforcer.get(), cfg.enforcement.on_stop);
  if (events.poster && !events.poster->WaitIdle(std::chrono::seconds(2)))  // bounded: never hang
    spdlog::warn("kubernetes events: some were not posted before the stop");
  server.reset();
  // A stopped agent has no status: `status`/`top` must not present the last interval as current.
  std::error_code ec;
  std::filesystem::remove(JoinPath(cfg.state_dir, kStatusFileName), ec);
  spdlog::info("stopped");
  return exit_code;  // BPF links detach when `observer` goes out of scope
}

}  // namespace sw
