// The real EventSource: reads the maps of a loaded SchedObserverBpf (summing per-CPU copies when
// the per-CPU workload map was chosen), per-program bpf_stats, and kernel.bpf_stats_enabled.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bpf/bpf_options.h"  // MapReadMode
#include "bpf/sched_observer_bpf.h"
#include "collect/event_source.h"

namespace sw {

class BpfEventSource : public EventSource {
 public:
  // Takes ownership of a loaded (normally attached) observer. proc_root is where
  // sys/kernel/bpf_stats_enabled is read from.
  explicit BpfEventSource(SchedObserverBpf bpf, std::string proc_root = "/proc");

  Result<RawEvents> Read() override;
  void Forget(const std::vector<uint64_t>& cgroup_ids) override;

  void set_map_read_mode(MapReadMode m) { mode_ = m; }
  // Whether the last Read walked the maps with batch lookups.
  bool last_read_batched() const { return last_batched_; }

  const SchedObserverBpf& bpf() const { return bpf_; }
  SchedObserverBpf& bpf() { return bpf_; }

 private:
  // Calls fn(key, value) for every entry of the map, batched when allowed (value_size: the bytes
  // the kernel copies per entry, all CPUs' copies for a per-CPU map).
  using EntryFn = std::function<void(const void* key, const void* value)>;
  Result<void> ForEachEntry(int fd, size_t key_size, size_t value_size, const char* what,
                            const EntryFn& fn);
  Result<void> ReadWorkloads(RawEvents& out);
  Result<void> ReadPreemptions(RawEvents& out);
  Result<void> ReadDrops(RawEvents& out);
  Result<void> ReadPrograms(RawEvents& out);

  SchedObserverBpf bpf_;
  std::string proc_root_;
  int ncpus_ = 1;
  MapReadMode mode_ = MapReadMode::kAuto;
  bool batch_unsupported_ = false;  // the kernel refused a batch lookup once (kAuto)
  bool last_batched_ = false;
};

}  // namespace sw
