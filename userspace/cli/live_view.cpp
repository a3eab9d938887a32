#include "cli/live_view.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "common/text.h"

namespace sw {
namespace {

// At most 6 columns: "850us", "6.29ms", "12.3ms", "123ms", "1.25s"; "-" without waits.
std::string Duration(double seconds) {
  char buf[32];
  if (seconds <= 0) return "-";
  if (seconds < 1e-3)
    std::snprintf(buf, sizeof buf, "%.0fus", seconds * 1e6);
  else if (seconds < 10e-3)
    std::snprintf(buf, sizeof buf, "%.2fms", seconds * 1e3);
  else if (seconds < 100e-3)
    std::snprintf(buf, sizeof buf, "%.1fms", seconds * 1e3);
  else if (seconds < 1)
    std::snprintf(buf, sizeof buf, "%.0fms", seconds * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2fs", seconds);
  return buf;
}

}  // namespace

namespace {

using PreemptedBy = std::map<std::string, std::map<std::string, uint64_t>>;  // victim -> aggressor

nlohmann::json PreemptedByOf(const PreemptedBy& preempted_by, const std::string& victim) {
  auto it = preempted_by.find(victim);
  return it == preempted_by.end() ? nlohmann::json::object() : nlohmann::json(it->second);
}

nlohmann::json RateRow(const std::string& name, const WorkloadDelta& w, double interval,
                       const PreemptedBy& preempted_by) {
  LatencyHistogram all = w.runq_wakeup;
  all.Merge(w.runq_preempted);
  // No usage file (e.g. missing from the cpuacct hierarchy): unknown, null in JSON, "-" in text.
  const nlohmann::json cpus =
      w.cpu_usage_ns && interval > 0
          ? nlohmann::json(static_cast<double>(*w.cpu_usage_ns) / 1e9 / interval)
          : nlohmann::json();
  return {{"workload", name},
          {"cpus", cpus},
          {"runq_p99_s", all.QuantileSeconds(0.99)},
          {"runq_wakeup_p99_s", w.runq_wakeup.QuantileSeconds(0.99)},
          {"runq_preempted_p99_s", w.runq_preempted.QuantileSeconds(0.99)},
          {"runq_samples", all.Count()},
          {"throttle_wait_p99_s", w.throttle_wait.QuantileSeconds(0.99)},
          {"throttled_periods", w.nr_throttled.value_or(0)},
          {"throttle_events", w.throttle_events},
          {"preempted_by", PreemptedByOf(preempted_by, name)}};
}

// Rows keyed by their runq_p99_s: sorting on the key, not on a lookup into each row's object.
using KeyedRows = std::vector<std::pair<double, nlohmann::json>>;

void AddRow(KeyedRows& rows, nlohmann::json row) {
  const double p99 = row["runq_p99_s"].get<double>();
  rows.emplace_back(p99, std::move(row));
}

nlohmann::json WorstFirst(KeyedRows rows, double interval) {
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  nlohmann::json out = nlohmann::json::array();
  for (auto& [_, row] : rows) out.push_back(std::move(row));
  return {{"interval_s", interval}, {"workloads", std::move(out)}};
}

}  // namespace

nlohmann::json WorkloadRates(const IntervalDelta& delta) {
  const double interval = delta.elapsed.count() / 1e9;
  PreemptedBy preempted_by;
  for (const auto& [pair, d] : delta.preemptions) preempted_by[pair.first][pair.second] += d;
  KeyedRows rows;
  rows.reserve(delta.workloads.size());
  for (const auto& [name, w] : delta.workloads)
    AddRow(rows, RateRow(name, w, interval, preempted_by));
  return WorstFirst(std::move(rows), interval);
}

RatesBase::RatesBase(const Snapshot& snap) : taken_at_(snap.taken_at) {
  workloads_.reserve(snap.workloads.size());
  for (const auto& [name, s] : snap.workloads) {
    Workload w{.name = name,
               .runq_wakeup = Keep(s.runq_wakeup),
               .runq_preempted = Keep(s.runq_preempted),
               .throttle_wait = Keep(s.throttle_wait),
               .throttle_events = s.throttle_events,
               .cpu_usage_ns = s.cpu_usage_ns};
    if (s.cpu_stat) {
      w.nr_throttled = s.cpu_stat->nr_throttled;
      w.throttled_ns = s.cpu_stat->throttled_ns;
    }
    workloads_.push_back(std::move(w));
  }
  counts_.shrink_to_fit();
  preemptions_.assign(snap.preemptions.begin(), snap.preemptions.end());
}

RatesBase::Hist RatesBase::Keep(const LatencyHistogram& h) {
  static_assert(LatencyHistogram::kBuckets <= 255, "bucket indices are kept in a uint8_t");
  Hist k{.offset = static_cast<uint32_t>(counts_.size()), .sum_ns = h.SumNs()};
  int lo = 0, hi = LatencyHistogram::kBuckets;
  while (lo < hi && h.BucketCount(lo) == 0) lo++;
  while (hi > lo && h.BucketCount(hi - 1) == 0) hi--;
  k.lo = static_cast<uint8_t>(lo);
  k.hi = static_cast<uint8_t>(hi);
  for (int i = lo; i < hi; i++) counts_.push_back(h.BucketCount(i));
  return k;
}

LatencyHistogram RatesBase::Restore(const Hist& h) const {
  std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
  for (int i = h.lo; i < h.hi; i++) counts[i] = counts_[h.offset + (i - h.lo)];
  LatencyHistogram out;
  out.AddRaw(counts.data(), h.sum_ns);
  return out;
}

// As ComputeIntervalDelta's, against the kept values (collect/interval_delta.cpp).
WorkloadDelta RatesBase::Difference(const WorkloadSample& cur, const Workload* prev) const {
  if (!prev) return NewSeriesDelta(cur);
  WorkloadDelta d;
  d.runq_wakeup = cur.runq_wakeup.Delta(Restore(prev->runq_wakeup));
  d.runq_preempted = cur.runq_preempted.Delta(Restore(prev->runq_preempted));
  d.throttle_wait = cur.throttle_wait.Delta(Restore(prev->throttle_wait));
  d.throttle_events = CounterDelta(cur.throttle_events, prev->throttle_events);
  if (cur.cpu_stat && prev->nr_throttled) {
    d.nr_throttled = CounterDelta(cur.cpu_stat->nr_throttled, *prev->nr_throttled);
    d.throttled_ns = CounterDelta(cur.cpu_stat->throttled_ns, *prev->throttled_ns);
  }
  if (cur.cpu_usage_ns && prev->cpu_usage_ns && *cur.cpu_usage_ns >= *prev->cpu_usage_ns)
    d.cpu_usage_ns = *cur.cpu_usage_ns - *prev->cpu_usage_ns;
  return d;
}

size_t RatesBase::HeapBytes() const {
  size_t n = workloads_.capacity() * sizeof(Workload) + counts_.capacity() * sizeof(uint64_t) +
             preemptions_.capacity() * sizeof(preemptions_[0]);
  for (const Workload& w : workloads_) n += w.name.capacity();
  for (const auto& [pair, count] : preemptions_)
    n += pair.first.capacity() + pair.second.capacity();
  return n;
}

nlohmann::json WorkloadRates(const RatesBase& base, const Snapshot& cur) {
  const double interval = (cur.taken_at - base.taken_at_).count() / 1e9;
  PreemptedBy preempted_by;
  auto old = base.preemptions_.begin();
  for (const auto& [key, count] : cur.preemptions) {  // both sorted by (victim, aggressor)
    while (old != base.preemptions_.end() && old->first < key) ++old;
    const bool had = old != base.preemptions_.end() && old->first == key;
    if (uint64_t d = CounterDelta(count, had ? old->second : 0))
      preempted_by[key.first][key.second] += d;
  }
  KeyedRows rows;
  rows.reserve(cur.workloads.size());
  auto prev = base.workloads_.begin();
  for (const auto& [name, w] : cur.workloads) {  // both sorted by name
    while (prev != base.workloads_.end() && prev->name < name) ++prev;
    const bool had = prev != base.workloads_.end() && prev->name == name;
    AddRow(rows, RateRow(name, base.Difference(w, had ? &*prev : nullptr), interval, preempted_by));
  }
  return WorstFirst(std::move(rows), interval);
}

std::string FormatWorkloadRates(const nlohmann::json& rates, size_t max_rows) {
  // 80 columns: name 20, five numbers, then the top aggressor with its preemption count.
  constexpr size_t kName = 20, kAggressor = 14;
  auto row = [](const std::string& name, const std::string& cpus, const std::string& p99,
                const std::string& wake, const std::string& pre, const std::string& waits,
                const std::string& throt, const std::string& aggressor) {
    std::string line = PadRight(ShortenMiddle(name, kName), kName) + " " + PadLeft(cpus, 5) + " " +
                       PadLeft(p99, 7) + " " + PadLeft(wake, 7) + " " + PadLeft(pre, 7) + " " +
                       PadLeft(waits, 7) + " " + PadLeft(throt, 5) + "  " + aggressor;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };
  std::string out =
      row("WORKLOAD", "CPUS", "RUNQ99", "WAKE99", "PREEM99", "WAITS", "THROT", "TOP AGGRESSOR");
  size_t n = 0;
  for (const auto& w : rates.value("workloads", nlohmann::json::array())) {
    if (n++ >= max_rows) break;
    std::string aggressor = "-";
    uint64_t best = 0;
    auto field = [&](const char* key) {
      auto it = w.find(key);
      return it == w.end() ? nlohmann::json() : *it;
    };
    const nlohmann::json preempted_by = field("preempted_by");
    for (const auto& [name, count] : preempted_by.items()) {
      uint64_t c = count.get<uint64_t>();
      if (c > best) {
        best = c;
        const std::string suffix = " (" + std::to_string(c) + ")";
        aggressor =
            ShortenMiddle(name, kAggressor > suffix.size() + 4 ? kAggressor - suffix.size() : 4) +
            suffix;
      }
    }
    // Unknown (e.g. no cpuacct usage for this workload): "-", never 0.00.
    const nlohmann::json cpus = field("cpus");
    char cpu_text[32] = "-";
    if (cpus.is_number()) std::snprintf(cpu_text, sizeof cpu_text, "%.2f", cpus.get<double>());
    auto num = [&](const char* key) {
      const nlohmann::json v = field(key);
      return v.is_number() ? std::to_string(v.get<uint64_t>()) : std::string("-");
    };
    auto secs = [&](const char* key) {
      const nlohmann::json v = field(key);
      return v.is_number() ? Duration(v.get<double>()) : std::string("-");
    };
    out +=
        row(w.value("workload", "?"), cpu_text, secs("runq_p99_s"), secs("runq_wakeup_p99_s"),
            secs("runq_preempted_p99_s"), num("runq_samples"), num("throttled_periods"), aggressor);
  }
  return out;
}

}  // namespace sw
