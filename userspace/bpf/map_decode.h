// Pure logic between the raw bytes of the BPF maps and the collector's types: summing per-CPU
// values, naming programs by tracepoint, reading kernel.bpf_stats_enabled from a /proc root.
// Nothing here touches the kernel, so all of it is unit-tested without root.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bpf/schedwarden_abi.h"
#include "collect/event_source.h"
#include "common/result.h"

namespace sw {

// Userspace view of one kernel sw_workload_stats value.
RawWorkloadStats DecodeWorkloadStats(const sw_workload_stats& v);

// A per-CPU map value as the kernel returns it: `ncpus` copies, each `stride` bytes apart
// (value size rounded up to 8). Sums them into one sw_workload_stats.
sw_workload_stats SumPerCpuWorkloadStats(const void* buf, int ncpus, size_t stride);
uint64_t SumPerCpuU64(const void* buf, int ncpus, size_t stride);

// Stride of one CPU's copy in a per-CPU lookup buffer (the kernel rounds values up to 8 bytes).
constexpr size_t PerCpuStride(size_t value_size) { return (value_size + 7) / 8 * 8; }

// The programs of bpf/schedwarden.bpf.c: each tracepoint has a tp_btf program and a raw_tp twin.
struct ProgramSpec {
  std::string_view tracepoint;  // "sched_switch": the `program` label of exported metrics
  std::string_view btf_name;    // tp_btf program (function) name
  std::string_view raw_name;    // raw_tp twin
};
inline constexpr ProgramSpec kPrograms[] = {
    {"sched_wakeup", "sw_wakeup", "sw_wakeup_raw"},
    {"sched_wakeup_new", "sw_wakeup_new", "sw_wakenew_raw"},
    {"sched_switch", "sw_switch", "sw_switch_raw"},
};
// Tracepoint of a program name (either twin), or nullopt for a name that is not ours.
std::optional<std::string_view> TracepointOfProgram(std::string_view program_name);

// Kernel memory of the maps, from the kernel's element layout (BTF sizes on 6.x: htab_elem 48 B,
// hash bucket 16 B): a preallocated hash element is 48 B + key + value (per-CPU hashes hold an
// 8-byte pointer and C value copies instead), non-per-CPU hashes keep one spare element per CPU,
// and buckets are rounded up to a power of two. Matches the kernel's own `memlock:` in fdinfo to
// within the map structs (~1 KiB each); docs/bpf.md explains the numbers.
struct MapMemoryEstimate {
  uint64_t workloads = 0;
  uint64_t preemptions = 0;
  uint64_t drops = 0;
  uint64_t raw_stamps = 0;  // 0 when the tp_btf twin (task storage, bounded by tasks) is used
  uint64_t total() const { return workloads + preemptions + drops + raw_stamps; }
};
MapMemoryEstimate EstimateMapMemory(uint32_t workload_entries, bool percpu_workloads,
                                    uint32_t preempt_entries, uint32_t raw_stamp_entries,
                                    int ncpus);

// kernel.bpf_stats_enabled from <proc_root>/sys/kernel/bpf_stats_enabled. Missing file (kernel
// without the sysctl) reads as false; unreadable or malformed content is an error.
Result<bool> ReadBpfStatsEnabled(const std::string& proc_root);

}  // namespace sw
