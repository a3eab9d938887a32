// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * schedwarden's scheduler observer: run-queue latency by reason, CFS throttle waits and events,
 * and cross-workload preemption, per workload (cpu-controller cgroup id).
 *
 * One handler per tracepoint does all the work for that event. Each tracepoint has a tp_btf
 * program (direct BTF pointer walks, per-task stamps in task local storage) and a raw_tp twin
 * (BPF_CORE_READ, stamps in a bounded hash); userspace probes which kind the kernel takes and
 * turns autoload (and the unused stamp map's autocreate) off for the other.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "bpf/schedwarden_abi.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#ifndef EEXIST
#define EEXIST 17
#endif

/* Set before load: true when userspace switched `workloads` to BPF_MAP_TYPE_PERCPU_HASH. */
const volatile bool sw_percpu_workloads = false;
/*
 * Set before load (observer.bpf_throttle): false skips the throttle check, so throttled switch-outs
 * count as preempted and a kernel without CFS bandwidth fields still loads (dead code).
 */
const volatile bool sw_throttle_probe = true;

/*
 * Workload stats keyed by cgroup id. Shared HASH with atomic adds by default; userspace may switch
 * it to PERCPU_HASH with bpf_map__set_type() and resize it before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sw_workload_stats);
} workloads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sw_preempt_key);
	__type(value, __u64);
} preemptions SEC(".maps");

/* Indexed by enum sw_drop. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_NR_DROPS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* tp_btf: per-task state, bounded by the number of tasks and freed when a task exits. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sw_task_state);
} task_stamps SEC(".maps");

/*
 * raw_tp twin: task storage needs trusted task pointers, so a bounded hash keyed by the task's
 * address instead (no pid read needed). Like task storage, a task keeps its entry (updated in
 * place) until its final switch-out, where it is deleted: bounded by live tasks.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct sw_task_stamp);
} raw_stamps SEC(".maps");

/* Initial value of a new workload entry: too large for the 512-byte BPF stack. */
static struct sw_workload_stats zero_stats;

static __always_inline void count_drop(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &reason);

	if (c)
		*c += 1; /* per-CPU slot: no atomics needed */
}

static __always_inline void add_u64(__u64 *p, __u64 v)
{
	if (sw_percpu_workloads)
		*p += v;
	else
		__sync_fetch_and_add(p, v);
}

static __always_inline struct sw_workload_stats *workload_get(__u64 cgid)
{
	struct sw_workload_stats *w;
	int err;

	w = bpf_map_lookup_elem(&workloads, &cgid);
	if (w)
		return w;
	err = bpf_map_update_elem(&workloads, &cgid, &zero_stats, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count_drop(SW_DROP_WORKLOAD_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&workloads, &cgid);
}

static __always_inline void count_preemption(__u64 victim, __u64 aggressor)
{
	struct sw_preempt_key key = {.victim_cgid = victim, .aggressor_cgid = aggressor};
	__u64 one = 1, *c;
	int err;

	c = bpf_map_lookup_elem(&preemptions, &key);
	if (c) {
		__sync_fetch_and_add(c, 1);
		return;
	}
	err = bpf_map_update_elem(&preemptions, &key, &one, BPF_NOEXIST);
	if (!err)
		return;
	if (err == -EEXIST) { /* another CPU inserted it first */
		c = bpf_map_lookup_elem(&preemptions, &key);
		if (c) {
			__sync_fetch_and_add(c, 1);
			return;
		}
	}
	count_drop(SW_DROP_PREEMPT_MAP_FULL);
}

static __always_inline void stamp_set(bool btf, struct task_struct *t, __u32 reason, __u64 now)
{
	if (btf) {
		struct sw_task_state *s;

		s = bpf_task_storage_get(&task_stamps, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!s) {
			count_drop(SW_DROP_TASK_STAMP_FULL);
			return;
		}
		s->ts_ns = now;
		s->reason = reason;
	} else {
		__u64 key = (__u64)t;
		struct sw_task_stamp v = {.ts_ns = now, .reason = reason}, *s;
		int err;

		/* In place when the task has an entry: no bucket lock on the hot path. */
		s = bpf_map_lookup_elem(&raw_stamps, &key);
		if (s) {
			s->ts_ns = now;
			s->reason = reason;
			return;
		}
		err = bpf_map_update_elem(&raw_stamps, &key, &v, BPF_NOEXIST);
		if (err && err != -EEXIST)
			count_drop(SW_DROP_TASK_STAMP_FULL);
	}
}

/* Takes the pending stamp of t (if any) and clears it. Returns false when there is none. */
static __always_inline bool stamp_take(bool btf, struct task_struct *t, __u64 *ts, __u32 *reason)
{
	if (btf) {
		struct sw_task_state *s = bpf_task_storage_get(&task_stamps, t, 0, 0);

		if (!s || !s->ts_ns)
			return false;
		*ts = s->ts_ns;
		*reason = s->reason;
		s->ts_ns = 0;
	} else {
		__u64 key = (__u64)t;
		struct sw_task_stamp *s = bpf_map_lookup_elem(&raw_stamps, &key);

		if (!s || !s->ts_ns)
			return false;
		*ts = s->ts_ns;
		*reason = s->reason;
		s->ts_ns = 0; /* the entry lives until the task exits, like task storage */
	}
	return true;
}

#define SW_TASK_SEEN 1	   /* sched_info path: ts_ns holds a baseline */
#define SW_TASK_THROTTLED 2 /* sched_info path: switched out throttled */

/* w: the workload's entry if the caller already looked it up, else NULL (created here). */
static __always_inline void add_wait(struct sw_workload_stats *w, __u64 cgid, __u64 reason,
				     __u64 ns)
{
	__u64 b;

	if (!w)
		w = workload_get(cgid);
	if (!w)
		return;
	b = sw_hist_bucket(ns);
	/*
	 * Bound both indexes after the last helper call, in the 64-bit registers that index.
	 * Otherwise clang may check one copy (a zero-extension, or a value spilled to the stack
	 * before the check) and index with another; 6.1's verifier does not carry the bound over
	 * and rejected hist[reason][b] as unbounded. reason is always valid: stamps are ours.
	 */
	barrier_var(reason);
	barrier_var(b);
	if (reason >= SW_NR_REASONS || b >= SW_HIST_BUCKETS)
		return;
	add_u64(&w->hist[reason][b], 1);
	add_u64(&w->sum_ns[reason], ns);
}

/*
 * tp_btf with the kernel's sched_info: no stamp at wakeup. The kernel keeps per task run_delay
 * (ns queued, summed) and last_queued (start of the wait's current segment on the rq clock, 0
 * when not queued), and adds the pending segment to run_delay just after sched_switch. So the
 * wait ending at a switch-in is run_delay + (clock - last_queued) minus that same total at the
 * task's previous switch-in (kept in task storage): what the kernel adds to schedstat's
 * run_delay, including the part before a migration of the queued task (which restarts
 * last_queued). Why: nvcsw moved since then, so it slept (`wakeup`); else the switch-out was
 * involuntary: `throttled` when flagged at that switch-out, else `preempted`. Saves the task
 * storage access at every wakeup and at every preempted switch-out (cache misses at scale).
 *
 * The switch-in of next, whose task storage is s: w is its workload's entry when it exists.
 */
static __always_inline void switch_in_sched_info(struct task_struct *next, struct sw_task_state *s,
						 __u64 cgid, struct sw_workload_stats *w)
{
	__u64 now, lq, total, reason;
	__u32 nvcsw;

	now = next->se.cfs_rq->rq->clock;
	lq = next->sched_info.last_queued;
	nvcsw = next->nvcsw;
	if (lq > now) {
		count_drop(SW_DROP_NEGATIVE_DELTA);
		s->reason = 0; /* take a new baseline next time */
		return;
	}
	total = next->sched_info.run_delay + (lq ? now - lq : 0);
	if (!(s->reason & SW_TASK_SEEN)) {
		if (next->sched_info.pcount) {
			/* Ran before we saw it: only a baseline (its wait began unobserved). */
			s->ts_ns = total;
			s->nvcsw = nvcsw;
			s->reason = SW_TASK_SEEN;
			return;
		}
		reason = SW_REASON_WAKEUP; /* a new task's first wait: all of its run_delay */
		s->ts_ns = 0;
	} else if (s->reason & SW_TASK_THROTTLED) {
		reason = SW_REASON_THROTTLED;
	} else if (nvcsw != s->nvcsw) {
		reason = SW_REASON_WAKEUP;
	} else {
		reason = SW_REASON_PREEMPTED;
	}
	if (total < s->ts_ns) { /* run_delay only grows: a kernel we misread */
		count_drop(SW_DROP_NEGATIVE_DELTA);
		reason = SW_NR_REASONS;
	}
	total -= s->ts_ns;
	s->ts_ns += total;
	s->nvcsw = nvcsw;
	s->reason = SW_TASK_SEEN;
	if (reason < SW_NR_REASONS)
		add_wait(w, cgid, reason, total);
}

/*
 * The workload id of t, from its task storage s (NULL: none) while t's task group is the one it
 * was read through, else read and cached. The cached id saves the css -> cgroup -> kernfs_node
 * chase, cold lines at scale; comparing the serial number as well as the address makes a
 * task_group freed and reallocated at the same address a miss, not a stale id.
 */
static __always_inline __u64 task_cgid_cached(struct task_struct *t, struct sw_task_state *s)
{
	struct task_group *tg = t->sched_task_group;
	__u64 serial = tg->css.serial_nr, cgid;

	if (s && s->tg == (__u64)tg && s->tg_serial == serial)
		return s->cgid;
	cgid = sw_task_cgid(true, t);
	if (s) {
		s->tg = (__u64)tg;
		s->tg_serial = serial;
		s->cgid = cgid;
	}
	return cgid;
}

/*
 * Every map entry the event needs is looked up before the first atomic add: a locked add waits
 * for its cache line and keeps later loads from starting, so lookup, add, lookup, add would
 * serialize cache misses that can otherwise overlap (at scale neither the task storage, the
 * workload entry nor the preemption pair is warm).
 */
static __always_inline int on_switch_sched_info(bool preempt, struct task_struct *prev,
						struct task_struct *next)
{
	struct sw_workload_stats *w, *next_w = NULL;
	__u64 next_cgid = 0, *pair = NULL;
	struct sw_task_state *s, *ns = NULL;

	if (next->pid) {
		ns = bpf_task_storage_get(&task_stamps, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		next_cgid = task_cgid_cached(next, ns);
		next_w = bpf_map_lookup_elem(&workloads, &next_cgid); /* created when a wait needs it */
	}
	if ((preempt || sw_task_state(true, prev) == SW_TASK_RUNNING) && prev->pid) {
		if (sw_throttle_probe && sw_task_throttled(true, prev)) {
			s = bpf_task_storage_get(&task_stamps, prev, 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (s)
				s->reason |= SW_TASK_THROTTLED;
			else
				count_drop(SW_DROP_TASK_STAMP_FULL);
			w = workload_get(task_cgid_cached(prev, s));
			if (w)
				add_u64(&w->throttle_events, 1);
		} else if (next->pid) {
			/* prev's storage is warm from its switch-in: its cached id costs little */
			struct sw_preempt_key key = {.aggressor_cgid = next_cgid};

			s = bpf_task_storage_get(&task_stamps, prev, 0, 0);
			key.victim_cgid = task_cgid_cached(prev, s);
			if (key.victim_cgid != next_cgid) {
				pair = bpf_map_lookup_elem(&preemptions, &key);
				if (!pair) /* a new pair: insert (and count) now */
					count_preemption(key.victim_cgid, next_cgid);
			}
		}
	}
	if (ns)
		switch_in_sched_info(next, ns, next_cgid, next_w);
	else if (next->pid)
		count_drop(SW_DROP_TASK_STAMP_FULL);
	if (pair)
		__sync_fetch_and_add(pair, 1);
	return 0;
}

static __always_inline int on_wakeup(bool btf, struct task_struct *p)
{
	if (btf && sw_have_sched_info())
		return 0; /* the kernel's sched_info.last_queued is the stamp */
	/* The idle task is never woken; the pid check is nearly free on BTF pointers only. */
	if (btf && !sw_task_pid(btf, p))
		return 0;
	stamp_set(btf, p, SW_REASON_WAKEUP, bpf_ktime_get_ns());
	return 0;
}

static __always_inline int on_switch(bool btf, bool preempt, struct task_struct *prev,
				     struct task_struct *next)
{
	__u64 now, next_cgid = 0, ts;
	bool have_next_cgid = false;
	unsigned int state = SW_TASK_RUNNING;
	struct sw_workload_stats *w;
	__u32 reason;

	if (btf && sw_have_sched_info())
		return on_switch_sched_info(preempt, prev, next);
	now = bpf_ktime_get_ns();
	/*
	 * Switch-out: why is prev leaving while it still wants the CPU? A task going to sleep
	 * (the common case) costs one state read. `preempt` also covers a task preempted between
	 * setting a sleep state and calling schedule(): it stays queued. A throttled task leaves
	 * still TASK_RUNNING, so the throttle check only runs for runnable tasks. The idle task
	 * (pid 0) is always TASK_RUNNING: its pid is read only then.
	 */
	if (!preempt)
		state = sw_task_state(btf, prev);
	if (state == SW_TASK_RUNNING) {
		if (!sw_task_pid(btf, prev)) {
			/* idle: nothing to stamp */
		} else if (sw_throttle_probe && sw_task_throttled(btf, prev)) {
			stamp_set(btf, prev, SW_REASON_THROTTLED, now);
			w = workload_get(sw_task_cgid(btf, prev));
			if (w)
				add_u64(&w->throttle_events, 1);
		} else {
			stamp_set(btf, prev, SW_REASON_PREEMPTED, now);
			if (sw_task_pid(btf, next)) {
				__u64 victim = sw_task_cgid(btf, prev);

				next_cgid = sw_task_cgid(btf, next);
				have_next_cgid = true;
				if (victim != next_cgid)
					count_preemption(victim, next_cgid);
			}
		}
	} else if (!btf && (state & SW_TASK_DEAD)) {
		/* Final switch-out: drop a stale stamp (task storage frees itself at exit). */
		__u64 key = (__u64)prev;

		bpf_map_delete_elem(&raw_stamps, &key);
	}

	/*
	 * Switch-in: the wait of next ends now. The idle task never has a stamp, so the raw twin
	 * skips its pid read; on BTF pointers the check is nearly free and saves a storage lookup.
	 */
	if (btf && !sw_task_pid(btf, next))
		return 0;
	if (!stamp_take(btf, next, &ts, &reason))
		return 0;
	if (now < ts) {
		count_drop(SW_DROP_NEGATIVE_DELTA);
		return 0;
	}
	if (!have_next_cgid)
		next_cgid = sw_task_cgid(btf, next);
	add_wait(NULL, next_cgid, reason, now - ts);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sw_wakeup, struct task_struct *p)
{
	return on_wakeup(true, p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sw_wakeup_new, struct task_struct *p)
{
	return on_wakeup(true, p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sw_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(true, preempt, prev, next);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sw_wakeup_raw, struct task_struct *p)
{
	return on_wakeup(false, p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sw_wakenew_raw, struct task_struct *p)
{
	return on_wakeup(false, p);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sw_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(false, preempt, prev, next);
}
