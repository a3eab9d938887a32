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

RawWorkloadStats Collector::IdAccount::SinceBaseline() const {
  return baseline ? Minus(last, *baseline) : last;
}

Collector::Collector(EventSource& source, CgroupResolver& resolver, CgroupStatReader& reader,
                     CollectorOptions options)
    : source_(source),
      resolver_(resolver),
      reader_(reader),
      options_(options),
      labeler_(WorkloadLabelerOptions{options.depth, options.k8s, options.max_workloads}) {}

Collector::IdLabel& Collector::LabelOf(uint64_t id, std::chrono::nanoseconds now,
                                       std::vector<uint64_t>* forget) {
  auto it = labels_.find(id);
  if (it != labels_.end()) it->second.seen = epoch_;
  if (it != labels_.end() && it->second.label != kUnknownWorkload) return it->second;
  if (it == labels_.end())
    it = labels_.emplace(id, IdLabel{kUnknownWorkload, "", walks_before_read_, epoch_}).first;
  auto path = resolver_.Resolve(id, now);
  if (!path.ok()) {
    warnings_.push_back(path.error().WithContext("resolving cgroup id " + std::to_string(id)));
  } else if (path->has_value()) {
    it->second.depth_label = WorkloadPathOf(**path, options_.depth, options_.k8s);
    it->second.label = labeler_.Assign(**path);
    it->second.relabels++;
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
  epoch_++;
  // Any walk from here on started after the read below saw its ids.
  walks_before_read_ = resolver_.walks();
  auto raw = source_.Read();
  if (!raw) return raw.error().WithContext("reading BPF counters");
  const Clock::time_point t1 = Clock::now();
  if (auto gc = resolver_.MaybeCollectGarbage(now); !gc) return gc.error();

  std::vector<uint64_t> forget;
  AccountWorkloads(*raw, now, &forget);
  AccountPairs(*raw, now, &forget);
  ForgetGone(std::move(forget));
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
  // Entry gone from the source (Forgotten): keep its totals in its series.
  auto retire = [&](const IdAccount& a) { AddTo(&retired_[a.label], a.SinceBaseline()); };
  auto acc = accounts_.begin();  // both maps are sorted by id: one pass over them together
  for (const auto& [id, stats] : raw.workloads) {
    for (; acc != accounts_.end() && acc->first < id; acc = accounts_.erase(acc))
      retire(acc->second);
    const IdLabel& l = LabelOf(id, now, forget);
    if (acc == accounts_.end() || acc->first != id) {
      accounts_.emplace_hint(acc, id, IdAccount{l.label, l.relabels, std::nullopt, stats});
      continue;
    }
    IdAccount& a = acc->second;
    ++acc;
    if (a.relabels != l.relabels) {  // "unknown" resolved: what was counted so far stays there
      retire(a);
      a.baseline = a.last;
      a.label = l.label;
      a.relabels = l.relabels;
    }
    if (WentBackwards(stats, a.last)) {
      retire(a);
      a.baseline.reset();
    }
    a.last = stats;
  }
  for (; acc != accounts_.end(); acc = accounts_.erase(acc)) retire(acc->second);
}

std::pair<std::string, std::string> Collector::PairSeriesOf(const std::string& victim,
                                                            const std::string& aggressor) const {
  using LabelPair = std::pair<std::string, std::string>;
  for (LabelPair l : {LabelPair{victim, aggressor}, LabelPair{victim, kOverflowWorkload}})
    if (pair_series_.count(l) || pair_series_.size() < options_.max_preemption_pairs) return l;
  return {kOverflowWorkload, kOverflowWorkload};
}

// Preemption pairs, with their own cap on series. Both maps are sorted by (victim, aggressor) id:
// one pass over them together, no lookups; a pair whose count and labels did not change is
// skipped (at 1,000 workloads the BPF map holds thousands of pairs, most of them quiet).
void Collector::AccountPairs(const RawEvents& raw, std::chrono::nanoseconds now,
                             std::vector<uint64_t>* forget) {
  auto it = pairs_.begin();
  for (const auto& [key, count] : raw.preemptions) {
    while (it != pairs_.end() && it->first < key) it = pairs_.erase(it);  // gone: counted already
    if (it == pairs_.end() || it->first != key) it = pairs_.emplace_hint(it, key, PairAccount{});
    PairAccount& p = it->second;
    ++it;
    if (p.victim && p.last == count && p.victim->label != kUnknownWorkload &&
        p.aggressor->label != kUnknownWorkload) {
      p.victim->seen = p.aggressor->seen = epoch_;  // quiet pair: still live
      continue;
    }
    IdLabel& victim = LabelOf(key.first, now, forget);
    IdLabel& aggressor = LabelOf(key.second, now, forget);
    if (!p.victim || victim.relabels != p.victim_relabels ||
        aggressor.relabels != p.aggressor_relabels) {
      // New, or an id resolved from "unknown": counts so far stay in the old series.
      p.labels = PairSeriesOf(victim.label, aggressor.label);
      p.victim_relabels = victim.relabels;
      p.aggressor_relabels = aggressor.relabels;
    }
    p.victim = &victim;
    p.aggressor = &aggressor;
    pair_series_[p.labels] += count >= p.last ? count - p.last : count;  // below: recreated entry
    p.last = count;
  }
  pairs_.erase(it, pairs_.end());
}

// Drops the labels of ids the source no longer has, and the kernel entries of removed cgroups
// (their counts were retired above or will be next time).
void Collector::ForgetGone(std::vector<uint64_t> forget) {
  // Live: read from the source in this Collect (LabelOf or a quiet pair marked it).
  for (auto it = labels_.begin(); it != labels_.end();) {
    if (it->second.seen == epoch_) {
      ++it;
    } else {
      forgotten_pending_.erase(it->first);
      it = labels_.erase(it);
    }
  }
  for (uint64_t id : resolver_.TakeRemoved())
    if (labels_.count(id) && !forgotten_pending_.count(id)) forget.push_back(id);
  std::sort(forget.begin(), forget.end());
  forget.erase(std::unique(forget.begin(), forget.end()), forget.end());
  if (!forget.empty()) {
    source_.Forget(forget);
    forgotten_ += forget.size();
    forgotten_pending_.insert(forget.begin(), forget.end());
  }
  ReleaseDeadLabels();
}

// The cumulative series: retired totals plus each live id's count since its baseline, and the
// preemption series.
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
  for (const auto& [id, a] : accounts_) {
    if (a.baseline)
      add(sample_for(a.label), Minus(a.last, *a.baseline));
    else
      add(sample_for(a.label), a.last);  // the common case: no copy
  }
  snap.preemptions = pair_series_;
  return snap;
}

// Each series' own cgroup files, as often as what depends on them changes (docs/metrics.md):
// CPU usage every interval (the controller's CPU signals); v1 cpu.stat every interval once the
// cgroup has CFS bandwidth (nr_periods > 0: throttle signals), else every kSlowReadIntervals (it
// cannot count a throttle before a quota is set); PSI, only exported, every kSlowReadIntervals.
// A skipped file's last reading stands in. Slow reads are spread over the intervals by label.
// On v2 cpu.stat carries the usage, so it is read every interval. Problems become warnings.
void Collector::ReadCgroupFiles(Snapshot* snap) {
  const bool v1 = reader_.layout().cpu.version == CgroupVersion::kV1;
  auto slow = slow_files_.begin();
  for (auto& [label, s] : snap->workloads) {
    while (slow != slow_files_.end() && slow->first < label) slow = slow_files_.erase(slow);
    if (s.cgroup_path.empty()) continue;
    if (slow == slow_files_.end() || slow->first != label)
      slow = slow_files_.emplace_hint(slow, label, SlowFiles{});
    SlowFiles& f = slow->second;
    ++slow;
    const bool due = f.due <= epoch_;
    if (due)  // the first read at once, the next ones spread by label
      f.due = epoch_ + (f.due == 0 ? 1 + std::hash<std::string>{}(label) % kSlowReadIntervals
                                   : kSlowReadIntervals);
    if (!v1 || due || (f.cpu_stat && f.cpu_stat->nr_periods > 0)) ReadCpuStatOf(s, &f);
    s.cpu_stat = f.cpu_stat;
    if (v1 && !s.cpu_usage_ns) {  // v2 got it from cpu.stat above
      auto usage = reader_.ReadUsageNs(s.cgroup_path);
      if (!usage)
        warnings_.push_back(usage.error());
      else
        s.cpu_usage_ns = *usage;
    }
    if (due) {
      auto psi = reader_.ReadPsi(s.cgroup_path);
      if (!psi)
        warnings_.push_back(psi.error());
      else
        f.psi = *psi;
    }
    s.psi = f.psi;
  }
  slow_files_.erase(slow, slow_files_.end());
  // Files not read in a whole cycle are of workloads that went away.
  if (epoch_ % kSlowReadIntervals == 0) reader_.EndPass();
}

void Collector::ReadCpuStatOf(WorkloadSample& s, SlowFiles* f) {
  auto stat = reader_.ReadCpuStat(s.cgroup_path);
  if (!stat) {
    warnings_.push_back(stat.error());
    return;
  }
  f->cpu_stat.reset();
  if (!*stat) return;
  f->cpu_stat = (*stat)->stat;  // may stay absent (v2 root)
  if ((*stat)->usage_ns) s.cpu_usage_ns = (*stat)->usage_ns;
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
    for (auto it = pair_series_.begin(); it != pair_series_.end();) {
      if (it->first.first == label || it->first.second == label)
        it = pair_series_.erase(it);
      else
        ++it;
    }
  }
}

}  // namespace sw
