#include "bpf/map_decode.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "bpf/bpf_options.h"
#include "collect/histogram.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

// The BPF side buckets with sw_hist_bucket(); userspace reports edges with UpperEdgeNs(). Both
// must agree on every edge, or Prometheus `le` labels would lie.
TEST(AbiBuckets, KernelBucketFunctionMatchesUserspaceEdges) {
  for (int b = 0; b < LatencyHistogram::kBuckets - 1; b++) {
    uint64_t edge = LatencyHistogram::UpperEdgeNs(b);
    EXPECT_EQ(sw_hist_bucket(edge), static_cast<__u32>(b)) << "edge " << edge;
    EXPECT_EQ(sw_hist_bucket(edge + 1), static_cast<__u32>(b + 1)) << "edge+1 " << edge + 1;
    if (b > 0) {
      EXPECT_EQ(sw_hist_bucket(edge - 1), static_cast<__u32>(b)) << "edge-1 " << edge - 1;
    }
  }
  EXPECT_EQ(sw_hist_bucket(0), 0u);
  EXPECT_EQ(sw_hist_bucket(~0ULL), static_cast<__u32>(SW_HIST_BUCKETS - 1));
}

TEST(AbiBuckets, Log2MatchesBuiltin) {
  for (int k = 0; k < 64; k++) {
    __u64 v = 1ULL << k;
    EXPECT_EQ(sw_log2_u64(v), static_cast<__u32>(k));
    EXPECT_EQ(sw_log2_u64(v | (v - 1)), static_cast<__u32>(k));
    if (k > 1) {
      EXPECT_EQ(sw_log2_u64(v + 1), static_cast<__u32>(k));
    }
  }
}

sw_workload_stats Stats(uint64_t seed) {
  sw_workload_stats s{};
  for (int r = 0; r < SW_NR_REASONS; r++) {
    for (int b = 0; b < SW_HIST_BUCKETS; b++) s.hist[r][b] = seed * 1000 + r * 100 + b;
    s.sum_ns[r] = seed * 7 + r;
  }
  s.throttle_events = seed * 3;
  return s;
}

TEST(PerCpu, SumsEveryCpuCopy) {
  constexpr int kCpus = 3;
  size_t stride = PerCpuStride(sizeof(sw_workload_stats));
  std::vector<unsigned char> buf(stride * kCpus, 0xAB);
  for (int c = 0; c < kCpus; c++) {
    sw_workload_stats s = Stats(c + 1);
    std::memcpy(buf.data() + c * stride, &s, sizeof(s));
  }
  sw_workload_stats sum = SumPerCpuWorkloadStats(buf.data(), kCpus, stride);
  // seeds 1+2+3 = 6
  EXPECT_EQ(sum.hist[0][0], 6000u);
  EXPECT_EQ(sum.hist[2][97], 6000u + 3 * 297);
  EXPECT_EQ(sum.sum_ns[1], 6u * 7 + 3);
  EXPECT_EQ(sum.throttle_events, 18u);
}

TEST(PerCpu, StrideRoundsUpToEightBytes) {
  EXPECT_EQ(PerCpuStride(8), 8u);
  EXPECT_EQ(PerCpuStride(12), 16u);
  EXPECT_EQ(PerCpuStride(sizeof(sw_workload_stats)), sizeof(sw_workload_stats));
  // A 4-byte value padded to 8: the padding must not leak into the sum.
  std::vector<unsigned char> buf(16, 0xFF);
  uint64_t a = 5, b = 9;
  std::memcpy(buf.data(), &a, 8);
  std::memcpy(buf.data() + 8, &b, 8);
  EXPECT_EQ(SumPerCpuU64(buf.data(), 2, 8), 14u);
}

TEST(Decode, HistogramsAndThrottleEventsReachTheCollectorTypes) {
  sw_workload_stats s{};
  s.hist[SW_REASON_PREEMPTED][LatencyHistogram::BucketOf(2'000'000)] = 4;
  s.sum_ns[SW_REASON_PREEMPTED] = 8'000'000;
  s.hist[SW_REASON_THROTTLED][LatencyHistogram::BucketOf(80'000'000)] = 2;
  s.sum_ns[SW_REASON_THROTTLED] = 160'000'000;
  s.throttle_events = 2;
  RawWorkloadStats w = DecodeWorkloadStats(s);
  EXPECT_EQ(w.wait[SW_REASON_WAKEUP].Count(), 0u);
  EXPECT_EQ(w.wait[SW_REASON_PREEMPTED].Count(), 4u);
  EXPECT_EQ(w.wait[SW_REASON_PREEMPTED].SumNs(), 8'000'000u);
  EXPECT_GE(w.wait[SW_REASON_PREEMPTED].QuantileNs(0.5), 2'000'000u);
  EXPECT_LT(w.wait[SW_REASON_PREEMPTED].QuantileNs(0.5), 2'500'000u);
  EXPECT_EQ(w.wait[SW_REASON_THROTTLED].Count(), 2u);
  EXPECT_EQ(w.throttle_events, 2u);
}

TEST(ProgramNames, BothTwinsMapToTheirTracepoint) {
  EXPECT_EQ(TracepointOfProgram("sw_switch"), "sched_switch");
  EXPECT_EQ(TracepointOfProgram("sw_switch_raw"), "sched_switch");
  EXPECT_EQ(TracepointOfProgram("sw_wakeup"), "sched_wakeup");
  EXPECT_EQ(TracepointOfProgram("sw_wakenew_raw"), "sched_wakeup_new");
  EXPECT_EQ(TracepointOfProgram("handle_sched_switch"), std::nullopt);
  for (const ProgramSpec& p : kPrograms) {
    // The kernel keeps 15 characters of a program name: longer ones would be truncated in
    // bpftool and bpf_prog_info.
    EXPECT_LE(p.btf_name.size(), 15u) << p.btf_name;
    EXPECT_LE(p.raw_name.size(), 15u) << p.raw_name;
  }
}

// The budget: kernel map memory <= 64 MiB for 1,000 workloads on a 128-CPU machine.
TEST(MapMemory, SharedLayoutFitsTheBudgetPerCpuDoesNot) {
  constexpr uint64_t kBudget = 64ULL << 20;
  // The sizes the config derives from max_workloads = 1000 (4096 ids, 65536 pairs).
  MapMemoryEstimate shared =
      EstimateMapMemory(WorkloadMapEntriesFor(1000), false, PreemptMapEntriesFor(1000), 0, 128);
  MapMemoryEstimate percpu = EstimateMapMemory(1024, true, PreemptMapEntriesFor(1000), 0, 128);
  EXPECT_NEAR(double(shared.total()), 15.4 * (1 << 20), 0.05 * (1 << 20));  // docs/bpf.md
  EXPECT_LT(shared.total(), kBudget);
  EXPECT_GT(percpu.total(), kBudget);
  // Per workload: one 2,384-byte histogram block shared, versus one per CPU.
  MapMemoryEstimate s1 = EstimateMapMemory(4097, false, 1, 0, 128);
  MapMemoryEstimate s0 = EstimateMapMemory(4096, false, 1, 0, 128);
  EXPECT_EQ(s1.workloads - s0.workloads - (8192 - 4096) * 16, 2440u);  // buckets double
  MapMemoryEstimate p1 = EstimateMapMemory(1025, true, 1, 0, 128);
  MapMemoryEstimate p0 = EstimateMapMemory(1024, true, 1, 0, 128);
  EXPECT_EQ(p1.workloads - p0.workloads - (2048 - 1024) * 16, 64u + 128u * 2384u);
}

// Kernel accounting measured on a 2-CPU 6.18 machine (fdinfo memlock), minus ~1 KiB of map
// struct: the formulas must reproduce it.
TEST(MapMemory, MatchesMeasuredKernelAccounting) {
  MapMemoryEstimate shared = EstimateMapMemory(4096, false, 16384, 32768, 2);
  EXPECT_NEAR(static_cast<double>(shared.workloads), 10'065'568.0, 2048);
  EXPECT_NEAR(static_cast<double>(shared.preemptions), 1'442'848.0, 2048);
  EXPECT_NEAR(static_cast<double>(shared.raw_stamps), 2'884'640.0, 2048);
  MapMemoryEstimate percpu = EstimateMapMemory(4096, true, 16384, 0, 2);
  EXPECT_NEAR(static_cast<double>(percpu.workloads), 19'858'304.0, 2048);
}

TEST(BpfStatsSysctl, ReadsFromTheProcRoot) {
  test::TempTree tree;
  EXPECT_FALSE(ReadBpfStatsEnabled(tree.root()).value_or(true));  // absent sysctl: off
  tree.Write("sys/kernel/bpf_stats_enabled", "1\n");
  EXPECT_TRUE(ReadBpfStatsEnabled(tree.root()).value_or(false));
  tree.Write("sys/kernel/bpf_stats_enabled", "0\n");
  EXPECT_FALSE(ReadBpfStatsEnabled(tree.root()).value_or(true));
  tree.Write("sys/kernel/bpf_stats_enabled", "on\n");
  Result<bool> bad = ReadBpfStatsEnabled(tree.root());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sys/kernel/bpf_stats_enabled"), std::string::npos);
}

}  // namespace
}  // namespace sw
