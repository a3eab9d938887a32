#include "collect/collector.h"

#include <algorithm>
#include <optional>

namespace sw {
namespace {

void AddTo(RawWorkloadStats* into, const RawWorkloadStats& s) {
  for (int r = 0; r < SW_NR_REASONS; r++) into->wait[r].Merge(s.wait[r]);
  into->throttle_events += s.throttle_events;
}

RawWorkloadStats Minus(const RawWorkloadStats& a, const RawWorkloadStats& b) {
  RawWorkloadStats d;
  for (int r = 0; r < SW_NR_REASONS; r++) d.wait[r] = a.wait[r].Delta(b.wait[r]);
  d.throttle_events =
      a.throttle_events >= b.throttle_events ? a.throttle_events - b.throttle_events : 0;
  return d;
}

// True when any count is below an earlier read: the map entry was deleted and recreated.
bool WentBackwards(const RawWorkloadStats& now, const RawWorkloadStats& before) {
  if (now.throttle_events < before.throttle_events) return true;
  for (int r = 0; r < SW_NR_REASONS; r++) {
    if (now.wait[r].SumNs() < before.wait[r].SumNs()) return true;
    for (int b = 0; b < LatencyHistogram::kBuckets; b++)
      if (now.wait[r].BucketCount(b) < before.wait[r].BucketCount(b)) return true;
  }
  return false;
}

}  // namespace

Collector::Collector(EventSource& source, CgroupResolver& resolver, CgroupStatReader& reader,
                     CollectorOptions options)
    : source_(source),
      resolver_(resolver),
      reader_(reader),
      options_(options),
      labeler_(WorkloadLabelerOptions{options.depth, options.k8s, options.max_workloads}) {}

const Collector::IdLabel& Collector::LabelOf(uint64_t id, std::chrono::nanoseconds now,
                                             std::vector<uint64_t>* forget) {
  auto it = labels_.find(id);
  if (it != labels_.end() && it->second.label != kUnknownWorkload) return it->second;
  if (it == labels_.end())
    it = labels_.emplace(id, IdLabel{kUnknownWorkload, "", walks_before_read_}).first;
  auto path = resolver_.Resolve(id, now);
  if (!path.ok()) {
    warnings_.push_back(path.error().WithContext("resolving cgroup id " + std::to_string(id)));
  } else if (path->has_value()) {
    it->second.depth_label = WorkloadPathOf(**path, options_.depth, options_.k8s);
    it->second.label = labeler_.Assign(**path);
  } else if (resolver_.walks() > it->second.walks_at_first_sight && !forgotten_pending_.count(id)) {
    // A full walk after we first saw this id did not find its directory: the cgroup is gone (it
    // lived less than an interval). Drop its kernel entries; its counts stay in "unknown".
    forget->push_back(id);
  }
  return it->second;
}

Result<Snapshot> Collector::Collect(std::chrono::nanoseconds now) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  warnings_.clear();
  // Any walk from here on started after the read below saw its ids.
  walks_before_read_ = resolver_.walks();
  auto raw = source_.Read();
  if (!raw) return raw.error().WithContext("reading BPF counters");
  const Clock::time_point t1 = Clock::now();
  if (auto gc = resolver_.MaybeCollectGarbage(now); !gc) return gc.error();

  std::vector<uint64_t> forget;
  AccountWorkloads(*raw, now, &forget);
  AccountPairs(*raw, now, &forget);
  ForgetGone(*raw, std::move(forget));
  Snapshot snap = AssembleSeries(now);
  const Clock::time_point t2 = Clock::now();
  ReadCgroupFiles(&snap);

  snap.dropped = raw->dropped;
  snap.programs = raw->programs;
  snap.bpf_stats_enabled = raw->bpf_stats_enabled;
  snap.tracked_workloads = labeler_.tracked();
  snap.overflowed_workloads = labeler_.overflowed();
  const Clock::time_point t3 = Clock::now();
  timings_ = CollectTimings{.source_read = t1 - t0,
                            .accounting = t2 - t1,
                            .cgroup_read = t3 - t2,
                            .total = t3 - t0,
                            .finished_at = t3.time_since_epoch()};
  return snap;
}

// Workload histograms, per id, against each id's baseline.
void Collector::AccountWorkloads(const RawEvents& raw, std::chrono::nanoseconds now,
                                 std::vector<uint64_t>* forget) {
  for (const auto& [id, stats] : raw.workloads) {
    const IdLabel& l = LabelOf(id, now, forget);
    auto acc = accounts_.find(id);
    if (acc == accounts_.end()) {
      accounts_.emplace(id, IdAccount{l.label, RawWorkloadStats{}, stats});
      continue;
    }
    IdAccount& a = acc->second;
    if (a.label != l.label) {  // "unknown" resolved: what was counted so far stays there
      AddTo(&retired_[a.label], Minus(a.last, a.baseline));
      a.baseline = a.last;
      a.label = l.label;
    }
    if (WentBackwards(stats, a.last)) {
      AddTo(&retired_[a.label], Minus(a.last, a.baseline));
      a.baseline = RawWorkloadStats{};
    }
    a.last = stats;
  }
  for (auto it = accounts_.begin(); it != accounts_.end();) {
    if (raw.workloads.count(it->first)) {
      ++it;
      continue;
    }
    // Entry gone from the source (Forgotten): keep its totals in its series.
    AddTo(&retired_[it->second.label], Minus(it->second.last, it->second.baseline));
    it = accounts_.erase(it);
  }
}

// Preemption pairs, the same way, with their own cap on series.
void Collector::AccountPairs(const RawEvents& raw, std::chrono::nanoseconds now,
                             std::vector<uint64_t>* forget) {
  using LabelPair = std::pair<std::string, std::string>;
  // The pair series in use, only built when a new or relabelled pair needs the cap: copying
  // 2,000 label pairs every interval was a tenth of the agent's CPU at 1,000 workloads.
  std::optional<std::set<LabelPair>> pair_series;
  auto cap = [&](const LabelPair& want) -> LabelPair {
    if (!pair_series) {
      pair_series.emplace();
      for (const auto& [labels, _] : retired_pairs_) pair_series->insert(labels);
      for (const auto& [key, p] : pairs_) pair_series->insert(p.labels);
    }
    for (const LabelPair& l : {want, LabelPair{want.first, kOverflowWorkload}}) {
      if (pair_series->count(l) || pair_series->size() < options_.max_preemption_pairs) {
        pair_series->insert(l);
        return l;
      }
    }
    return {kOverflowWorkload, kOverflowWorkload};
  };
  for (const auto& [key, count] : raw.preemptions) {
    // References into labels_ (a map: stable), compared in place: no copies per pair per interval.
    const std::string& victim = LabelOf(key.first, now, forget).label;
    const std::string& aggressor = LabelOf(key.second, now, forget).label;
    auto it = pairs_.find(key);
    if (it == pairs_.end()) {
      LabelPair wanted{victim, aggressor};
      pairs_.emplace(key, PairAccount{wanted, cap(wanted), 0, count});
      continue;
    }
    PairAccount& p = it->second;
    if (p.wanted.first != victim || p.wanted.second != aggressor) {
      // An id resolved from "unknown": later counts go to the new pair.
      retired_pairs_[p.labels] += p.last - p.baseline;
      p.baseline = p.last;
      p.wanted = {victim, aggressor};
      p.labels = cap(p.wanted);
    }
    if (count < p.last) {
      retired_pairs_[p.labels] += p.last - p.baseline;
      p.baseline = 0;
    }
    p.last = count;
  }
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    if (raw.preemptions.count(it->first)) {
      ++it;
      continue;
    }
    retired_pairs_[it->second.labels] += it->second.last - it->second.baseline;
    it = pairs_.erase(it);
  }
}

// Drops the labels of ids the source no longer has, and the kernel entries of removed cgroups
// (their counts were retired above or will be next time).
void Collector::ForgetGone(const RawEvents& raw, std::vector<uint64_t> forget) {
  std::set<uint64_t> live;
  for (const auto& [id, _] : raw.workloads) live.insert(id);
  for (const auto& [key, _] : raw.preemptions) {
    live.insert(key.first);
    live.insert(key.second);
  }
  for (auto it = labels_.begin(); it != labels_.end();) {
    if (live.count(it->first)) {
      ++it;
    } else {
      forgotten_pending_.erase(it->first);
      it = labels_.erase(it);
    }
  }
  for (uint64_t id : resolver_.TakeRemoved())
    if (live.count(id) && !forgotten_pending_.count(id)) forget.push_back(id);
  std::sort(forget.begin(), forget.end());
  forget.erase(std::unique(forget.begin(), forget.end()), forget.end());
  if (!forget.empty()) {
    source_.Forget(forget);
    forgotten_ += forget.size();
    forgotten_pending_.insert(forget.begin(), forget.end());
  }
  ReleaseDeadLabels();
}

// The cumulative series: retired totals plus each live id's and pair's count since its baseline.
Snapshot Collector::AssembleSeries(std::chrono::nanoseconds now) const {
  Snapshot snap;
  snap.taken_at = now;
  auto sample_for = [&](const std::string& label) -> WorkloadSample& {
    auto [it, inserted] = snap.workloads.try_emplace(label);
    if (inserted) {
      it->second.workload = label;
      if (!label.empty() && label[0] == '/') it->second.cgroup_path = label;
    }
    return it->second;
  };
  auto add = [&](WorkloadSample& s, const RawWorkloadStats& st) {
    s.runq_wakeup.Merge(st.wait[SW_REASON_WAKEUP]);
    s.runq_preempted.Merge(st.wait[SW_REASON_PREEMPTED]);
    s.throttle_wait.Merge(st.wait[SW_REASON_THROTTLED]);
    s.throttle_events += st.throttle_events;
  };
  for (const auto& [label, st] : retired_) add(sample_for(label), st);
  for (const auto& [id, a] : accounts_) add(sample_for(a.label), Minus(a.last, a.baseline));
  for (const auto& [labels, n] : retired_pairs_) snap.preemptions[labels] += n;
  for (const auto& [key, p] : pairs_) snap.preemptions[p.labels] += p.last - p.baseline;
  return snap;
}

// Each series' own cgroup files: cpu.stat, CPU usage, PSI. Problems become warnings.
void Collector::ReadCgroupFiles(Snapshot* snap) {
  for (auto& [label, s] : snap->workloads) {
    if (s.cgroup_path.empty()) continue;
    auto stat = reader_.ReadCpuStat(s.cgroup_path);
    if (!stat) {
      warnings_.push_back(stat.error());
    } else if (*stat) {
      s.cpu_stat = (*stat)->stat;  // may stay absent (v2 root)
      if ((*stat)->usage_ns) s.cpu_usage_ns = (*stat)->usage_ns;
    }
    if (!s.cpu_usage_ns) {  // v1: cpuacct.usage (v2 got it from cpu.stat above)
      auto usage = reader_.ReadUsageNs(s.cgroup_path);
      if (!usage)
        warnings_.push_back(usage.error());
      else
        s.cpu_usage_ns = *usage;
    }
    auto psi = reader_.ReadPsi(s.cgroup_path);
    if (!psi)
      warnings_.push_back(psi.error());
    else
      s.psi = *psi;
  }
  reader_.EndPass();
}

// A workload label whose cgroups are all gone (no live id, directory removed) gives its slot
// back, and its series ends. Checked only after a walk, so the cost stays off the hot path.
void Collector::ReleaseDeadLabels() {
  if (resolver_.walks() == walks_at_last_release_) return;
  walks_at_last_release_ = resolver_.walks();
  std::set<std::string> live_depth_labels;
  for (const auto& [id, l] : labels_)
    if (!l.depth_label.empty()) live_depth_labels.insert(l.depth_label);
  for (const auto& [id, a] : accounts_) live_depth_labels.insert(a.label);
  // Overflowed workloads leave the overflow count as soon as none of their ids is live.
  std::vector<std::string> overflowed(labeler_.overflowed_labels().begin(),
                                      labeler_.overflowed_labels().end());
  for (const std::string& label : overflowed)
    if (!live_depth_labels.count(label)) labeler_.Release(label);
  std::vector<std::string> tracked(labeler_.tracked_labels().begin(),
                                   labeler_.tracked_labels().end());
  for (const std::string& label : tracked) {
    if (live_depth_labels.count(label) || resolver_.PathExists(label)) continue;
    labeler_.Release(label);
    retired_.erase(label);
    for (auto it = retired_pairs_.begin(); it != retired_pairs_.end();) {
      if (it->first.first == label || it->first.second == label)
        it = retired_pairs_.erase(it);
      else
        ++it;
    }
  }
}

}  // namespace sw
