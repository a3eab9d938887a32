// Collector: turns the raw, per-cgroup-id BPF counts of an EventSource into a per-workload
// Snapshot every interval. Ids are resolved to cgroup paths (CgroupResolver), folded to workload
// labels at the configured depth with a cap on the number of series (WorkloadLabeler), and the
// workload's own cpu.stat / CPU usage / PSI are read (CgroupStatReader).
//
// Every counter in the Snapshot is cumulative and monotonic per series, even though cgroups come
// and go: when a cgroup disappears, its BPF entries are Forgotten (bounded maps stay bounded) and
// its last totals are "retired" into its workload's series, which keeps them. An id's label is
// sticky; the only relabelling is "unknown" -> real path (an id seen before its directory was
// walked), and then the totals so far stay in "unknown" and only later increments move.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cgroup/cpu_stat.h"
#include "cgroup/resolver.h"
#include "cgroup/workload.h"
#include "collect/event_source.h"
#include "collect/snapshot.h"
#include "common/result.h"

namespace sw {

// cgroupfs files whose value only matters now and then (a cpu.stat without CFS bandwidth, PSI)
// are read every this many intervals (2 s at the default 500 ms).
inline constexpr uint64_t kSlowReadIntervals = 4;

struct CollectorOptions {
  int depth = 3;  // workload = cgroup path cut to this many components
  KubernetesWorkloadLevel k8s = KubernetesWorkloadLevel::kPod;  // ...except pods' (WorkloadPathOf)
  size_t max_workloads = 500;  // real-cgroup series; beyond, workloads fold into "overflow"
  // (victim, aggressor) series; beyond, new pairs fold into (victim, "overflow"), and when even
  // that would be a new series, into ("overflow", "overflow"): at most this + 1 pair series.
  size_t max_preemption_pairs = 2000;
};

// Where the last Collect spent its time (steady clock). Cheap: four clock reads per Collect.
struct CollectTimings {
  std::chrono::nanoseconds source_read{0};  // EventSource::Read: the BPF maps
  std::chrono::nanoseconds accounting{0};   // id resolution (cgroupfs walks), baselines, Forget
  std::chrono::nanoseconds cgroup_read{0};  // cpu.stat / cpuacct.usage / PSI of every series
  std::chrono::nanoseconds total{0};        // the whole Collect
  std::chrono::nanoseconds finished_at{0};  // steady_clock (CLOCK_MONOTONIC) at its end
};

class Collector {
 public:
  Collector(EventSource& source, CgroupResolver& resolver, CgroupStatReader& reader,
            CollectorOptions options = {});

  // Reads the event source and cgroupfs once. Error only when the event source cannot be read
  // or the cgroup hierarchy itself is gone; per-cgroup problems become warnings().
  Result<Snapshot> Collect(std::chrono::nanoseconds now);

  // Non-fatal problems of the last Collect (a malformed cpu.stat, an unreadable file), for the
  // agent log; each names the file or cgroup.
  const std::vector<Error>& warnings() const { return warnings_; }
  // Cgroup ids handed to EventSource::Forget so far (for tests and the agent log).
  uint64_t forgotten_ids() const { return forgotten_; }
  // Phase timings of the last successful Collect (all zero before one).
  const CollectTimings& last_timings() const { return timings_; }

 private:
  struct IdLabel {
    std::string label;        // series label (depth path, "overflow" or "unknown")
    std::string depth_label;  // depth path even when folded into overflow; "" when unknown
    uint64_t walks_at_first_sight = 0;
    uint64_t seen = 0;      // the last Collect (epoch_) whose BPF read had this id: live then
    uint32_t relabels = 0;  // times `label` changed ("unknown" -> path)
  };
  struct IdAccount {
    std::string label;
    uint32_t relabels = 0;                     // IdLabel::relabels when `label` was taken
    std::optional<RawWorkloadStats> baseline;  // already retired into an earlier label; or zero
    RawWorkloadStats last;
    RawWorkloadStats SinceBaseline() const;
  };
  // One (victim, aggressor) cgroup-id pair of the BPF map. Its increments are added to its
  // series in pair_series_ as they are read, so a pair whose count did not move costs one
  // comparison per interval, and a pair that is gone leaves nothing to retire.
  struct PairAccount {
    IdLabel* victim = nullptr;  // into labels_: live as long as the pair is read
    IdLabel* aggressor = nullptr;
    uint32_t victim_relabels = 0, aggressor_relabels = 0;  // labels the series was chosen by
    std::pair<std::string, std::string> labels;  // the series: the labels, or folded by the cap
    uint64_t last = 0;
  };

  IdLabel& LabelOf(uint64_t id, std::chrono::nanoseconds now, std::vector<uint64_t>* forget);
  // The series of a pair of labels: itself, or folded by max_preemption_pairs.
  std::pair<std::string, std::string> PairSeriesOf(const std::string& victim,
                                                   const std::string& aggressor) const;
  void ReleaseDeadLabels();
  // The steps of Collect, in order.
  void AccountWorkloads(const RawEvents& raw, std::chrono::nanoseconds now,
                        std::vector<uint64_t>* forget);
  void AccountPairs(const RawEvents& raw, std::chrono::nanoseconds now,
                    std::vector<uint64_t>* forget);
  void ForgetGone(std::vector<uint64_t> forget);
  Snapshot AssembleSeries(std::chrono::nanoseconds now) const;
  void ReadCgroupFiles(Snapshot* snap);
  // The last readings of the files read every kSlowReadIntervals (ReadCgroupFiles).
  struct SlowFiles {
    std::optional<CpuStatSample> cpu_stat;
    std::optional<PsiSample> psi;
    uint64_t due = 0;  // the Collect (epoch_) at which they are read again; 0: never read
  };
  void ReadCpuStatOf(WorkloadSample& s, SlowFiles* f);

  EventSource& source_;
  CgroupResolver& resolver_;
  CgroupStatReader& reader_;
  CollectorOptions options_;
  WorkloadLabeler labeler_;

  std::map<uint64_t, IdLabel> labels_;
  std::map<uint64_t, IdAccount> accounts_;
  std::map<std::pair<uint64_t, uint64_t>, PairAccount> pairs_;
  std::map<std::string, RawWorkloadStats> retired_;
  // Cumulative count of every preemption series (victim, aggressor labels), live pairs' included.
  std::map<std::pair<std::string, std::string>, uint64_t> pair_series_;
  uint64_t epoch_ = 0;                           // Collects so far
  std::map<std::string, SlowFiles> slow_files_;  // by workload label
  std::set<uint64_t> forgotten_pending_;         // Forget()ed, entries not yet gone from the source
  std::vector<Error> warnings_;
  uint64_t forgotten_ = 0;
  uint64_t walks_at_last_release_ = 0;
  uint64_t walks_before_read_ = 0;
  CollectTimings timings_;
};

}  // namespace sw
