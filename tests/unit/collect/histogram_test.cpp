#include "collect/histogram.h"

#include <gtest/gtest.h>

namespace sw {
namespace {

TEST(HistogramBuckets, EdgesAreInclusiveUpperBounds) {
  // Every value lands in the bucket whose (lower, upper] range holds it.
  for (uint64_t ns :
       {0ULL, 1ULL, 1023ULL, 1024ULL, 1025ULL, 1280ULL, 1281ULL, 999999ULL, 1000000ULL, 1048576ULL,
        1048577ULL, 10000000000ULL, (1ULL << 34), (1ULL << 34) + 1, ~0ULL}) {
    int b = LatencyHistogram::BucketOf(ns);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    EXPECT_LE(ns, LatencyHistogram::UpperEdgeNs(b)) << ns;
    if (b > 0) {
      EXPECT_GT(ns, LatencyHistogram::UpperEdgeNs(b - 1)) << ns;
    }
  }
}

TEST(HistogramBuckets, FourSubBucketsPerOctaveFrom1usTo10s) {
  EXPECT_EQ(LatencyHistogram::UpperEdgeNs(0), 1024u);
  EXPECT_EQ(LatencyHistogram::UpperEdgeNs(1), 1280u);
  EXPECT_EQ(LatencyHistogram::UpperEdgeNs(2), 1536u);
  EXPECT_EQ(LatencyHistogram::UpperEdgeNs(3), 1792u);
  EXPECT_EQ(LatencyHistogram::UpperEdgeNs(4), 2048u);
  EXPECT_GE(LatencyHistogram::UpperEdgeNs(LatencyHistogram::kBuckets - 2), 10000000000ULL);
  // Edges strictly increase and relative width never exceeds 25%.
  for (int b = 1; b < LatencyHistogram::kBuckets - 1; b++) {
    uint64_t lo = LatencyHistogram::UpperEdgeNs(b - 1), hi = LatencyHistogram::UpperEdgeNs(b);
    ASSERT_GT(hi, lo);
    EXPECT_LE(static_cast<double>(hi - lo) / lo, 0.25 + 1e-12);
  }
}

TEST(HistogramBuckets, PowerOfTwoEdgesAreASubset) {
  auto edges = LatencyHistogram::PowerOfTwoEdges();
  ASSERT_EQ(edges.size(), static_cast<size_t>(SW_HIST_OCTAVES + 1));
  for (int b : edges) {
    uint64_t e = LatencyHistogram::UpperEdgeNs(b);
    EXPECT_EQ(e & (e - 1), 0u);
  }
}

TEST(HistogramQuantiles, ReportsUpperEdgeOfTheRankBucket) {
  LatencyHistogram h;
  EXPECT_EQ(h.QuantileNs(0.99), 0u);
  for (int i = 0; i < 98; i++) h.Record(50'000);  // 50 us
  h.Record(3'000'000);                            // 3 ms
  h.Record(3'000'000);
  EXPECT_EQ(h.Count(), 100u);
  uint64_t p50 = h.QuantileNs(0.5), p99 = h.QuantileNs(0.99);
  EXPECT_GE(p50, 50'000u);
  EXPECT_LT(p50, 50'000u * 5 / 4);
  EXPECT_GE(p99, 3'000'000u);
  EXPECT_LT(p99, 3'000'000u * 5 / 4);
  EXPECT_EQ(h.QuantileNs(0.98), p50);
}

TEST(HistogramDelta, SubtractsAndClampsResets) {
  LatencyHistogram a, b;
  a.Record(5000, 3);
  b = a;
  b.Record(5000, 2);
  b.Record(2'000'000, 1);
  LatencyHistogram d = b.Delta(a);
  EXPECT_EQ(d.Count(), 3u);
  EXPECT_EQ(d.SumNs(), 2 * 5000u + 2'000'000u);
  EXPECT_EQ(a.Delta(b).Count(), 0u);  // went backwards: never negative
}

}  // namespace
}  // namespace sw
