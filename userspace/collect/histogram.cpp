#include "collect/histogram.h"

#include <cmath>

namespace sw {

uint64_t LatencyHistogram::UpperEdgeNs(int bucket) {
  if (bucket <= 0) return 1ULL << SW_HIST_MIN_SHIFT;
  if (bucket >= kBuckets - 1) return std::numeric_limits<uint64_t>::max();
  int i = bucket - 1;
  int k = SW_HIST_MIN_SHIFT + i / SW_HIST_SUB;
  int sub = i % SW_HIST_SUB;
  return (1ULL << k) + static_cast<uint64_t>(sub + 1) * (1ULL << (k - SW_HIST_SUB_BITS));
}

std::vector<int> LatencyHistogram::PowerOfTwoEdges(int min_shift, int max_shift) {
  std::vector<int> out;
  for (int b = 0; b < kBuckets - 1; b++) {
    uint64_t e = UpperEdgeNs(b);
    if ((e & (e - 1)) == 0 && e >= (1ULL << min_shift) && e <= (1ULL << max_shift))
      out.push_back(b);
  }
  return out;
}

void LatencyHistogram::Record(uint64_t ns, uint64_t n) {
  counts_[BucketOf(ns)] += n;
  sum_ns_ += ns * n;
}

void LatencyHistogram::AddRaw(const uint64_t* counts, uint64_t sum_ns) {
  for (int i = 0; i < kBuckets; i++) counts_[i] += counts[i];
  sum_ns_ += sum_ns;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  AddRaw(other.counts_.data(), other.sum_ns_);
}

LatencyHistogram LatencyHistogram::Delta(const LatencyHistogram& earlier) const {
  LatencyHistogram d;
  for (int i = 0; i < kBuckets; i++)
    d.counts_[i] = counts_[i] >= earlier.counts_[i] ? counts_[i] - earlier.counts_[i] : 0;
  d.sum_ns_ = sum_ns_ >= earlier.sum_ns_ ? sum_ns_ - earlier.sum_ns_ : 0;
  return d;
}

uint64_t LatencyHistogram::Count() const {
  uint64_t n = 0;
  for (uint64_t c : counts_) n += c;
  return n;
}

uint64_t LatencyHistogram::QuantileNs(double q) const {
  uint64_t total = Count();
  if (total == 0) return 0;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  // Rank of the sample that q covers: ceil(q * total), at least 1.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; i++) {
    seen += counts_[i];
    if (seen >= rank) return UpperEdgeNs(i);
  }
  return UpperEdgeNs(kBuckets - 1);
}

}  // namespace sw
