#!/usr/bin/env bash
# The working group's experiment (issue 12): memcached (latency-critical) beside CPU-bound batch
# work (best-effort), in six scenarios, each repeated (alternating order); LC request latency from
# an open-loop load generator, the CPU memcached received, the batch work's throughput, and the
# agent's reaction time from its audit log. Method: docs/experiment.md.
#
# Usage (root, after scripts/setup.sh):
#   bench/experiment/run.sh [--reps 3] [--seconds 20] [--settle 5] [--out DIR] [--rate 5000]
#                           [--objective-us 1000] [--scenarios a,b,...] [--build DIR] [--no-build]
#
# Scenarios: alone, no-agent, observe, sched-idle, static, enforce. Writes DIR/results.json,
# DIR/results.md (the table) and DIR/results.png (default DIR: bench/experiment/results).
# Everything the script made (cgroups, processes, the agent's changes, temp files) is undone on
# exit, also on failure or Ctrl-C.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."

reps=3
seconds=20
out=bench/experiment/results
rate=5000
objective_us=1000
scenarios=alone,no-agent,observe,sched-idle,static,enforce
build=build
do_build=1
warmup=2     # s of LC alone before the batch work starts
settle=5     # s after the batch work starts that the percentiles leave out (the reaction)
window_ms=250
interval_ms=500
runq_objective=1ms
command_line="bench/experiment/run.sh $*"

die() {
  echo "experiment: $*" >&2
  exit 1
}
usage() {
  sed -n '7,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
num() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a whole number, got \"$2\""; }
while (($#)); do
  case $1 in
    --reps) num "$1" "${2-}"; reps=$2; shift 2 ;;
    --seconds) num "$1" "${2-}"; seconds=$2; shift 2 ;;
    --settle) num "$1" "${2-}"; settle=$2; shift 2 ;;
    --rate) num "$1" "${2-}"; rate=$2; shift 2 ;;
    --objective-us) num "$1" "${2-}"; objective_us=$2; shift 2 ;;
    --out) [[ -n ${2-} ]] || die "--out needs a directory"; out=$2; shift 2 ;;
    --scenarios) [[ -n ${2-} ]] || die "--scenarios needs a list"; scenarios=$2; shift 2 ;;
    --build) [[ -n ${2-} ]] || die "--build needs a directory"; build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h | --help) usage ;;
    *) echo "experiment: unknown argument \"$1\"" >&2; usage ;;
  esac
done
((reps >= 1 && seconds >= 2 && rate >= 100)) || die "--reps ≥ 1, --seconds ≥ 2, --rate ≥ 100"
IFS=, read -r -a scen_list <<< "$scenarios"
for s in "${scen_list[@]}"; do
  [[ $s =~ ^(alone|no-agent|observe|sched-idle|static|enforce)$ ]] ||
    die "unknown scenario \"$s\" (alone, no-agent, observe, sched-idle, static, enforce)"
done

[[ $(id -u) -eq 0 ]] || die "needs root (creates cgroups, runs the agent); run scripts/setup.sh first"
for tool in memcached sysbench gnuplot jq chrt ss; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup.sh (Debian: apt-get install ${tool/chrt/util-linux})"
done
if ((do_build)); then
  [[ -f $build/CMakeCache.txt ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 --target schedwarden sw_mc_loadgen latency_probe >/dev/null ||
    die "build failed: cmake --build $build --target schedwarden sw_mc_loadgen latency_probe"
fi
[[ -d $build ]] || die "no build directory $build (drop --no-build, or --build DIR)"
build=$(cd "$build" && pwd)
agent_bin=$build/schedwarden
loadgen_bin=$build/bench/experiment/sw_mc_loadgen
probe_bin=$build/tests/integration/e2e/latency_probe
needed=("$loadgen_bin" "$probe_bin")
[[ ,$scenarios, == *,observe,* || ,$scenarios, == *,enforce,* ]] && needed+=("$agent_bin")
for b in "${needed[@]}"; do
  [[ -x $b ]] || die "$b not built (drop --no-build)"
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

tmp=$(mktemp -d /tmp/sw-experiment.XXXXXX)
prefix=sw-exp-$$
pids=()       # every process we started (memcached, probe, loadgen, batch)
enabled=()    # cgroup v2 controllers this run enabled in the root
agent_pid=''

# --- cgroups: the same top-level names in every hierarchy the runs use --------------------------
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  layout=v2
  hier=(/sys/fs/cgroup)
  for c in cpu cpuset; do  # enabled for the run, disabled again at the end
    grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control && continue
    echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || die "cannot enable $c in /sys/fs/cgroup"
    enabled+=("$c")
  done
  cpu_hier=/sys/fs/cgroup acct_hier=/sys/fs/cgroup cpuset_hier=/sys/fs/cgroup
else
  layout=v1
  hier=()
  cpu_hier='' acct_hier='' cpuset_hier=''
  while read -r _ dir type opts _; do
    [[ $type == cgroup ]] || continue
    IFS=, read -r -a o <<< "$opts"
    for x in "${o[@]}"; do
      case $x in
        cpu) cpu_hier=$dir ;;
        cpuacct) acct_hier=$dir ;;
        cpuset) cpuset_hier=$dir ;;
        *) continue ;;
      esac
      [[ " ${hier[*]} " == *" $dir "* ]] || hier+=("$dir")
    done
  done < /proc/self/mounts
  [[ -n $cpu_hier && -n $acct_hier && -n $cpuset_hier ]] ||
    die "cgroup v1 needs the cpu, cpuacct and cpuset controllers mounted"
  layout="v1 (${hier[*]})"
fi

mkcg() {  # mkcg NAME: /NAME in every hierarchy, cpuset inherited from the root
  local h
  for h in "${hier[@]}"; do
    mkdir -p "$h/$1"
    if [[ $h == "$cpuset_hier" && $layout != v2 ]]; then
      cat "$h/cpuset.cpus" > "$h/$1/cpuset.cpus"
      cat "$h/cpuset.mems" > "$h/$1/cpuset.mems"
    fi
  done
}
# joincg NAME CMD... &: runs CMD inside /NAME (it moves itself, then execs, so $! is CMD's pid)
joincg() {
  local name=$1
  shift
  local files=()
  local h
  for h in "${hier[@]}"; do files+=("$h/$name/cgroup.procs"); done
  exec bash -c 'for f in "${@:2:$1}"; do echo $$ > "$f" || exit 1; done; shift $(($1 + 1)); exec "$@"' \
    _ "${#files[@]}" "${files[@]}" "$@"
}
rmcgs() {  # every cgroup of this run, deepest first; killing what is still inside
  local h d ok=0
  for h in "${hier[@]}"; do
    for d in "$h/$prefix-"*; do
      [[ -d $d ]] || continue
      for _ in $(seq 50); do
        [[ -n $(cat "$d/cgroup.procs" 2>/dev/null) ]] || break  # cgroupfs files have size 0
        xargs -r kill -KILL < "$d/cgroup.procs" 2>/dev/null || true
        sleep 0.1
      done
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $d ]] && echo "experiment: could not remove $d" >&2 && ok=1
    done
  done
  return $ok
}

stop_agent() {  # SIGTERM (it undoes its changes), the exit status into $tmp/agent.rc
  [[ -n $agent_pid ]] || return 0
  local rc=0
  if kill -TERM "$agent_pid" 2>/dev/null; then
    for _ in $(seq 200); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$agent_pid" 2>/dev/null || true
  fi
  wait "$agent_pid" 2>/dev/null || rc=$?
  echo "$rc" > "$tmp/agent.rc"
  agent_pid=''
  return 0
}
stop_all() {
  local p
  stop_agent
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  # An agent killed hard leaves its journal: put back what it changed.
  for sd in "$tmp"/runs/*/state; do
    [[ -f $sd/journal ]] && { "$agent_bin" restore --state-dir "$sd" > /dev/null 2>&1 || rc=1; }
  done
  rmcgs || rc=1
  for c in "${enabled[@]}"; do echo "-$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  die "no free TCP port found"
}
unix_now() { date +%s.%N; }
usage_ns() {  # CPU time of cgroup /NAME so far, ns
  if [[ $layout == v2 ]]; then
    awk '$1 == "usage_usec" { print $2 * 1000 }' "$cpu_hier/$1/cpu.stat"
  else
    cat "$acct_hier/$1/cpuacct.usage"
  fi
}
expand_cpus() {  # "0-2,5" -> "0 1 2 5"
  local part parts cpus=()
  IFS=, read -r -a parts <<< "$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then
      mapfile -t -O "${#cpus[@]}" cpus < <(seq "${part%-*}" "${part#*-}")
    else
      cpus+=("$part")
    fi
  done
  echo "${cpus[*]}"
}
# The last CPU's core (its hyperthread siblings): what a static policy would give memcached.
static_cpus=$(cat "/sys/devices/system/cpu/cpu$(($(nproc) - 1))/topology/thread_siblings_list")
ncpu=$(nproc)
((ncpu >= 2)) || die "needs at least 2 CPUs (one for memcached's exclusive core, one shared)"

# --- one run --------------------------------------------------------------------------------------
# run_one SCENARIO REP: writes $tmp/runs/SCENARIO-REP/result.json
run_one() {
  local scen=$1 rep=$2 dir=$tmp/runs/$1-$2 lc be port total be_start="" bench_pid=""
  mkdir -p "$dir"
  lc=$prefix-$rep-$scen-lc be=$prefix-$rep-$scen-be
  mkcg "$lc"; mkcg "$be"
  if [[ $scen == static ]]; then  # by hand, what the CPU manager's static policy does
    local rest='' c
    for ((c = 0; c < ncpu; c++)); do
      [[ " $(expand_cpus "$static_cpus") " == *" $c "* ]] || rest+=${rest:+,}$c
    done
    echo "$static_cpus" > "$cpuset_hier/$lc/cpuset.cpus"
    echo "$rest" > "$cpuset_hier/$be/cpuset.cpus"
  fi
  port=$(free_port)
  joincg "$lc" memcached -u nobody -l 127.0.0.1 -p "$port" -t 2 -m 64 -c 256 \
    > "$dir/memcached.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do ss -Htln "sport = :$port" | grep -q . && break; sleep 0.05; done
  ss -Htln "sport = :$port" | grep -q . || die "memcached did not listen on $port: $(cat "$dir/memcached.log")"
  echo "$(unix_now)" > "$dir/probe.start"
  joincg "$lc" "$probe_bin" --period-us 2000 --work-us 50 --report-ms "$window_ms" \
    > "$dir/probe.out" 2>&1 &
  pids+=($!)

  if [[ $scen == observe || $scen == enforce ]]; then
    local mode=enforce
    [[ $scen == observe ]] && mode=observe
    cat > "$dir/config.yaml" <<EOF
interval: ${interval_ms}ms
enforcement:
  mode: $mode
workloads:
  - name: memcached
    match: { cgroup: "/$lc" }
    class: latency-critical
    slo: { runq_p99: $runq_objective }
    exclusive: on-interference
  - name: batch
    match: { cgroup: "/$be" }
    class: best-effort
EOF
    local aport
    aport=$(free_port)
    "$agent_bin" run --config "$dir/config.yaml" --mode "$mode" --state-dir "$dir/state" \
      --listen "127.0.0.1:$aport" > "$dir/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 300); do
      [[ -f $dir/state/status.json ]] && break
      kill -0 "$agent_pid" 2>/dev/null || die "agent failed to start: $(tail -5 "$dir/agent.log")"
      sleep 0.1
    done
    [[ -f $dir/state/status.json ]] || die "agent wrote no status.json in 30 s: $(tail -5 "$dir/agent.log")"
    # When the objective was violated: the agent's violated-interval counter for memcached,
    # sampled every 100 ms ("unix-time count").
    (
      while :; do
        printf '%s %s\n' "$(unix_now)" "$(curl -s --max-time 1 "http://127.0.0.1:$aport/metrics" |
          awk -v w="workload=\"/$lc\"" 'index($0, "schedwarden_slo_violation_intervals_total{") == 1 && index($0, w) { print $2 }')"
        sleep 0.1
      done
    ) > "$dir/violations" 2>/dev/null &
    pids+=($!)
  fi

  total=$((warmup + settle + seconds))
  # The client stands in for one on another machine: real-time, outside the measured cgroups
  # (a v1 cpu cgroup with RT group scheduling would have no RT budget for it).
  chrt -f 50 "$loadgen_bin" --port "$port" --rate "$rate" --connections 8 \
    --seconds "$total" --window-ms "$window_ms" --measure-after-s $((warmup + settle)) \
    --out "$dir/loadgen.json" > "$dir/loadgen.log" 2>&1 &
  local lg=$!
  pids+=("$lg")
  sleep "$warmup"
  if [[ $scen != alone ]]; then
    local idle=()
    [[ $scen == sched-idle ]] && idle=(chrt -i 0)
    be_start=$(unix_now)
    # 2 x the CPUs: oversubscribed; events (primes up to 10,000) counted every second
    joincg "$be" "${idle[@]}" sysbench cpu --threads=$((2 * ncpu)) --time=$((settle + seconds + 1)) \
      --report-interval=1 run > "$dir/sysbench.out" 2>&1 &
    bench_pid=$!
    pids+=("$bench_pid")
  fi
  sleep "$settle"
  local u0 be0 t0 u1 be1 t1
  t0=$(unix_now) u0=$(usage_ns "$lc") be0=$(usage_ns "$be")
  sleep "$seconds"
  t1=$(unix_now) u1=$(usage_ns "$lc") be1=$(usage_ns "$be")
  wait "$lg" || die "load generator failed ($scen, rep $rep): $(cat "$dir/loadgen.log")"
  # The agent first (it gives the batch its priority back), then let sysbench end on its own
  # (within a second) so it prints its total: the fallback when no report fell into the span.
  stop_agent
  if [[ -n $bench_pid ]]; then
    for _ in $(seq 100); do kill -0 "$bench_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  stop_all
  local agent_rc=null decisions='[]'
  if [[ -f $tmp/agent.rc ]]; then
    agent_rc=$(cat "$tmp/agent.rc")
    rm -f "$tmp/agent.rc"
    [[ $agent_rc == 0 ]] || echo "experiment: the agent exited $agent_rc ($scen, rep $rep): $(tail -3 "$dir/agent.log")" >&2
    [[ -f $dir/state/decisions.jsonl ]] && decisions=$(jq -s -c . "$dir/state/decisions.jsonl")
  fi
  if [[ -f $dir/state/journal ]]; then
    "$agent_bin" restore --state-dir "$dir/state" > "$dir/restore.log" 2>&1 ||
      die "schedwarden restore after $scen rep $rep failed: $(cat "$dir/restore.log")"
  fi
  rmcgs || die "cgroups left after $scen rep $rep"

  # BE throughput: sysbench's per-second reports ("[ Ns ] ... eps: E") ending inside the measured
  # span, weighted by the time each covers (a starved reporter reports late, covering more); with
  # no report in the span (a report thread that never ran), its final total over its whole run.
  local eps=null eps_source=null
  if [[ -f $dir/sysbench.out ]]; then
    eps=$(sed 's/\[ */[ /' "$dir/sysbench.out" | awk -v s="$settle" -v e="$((settle + seconds))" \
      '/^\[ [0-9]+s \]/ { t = $2 + 0; if (t > s && t <= e) { ev += $7 * (t - p); d += t - p }; p = t }
       END { if (d > 0) printf "%.1f", ev / d; else print "null" }')
    eps_source='"per-second reports"'
    if [[ $eps == null ]]; then
      eps=$(awk '/total number of events:/ { n = $NF } /total time:/ { t = $NF + 0 }
        END { if (n != "" && t > 0) printf "%.1f", n / t; else print "null" }' "$dir/sysbench.out")
      eps_source='"total over the whole batch run"'
    fi
  fi
  # Probe: median of its per-window p99 wake-up lateness within the measured span
  local probe_p99
  probe_p99=$(awk -v s="$(awk -v a="$t0" -v b="$(cat "$dir/probe.start")" 'BEGIN { print a - b }')" \
    -v e="$(awk -v a="$t1" -v b="$(cat "$dir/probe.start")" 'BEGIN { print a - b }')" \
    '$1 >= s && $1 <= e { print $4 }' "$dir/probe.out" | sort -g |
    awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "null" }')
  # The K-th violated interval after the batch start: the last sample before the counter reached
  # (its value at the start) + K; an upper bound on the delay from the violation window to the action.
  local window_end=null violated_before=null
  if [[ -s $dir/violations && -n $be_start ]]; then
    violated_before=$(awk -v b="$be_start" 'NF == 2 && $1 <= b { v = $2 } END { print v == "" ? 0 : v }' \
      "$dir/violations")
    window_end=$(awk -v b="$be_start" -v k=3 'NF == 2 {
        if ($1 <= b) { base = $2; prev = $1; next }
        if (base == "") base = 0
        if ($2 >= base + k) { print prev; found = 1; exit }
        prev = $1 }
      END { if (!found) print "null" }' "$dir/violations")
  fi
  jq -n --arg scen "$scen" --argjson rep "$rep" --slurpfile lg "$dir/loadgen.json" \
    --argjson window_end "$window_end" --argjson interval "$interval_ms" \
    --argjson violated_before "$violated_before" \
    --argjson be_start "${be_start:-null}" --argjson t0 "$t0" --argjson t1 "$t1" \
    --argjson u0 "$u0" --argjson u1 "$u1" --argjson be0 "$be0" --argjson be1 "$be1" \
    --argjson eps "$eps" --argjson eps_source "$eps_source" --argjson probe "$probe_p99" --argjson agent_rc "$agent_rc" \
    --argjson decisions "$decisions" --argjson obj "$objective_us" '
    def secs: (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) + ((capture("\\.(?<f>[0-9]+)Z$").f // "0") | ("0." + .) | tonumber);
    ($lg[0]) as $l
    | [$decisions[] | select(.result == "applied" and
         (.action == "demote-best-effort" or .action == "grant-exclusive"))] as $acts
    | ([$acts[] | select($be_start != null and (.time | secs) >= $be_start)] | first) as $first
    | ([$l.windows[] | select(.count > 0)]) as $w
    | (if $be_start == null then null
       else ([$w | to_entries[] | select(.value.t >= $be_start - 0.25 and .value.p99_us > $obj)] | first | .key) end) as $viol
    | (if $be_start == null then null
       elif $viol == null then 0
       else ([range($viol; ($w | length) - 3) as $i
              | select(all($w[$i:$i + 4][]; .p99_us <= $obj)) | $w[$i].t] | first) as $rt
            | if $rt == null then null else ([$rt - $be_start, 0] | max) end end) as $recovery
    | {scenario: $scen, rep: $rep,
       lc: {p50_us: $l.measured.p50_us, p99_us: $l.measured.p99_us, p999_us: $l.measured.p999_us,
            max_us: $l.measured.max_us, count: $l.measured.count,
            p99_us_including_reaction: $l.all.p99_us,
            rate_requested: $l.rate_requested, rate_achieved: $l.rate_achieved,
            unanswered: $l.unanswered, send_late_p99_us: $l.send_late_us.p99_us,
            cpus_received: (($u1 - $u0) / 1e9 / ($t1 - $t0))},
       probe_p99_us: $probe,
       be: {events_per_s: $eps, events_from: $eps_source, cpus_received: (if $be_start == null then null
                                                else ($be1 - $be0) / 1e9 / ($t1 - $t0) end)},
       be_start_unix: $be_start,
       be_start_s: (if $be_start == null then null else $be_start - $l.start_unix end),
       actions_before_be_start: (if $be_start == null then null
                                 else [$acts[] | select((.time | secs) < $be_start)] | length end),
       violated_intervals_before_be_start: $violated_before,
       violation_window_end_s: (if $window_end == null then null else $window_end - $be_start end),
       first_action: (if $first == null then null
                      else {action: $first.action, seconds_after_be_start: (($first.time | secs) - $be_start),
                            intervals_after_violation_window: (if $window_end == null then null
                              else (($first.time | secs) - $window_end) / ($interval / 1000) end)} end),
       recovery_s: $recovery,
       agent_exit: $agent_rc, actions: [$decisions[] | {time, action, workload, result}],
       windows: [$w[] | {t: (.t - ($l.start_unix + 0)), p99_us}]}' > "$dir/result.json"
}

# --- all runs, alternating order ----------------------------------------------------------------
echo "experiment: $ncpu CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), kernel $(uname -r), cgroup $layout; load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
# Others' top-level cpu cgroups and their weights (a huge weight elsewhere starves every scenario)
others=$(for d in "$cpu_hier"/*/; do
  d=${d%/}
  [[ $(basename "$d") == "$prefix"-* ]] && continue
  w=$(cat "$d/cpu.weight" 2>/dev/null || cat "$d/cpu.shares" 2>/dev/null) || continue
  printf '%s (weight %s) ' "$(basename "$d")" "$w"
done)
others=${others% }
echo "experiment: other top-level cpu cgroups: ${others:-none}"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
n=${#scen_list[@]}
for ((r = 1; r <= reps; r++)); do
  order=("${scen_list[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = n - 1; i >= 0; i--)); do order+=("${scen_list[$i]}"); done
  fi
  for s in "${order[@]}"; do
    echo "experiment: rep $r/$reps: $s ($((warmup + settle + seconds)) s)"
    run_one "$s" "$r"
    jq -r '"experiment:   LC p50 \(.lc.p50_us) µs p99 \(.lc.p99_us) µs p99.9 \(.lc.p999_us) µs, LC CPUs \(.lc.cpus_received * 100 | round / 100), BE events/s \(.be.events_per_s), first action \(.first_action.seconds_after_be_start // "-") s, recovery \(.recovery_s // "-") s"' \
      "$tmp/runs/$s-$r/result.json"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- aggregate: median and min-max over the repetitions -----------------------------------------
jq -s --arg date "$start_date" --arg cmd "$command_line" --arg kernel "$(uname -r)" \
  --arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" --argjson ncpu "$ncpu" \
  --arg tpc "$(lscpu | sed -n 's/^Thread(s) per core: *//p')" --arg layout "$layout" \
  --arg load_start "$load_start" --arg load_end "$load_end" --arg static "$static_cpus" \
  --arg others "${others:-none}" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --argjson reps "$reps" --argjson seconds "$seconds" --argjson rate "$rate" \
  --argjson obj "$objective_us" --argjson settle "$settle" --argjson warmup "$warmup" \
  --argjson interval "$interval_ms" --arg runq "$runq_objective" --arg order "$scenarios" '
  def med: map(select(. != null)) | sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def stat(f): [.[] | f] as $v | {median: ($v | med), min: ($v | map(select(. != null)) | min),
    max: ($v | map(select(. != null)) | max), n: ($v | map(select(. != null)) | length)};
  . as $runs
  | {date: $date, command: $cmd, commit: $commit,
     machine: {kernel: $kernel, cpu_model: $cpu, cpus: $ncpu, threads_per_core: $tpc,
               cgroup_layout: $layout, loadavg_start: $load_start, loadavg_end: $load_end,
               other_top_level_cpu_cgroups: $others},
     parameters: {reps: $reps, seconds: $seconds, warmup_s: $warmup, settle_s: $settle,
                  rate: $rate, connections: 8, lc_request_p99_objective_us: $obj,
                  agent_interval_ms: $interval, agent_runq_p99_objective: $runq,
                  static_lc_cpus: $static, be: "sysbench cpu, 2 threads per CPU",
                  probe: "latency_probe every 2 ms, 50 µs of work, in the LC cgroup"},
     scenarios: [$order | split(",")[] as $s | [$runs[] | select(.scenario == $s)] as $r
       | {scenario: $s,
          lc_p50_us: ($r | stat(.lc.p50_us)), lc_p99_us: ($r | stat(.lc.p99_us)),
          lc_p999_us: ($r | stat(.lc.p999_us)),
          lc_p99_us_including_reaction: ($r | stat(.lc.p99_us_including_reaction)),
          lc_cpus: ($r | stat(.lc.cpus_received)), lc_rate_achieved: ($r | stat(.lc.rate_achieved)),
          probe_p99_us: ($r | stat(.probe_p99_us)),
          be_events_per_s: ($r | stat(.be.events_per_s)), be_cpus: ($r | stat(.be.cpus_received)),
          first_action_s: ($r | stat(.first_action.seconds_after_be_start)),
          first_action_intervals_after_window: ($r | stat(.first_action.intervals_after_violation_window)),
          recovery_s: ($r | stat(.recovery_s))}],
     runs: $runs}' "$tmp"/runs/*/result.json > "$out/results.json"

bash bench/experiment/report.sh "$out/results.json" "$out"
cat "$out/results.md"
