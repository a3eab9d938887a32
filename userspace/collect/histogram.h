// Userspace view of the BPF log-linear latency histograms (bucket layout in bpf/schedwarden_abi.h):
// edges, deltas between two reads, and quantiles. Quantiles report a bucket's upper edge: never
// interpolated, so a reported p99 is an upper bound that is exact to the bucket.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "bpf/schedwarden_abi.h"

namespace sw {

class LatencyHistogram {
 public:
  static constexpr int kBuckets = SW_HIST_BUCKETS;

  // Upper edge of bucket i in nanoseconds (inclusive); the overflow bucket's is max uint64.
  static uint64_t UpperEdgeNs(int bucket);
  static int BucketOf(uint64_t ns) { return static_cast<int>(sw_hist_bucket(ns)); }
  // Bucket indices whose upper edges are powers of two from 2^min_shift to 2^max_shift ns: the
  // subset used as Prometheus `le` edges by default.
  static std::vector<int> PowerOfTwoEdges(int min_shift = SW_HIST_MIN_SHIFT,
                                          int max_shift = SW_HIST_MAX_SHIFT);

  void Record(uint64_t ns, uint64_t n = 1);
  // Adds raw BPF counts (kBuckets values) and their sum.
  void AddRaw(const uint64_t* counts, uint64_t sum_ns);
  void Merge(const LatencyHistogram& other);
  // this - earlier, bucket by bucket; a bucket that went backwards (map entry recreated) counts 0.
  LatencyHistogram Delta(const LatencyHistogram& earlier) const;

  uint64_t Count() const;
  uint64_t SumNs() const { return sum_ns_; }
  uint64_t BucketCount(int i) const { return counts_[i]; }
  // Smallest upper edge with at least q of the samples at or below it, in ns; 0 when empty.
  uint64_t QuantileNs(double q) const;
  double QuantileSeconds(double q) const { return QuantileNs(q) / 1e9; }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t sum_ns_ = 0;
};

}  // namespace sw
