/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one definition of every map key and value shared by the BPF programs
 * (bpf/schedwarden.bpf.c) and the C++ agent (userspace/). Fixed-width types only; no hand-kept
 * copies anywhere else.
 *
 * Latency histograms are log-linear: SW_HIST_SUB (4) sub-buckets per power of two of nanoseconds,
 * from 2^10 ns (~1 us) to 2^34 ns (~17 s), plus an underflow and an overflow bucket. Bucket i
 * holds values v with lower(i) < v <= upper(i), so the upper edges are exact Prometheus `le`s.
 */
#ifndef SCHEDWARDEN_ABI_H
#define SCHEDWARDEN_ABI_H

#ifdef __cplusplus
#include <linux/types.h>
#endif

#define SW_HIST_SUB_BITS 2
#define SW_HIST_SUB (1 << SW_HIST_SUB_BITS)
#define SW_HIST_MIN_SHIFT 10 /* 1024 ns */
#define SW_HIST_MAX_SHIFT 34 /* 17.18 s */
#define SW_HIST_OCTAVES (SW_HIST_MAX_SHIFT - SW_HIST_MIN_SHIFT)
/* [0] underflow (<= 1024 ns), [1 .. OCTAVES*SUB] log-linear, [last] overflow (> 2^34 ns) */
#define SW_HIST_BUCKETS (SW_HIST_OCTAVES * SW_HIST_SUB + 2)

enum sw_reason {
	SW_REASON_WAKEUP = 0,	 /* run-queue wait after sched_wakeup / sched_wakeup_new */
	SW_REASON_PREEMPTED = 1, /* run-queue wait after involuntary switch-out */
	SW_REASON_THROTTLED = 2, /* CFS-throttled at switch-out: NOT run-queue latency */
	SW_NR_REASONS = 3,
};

enum sw_drop {
	SW_DROP_WORKLOAD_MAP_FULL = 0, /* a new workload found the workload map full */
	SW_DROP_PREEMPT_MAP_FULL = 1,  /* a new (victim, aggressor) pair found its map full */
	SW_DROP_TASK_STAMP_FULL = 2,   /* no room to store a task's enqueue stamp */
	SW_DROP_NEGATIVE_DELTA = 3, /* switch-in earlier than the stamp (clock skew across CPUs) */
	SW_NR_DROPS = 4,
};

/*
 * Value of the workload map, keyed by the cpu-controller cgroup id (__u64 kernfs id). The sums
 * come first: a hash element's value follows its key, so a wait's sum update lands on the cache
 * lines the lookup just read, and only the histogram bucket is another line.
 */
struct sw_workload_stats {
	__u64 sum_ns[SW_NR_REASONS];
	__u64 throttle_events;
	__u64 hist[SW_NR_REASONS][SW_HIST_BUCKETS];
};

/*
 * Per-task state: value of the task-address-keyed fallback hash (raw_tp twins), and the head of
 * the task local storage value (tp_btf programs, struct sw_task_state). Two uses (docs/bpf.md):
 * - stamps (raw_tp; tp_btf without the kernel's sched_info): ts_ns is when the pending wait
 *   began (0: none), reason its enum sw_reason;
 * - sched_info (tp_btf): ts_ns is the task's run_delay after its previous switch-in, nvcsw its
 *   voluntary switch count then, reason the SW_TASK_SEEN / SW_TASK_THROTTLED flags.
 */
struct sw_task_stamp {
	__u64 ts_ns;
	__u32 reason;
	__u32 nvcsw;
};

/*
 * Value of the task local storage map (tp_btf programs): the stamp fields as above, then the
 * task's workload id as read at its last switch-in, through task_group `tg` (its address) whose
 * css.serial_nr was `tg_serial`. While the task's sched_task_group and that serial number (never
 * reused, unlike an address) are unchanged, `cgid` still holds and the pointer chase to the
 * cgroup's kernfs id is skipped.
 */
struct sw_task_state {
	__u64 ts_ns;
	__u32 reason;
	__u32 nvcsw;
	__u64 tg;
	__u64 tg_serial;
	__u64 cgid;
};

/* Key of the preemption map; the value is a __u64 count. */
struct sw_preempt_key {
	__u64 victim_cgid;
	__u64 aggressor_cgid;
};

/* floor(log2(v)) for v > 0, without loops or 64-bit constants the verifier dislikes. */
static inline __u32 sw_log2_u64(__u64 v)
{
	__u32 r = 0, shift;
	__u32 hi = v >> 32;
	if (hi) {
		v = hi;
		r = 32;
	}
	__u32 x = (__u32)v;
	shift = (x > 0xFFFF) << 4;
	x >>= shift;
	r |= shift;
	shift = (x > 0xFF) << 3;
	x >>= shift;
	r |= shift;
	shift = (x > 0xF) << 2;
	x >>= shift;
	r |= shift;
	shift = (x > 0x3) << 1;
	x >>= shift;
	r |= shift;
	r |= (x >> 1);
	return r;
}

/* Bucket index of a wait of `ns` nanoseconds: lower(i) < ns <= upper(i). */
static inline __u32 sw_hist_bucket(__u64 ns)
{
	__u64 x = ns ? ns - 1 : 0;
	if (x < (1ULL << SW_HIST_MIN_SHIFT))
		return 0;
	__u32 k = sw_log2_u64(x);
	if (k >= SW_HIST_MAX_SHIFT)
		return SW_HIST_BUCKETS - 1;
	__u32 sub = (__u32)(x >> (k - SW_HIST_SUB_BITS)) & (SW_HIST_SUB - 1);
	return 1 + (k - SW_HIST_MIN_SHIFT) * SW_HIST_SUB + sub;
}

#endif /* SCHEDWARDEN_ABI_H */
