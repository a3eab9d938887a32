// A scripted EventSource for tests (collector, agent loop): counts are added by hand and behave
// like the kernel maps — cumulative, keyed by cgroup id, and Forget() deletes a cgroup's workload
// entry and every preemption pair that names it.
#pragma once

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "collect/event_source.h"

namespace sw {

class FakeEventSource final : public EventSource {
 public:
  void AddWait(uint64_t cgroup_id, sw_reason reason, uint64_t ns, uint64_t n = 1) {
    events_.workloads[cgroup_id].wait[reason].Record(ns, n);
  }
  void AddThrottleEvents(uint64_t cgroup_id, uint64_t n) {
    events_.workloads[cgroup_id].throttle_events += n;
  }
  void AddPreemptions(uint64_t victim_id, uint64_t aggressor_id, uint64_t n = 1) {
    events_.preemptions[{victim_id, aggressor_id}] += n;
  }
  void AddDropped(sw_drop reason, uint64_t n) { events_.dropped[reason] += n; }
  void SetPrograms(std::vector<BpfProgramStats> programs, bool bpf_stats_enabled) {
    events_.programs = std::move(programs);
    events_.bpf_stats_enabled = bpf_stats_enabled;
  }
  // The next Read() fails with this error (then reads work again).
  void FailNextRead(Error error) { fail_next_ = std::move(error); }

  Result<RawEvents> Read() override {
    reads_++;
    if (fail_next_) {
      Error e = *fail_next_;
      fail_next_.reset();
      return e;
    }
    return events_;
  }

  void Forget(const std::vector<uint64_t>& cgroup_ids) override {
    for (uint64_t id : cgroup_ids) {
      forgotten_.push_back(id);
      events_.workloads.erase(id);
      for (auto it = events_.preemptions.begin(); it != events_.preemptions.end();) {
        if (it->first.first == id || it->first.second == id)
          it = events_.preemptions.erase(it);
        else
          ++it;
      }
    }
  }

  RawEvents& events() { return events_; }
  const std::vector<uint64_t>& forgotten() const { return forgotten_; }
  bool WasForgotten(uint64_t id) const {
    return std::find(forgotten_.begin(), forgotten_.end(), id) != forgotten_.end();
  }
  int reads() const { return reads_; }

 private:
  RawEvents events_;
  std::vector<uint64_t> forgotten_;
  std::optional<Error> fail_next_;
  int reads_ = 0;
};

}  // namespace sw
