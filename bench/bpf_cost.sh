#!/usr/bin/env bash
# Cost of schedwarden's BPF programs in nanoseconds per event, next to libbpf-tools' runqlat
# attached at the same time to the same load, for both workload-map variants (shared HASH with
# atomic adds, PERCPU_HASH). Uses kernel.bpf_stats_enabled (restored afterwards) and the
# run_time_ns / run_cnt that `bpftool prog show` reports, counted only over the load window.
#
# Usage (root): bench/bpf_cost.sh [BUILD_DIR] [LOOPS]
#   BUILD_DIR  where sw_bpf_bench_loader was built (default: build)
#   LOOPS      `perf bench sched pipe -l` loops per variant (default: 300000)
# Environment: SW_BENCH_VARIANTS, a list of MAP[:ATTACH] with MAP shared|percpu and ATTACH
#   auto|tp_btf|raw_tp (default: "shared percpu shared:raw_tp").
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
loops=${2:-300000}
variants=${SW_BENCH_VARIANTS:-shared percpu shared:raw_tp}
loader=$build/bench/sw_bpf_bench_loader
runqlat=${RUNQLAT:-/usr/sbin/runqlat}

die() { echo "bpf_cost: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (loads BPF programs, sets kernel.bpf_stats_enabled)"
[[ -x $loader ]] || die "$loader not built: cmake --build $build --target sw_bpf_bench_loader"
[[ -x $runqlat ]] || die "$runqlat missing: apt-get install libbpf-tools"
command -v perf >/dev/null || die "perf missing: apt-get install linux-perf"
command -v bpftool >/dev/null || die "bpftool missing: apt-get install bpftool"
command -v jq >/dev/null || die "jq missing: apt-get install jq"

tmp=$(mktemp -d)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  sysctl -q -w kernel.bpf_stats_enabled="$old_stats"
  rm -rf "$tmp"
}
trap cleanup EXIT
sysctl -q -w kernel.bpf_stats_enabled=1

prog_ids() { bpftool prog show -j | jq -r '.[].id' | sort -n; }
# id name run_time_ns run_cnt, for the given ids
prog_stats() {
  bpftool prog show -j | jq -r --argjson ids "[$(IFS=,; echo "$*")]" \
    '.[] | select(.id as $i | $ids | index($i)) | "\(.id) \(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"'
}

printf '%-8s %-7s %-18s %-16s %12s %14s %9s\n' variant attach tool program events run_time_ns ns/event \
  > "$tmp/table"
for spec in $variants; do
  variant=${spec%%:*}
  attach=auto
  [[ $spec == *:* ]] && attach=${spec#*:}
  before=$(prog_ids)
  "$loader" --map "$variant" --attach "$attach" > "$tmp/loader.out" 2> "$tmp/loader.err" &
  loader_pid=$!
  pids+=("$loader_pid")
  "$runqlat" 3600 1 > /dev/null 2> "$tmp/runqlat.err" &
  runqlat_pid=$!
  pids+=("$runqlat_pid")
  for _ in $(seq 100); do  # both tools attach within a second or two
    grep -q '^ready' "$tmp/loader.out" 2>/dev/null &&
      [[ $(comm -13 <(echo "$before") <(prog_ids) | wc -l) -ge 6 ]] && break
    sleep 0.1
  done
  grep -q '^ready' "$tmp/loader.out" || die "loader did not start: $(cat "$tmp/loader.err")"
  kind=$(sed -n 's/^ready attach=\([a-z_]*\).*/\1/p' "$tmp/loader.out")
  # Ours: the ids the loader reports. runqlat's: new programs named like its handlers (anything
  # else loaded meanwhile by other processes is left out).
  our_ids=$(sed -n 's/^ready .*ids=\([0-9,]*\)/\1/p' "$tmp/loader.out" | tr ',' ' ')
  rql_ids=$(bpftool prog show -j | jq -r --argjson before "[$(echo $before | tr ' ' ',')]" \
    '.[] | select((.id as $i | $before | index($i) | not) and
                  (.name | test("^(sched_wakeup|sched_wakeup_new|sched_switch|sched_wakeup_ne)$")))
         | .id' | tr '\n' ' ')
  new_ids="$our_ids $rql_ids"
  # shellcheck disable=SC2086
  prog_stats $new_ids > "$tmp/start"
  perf bench sched pipe -l "$loops" > "$tmp/perf.out" 2>&1
  # shellcheck disable=SC2086
  prog_stats $new_ids > "$tmp/end"
  kill -INT "$loader_pid" "$runqlat_pid"
  wait "$loader_pid" || die "loader failed: $(cat "$tmp/loader.err")"
  wait "$runqlat_pid" || true
  pids=()
  join <(sort "$tmp/start") <(sort "$tmp/end") | while read -r id name t0 c0 name2 t1 c1; do
    tool=runqlat
    [[ $name == sw_* ]] && tool=schedwarden
    events=$((c1 - c0))
    ns=$((t1 - t0))
    per="-"
    [[ $events -gt 0 ]] && per=$(awk -v a="$ns" -v b="$events" 'BEGIN { printf "%.1f", a / b }')
    printf '%-8s %-7s %-18s %-16s %12d %14d %9s\n' "$variant" "$kind" "$tool" "$name" \
      "$events" "$ns" "$per"
  done | sort -k3,3r -k4,4 >> "$tmp/table"
  {
    echo "# $variant/$kind: map memory (kernel memlock accounting, $(nproc) CPUs)"
    grep '^map ' "$tmp/loader.out" | sed 's/^/#   /'
    grep '^drops\|^workloads' "$tmp/loader.out" | sed 's/^/#   /'
    grep -E 'Total time|usecs/op' "$tmp/perf.out" | sed 's/^ */#   perf: /'
  } >> "$tmp/notes"
done
echo "kernel $(uname -r), $(nproc) CPUs, load: perf bench sched pipe -l $loops (per variant)"
cat "$tmp/table"
cat "$tmp/notes"
