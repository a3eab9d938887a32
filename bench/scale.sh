#!/usr/bin/env bash
# Scale benchmark (issue 9): N cgroups with K threads each waking every period, the agent in
# observe mode with its default config, and every figure of the issue's table next to its target.
#
# Usage (root, after scripts/setup.sh):
#   bench/scale.sh [--workloads 1000] [--threads-per-workload 1] [--period-ms 100] [--seconds 40]
#                  [--churn] [--churn-per-minute 3000] [--churn-seconds S] [--churn-settle 25]
#                  [--bpf-runs 5] [--bpf-seconds 5] [--profile-seconds 20] [--json FILE]
#                  [--build DIR] [--no-build] [--force] [--perf-data FILE] [--every-interval]
#
# Phases, each --seconds long, the load running throughout:
#   A  no scrapes              agent CPU (utime+stime of /proc/<pid>/stat over the window), VmRSS
#   B  a scrape every 2 s      CPU; the HTTP server threads' CPU per scrape is a scrape's cost
#   C  a scrape every 15 s     CPU (measured; the verdict uses B's cost per scrape, less noisy)
#   profile                    --profile-seconds with a scrape every 2 s under `perf record`: the
#                              agent's CPU split by part (BPF map reads, cgroupfs reads, cgroup
#                              tree walk, controller + status, exposition, ...) from its stacks
#   scrapes back to back       series, bytes (plain; gzip when the agent serves it), wall time
#   BPF cost                   --bpf-runs windows of --bpf-seconds with kernel.bpf_stats_enabled=1
#                              and libbpf-tools' runqlat attached: ns/event of the agent's own
#                              programs vs runqlat's on the same load; the median ratio
#   churn (--churn)            a second loader creates and removes --churn-per-minute cgroups (one
#                              process each, living 1 s) for --churn-seconds; then, --churn-settle
#                              seconds later (the agent re-walks the hierarchy at least every 10 s
#                              and releases a label on the walk after), RSS growth and stale series
# Everything the script made (cgroups, processes, the temp dir, bpf_stats) is undone on exit,
# also on failure or Ctrl-C.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

workloads=1000
threads=1
seconds=40
churn=0
churn_per_minute=3000
churn_seconds=
churn_settle=25
bpf_runs=5
bpf_seconds=5
profile_seconds=20
json_out=
perf_keep=
every_interval=0
build=build
do_build=1
period_ms=100
force=0
warmup=5
command_line="bench/scale.sh $*"

die() {
  echo "scale: $*" >&2
  exit 1
}
usage() {
  sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
num() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a whole number, got \"$2\""; }
while (($#)); do
  case $1 in
    --workloads) num "$1" "${2-}"; workloads=$2; shift 2 ;;
    --threads-per-workload) num "$1" "${2-}"; threads=$2; shift 2 ;;
    --period-ms) num "$1" "${2-}"; period_ms=$2; shift 2 ;;
    --force) force=1; shift ;;
    --seconds) num "$1" "${2-}"; seconds=$2; shift 2 ;;
    --churn) churn=1; shift ;;
    --churn-per-minute) num "$1" "${2-}"; churn_per_minute=$2; shift 2 ;;
    --churn-seconds) num "$1" "${2-}"; churn_seconds=$2; shift 2 ;;
    --churn-settle) num "$1" "${2-}"; churn_settle=$2; shift 2 ;;
    --bpf-runs) num "$1" "${2-}"; bpf_runs=$2; shift 2 ;;
    --bpf-seconds) num "$1" "${2-}"; bpf_seconds=$2; shift 2 ;;
    --profile-seconds) num "$1" "${2-}"; profile_seconds=$2; shift 2 ;;
    --json) [[ -n ${2-} ]] || die "--json needs a file"; json_out=$2; shift 2 ;;
    --perf-data) [[ -n ${2-} ]] || die "--perf-data needs a file"; perf_keep=$2; shift 2 ;;
    --every-interval) every_interval=1; shift ;;
    --build) [[ -n ${2-} ]] || die "--build needs a directory"; build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h | --help) usage ;;
    *) echo "scale: unknown argument \"$1\"" >&2; usage ;;
  esac
done
((workloads >= 1 && threads >= 1 && seconds >= 2 && period_ms >= 1)) ||
  die "--workloads, --threads-per-workload and --period-ms must be ≥ 1, --seconds ≥ 2"
# A wake-up costs ~25 µs of CPU here (10 µs of work, the switches, the BPF programs). A load
# that needs more than half the machine starves everything (1,000 x 10 threads every 100 ms on 2
# CPUs: load average 8,000, scrapes timing out): refuse it unless --force.
load_cores=$(awk -v n=$((workloads * threads)) -v p="$period_ms" 'BEGIN { printf "%.2f", n * 1000 / p * 25e-6 }')
if ((!force)) && awk -v c="$load_cores" -v n="$(nproc)" 'BEGIN { exit !(c > n / 2) }'; then
  die "$((workloads * threads * 1000 / period_ms)) wake-ups/s need ~$load_cores of $(nproc) CPUs: raise --period-ms (e.g. $((period_ms * threads)) for $((workloads * threads)) threads), or --force"
fi
churn_seconds=${churn_seconds:-$seconds}
[[ -n $json_out && $json_out != /* ]] && json_out=$PWD/$json_out

[[ $(id -u) -eq 0 ]] || die "needs root (creates cgroups, loads BPF); run scripts/setup.sh first"
((profile_seconds == 0)) || command -v perf >/dev/null ||
  die "perf missing: apt-get install linux-perf (or --profile-seconds 0)"
for tool in curl jq bpftool ss gzip; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup.sh (Debian: apt-get install $tool)"
done
runqlat=${RUNQLAT:-/usr/sbin/runqlat}
((bpf_runs == 0)) || [[ -x $runqlat ]] || die "$runqlat missing: apt-get install libbpf-tools (or --bpf-runs 0)"

if ((do_build)); then
  [[ -f $build/CMakeCache.txt ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 --target schedwarden sw_scale_load >/dev/null ||
    die "build failed: cmake --build $build --target schedwarden sw_scale_load"
fi
agent_bin=$build/schedwarden
load_bin=$build/bench/sw_scale_load
[[ -x $agent_bin && -x $load_bin ]] || die "$agent_bin or $load_bin not built (drop --no-build)"

tmp=$(mktemp -d /tmp/bench-scale.XXXXXX)
parent=sw-bench-scale-$$
churn_parent=sw-bench-churn-$$
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
load_pid='' churn_pid='' agent_pid='' runqlat_pid='' perf_pid=''
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in $runqlat_pid $perf_pid; do kill -INT "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done
  if [[ -n $agent_pid ]] && kill -TERM "$agent_pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  for p in $churn_pid $load_pid; do  # the loaders kill their workers and remove their cgroups
    kill -TERM "$p" 2>/dev/null || continue
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # Backstop (a loader killed hard): our cgroups, in every hierarchy, deepest first.
  for d in /sys/fs/cgroup/*/"$parent" /sys/fs/cgroup/*/"$churn_parent" \
    /sys/fs/cgroup/"$parent" /sys/fs/cgroup/"$churn_parent"; do
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d $d ]] && echo "scale: could not remove $d" >&2 && rc=1
  done
  sysctl -q -w kernel.bpf_stats_enabled="$old_stats" || true
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clk_tck=$(getconf CLK_TCK)
now() { awk '{print $1}' /proc/uptime; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# utime+stime of the agent in seconds
agent_cpu() { awk -v t="$clk_tck" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$agent_pid/stat"; }
# ... of its main thread (the control loop); the rest is the HTTP server's threads.
main_cpu() { awk -v t="$clk_tck" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$agent_pid/task/$agent_pid/stat"; }
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "null"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- the load -----------------------------------------------------------------------------------
load_start_avg=$(loadavg)
echo "scale: starting $workloads cgroups x $threads thread(s), a wake-up every ${period_ms} ms (load average $load_start_avg)"
"$load_bin" --workloads "$workloads" --threads "$threads" --period-ms "$period_ms" \
  --parent "$parent" > "$tmp/load.out" 2> "$tmp/load.err" &
load_pid=$!
for _ in $(seq 1200); do
  grep -q '^ready' "$tmp/load.out" && break
  kill -0 "$load_pid" 2>/dev/null || die "load generator failed: $(cat "$tmp/load.err")"
  sleep 0.1
done
grep -q '^ready' "$tmp/load.out" || die "load generator not ready after 120 s"
cpu_root=$(sed -n 's/^ready .*hierarchies=\([^,]*\).*/\1/p' "$tmp/load.out")
hierarchies=$(sed -n 's/^ready .*hierarchies=//p' "$tmp/load.out")
layout=$(awk -v c="$cpu_root" '$5 == c { print $9 }' /proc/self/mountinfo | head -1)
[[ $layout == cgroup2 ]] && layout="v2" || layout="v1 ($hierarchies)"

# One sample of the load: "mono_ns wakeups late churn_created churn_removed churn_wakeups"
load_sample() {
  local pid=$1 file=$2 n
  n=$(grep -c '^sample' "$file" || true)
  kill -USR1 "$pid"
  for _ in $(seq 200); do
    (($(grep -c '^sample' "$file" || true) > n)) && break
    sleep 0.01
  done
  grep '^sample' "$file" | tail -1 | sed 's/[a-z_]*=//g' | cut -d' ' -f2-7
}

# Others' cgroups and schedwarden agents skew every figure: say so.
other_cgroups=$(find "$cpu_root" -mindepth 1 -type d -not -path "$cpu_root/$parent" \
  -not -path "$cpu_root/$parent/*" 2>/dev/null | wc -l)
other_agents=$(pgrep -x schedwarden | wc -l || true)

# --- the agent ----------------------------------------------------------------------------------
port=
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 40000))
  ss -Htln "sport = :$p" | grep -q . || { port=$p; break; }
done
[[ -n $port ]] || die "no free TCP port found"
url=http://127.0.0.1:$port/metrics
# The default config gives no workload an objective: the loop runs at its idle_interval (2 s).
# --every-interval: every 500 ms, as with a workload under an objective (its CPU cost).
agent_config=()
if ((every_interval)); then
  printf 'interval: 500ms\nidle_interval: 500ms\n' > "$tmp/config.yaml"
  agent_config=(--config "$tmp/config.yaml")
fi
"$agent_bin" run "${agent_config[@]}" --mode observe --state-dir "$tmp/state" \
  --listen "127.0.0.1:$port" > "$tmp/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 300); do  # listening, without a scrape (phase A must see none)
  ss -Htln "sport = :$port" | grep -q . && break
  kill -0 "$agent_pid" 2>/dev/null || die "agent failed to start: $(tail -5 "$tmp/agent.log")"
  sleep 0.1
done
ss -Htln "sport = :$port" | grep -q . || die "agent not listening on $port after 30 s"
sleep "$warmup"

scrape() {  # scrape FILE [gzip]: prints "seconds bytes content-encoding"
  local hdr=(-H 'Accept-Encoding: identity')
  [[ ${2-} == gzip ]] && hdr=(-H 'Accept-Encoding: gzip')
  curl -sS --max-time 30 "${hdr[@]}" -D "$1.headers" -o "$1" \
    -w '%{time_total} %{size_download}' "$url" || die "scrape of $url failed"
  echo " $(awk 'tolower($1) == "content-encoding:" { gsub(/\r/, ""); print $2 }' "$1.headers")"
}

# window SECONDS SCRAPE_EVERY(0 = none) NAME: prints the agent's CPU % of one core over the window
# and the CPU seconds its threads other than the main one (the HTTP server's) used.
window() {
  local secs=$1 every=$2 name=$3 t0 c0 m0 t1 c1 m1 next line
  t0=$(now) c0=$(agent_cpu) m0=$(main_cpu)
  if ((every > 0)); then
    next=0
    while awk -v a="$(now)" -v b="$t0" -v s="$secs" 'BEGIN { exit !(a - b < s) }'; do
      if awk -v a="$(now)" -v b="$t0" -v n="$next" 'BEGIN { exit !(a - b >= n) }'; then
        line="$(now) $(scrape "$tmp/$name.prom")"
        echo "$line" >> "$tmp/$name.scrapes"
        cp "$tmp/$name.prom" "$tmp/$name.last.prom"
        [[ -f $tmp/$name.first.prom ]] || cp "$tmp/$name.prom" "$tmp/$name.first.prom"
        next=$((next + every))
      fi
      sleep 0.05
    done
  else
    sleep "$secs"
  fi
  t1=$(now) c1=$(agent_cpu) m1=$(main_cpu)
  echo "$(calc "($c1 - $c0) / ($t1 - $t0) * 100" 2) $(calc "($c1 - $c0) - ($m1 - $m0)" 3)"
}

echo "scale: agent pid $agent_pid on :$port; phase A: ${seconds} s without scrapes"
s0=$(load_sample "$load_pid" "$tmp/load.out")
w=$(window "$seconds" 0 a)
read -r cpu_idle server_a <<< "$w"
rss_idle=$(status_kib VmRSS)
hwm_idle=$(status_kib VmHWM)
echo "scale: phase B: ${seconds} s, a scrape every 2 s"
w=$(window "$seconds" 2 b)
read -r cpu_2s server_b <<< "$w"
echo "scale: phase C: ${seconds} s, a scrape every 15 s"
w=$(window "$seconds" 15 c)
read -r cpu_15s _ <<< "$w"
s1=$(load_sample "$load_pid" "$tmp/load.out")
scrapes_b=$(wc -l < "$tmp/b.scrapes")
((scrapes_b > 0)) || die "no scrape in phase B"
# CPU seconds one scrape costs, from A and B; what a scrape every 15 s adds, in % of a core.
# CPU one scrape costs: what the HTTP server's threads used in B (less their idle use in A), per
# scrape. The whole-process difference B - A says the same but drowns in the control loop's noise
# on a busy machine; it is kept as a cross-check. (Work a scrape leaves to the main thread, e.g.
# rendering deferred to the next interval, is in A's figure instead.)
scrape_cpu_ms=$(calc "($server_b - $server_a) / $scrapes_b * 1000" 1)
scrape_cpu_ms_ab=$(calc "($cpu_2s - $cpu_idle) / 100 * 2 * 1000" 1)
scrape_15s_added=$(calc "$scrape_cpu_ms / 1000 / 15 * 100" 3)
scrape_15s_measured=$(calc "$cpu_15s - $cpu_idle" 2)

# Per control-loop phase, % of a core, from B's first and last scrape (n/a when not exported).
phase_pct() {
  local span
  span=$(awk 'NR == 1 { a = $1 } { b = $1 } END { print b - a }' "$tmp/b.scrapes")
  join <(sed -n 's/^schedwarden_control_loop_seconds_total{phase="\([^"]*\)"} \(.*\)/\1 \2/p' \
    "$tmp/b.first.prom" | sort) \
    <(sed -n 's/^schedwarden_control_loop_seconds_total{phase="\([^"]*\)"} \(.*\)/\1 \2/p' \
      "$tmp/b.last.prom" | sort) |
    awk -v s="$span" 's > 0 { printf "%s %.3f\n", $1, ($3 - $2) / s * 100 }'
}
phases=$(phase_pct)

# Where the agent's CPU goes, from sampled stacks: each sample goes to the first part whose pattern
# matches a frame of its stack (or its thread, for the HTTP server's threads).
profile=''
if ((profile_seconds > 0)); then
  echo "scale: profile: ${profile_seconds} s under perf record, a scrape every 2 s"
  perf record -q -o "$tmp/perf.data" --call-graph dwarf,16384 -F 999 -p "$agent_pid" \
    -- sleep "$profile_seconds" > "$tmp/perf.log" 2>&1 &
  perf_pid=$!
  window "$profile_seconds" 2 p > /dev/null
  wait "$perf_pid" || die "perf record failed: $(cat "$tmp/perf.log")"
  perf_pid=''
  [[ -z $perf_keep ]] || cp "$tmp/perf.data" "$perf_keep"  # for perf report by function
  perf script -i "$tmp/perf.data" 2> /dev/null | awk -v secs="$profile_seconds" '
    function flush() {
      if (!in_sample) return
      part = "other (main thread)"
      if (stack ~ /BpfEventSource|bpf_map_|__sys_bpf|bpf_obj_get_info|map_lookup/) part = "BPF map reads"
      else if (stack ~ /CgroupStatReader|ParseCpuStat|ReadCpuStat|ReadUsageNs|ReadPsi/) part = "cgroupfs reads"
      else if (stack ~ /CgroupResolver/) part = "cgroup tree walk"
      else if (stack ~ /prometheus::|TextSerializer|Serializ|Render|Exposition|deflate|compress/) part = "exposition (render, gzip)"
      else if (comm != "schedwarden") part = "HTTP server (other)"
      else if (stack ~ /Controller::|Classifier|StatusToJson|WriteStatus|WorkloadRates/) part = "controller + status file"
      else if (stack ~ /IntervalTracker|ComputeIntervalDelta/) part = "interval deltas (every workload, every interval)"
      else if (stack ~ /Publish/) part = "publish"
      else if (stack ~ /Collector::/) part = "collector (other)"
      ns[part] += period; total += period; in_sample = 0
    }
    /^[^ \t]/ { flush(); comm = $1; period = $4; stack = ""; in_sample = 1; next }
    /^[ \t]/ { stack = stack " " $2; next }
    /^$/ { flush() }
    END { flush(); for (p in ns) printf "%s\t%.3f\t%.1f\n", p, ns[p] / 1e9 / secs * 100, ns[p] / total * 100 }' |
    sort -t$'\t' -k2,2gr > "$tmp/profile"
  profile=$(cat "$tmp/profile")
fi

echo "scale: scrapes back to back"
for _ in $(seq 7); do scrape "$tmp/plain.prom" >> "$tmp/plain.scrapes"; sleep 0.3; done
for _ in $(seq 7); do scrape "$tmp/gzip.prom" gzip >> "$tmp/gzip.scrapes"; sleep 0.3; done
scrape_secs=$(awk '{ print $1 }' "$tmp/plain.scrapes" | median)
bytes_plain=$(awk '{ print $2 }' "$tmp/plain.scrapes" | tail -1)
bytes_gzip=null
gzip_secs=null
if [[ $(awk '{ print $3 }' "$tmp/gzip.scrapes" | tail -1) == gzip ]]; then
  bytes_gzip=$(awk '{ print $2 }' "$tmp/gzip.scrapes" | tail -1)
  gzip_secs=$(awk '{ print $1 }' "$tmp/gzip.scrapes" | median)
fi
prom=$tmp/plain.prom
series=$(grep -cv '^#\|^$' "$prom" || true)
# Series naming a workload (workload, victim or aggressor label), per distinct workload label.
wl_series=$(grep -v '^#' "$prom" | grep -c '\(workload\|victim\|aggressor\)="' || true)
wl_labels=$({ grep -v '^#' "$prom" | grep -o 'workload="[^"]*"' || true; } | sort -u | wc -l)
bench_workloads=$({ grep -o "workload=\"/$parent/w[0-9]*\"" "$prom" || true; } | sort -u | wc -l)
per_workload=null
((wl_labels > 0)) && per_workload=$(calc "$wl_series / $wl_labels" 1)
overflowed=$(awk '$1 == "schedwarden_workloads_overflowed" { print $2 }' "$prom")
drops=$(sed -n 's/^schedwarden_bpf_dropped_total{reason="\([^"]*\)"} \(.*\)/\1 \2/p' "$prom")
drop_all=$(awk '{ s += $2 } END { print s + 0 }' <<< "$drops")
agent_age=$(calc "$(now) - $(awk -v t="$clk_tck" '{ sub(/.*\) /, ""); print $20 / t }' "/proc/$agent_pid/stat")" 0)

# --- BPF cost vs runqlat, on this load -----------------------------------------------------------
declare -A ratio_med ns_sw ns_rq
ratio_med=([switch]=null [wakeup]=null) ns_sw=([switch]=null [wakeup]=null) ns_rq=([switch]=null [wakeup]=null)
attach=null
if ((bpf_runs > 0)); then
  echo "scale: BPF cost: $bpf_runs x ${bpf_seconds} s with runqlat attached"
  sysctl -q -w kernel.bpf_stats_enabled=1
  before=$(bpftool prog show -j | jq -r '.[].id' | sort -n)
  "$runqlat" 3600 1 > /dev/null 2> "$tmp/runqlat.err" &
  runqlat_pid=$!
  rql_ids=
  for _ in $(seq 100); do
    rql_ids=$(bpftool prog show -j | jq -r --argjson b "[$(paste -sd, <<< "$before")]" \
      '.[] | select((.id as $i | $b | index($i) | not) and
                    (.name | test("^(sched_wakeup|sched_switch|handle_sched_wakeup|handle_sched_switch)$")))
           | "\(.id) \(.name)"')
    [[ $(wc -l <<< "$rql_ids") -ge 2 ]] && break
    sleep 0.1
  done
  [[ $(wc -l <<< "$rql_ids") -ge 2 ]] || die "runqlat did not attach: $(cat "$tmp/runqlat.err")"
  # The agent's programs: the prog ids its fds hold (fdinfo), named sw_switch/sw_wakeup(_raw).
  agent_prog_ids=$(cat /proc/"$agent_pid"/fdinfo/* 2>/dev/null | awk '$1 == "prog_id:" { print $2 }' |
    sort -un | paste -sd,)
  sw_ids=$(bpftool prog show -j | jq -r --argjson ids "[$agent_prog_ids]" \
    '.[] | select(.id as $i | $ids | index($i)) | select(.name | test("^sw_(switch|wakeup)(_raw)?$"))
         | "\(.id) \(.name)"')
  [[ $(wc -l <<< "$sw_ids") -ge 2 ]] || die "the agent's BPF programs not found (prog ids in /proc/$agent_pid/fdinfo: $agent_prog_ids)"
  grep -q '_raw' <<< "$sw_ids" && attach=raw_tp || attach=tp_btf
  ids=$(cat <(echo "$sw_ids") <(echo "$rql_ids") | awk '{ print $1 }' | paste -sd,)
  stats() { bpftool prog show -j | jq -r --argjson ids "[$ids]" \
    '.[] | select(.id as $i | $ids | index($i)) | "\(.id) \(.run_time_ns // 0) \(.run_cnt // 0)"' | sort; }
  for r in $(seq "$bpf_runs"); do
    stats > "$tmp/bpf0"
    sleep "$bpf_seconds"
    stats > "$tmp/bpf1"
    # per program: kind (switch|wakeup), tool, ns/event
    join "$tmp/bpf0" "$tmp/bpf1" | while read -r id t0 c0 t1 c1; do
      name=$(cat <(echo "$sw_ids") <(echo "$rql_ids") | awk -v i="$id" '$1 == i { print $2 }')
      tool=runqlat
      [[ $name == sw_* ]] && tool=sw
      kind=wakeup
      [[ $name == *switch* ]] && kind=switch
      ((c1 > c0)) && echo "$r $kind $tool $(calc "($t1 - $t0) / ($c1 - $c0)" 1)"
    done >> "$tmp/bpf.runs"
  done
  kill -INT "$runqlat_pid" 2>/dev/null || true
  wait "$runqlat_pid" 2>/dev/null || true
  runqlat_pid=
  sysctl -q -w kernel.bpf_stats_enabled="$old_stats"
  for k in switch wakeup; do
    ns_sw[$k]=$(awk -v k=$k '$2 == k && $3 == "sw" { print $4 }' "$tmp/bpf.runs" | median)
    ns_rq[$k]=$(awk -v k=$k '$2 == k && $3 == "runqlat" { print $4 }' "$tmp/bpf.runs" | median)
    ratio_med[$k]=$(awk -v k=$k '$2 == k { v[$1, $3] = $4; r[$1] = 1 }
      END { for (i in r) if (v[i, "sw"] != "" && v[i, "runqlat"] > 0) printf "%.3f\n", v[i, "sw"] / v[i, "runqlat"] }' \
      "$tmp/bpf.runs" | median)
  done
fi

# --- churn --------------------------------------------------------------------------------------
churn_json=null
if ((churn)); then
  settle=$churn_settle
  echo "scale: churn: $churn_per_minute cgroups/min for ${churn_seconds} s, then ${settle} s to settle"
  rss_c0=$(status_kib VmRSS)
  scrape "$tmp/churn0.prom" > /dev/null
  series_c0=$(grep -cv '^#\|^$' "$tmp/churn0.prom" || true)
  "$load_bin" --workloads 0 --churn-per-minute "$churn_per_minute" --churn-lifetime-ms 1000 \
    --period-ms "$period_ms" --parent "$churn_parent" > "$tmp/churn.out" 2> "$tmp/churn.err" &
  churn_pid=$!
  for _ in $(seq 100); do grep -q '^ready' "$tmp/churn.out" && break; sleep 0.1; done
  grep -q '^ready' "$tmp/churn.out" || die "churn loader failed: $(cat "$tmp/churn.err")"
  ct0=$(now)
  sleep "$churn_seconds"
  # Did churned cgroups get series of their own (not folded into overflow by max_workloads)?
  scrape "$tmp/churn_mid.prom" > /dev/null
  churn_labels=$({ grep -o "workload=\"/$churn_parent/[^\"]*\"" "$tmp/churn_mid.prom" || true; } | sort -u | wc -l)
  kill -TERM "$churn_pid"
  wait "$churn_pid" || die "churn loader failed: $(cat "$tmp/churn.err")"
  ct1=$(now)
  churn_pid=
  read -r _ _ _ created removed _ < <(grep '^sample' "$tmp/churn.out" | tail -1 | sed 's/[a-z_]*=//g' | cut -d' ' -f2-7)
  rss_c1=$(status_kib VmRSS)
  sleep "$settle"
  rss_c2=$(status_kib VmRSS)
  scrape "$tmp/churn1.prom" > /dev/null
  series_c2=$(grep -cv '^#\|^$' "$tmp/churn1.prom" || true)
  # Stale: series naming a churned cgroup (workload, victim or aggressor label): all were removed
  # at least $settle s ago. (Others' cgroups removed meanwhile on a shared machine do not count.)
  { grep -v '^#' "$tmp/churn1.prom" | grep -o '\(workload\|victim\|aggressor\)="/[^"]*"' |
    sed 's/^[a-z]*="\(.*\)"$/\1/' | grep "^/$churn_parent\(/\|$\)" || true; } | sort -u |
    while IFS= read -r path; do
      [[ -d $cpu_root$path ]] || echo "$path"
    done > "$tmp/gone"
  stale_examples=$(head -3 "$tmp/gone" | paste -sd' ')
  stale_series=$(awk 'NR == FNR { gone["\"" $0 "\""] = 1; next }
    /^#/ { next }
    { n = split($0, f, /(workload|victim|aggressor)=/); for (i = 2; i <= n; i++) {
        v = substr(f[i], 1, index(substr(f[i], 2), "\"") + 1); if (v in gone) { c++; break } } }
    END { print c + 0 }' "$tmp/gone" "$tmp/churn1.prom")
  churn_json=$(jq -n --argjson per_minute "$(calc "$created / ($ct1 - $ct0) * 60" 0)" \
    --argjson created "$created" --argjson removed "$removed" --argjson seconds "$churn_seconds" \
    --argjson rss0 "$(mib "$rss_c0")" --argjson rss1 "$(mib "$rss_c1")" --argjson rss2 "$(mib "$rss_c2")" \
    --argjson series0 "$series_c0" --argjson series2 "$series_c2" --argjson stale "$stale_series" \
    --argjson hwm "$(mib "$(status_kib VmHWM)")" --argjson churn_labels "$churn_labels" \
    --argjson stale_labels "$(wc -l < "$tmp/gone")" \
    '{requested_per_minute: '"$churn_per_minute"', achieved_per_minute: $per_minute,
      created: $created, removed: $removed, seconds: $seconds,
      rss_mib_before: $rss0, rss_mib_after_churn: $rss1, rss_mib_after_settle: $rss2,
      rss_growth_mib: ((($rss2 - $rss0) * 10 | round) / 10), vm_hwm_mib: $hwm,
      series_before: $series0, series_after: $series2, stale_series: $stale,
      churn_workloads_exported_during: $churn_labels, settle_seconds: '"$settle"',
      stale_labels: $stale_labels}')
fi

# --- load achieved, agent's peak ----------------------------------------------------------------
read -r m0 w0 l0 _ <<< "$s0"
read -r m1 w1 l1 _ <<< "$s1"
requested=$((workloads * threads * 1000 / period_ms))
achieved=$(calc "($w1 - $w0) / (($m1 - $m0) / 1e9)" 0)
late_rate=$(calc "($l1 - $l0) / (($m1 - $m0) / 1e9)" 1)
rss_peak=$(status_kib VmHWM)
load_end_avg=$(loadavg)
kill -0 "$agent_pid" 2>/dev/null || die "the agent died: $(tail -5 "$tmp/agent.log")"

# --- JSON ---------------------------------------------------------------------------------------
phases_json=null
profile_json=null
[[ -n $profile ]] && profile_json=$(jq -Rn '[inputs | split("\t") | {part: .[0], percent_of_core: (.[1] | tonumber), share: (.[2] | tonumber)}]' <<< "$profile")
[[ -n $phases ]] && phases_json=$(awk '{ printf "%s\"%s\": %s", (NR > 1 ? ", " : "{"), $1, $2 } END { print "}" }' <<< "$phases")
drops_json=$(awk '{ printf "%s\"%s\": %s", (NR > 1 ? ", " : ""), $1, $2 }' <<< "$drops")
result=$(jq -n \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg command "$command_line" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --arg layout "$layout" \
  --arg load0 "$load_start_avg" --arg load1 "$load_end_avg" \
  --argjson other_cgroups "$other_cgroups" --argjson other_agents "$other_agents" \
  --argjson workloads "$workloads" --argjson threads "$threads" --argjson seconds "$seconds" \
  --argjson every_interval "$every_interval" \
  --argjson requested "$requested" --argjson achieved "$achieved" --argjson late "$late_rate" \
  --argjson cpu_idle "$cpu_idle" --argjson cpu_2s "$cpu_2s" --argjson cpu_15s "$cpu_15s" \
  --argjson scrape_cpu_ms "$scrape_cpu_ms" --argjson scrape_cpu_ms_ab "$scrape_cpu_ms_ab" \
  --argjson add15 "$scrape_15s_added" \
  --argjson add15m "$scrape_15s_measured" --argjson scrapes_b "$scrapes_b" \
  --argjson rss_idle "$(mib "$rss_idle")" --argjson hwm_idle "$(mib "$hwm_idle")" \
  --argjson rss_peak "$(mib "$rss_peak")" \
  --argjson series "$series" --argjson per_wl "$per_workload" --argjson bench_wl "$bench_workloads" --argjson wl_labels "$wl_labels" \
  --argjson overflowed "${overflowed:-null}" \
  --argjson bytes "$bytes_plain" --argjson gz "$bytes_gzip" \
  --argjson secs "$scrape_secs" --argjson gz_secs "$gzip_secs" \
  --argjson drops "{$drops_json}" --argjson drop_all "$drop_all" --argjson age "$agent_age" \
  --argjson runs "$bpf_runs" --arg attach "$attach" \
  --argjson sw_sw "${ns_sw[switch]}" --argjson rq_sw "${ns_rq[switch]}" --argjson r_sw "${ratio_med[switch]}" \
  --argjson sw_wk "${ns_sw[wakeup]}" --argjson rq_wk "${ns_rq[wakeup]}" --argjson r_wk "${ratio_med[wakeup]}" \
  --argjson phases "$phases_json" --argjson churn "$churn_json" --argjson profile "$profile_json" \
  '{date: $date, command: $command, commit: $commit, kernel: $kernel, cpus: $cpus,
    cgroup_layout: $layout, loadavg_start: $load0, loadavg_end: $load1,
    other_cgroups: $other_cgroups, other_agents: $other_agents,
    workloads: $workloads, threads_per_workload: $threads, seconds: $seconds,
    loop_pace: (if $every_interval == 1 then "interval" else "idle_interval" end),
    load: {requested_wakeups_per_s: $requested, achieved_wakeups_per_s: $achieved,
           late_wakeups_per_s: $late},
    cpu_percent: {no_scrapes: $cpu_idle, scrape_every_2s: $cpu_2s, scrape_every_15s: $cpu_15s,
                  scrape_cpu_ms: $scrape_cpu_ms, scrape_cpu_ms_from_b_minus_a: $scrape_cpu_ms_ab,
                  scrape_every_15s_added: $add15,
                  scrape_every_15s_added_measured: $add15m, scrapes_in_2s_phase: $scrapes_b},
    rss_mib: {idle: $rss_idle, peak_before_scrapes: $hwm_idle, peak: $rss_peak},
    scrape: {series: $series, workload_labels: $wl_labels, bench_workloads_exported: $bench_wl,
             series_per_workload: $per_wl, workloads_overflowed: $overflowed,
             bytes_plain: $bytes, bytes_gzip: $gz,
             seconds_median: $secs, seconds_gzip_median: $gz_secs},
    bpf_dropped: $drops, bpf_dropped_total: $drop_all, agent_seconds: $age,
    bpf_ns_per_event: {runs: $runs, attach: (if $runs > 0 then $attach else null end),
      sched_switch: {schedwarden: $sw_sw, runqlat: $rq_sw, ratio: $r_sw},
      sched_wakeup: {schedwarden: $sw_wk, runqlat: $rq_wk, ratio: $r_wk}},
    control_loop_percent: $phases, profile_percent_of_core: $profile, churn: $churn}')
[[ -n $json_out ]] && echo "$result" > "$json_out"

# --- the table ----------------------------------------------------------------------------------
verdict() {  # verdict VALUE OP LIMIT
  [[ $1 == null || -z $1 ]] && { echo "n/a"; return; }
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? v <= l : v == l; print ok ? "met" : "MISSED" }'
}
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
fmt_bytes() {
  if [[ $1 == null ]]; then echo "n/a (not served)"; else awk -v b="$1" 'BEGIN { printf "%.2f MB (%d B)", b / 1e6, b }'; fi
}
na() { [[ $1 == null || -z $1 ]] && echo "n/a" || echo "$1"; }
{
  echo
  echo "schedwarden scale benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(jq -r .commit <<< "$result")"
  echo "command: $command_line"
  echo "kernel $(uname -r), $(nproc) CPUs, cgroup $layout; load average $load_start_avg at start, $load_end_avg at end"
  echo "other activity: $other_cgroups other cgroups in $cpu_root, $other_agents other schedwarden process(es) running"
  echo "load: $workloads cgroups x $threads thread(s), a wake-up every $period_ms ms: $achieved wake-ups/s of $requested requested ($late_rate/s late); windows of $seconds s"
  if ((every_interval)); then echo "agent loop: every 500 ms (--every-interval)"; else echo "agent loop: every 2 s (idle_interval: no workload has an objective)"; fi
  echo
  row figure measured target verdict
  row --- ---: --- ---
  row "agent CPU, no scrapes" "$cpu_idle% of one core" "≤ 1%" "$(verdict "$cpu_idle" '<=' 1)"
  row "agent CPU, a scrape every 2 s" "$cpu_2s% ($scrapes_b scrapes: $scrape_cpu_ms ms CPU each in the HTTP threads; $scrape_cpu_ms_ab ms from B − A)" "—" ""
  row "agent CPU, a scrape every 15 s" "$cpu_15s% ($(awk -v v="$scrape_15s_measured" 'BEGIN { printf "%+.2f", v }')% vs no scrapes)" "—" ""
  row "added by a scrape every 15 s (CPU per scrape / 15 s)" "+$scrape_15s_added%" "≤ 0.5%" "$(verdict "$scrape_15s_added" '<=' 0.5)"
  row "RSS idle (VmRSS, no scrape yet)" "$(mib "$rss_idle") MiB" "—" ""
  row "RSS peak (VmHWM, scrapes included)" "$(mib "$rss_peak") MiB" "≤ 64 MiB" "$(verdict "$(mib "$rss_peak")" '<=' 64)"
  row "series in one scrape" "$series ($wl_labels workload labels, $bench_workloads of them the benchmark's; ${overflowed:-?} workloads overflowed)" "—" ""
  row "series per active workload" "$(na "$per_workload")" "≤ 30" "$(verdict "$per_workload" '<=' 30)"
  row "scrape bytes, plain" "$(fmt_bytes "$bytes_plain")" "≤ 1 MB" "$(verdict "$bytes_plain" '<=' 1000000)"
  row "scrape bytes, gzip" "$(fmt_bytes "$bytes_gzip")" "≤ 1 MB" "$(verdict "$bytes_gzip" '<=' 1000000)"
  row "scrape wall time, median of 7 (plain)" "$(calc "$scrape_secs * 1000" 1) ms" "≤ 50 ms" "$(verdict "$scrape_secs" '<=' 0.05)"
  [[ $gzip_secs != null ]] && row "scrape wall time, median of 7 (gzip)" "$(calc "$gzip_secs * 1000" 1) ms" "≤ 50 ms" "$(verdict "$gzip_secs" '<=' 0.05)"
  while read -r reason n; do
    [[ -n $reason ]] || continue
    tgt="—" v=""
    [[ $reason == preempt_map_full ]] && tgt=0 && v=$(verdict "$n" '==' 0)
    row "schedwarden_bpf_dropped_total{reason=\"$reason\"}" "$n in ${agent_age} s" "$tgt" "$v"
  done <<< "$drops"
  [[ -n $drops ]] || row "schedwarden_bpf_dropped_total" "n/a (not exported)" "0" "n/a"
  for k in switch wakeup; do
    m="n/a"
    [[ ${ratio_med[$k]} != null ]] && m="${ratio_med[$k]} (${ns_sw[$k]} vs ${ns_rq[$k]} ns/event, median of $bpf_runs, $attach)"
    row "BPF ns/event vs runqlat, sched_$k" "$m" "≤ 0.5" "$(verdict "${ratio_med[$k]}" '<=' 0.5)"
  done
  if [[ -n $phases ]]; then
    while read -r ph pct; do row "control loop: $ph" "$pct% of one core" "—" ""; done <<< "$phases"
  else
    row "control loop per phase (schedwarden_control_loop_seconds_total)" "n/a (not exported)" "—" ""
  fi
  if [[ -n $profile ]]; then
    while IFS=$'\t' read -r part pct share; do
      row "profile ($profile_seconds s, a scrape every 2 s): $part" "$pct% of one core ($share% of samples)" "—" ""
    done <<< "$profile"
  else
    row "profile by part (perf)" "n/a (--profile-seconds 0)" "—" ""
  fi
  if ((churn)); then
    row "churn: cgroups created+removed per minute" "$(jq -r .churn.achieved_per_minute <<< "$result") ($(jq -r .churn.created <<< "$result") created, $(jq -r .churn.removed <<< "$result") removed)" "$churn_per_minute requested" ""
    g=$(jq -r .churn.rss_growth_mib <<< "$result")
    # No churned cgroup with series of its own (all folded into overflow at max_workloads): the
    # release of dead series was not exercised.
    stale_verdict=$(verdict "$stale_series" '==' 0)
    ((churn_labels > 0)) || stale_verdict="n/a (churned cgroups all in overflow)"
    row "churn: RSS growth ${settle} s after the churn" "$g MiB ($(mib "$rss_c0") → $(mib "$rss_c2") MiB)" "≈ 0 (≤ 2 MiB)" "$(verdict "$g" '<=' 2)"
    row "churn: stale series (cgroup gone) after ${settle} s" "$stale_series of $series_c2, $(wc -l < "$tmp/gone") labels${stale_examples:+ (e.g. $stale_examples)}; $churn_labels churned cgroups had series of their own during the churn" "0" "$stale_verdict"
  fi
  lr=$(awk -v a="$achieved" -v r="$requested" 'BEGIN { print (a >= 0.8 * r && a <= 1.2 * r) ? "ok" : "OFF (>20% from requested)" }')
  echo
  echo "load generator: $achieved wake-ups/s of $requested requested: $lr"
} | tee "$tmp/table"
