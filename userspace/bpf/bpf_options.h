// Options of the scheduler observer BPF object (see sched_observer_bpf.h). Header-only and free of
// libbpf so the config module can parse them without linking the BPF module.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sw {

// Which program twin to load.
enum class AttachKind { kAuto, kTpBtf, kRawTp };
// Layout of the workload map: one shared copy updated with atomic adds, or one copy per CPU.
enum class WorkloadMapKind { kShared, kPerCpu };

inline const char* AttachKindName(AttachKind k) {  // "auto", "tp_btf", "raw_tp"
  switch (k) {
    case AttachKind::kAuto:
      return "auto";
    case AttachKind::kTpBtf:
      return "tp_btf";
    case AttachKind::kRawTp:
      return "raw_tp";
  }
  return "?";
}
inline const char* WorkloadMapKindName(WorkloadMapKind k) {  // "shared", "percpu"
  return k == WorkloadMapKind::kPerCpu ? "percpu" : "shared";
}
// The inverses of the names above; nullopt when unknown.
inline std::optional<AttachKind> ParseAttachKind(std::string_view s) {
  for (AttachKind k : {AttachKind::kAuto, AttachKind::kTpBtf, AttachKind::kRawTp})
    if (s == AttachKindName(k)) return k;
  return std::nullopt;
}
inline std::optional<WorkloadMapKind> ParseWorkloadMapKind(std::string_view s) {
  for (WorkloadMapKind k : {WorkloadMapKind::kShared, WorkloadMapKind::kPerCpu})
    if (s == WorkloadMapKindName(k)) return k;
  return std::nullopt;
}
// How the event source walks the workload and preemption maps (observer.map_reads): kAuto uses
// BPF_MAP_LOOKUP_BATCH (Linux 5.6+, one syscall per chunk of entries) and falls back to
// get_next_key + lookup (two per entry) for good once the kernel refuses a batch; the other two
// force one path.
enum class MapReadMode { kAuto, kBatch, kIterate };
inline const char* MapReadModeName(MapReadMode m) {  // "auto", "batch", "iterate"
  return m == MapReadMode::kBatch ? "batch" : m == MapReadMode::kIterate ? "iterate" : "auto";
}
inline std::optional<MapReadMode> ParseMapReadMode(std::string_view s) {
  for (MapReadMode m : {MapReadMode::kAuto, MapReadMode::kBatch, MapReadMode::kIterate})
    if (s == MapReadModeName(m)) return m;
  return std::nullopt;
}
// Whether the BPF programs tell CFS-throttled switch-outs apart (observer.bpf_throttle): kAuto
// when the kernel's BTF has task_struct.throttled or cfs_rq.throttle_count (CONFIG_CFS_BANDWIDTH);
// kOff leaves throttling to cpu.stat alone (nr_throttled, throttled time).
enum class ThrottleProbe { kAuto, kOn, kOff };
inline const char* ThrottleProbeName(ThrottleProbe t) {  // "auto", "on", "off"
  return t == ThrottleProbe::kOn ? "on" : t == ThrottleProbe::kOff ? "off" : "auto";
}
inline std::optional<ThrottleProbe> ParseThrottleProbe(std::string_view s) {
  for (ThrottleProbe t : {ThrottleProbe::kAuto, ThrottleProbe::kOn, ThrottleProbe::kOff})
    if (s == ThrottleProbeName(t)) return t;
  return std::nullopt;
}
inline constexpr const char* kThrottleProbeChoices = "auto, on, off";
// Whether the programs check for throttling, given what the kernel's BTF has; nullopt when `on`
// was asked of a kernel without the fields (the programs would not load).
inline std::optional<bool> ResolveThrottleProbe(ThrottleProbe want, bool kernel_has_fields) {
  if (want == ThrottleProbe::kOn && !kernel_has_fields) return std::nullopt;
  return want == ThrottleProbe::kOn || (want == ThrottleProbe::kAuto && kernel_has_fields);
}
inline constexpr const char* kMapReadModeChoices = "auto, batch, iterate";
inline constexpr const char* kAttachKindChoices = "auto, tp_btf, raw_tp";
inline constexpr const char* kWorkloadMapKindChoices = "shared, percpu";

// Map sizes derived from observer.max_workloads (docs/bpf.md, "Map sizes"). The kernel keys by
// cgroup id, before folding to workload_depth: budget kIdsPerWorkload cgroups per workload series
// and kPairsPerWorkload distinct aggressors per victim cgroup, rounded up to a power of two (hash
// buckets are a power of two anyway) and clamped to [min, max].
inline constexpr uint32_t kIdsPerWorkload = 4;
inline constexpr uint32_t kPairsPerWorkload = 64;
inline constexpr uint32_t kMinWorkloadMapEntries = 1024;
inline constexpr uint32_t kMaxDerivedWorkloadMapEntries = 1u << 18;  // 640 MB of 2.4-KB values
inline constexpr uint32_t kMinPreemptMapEntries = 16384;
inline constexpr uint32_t kMaxDerivedPreemptMapEntries = 1u << 22;  // 370 MB of 88-B pairs

constexpr uint32_t RoundUpPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return static_cast<uint32_t>(p > (uint64_t{1} << 31) ? uint64_t{1} << 31 : p);
}
constexpr uint32_t ClampDerived(uint64_t want, uint32_t lo, uint32_t hi) {
  uint32_t v = RoundUpPow2(want);
  return v < lo ? lo : v > hi ? hi : v;
}
// 4096 and 65536 at the default max_workloads (1000).
constexpr uint32_t WorkloadMapEntriesFor(int max_workloads) {
  return ClampDerived(uint64_t{kIdsPerWorkload} * static_cast<uint64_t>(max_workloads),
                      kMinWorkloadMapEntries, kMaxDerivedWorkloadMapEntries);
}
constexpr uint32_t PreemptMapEntriesFor(int max_workloads) {
  return ClampDerived(uint64_t{kPairsPerWorkload} * static_cast<uint64_t>(max_workloads),
                      kMinPreemptMapEntries, kMaxDerivedPreemptMapEntries);
}

struct BpfOptions {
  // Defaults are the sizes for observer.max_workloads = 1000 (the config derives them).
  uint32_t workload_map_entries = WorkloadMapEntriesFor(1000);  // distinct cgroup ids at once
  uint32_t preempt_map_entries = PreemptMapEntriesFor(1000);    // distinct (victim, aggressor)
  uint32_t raw_stamp_entries = 32768;  // raw_tp twin only: live tasks tracked at once
  WorkloadMapKind workload_map = WorkloadMapKind::kShared;
  AttachKind attach = AttachKind::kAuto;
  ThrottleProbe throttle = ThrottleProbe::kAuto;
  // Hold BPF_ENABLE_STATS(BPF_STATS_RUN_TIME) from Load until destruction: per-program run time
  // and count without kernel.bpf_stats_enabled (observer.bpf_stats; cost in docs/bpf.md).
  bool bpf_stats = false;
};

}  // namespace sw
