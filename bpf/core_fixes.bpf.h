/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * CO-RE compatibility in one place: every kernel layout change the programs paper over, with the
 * change that caused it. Each accessor has two forms: `btf` (direct BTF pointer walks, allowed in
 * tp_btf programs and much cheaper) and raw (BPF_CORE_READ, i.e. bpf_probe_read_kernel, for
 * raw_tp). Callers pass a compile-time constant so the other form is compiled out.
 *
 * Features are probed with bpf_core_field_exists()/bpf_core_type_exists(); never kernel versions.
 */
#ifndef SCHEDWARDEN_CORE_FIXES_BPF_H
#define SCHEDWARDEN_CORE_FIXES_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_core_read.h>

#define SW_TASK_RUNNING 0
#define SW_TASK_DEAD 0x80 /* __state of an exiting task at its final switch-out */

/*
 * commit 2f064a59a11f ("sched: Change task_struct::state", v5.14) renamed state to __state.
 */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

static __always_inline unsigned int sw_task_state(bool btf, struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return btf ? t->__state : BPF_CORE_READ(t, __state);
	struct task_struct___o *o = (void *)t;
	return btf ? o->state : BPF_CORE_READ(o, state);
}

/*
 * Task-based CFS throttling (Aaron Lu's series "sched/fair: task based throttle model", v6.18)
 * added task_struct.throttled: a throttled task is dequeued on its way back to user space and
 * switched out still TASK_RUNNING, while tasks of a throttled cfs_rq that are still in the
 * kernel keep running. So where the field exists it is the only truthful signal. Before that
 * series the whole cfs_rq was dequeued at throttle time, and the switched-out task's
 * se.cfs_rq->throttle_count (this or an ancestor group throttled) was already set when
 * sched_switch fired.
 */
struct task_struct___throttle {
	bool throttled;
} __attribute__((preserve_access_index));

static __always_inline bool sw_task_throttled(bool btf, struct task_struct *t)
{
	struct task_struct___throttle *tt = (void *)t;

	if (bpf_core_field_exists(tt->throttled))
		return btf ? tt->throttled : BPF_CORE_READ(tt, throttled);
	if (btf)
		return t->se.cfs_rq->throttle_count > 0;
	return BPF_CORE_READ(t, se.cfs_rq, throttle_count) > 0;
}

/*
 * commit 67c0496e87d1 ("kernfs: convert kernfs_node->id from union kernfs_node_id to u64", v5.5).
 */
union kernfs_node_id___old {
	struct {
		__u32 ino;
		__u32 generation;
	};
	__u64 id;
} __attribute__((preserve_access_index));

struct kernfs_node___old {
	union kernfs_node_id___old id;
} __attribute__((preserve_access_index));

static __always_inline __u64 sw_kernfs_id(bool btf, struct kernfs_node *kn)
{
	if (bpf_core_type_exists(union kernfs_node_id___old)) {
		struct kernfs_node___old *o = (void *)kn;
		return btf ? o->id.id : BPF_CORE_READ(o, id.id);
	}
	return btf ? kn->id : BPF_CORE_READ(kn, id);
}

/*
 * The workload of a task: the cgroup of its cpu-controller task group. Exists on cgroup v1 and
 * v2 (CONFIG_CGROUP_SCHED); the kernfs id equals the cgroup directory's inode number.
 */
static __always_inline __u64 sw_task_cgid(bool btf, struct task_struct *t)
{
	struct kernfs_node *kn;

	if (btf)
		kn = t->sched_task_group->css.cgroup->kn;
	else
		kn = BPF_CORE_READ(t, sched_task_group, css.cgroup, kn);
	return sw_kernfs_id(btf, kn);
}

/*
 * The kernel's own run-queue accounting (CONFIG_SCHED_INFO, set by SCHEDSTATS or TASK_DELAY_ACCT)
 * and the rq clock it runs on, reached through the task's cfs_rq (CONFIG_FAIR_GROUP_SCHED; every
 * task's se.cfs_rq points into the rq of its CPU, whatever its class). tp_btf only.
 */
static __always_inline bool sw_have_sched_info(void)
{
	return bpf_core_field_exists(struct task_struct, sched_info) &&
	       bpf_core_field_exists(struct cfs_rq, rq);
}

static __always_inline __u32 sw_task_pid(bool btf, struct task_struct *t)
{
	return btf ? t->pid : BPF_CORE_READ(t, pid);
}

#endif /* SCHEDWARDEN_CORE_FIXES_BPF_H */
