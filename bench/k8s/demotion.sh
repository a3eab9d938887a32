#!/bin/bash
# The demotion table of docs/kubernetes.md ("Living beside kubelet"): the latency-critical
# probe's wake-up delay in kubelet's cgroupfs layout with kubelet's real weights, a best-effort
# CPU hog in the same QoS branch (burstable) or another (besteffort), for each action:
#   none   nothing done
#   pod    cpu.idle on the hog's pod + SCHED_IDLE threads (the agent's demotion before this change)
#   lca    cpu.idle on the child of the lowest common ancestor on the hog's side + SCHED_IDLE
#          threads (different branches: kubelet's besteffort level, written by the bench only)
#   tasks  SCHED_IDLE threads only, no cgroup file written
#   agent  what the agent now chooses (DemotionLevelFor)
# Each case runs REPEATS times (interleaved, so drifting background load hits every case alike)
# and the table shows the median and min-max of each run's p99.
# Usage (root): [RAW=file] bench/k8s/demotion.sh [build_dir] [repeats] [window_ms]
# (RAW: where the runs are appended; an existing file's runs count in the table too; repeats 0
# only prints the table of RAW)
set -euo pipefail
BUILD=${1:-build}
REPEATS=${2:-5}
WINDOW_MS=${3:-6000}
BIN=$BUILD/bench/sw_k8s_demotion_bench
PREFIX=k8s-demote-bench.$$
[ "$(id -u)" = 0 ] || { echo "demotion.sh: needs root (cgroup writes, sched_setattr)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "demotion.sh: build $BIN first (cmake --build $BUILD --target sw_k8s_demotion_bench)" >&2; exit 2; }
RAW=${RAW:-$(mktemp /tmp/k8s-demote-bench.XXXXXX)}  # one line per run, kept for the record
cleanup() {
  for d in $(find /sys/fs/cgroup/cpu/$PREFIX -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT

ACTIONS="none pod lca tasks agent"
for r in $(seq 1 "$REPEATS"); do
  for b in same different; do
    for a in $ACTIONS; do
      "$BIN" "$b" "$a" "$WINDOW_MS" "$PREFIX" >> "$RAW"
    done
  done
done

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $(uname -r); raw runs: $RAW"
python3 - "$RAW" "$PREFIX" "$REPEATS" "$WINDOW_MS" "$ACTIONS" <<'PY'
import re, statistics, sys
raw, prefix, repeats, window, actions = sys.argv[1:6]
rows = [l.split() for l in open(raw) if l.strip()]
print(f"probe wake-up delay in us: median (min-max) over runs of {window} ms each;"
      " runq = kernel mean run_delay per timeslice")
print("| branch | action | cpu.idle level | runs | p99 µs | p99.9 µs | runq µs |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for b in ("same", "different"):
    for a in actions.split():
        rs = [r for r in rows if r[0] == b and r[1] == a]
        if not rs:
            continue
        def cell(i, fmt=int):
            v = [float(r[i]) for r in rs]
            return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})"
        level = re.sub(r"^/k8s-demote-bench\.[0-9]+", "", rs[0][2])
        print(f"| {b} | {a} | `{level}` | {len(rs)} | {cell(4)} | {cell(5)} |"
              f" {cell(6, lambda x: round(x, 1))} |")
PY
