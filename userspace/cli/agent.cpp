// `schedwarden run`: wires the modules together and runs the control interval.
//
//   config -> preflight -> reconcile a previous run's journal -> BPF load/attach -> exporter
//   every interval: Collector -> Snapshot -> exporter, Controller (observe: none) -> status file
//   SIGINT/SIGTERM: controller undoes its actions, the journal restores anything left, BPF
//   links detach, exit 0.
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
#include "common/fs.h"
#include "config/config.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "enforce/system_writer.h"
#include "export/exporter.h"
#include "policy/classifier.h"
#include "policy/controller.h"
#include "policy/metrics.h"
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

// Blocks SIGINT/SIGTERM in every thread (civetweb's included, as they inherit the mask) so the
// loop receives them synchronously with sigtimedwait.
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

}  // namespace

int RunAgent(const RunOptions& o) {
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  // One topology for config validation, the controller and the allocator: they compute the
  // same exclusive capacity from it.
  const Topology machine = Must(LoadLiveTopology(), "reading the CPU topology (hwloc)");
  Config cfg = LoadAgentConfig(o, machine);

  PreflightInput pre;
  pre.privileged = geteuid() == 0 || HasAgentCapabilities();
  if (auto problems = PreflightProblems(pre); !problems.empty()) {
    std::string msg = "cannot start:";
    for (const auto& p : problems) msg += "\n  - " + p;
    Fail(msg);
  }
  const sigset_t stop_signals = BlockStopSignals();
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) Fail("cannot create state dir " + cfg.state_dir + ": " + ec.message());

  // A journal left by a previous run (crash, kill -9, power cut) is restored before anything else.
  RealSystemWriter writer;
  RestoreOptions restore_opts;
  restore_opts.proc_root = cfg.observer.proc_root;
  RestoreReport reconciled = Must(ReconcileAtStartup(cfg.state_dir, writer, restore_opts),
                                  "reconciling the journal in " + cfg.state_dir);
  if (reconciled.outstanding_before > 0)
    spdlog::warn("restored {} change(s) left by a previous run:\n{}", reconciled.outstanding_before,
                 reconciled.Summary());
  if (!reconciled.Complete()) {
    std::string fix = "fix what is listed above, then run `schedwarden restore --state-dir " +
                      cfg.state_dir + "`";
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

  CgroupMounts layout = Must(DetectCgroupMounts({cfg.observer.cgroup_root, cfg.observer.proc_root}),
                             "cgroup filesystem");
  spdlog::info("cpu controller: {} (cgroup {})", layout.cpu.path,
               CgroupVersionName(layout.cpu.version));

  SchedObserverBpf bpf;
  Must(bpf.Open(), "opening the BPF object");
  Must(bpf.Configure(cfg.observer.bpf), "configuring the BPF object");
  Must(bpf.Load(), "loading the BPF programs");
  Must(bpf.Attach(), "attaching the BPF programs");
  spdlog::info("BPF programs attached ({}, {} workload map)", AttachKindName(bpf.attach_kind()),
               WorkloadMapKindName(bpf.workload_map_kind()));
  BpfEventSource source(std::move(bpf), cfg.observer.proc_root);

  CgroupResolver resolver(layout.cpu.path);
  CgroupStatReader reader(layout);
  Collector collector(
      source, resolver, reader,
      CollectorOptions{.depth = cfg.observer.workload_depth,
                       .max_workloads = static_cast<size_t>(cfg.observer.max_workloads)});

  // Enforcement: journal and actuators only when the agent may change the machine.
  std::unique_ptr<Enforcer> enforcer;
  std::unique_ptr<EnforcementActuator> actuator;
  if (cfg.enforcement.mode == EnforcementMode::kEnforce) {
    EnforcerConfig ec;
    ec.state_dir = cfg.state_dir;
    Must(CpusetMount(layout), "exclusive cores");
    ec.mounts = layout;
    ec.proc_root = cfg.observer.proc_root;
    ec.rails.allowed_cgroups = cfg.enforcement.allowed_cgroups;
    ec.topology = machine;
    ec.allocator = ExclusiveLimitsOf(cfg.enforcement);
    enforcer = Must(Enforcer::Create(std::move(ec), writer), "enforcement");
    actuator = std::make_unique<EnforcementActuator>(*enforcer);
  }

  auto sources = MakeClassifierSources(cfg.observer, layout.cpu.path);
  Classifier classifier(cfg.workloads, sources.process_names.get(), sources.labels.get());
  std::unique_ptr<JsonLinesFileSink> audit = Must(
      JsonLinesFileSink::Open(JoinPath(cfg.state_dir, kAuditLogName)), "opening the audit log");
  SystemClock clock;
  Controller controller(cfg, classifier, actuator.get(), audit.get(), clock, machine);

  // Declared after the controller: destroyed first, so no scrape sees a dead controller.
  std::unique_ptr<MetricsExporter> exporter =
      Must(MetricsExporter::Start(ExporterOptions{.listen = cfg.listen}), "metrics endpoint");
  exporter->Register(std::make_shared<PolicyMetrics>(controller));
  spdlog::info("serving metrics on http://{}/metrics; mode {}; interval {}ms; state {}", cfg.listen,
               EnforcementModeName(cfg.enforcement.mode),
               std::chrono::duration_cast<std::chrono::milliseconds>(cfg.interval).count(),
               cfg.state_dir);

  std::optional<Snapshot> prev;
  auto next = clock.Monotonic();
  int sig = 0;
  while (true) {
    next += cfg.interval;
    if ((sig = WaitUntil(stop_signals, next, clock)) != 0) break;
    if (clock.Monotonic() > next + cfg.interval) next = clock.Monotonic();  // overran: no burst
    auto snap = collector.Collect(clock.Monotonic());
    if (!snap) {
      spdlog::error("collecting: {}", snap.error().message);
      continue;
    }
    for (const auto& w : collector.warnings()) spdlog::debug("collect: {}", w.message);
    exporter->Publish(*snap);
    // In observe mode the controller only classifies and measures (status, metrics).
    for (const Decision& d : controller.Step(*snap)) spdlog::info("{}", FormatDecision(d));
    if (enforcer)
      if (auto r = enforcer->Sweep(); !r) spdlog::warn("sweep: {}", r.error().message);
    nlohmann::json status = StatusToJson(controller.Status());
    if (prev) status["observer"] = WorkloadRates(*prev, *snap);
    status["pid"] = getpid();  // lets `status` tell a live agent from a killed one
    if (auto w = WriteStatusFile(cfg.state_dir, status); !w)
      spdlog::warn("status file: {}", w.error().message);
    prev = std::move(snap).value();
  }

  spdlog::info("received {}, undoing every change", sig == SIGINT ? "SIGINT" : "SIGTERM");
  int exit_code = 0;
  for (const Decision& d : controller.Shutdown()) spdlog::info("{}", FormatDecision(d));
  if (enforcer) {  // the backstop: whatever the journal still records goes back too
    RestoreReport r = enforcer->Shutdown();
    if (!r.Complete()) {
      spdlog::error("restore incomplete:\n{}", r.Summary());
      exit_code = 1;
    }
  }
  exporter.reset();
  // A stopped agent has no status: `status`/`top` must not present the last interval as current.
  std::filesystem::remove(JoinPath(cfg.state_dir, kStatusFileName), ec);
  spdlog::info("stopped");
  return exit_code;  // BPF links detach when `source` goes out of scope
}

}  // namespace sw
