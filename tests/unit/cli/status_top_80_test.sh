#!/usr/bin/env bash
# `schedwarden top` (driven in tmux: send-keys, capture-pane) and `status` at 80 columns: no line
# wider than 80, long names shortened in the middle, timestamp and interval on screen, "-" for
# what is unknown in text and null in `status --json`. Reads a status.json written here as the
# agent would (its pid: this script, alive). Usage: status_top_80_test.sh SCHEDWARDEN
set -euo pipefail
bin=$1
dir=$(mktemp -d /tmp/ops-top-test.XXXXXX)
sock=ops-top-test-$$
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v tmux >/dev/null || fail "tmux not installed (scripts/setup.sh installs it)"

long_lc=/kubepods/burstable/pod0123456789abcdef0123456789abcdef/latency-critical-frontend
long_be=/kubepods/besteffort/podfedcba9876543210fedcba9876543210/batch-aggressor-job
now_ns=$(($(date +%s) * 1000000000))
cat >"$dir/status.json" <<JSON
{"mode":"enforce","cpu_count":2,"shared_pool_cpus":2,"updated_ns":$now_ns,"intervals":10,
 "unmatched_workloads":1,"pid":$$,
 "workloads":[
  {"workload":"$long_lc","cgroup":"$long_lc","rule":"frontend-latency-critical-rule","class":"latency-critical",
   "slo_runq_p99_ns":2000000,"runq_p99_ns":5242880,"runq_samples":100,"cpus_received":null,
   "preemptions_by_lower":30,"state":"interfered","violation_streak":3,"violation_intervals_total":12345,
   "exclusive_cpus":"(2, dry-run)","exclusive_count":0,"demoted":false},
  {"workload":"/be","cgroup":"/be","rule":"batch","class":"best-effort","slo_runq_p99_ns":null,
   "runq_p99_ns":0,"runq_samples":0,"cpus_received":1.5,"preemptions_by_lower":0,"state":"",
   "violation_streak":0,"violation_intervals_total":0,"exclusive_cpus":"","exclusive_count":0,"demoted":true}],
 "recent_actions":[
  {"time":"2026-11-25T13:02:11.500Z","time_ns":$now_ns,"monotonic_ns":1,"workload":"$long_be","cgroup":"$long_be",
   "victim":"$long_lc","action":"demote-best-effort",
   "reason":"run-queue p99 5.24ms > objective 2ms for 3 intervals; preempted 30 times by lower classes, which used up to 1.50 CPUs",
   "before":{},"after":{},"result":"applied"}],
 "observer":{"interval_s":0.5,"workloads":[
  {"workload":"$long_lc","cpus":null,"runq_p99_s":0.00524288,"runq_wakeup_p99_s":0.001,"runq_preempted_p99_s":0.00524288,
   "runq_samples":100,"throttle_wait_p99_s":0,"throttled_periods":0,"throttle_events":0,
   "preempted_by":{"$long_be":123456}},
  {"workload":"/be","cpus":1.5,"runq_p99_s":0.000002,"runq_wakeup_p99_s":0.000002,"runq_preempted_p99_s":0,
   "runq_samples":4,"throttle_wait_p99_s":0,"throttled_periods":3,"throttle_events":0,"preempted_by":{}}]}}
JSON

check_width() {  # name, text: GNU wc -L counts display columns in a UTF-8 locale
  local w
  w=$(LC_ALL=C.UTF-8 wc -L <<<"$2")
  ((w <= 80)) || fail "$1: a line is $w columns wide"
}

# top in an 80x30 terminal.
tmux -L "$sock" new-session -d -x 80 -y 30 "$bin top --state-dir $dir"
screen=""
for _ in $(seq 50); do
  sleep 0.2
  screen=$(tmux -L "$sock" capture-pane -p -t 0 2>/dev/null || true)
  [[ $screen == *"TOP AGGRESSOR"* && $screen == *"RECENT ACTIONS"* ]] && break
done
echo "$screen"
check_width top "$screen"
grep -q "updated [0-9][0-9]:[0-9][0-9]:[0-9][0-9]  interval 500ms" <<<"$screen" || fail "top: no timestamp / interval"
grep -q "refreshed every 1s" <<<"$screen" || fail "top: no refresh interval"
grep -q "…" <<<"$screen" || fail "top: long names not shortened with an ellipsis"
lc_line=$(grep "^/kubepods/.*….*frontend " <<<"$screen") ||
  fail "top: the workload name does not keep its start and end"
[[ $(awk '{print $2}' <<<"$lc_line") == "-" ]] || fail "top: CPUS of a workload without usage is not '-': $lc_line"
grep -q "(123456)$" <<<"$lc_line" || fail "top: the aggressor's count is cut: $lc_line"
tmux -L "$sock" send-keys -t 0 q
for _ in $(seq 25); do
  tmux -L "$sock" has-session 2>/dev/null || break
  sleep 0.2
done
! tmux -L "$sock" has-session 2>/dev/null || fail "top did not quit on q"

# status: text and JSON agree on the unknown.
text=$("$bin" status --state-dir "$dir")
echo "$text"
check_width status "$text"
grep -q "^updated 20" <<<"$text" || fail "status: no timestamp"
row=$(grep " latency-critical " <<<"$text" | head -1)
grep -q "…" <<<"$row" || fail "status: long workload not shortened: $row"
[[ $(awk '{print $7}' <<<"$row") == "-" ]] || fail "status: CPUS of an unknown is not '-': $row"
"$bin" status --json --state-dir "$dir" | grep -q '"cpus_received": null' || fail "status --json: no null"
echo "status/top at 80 columns: OK"
