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
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "bpf/bpf_event_source.h"
#include "bpf/sched_observer_bpf.h"
#include "cgroup/layout.h"
#include "cgroup/resolver.h"
#include "cli/commands.h"
#include "cli/enforcement_actuator.h"
#include "cli/live_view.h"
#include "cli/preflight.h"
#include "collect/collector.h"
#include "collect/interval_delta.h"
#include "common/fs.h"
#include "config/config.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "enforce/system_writer.h"
#include "export/exporter.h"
#include "export/http_server.h"
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

// A journal left by a previous run (crash, kill -9, power cut) is restored before anything else.
void ReconcilePreviousRun(const Config& cfg, SystemWriter& writer) {
  RestoreOptions restore_opts;
  restore_opts.proc_root = cfg.observer.proc_root;
  RestoreReport reconciled = Must(ReconcileAtStartup(cfg.state_dir, writer, restore_opts),
                                  "reconciling the journal in " + cfg.state_dir);
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
  o.source = std::make_unique<BpfEventSource>(std::move(bpf), cfg.observer.proc_root);
  o.source->set_map_read_mode(cfg.observer.map_reads);
  o.resolver = std::make_unique<CgroupResolver>(o.layout.cpu.path);
  o.reader = std::make_unique<CgroupStatReader>(o.layout);
  o.collector = std::make_unique<Collector>(
      *o.source, *o.resolver, *o.reader,
      CollectorOptions{.depth = cfg.observer.workload_depth,
                       .max_workloads = static_cast<size_t>(cfg.observer.max_workloads)});
  return o;
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
  return e;
}

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// One control interval after another: collect, compute the interval's delta once, control,
// publish one immutable view (rendered once for every scrape) and the status file.
class ControlLoop {
 public:
  ControlLoop(const Config& cfg, Collector& collector, Controller& controller, Enforcer* enforcer,
              MetricsExporter& exporter, const Clock& clock)
      : cfg_(cfg),
        collector_(collector),
        controller_(controller),
        enforcer_(enforcer),
        exporter_(exporter),
        clock_(clock) {}

  void RunInterval() {
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
    Control(*shared, delta.get());
    const auto controlled = clock_.Monotonic();
    Publish(std::move(shared), delta.get());
    const auto published = clock_.Monotonic();
    loop_.phase_ns["collect"] += (collected - start).count();
    loop_.phase_ns["controller"] += (controlled - collected).count();
    loop_.phase_ns["publish"] += (published - controlled).count();
    if (published - start > cfg_.interval) loop_.overruns++;
  }

 private:
  // In observe mode the controller only classifies and measures (status, metrics).
  void Control(const Snapshot& snap, const IntervalDelta* delta) {
    for (const Decision& d : controller_.Step(snap, delta)) spdlog::info("{}", FormatDecision(d));
    if (enforcer_)
      if (auto r = enforcer_->Sweep(); !r) spdlog::warn("sweep: {}", r.error().message);
  }

  void Publish(std::shared_ptr<const Snapshot> snap, const IntervalDelta* delta) {
    loop_.runs++;
    loop_.last_run_unix_seconds = Seconds(clock_.Wall());
    auto view = std::make_shared<PublishedView>();
    view->snapshot = std::move(snap);
    view->status = controller_.Status();
    view->action_counts = controller_.ActionCounts();
    view->self.mode = EnforcementModeName(cfg_.enforcement.mode);
    view->self.loop = loop_;             // this interval's publish time shows in the next view
    if (auto p = ReadProcessStats(); p)  // our own /proc/self, whatever proc_root says
      view->self.process = *p;
    else
      spdlog::debug("process metrics: {}", p.error().message);
    nlohmann::json status = StatusToJson(*view->status);
    exporter_.Publish(std::move(view));
    if (delta) status["observer"] = WorkloadRates(*delta);
    status["pid"] = getpid();  // lets `status` tell a live agent from a killed one
    if (auto w = WriteStatusFile(cfg_.state_dir, status); !w)
      spdlog::warn("status file: {}", w.error().message);
  }

  const Config& cfg_;
  Collector& collector_;
  Controller& controller_;
  Enforcer* enforcer_;
  MetricsExporter& exporter_;
  const Clock& clock_;
  IntervalTracker tracker_;
  LoopStats loop_;
};

// Runs intervals until SIGINT/SIGTERM; returns the signal.
int RunUntilStopped(const Config& cfg, ControlLoop& loop, const sigset_t& stop_signals,
                    const Clock& clock) {
  auto next = clock.Monotonic();
  while (true) {
    next += cfg.interval;
    if (int sig = WaitUntil(stop_signals, next, clock); sig != 0) return sig;
    if (clock.Monotonic() > next + cfg.interval) next = clock.Monotonic();  // overran: no burst
    loop.RunInterval();
  }
}

// Undoes every change: the controller's own, then whatever the journal still records.
int Shutdown(Controller& controller, Enforcer* enforcer) {
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

}  // namespace

int RunAgent(const RunOptions& o) {
  BoundHeapGrowth();
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  // One topology for config validation, the controller and the allocator: they compute the
  // same exclusive capacity from it.
  const Topology machine = Must(LoadLiveTopology(), "reading the CPU topology (hwloc)");
  const Config cfg = LoadAgentConfig(o, machine);
  CheckPrivileges();
  const sigset_t stop_signals = BlockStopSignals();
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) Fail("cannot create state dir " + cfg.state_dir + ": " + ec.message());
  RealSystemWriter writer;
  ReconcilePreviousRun(cfg, writer);

  Observer observer = StartObserver(cfg);
  Enforcement enforcement = StartEnforcement(cfg, observer.layout, machine, writer);
  auto sources = MakeClassifierSources(cfg.observer, observer.layout.cpu.path);
  Classifier classifier(cfg.workloads, sources.process_names.get(), sources.labels.get());
  std::unique_ptr<JsonLinesFileSink> audit = Must(
      JsonLinesFileSink::Open(JoinPath(cfg.state_dir, kAuditLogName)), "opening the audit log");
  SystemClock clock;
  Controller controller(cfg, classifier, enforcement.actuator.get(), audit.get(), clock, machine);

  MetricsExporter exporter(ExporterOptions{.le_buckets = cfg.metrics.buckets == MetricBuckets::kFull
                                                             ? RenderOptions::FullLeBuckets()
                                                             : RenderOptions::DefaultLeBuckets(),
                                           .interval = cfg.interval},
                           clock);
  exporter.SetAttached();
  // Declared after the exporter: stopped first, so no request sees a dead exporter.
  std::unique_ptr<HttpServer> server =
      Must(HttpServer::Start(HttpServerOptions{.listen = cfg.listen}, exporter.Routes()),
           "metrics endpoint");
  spdlog::info("serving metrics on http://{}/metrics; mode {}; interval {}ms; state {}", cfg.listen,
               EnforcementModeName(cfg.enforcement.mode),
               std::chrono::duration_cast<std::chrono::milliseconds>(cfg.interval).count(),
               cfg.state_dir);

  ControlLoop loop(cfg, *observer.collector, controller, enforcement.enforcer.get(), exporter,
                   clock);
  const int sig = RunUntilStopped(cfg, loop, stop_signals, clock);
  spdlog::info("received {}, undoing every change", sig == SIGINT ? "SIGINT" : "SIGTERM");
  exporter.SetShuttingDown();
  const int exit_code = Shutdown(controller, enforcement.enforcer.get());
  server.reset();
  // A stopped agent has no status: `status`/`top` must not present the last interval as current.
  std::filesystem::remove(JoinPath(cfg.state_dir, kStatusFileName), ec);
  spdlog::info("stopped");
  return exit_code;  // BPF links detach when `observer` goes out of scope
}

}  // namespace sw
