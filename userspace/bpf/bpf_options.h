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
inline constexpr const char* kAttachKindChoices = "auto, tp_btf, raw_tp";
inline constexpr const char* kWorkloadMapKindChoices = "shared, percpu";

struct BpfOptions {
  uint32_t workload_map_entries = 4096;  // distinct cgroup ids tracked at once
  uint32_t preempt_map_entries = 16384;  // distinct (victim, aggressor) pairs
  uint32_t raw_stamp_entries = 32768;    // raw_tp twin only: live tasks tracked at once
  WorkloadMapKind workload_map = WorkloadMapKind::kShared;
  AttachKind attach = AttachKind::kAuto;
};

}  // namespace sw
