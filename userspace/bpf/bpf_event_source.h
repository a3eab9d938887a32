// The real EventSource: reads the maps of a loaded SchedObserverBpf (summing per-CPU copies when
// the per-CPU workload map was chosen), per-program bpf_stats, and kernel.bpf_stats_enabled.
#pragma once

#include <string>
#include <vector>

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

  const SchedObserverBpf& bpf() const { return bpf_; }
  SchedObserverBpf& bpf() { return bpf_; }

 private:
  Result<void> ReadWorkloads(RawEvents& out);
  Result<void> ReadPreemptions(RawEvents& out);
  Result<void> ReadDrops(RawEvents& out);
  Result<void> ReadPrograms(RawEvents& out);

  SchedObserverBpf bpf_;
  std::string proc_root_;
  int ncpus_ = 1;
};

}  // namespace sw
