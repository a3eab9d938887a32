// Owner of the scheduler observer BPF skeleton (bpf/schedwarden.bpf.c) and the only code that
// includes schedwarden.skel.h. Explicit lifecycle, each step a Result and none in a constructor:
//
//   SchedObserverBpf bpf;
//   bpf.Open();                 // parse the embedded object; needs /sys/kernel/btf/vmlinux
//   bpf.Configure(options);     // map sizes, workload map type, tp_btf vs raw_tp (probed)
//   bpf.Load();                 // verify + create maps; needs root or CAP_BPF+CAP_PERFMON;
//                               // with options.bpf_stats also turns on BPF run-time stats
//   bpf.Attach();               // links; errors name the tracepoint
//
// Move-only; destruction detaches the links and frees the programs and maps.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/bpf_options.h"
#include "common/result.h"

struct schedwarden;  // generated skeleton (schedwarden.skel.h), private to sched_observer_bpf.cpp
struct bpf_link;

namespace sw {

// Sends libbpf's messages (verifier logs included) to spdlog: LIBBPF_WARN as warn, LIBBPF_INFO as
// info, LIBBPF_DEBUG as debug. Idempotent; Open and ProbeBpfFeatures call it.
void RouteLibbpfLogToSpdlog();

// What the running kernel supports, probed once per process (by loading tiny programs and
// creating tiny maps, never by comparing kernel versions).
struct BpfFeatures {
  bool vmlinux_btf = false;   // /sys/kernel/btf/vmlinux exists (CO-RE relocations need it)
  bool tp_btf = false;        // a BPF_PROG_TYPE_TRACING program attaches to btf_trace_sched_switch
  bool task_storage = false;  // BPF_MAP_TYPE_TASK_STORAGE can be created
  // task_struct.throttled, or sched_entity.cfs_rq and cfs_rq.throttle_count: what the throttle
  // check reads (CONFIG_CFS_BANDWIDTH, CONFIG_FAIR_GROUP_SCHED)
  bool cfs_throttle_fields = false;
};
// Cached after the first successful probe. EPERM (not root, no CAP_BPF) is an error, not "no".
Result<BpfFeatures> ProbeBpfFeatures();

// A loaded program of the active twin.
struct LoadedProgram {
  std::string name;        // program (function) name, e.g. "sw_switch"
  std::string tracepoint;  // "sched_switch"
  int fd = -1;
};

class SchedObserverBpf {
 public:
  SchedObserverBpf() = default;
  SchedObserverBpf(SchedObserverBpf&& o) noexcept;
  SchedObserverBpf& operator=(SchedObserverBpf&& o) noexcept;
  SchedObserverBpf(const SchedObserverBpf&) = delete;
  SchedObserverBpf& operator=(const SchedObserverBpf&) = delete;
  ~SchedObserverBpf();

  Result<void> Open();
  Result<void> Configure(const BpfOptions& options);
  Result<void> Load();
  Result<void> Attach();
  // Detaches every link (also done by the destructor). Maps and programs stay loaded.
  void Detach();

  bool loaded() const { return state_ >= State::kLoaded; }
  // True while this object holds a BPF_ENABLE_STATS fd (options.bpf_stats, after Load).
  bool holds_bpf_stats() const { return stats_fd_ >= 0; }
  bool attached() const { return state_ == State::kAttached; }
  // After Configure: the twin actually chosen (never kAuto).
  AttachKind attach_kind() const { return kind_; }
  // After Configure: whether the programs tell throttled switch-outs apart (observer.bpf_throttle
  // resolved); false: throttling is known from cpu.stat only.
  bool throttle_probe() const { return throttle_probe_; }
  WorkloadMapKind workload_map_kind() const { return options_.workload_map; }
  const BpfOptions& options() const { return options_; }

  // Valid after Load.
  int workload_map_fd() const;
  int preempt_map_fd() const;
  int drops_map_fd() const;
  std::vector<LoadedProgram> programs() const;
  // Map names and fds of every created map (for memory accounting via fdinfo).
  std::vector<std::pair<std::string, int>> maps() const;

 private:
  enum class State { kNew, kOpen, kConfigured, kLoaded, kAttached };
  void Destroy();

  schedwarden* skel_ = nullptr;
  int stats_fd_ = -1;  // BPF_ENABLE_STATS: run-time stats stay on while it is open
  std::vector<bpf_link*> links_;
  State state_ = State::kNew;
  BpfOptions options_;
  AttachKind kind_ = AttachKind::kAuto;
  bool throttle_probe_ = false;
};

// Open, Configure, Load and Attach in one call, for callers that need nothing in between (the
// benchmark loader, the BPF integration test; the agent runs the steps itself). The first failing
// step's error is returned.
Result<SchedObserverBpf> StartSchedObserver(const BpfOptions& options);

}  // namespace sw
