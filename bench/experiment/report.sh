#!/usr/bin/env bash
# Renders bench/experiment/run.sh's results.json as DIR/results.md (the README's table, the
# machine, the targets met or missed) and DIR/results.png (gnuplot). Rerun it alone to redraw:
#   bench/experiment/report.sh RESULTS.json DIR
set -euo pipefail
json=${1:?usage: report.sh RESULTS.json DIR}
dir=${2:?usage: report.sh RESULTS.json DIR}
[[ -f $json ]] || { echo "report: no $json" >&2; exit 1; }
mkdir -p "$dir"

# --- the table ----------------------------------------------------------------------------------
jq -r '
  def ms: if . == null then "–" elif . >= 1000 then "\(. / 1000 * 100 | round / 100) ms"
          else "\(. | round) µs" end;
  def r(f): if .median == null then "–"
            elif .n > 1 then "\(.median | f) (\(.min | f)–\(.max | f))" else (.median | f) end;
  def cpus: "\(. * 100 | round / 100)";
  def num0: "\(. | round)";
  def sec: "\(. * 10 | round / 10) s";
  def f1: "\(. * 10 | round / 10)";
  . as $all
  | ($all.scenarios | map({(.scenario): .}) | add) as $s
  | ($s["no-agent"].be_events_per_s.median) as $be0
  | {"alone": "LC alone", "no-agent": "LC + BE, no agent", "observe": "LC + BE, agent observing",
     "sched-idle": "LC + BE, BE at SCHED_IDLE by hand",
     "static": "LC + BE, static exclusive cores by hand", "enforce": "LC + BE, agent enforcing"} as $names
  | "| scenario | LC p50 | LC p99 | LC p99.9 | LC CPU received (CPUs) | BE throughput (events/s) | time to first action / to recovery |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ($all.scenarios[] |
      "| \($names[.scenario]) | \(.lc_p50_us | r(ms)) | \(.lc_p99_us | r(ms)) | \(.lc_p999_us | r(ms)) | \(.lc_cpus | r(cpus)) | " +
      (if .scenario == "alone" then "—"
       else (.be_events_per_s | r(num0)) +
         (if $be0 != null and .be_events_per_s.median != null and .scenario != "no-agent"
          then " (\(.be_events_per_s.median / $be0 * 100 | round) %)" else "" end) end) + " | " +
      (if .scenario == "enforce" then "\(.first_action_s | r(sec)) / \(.recovery_s | r(sec)) after the batch start (action \(.first_action_intervals_after_window | r(f1)) intervals after the violation window)"
       else "—" end) + " |")
' "$json" > "$dir/table.md"

# --- targets (issue 12), from the medians ---------------------------------------------------------
verdicts=$(jq -r '
  (.scenarios | map({(.scenario): .}) | add) as $s
  | (.parameters.agent_interval_ms / 1000) as $iv
  | def m(k; f): $s[k][f].median;
    def v(ok): if ok == null then "n/a" elif ok then "**met**" else "**missed**" end;
    def f2: if . == null then "n/a" else (. * 100 | round / 100 | tostring) end;
    def f0: if . == null then "n/a" else (. | round | tostring) end;
    (m("enforce"; "lc_p99_us")) as $ep | (m("alone"; "lc_p99_us")) as $ap | (m("no-agent"; "lc_p99_us")) as $np
    | (m("enforce"; "be_events_per_s")) as $eb | (m("no-agent"; "be_events_per_s")) as $nb
    | (m("static"; "be_events_per_s")) as $sb
    | (m("enforce"; "first_action_s")) as $fa | (m("enforce"; "recovery_s")) as $rc
    | (m("enforce"; "first_action_intervals_after_window")) as $fi
    | def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;
    "- Enforcing: LC p99 within 1.25× of LC alone — \(v(if $ep and $ap then ($ep <= 1.25 * $ap) else null end)): \(ratio($ep; $ap) | f2)× (\($ep | f0) µs vs \($ap | f0) µs).",
    "- No agent is several (≥ 3) times worse than LC alone — \(v(if $np and $ap then ($np >= 3 * $ap) else null end)): \(ratio($np; $ap) | f2)× (\($np | f0) µs).",
    "- BE keeps ≥ 70 % of its no-agent throughput under enforcing — \(v(if $eb and $nb then ($eb >= 0.7 * $nb) else null end)): \(ratio($eb; $nb) | if . == null then "n/a" else . * 100 | round end) %.",
    "- … and more than under static exclusive cores — \(v(if $eb and $sb then ($eb > $sb) else null end)): \($eb | f0) vs \($sb | f0) events/s.",
    "- First action within 2 control intervals (\($iv) s each) of a violation window (the agent counting its 3rd violated interval) — \(v(if $s["enforce"] == null then null elif $fi == null then false else ($fi <= 2) end)): \(if $fi == null then "no action or no violation window" else "\($fi | f2) intervals" end) (\($fa | f2) s after the batch start).",
    "  (Runs where the agent already counted violated intervals before the batch started — the machine itself missed the objective — : \([.runs[] | select(.scenario == "enforce" and (.violated_intervals_before_be_start // 0) > 0)] | length) of \([.runs[] | select(.scenario == "enforce")] | length); actions taken before the batch started: \([.runs[] | select(.scenario == "enforce") | .actions_before_be_start // 0] | add // 0).)",
    "- LC p99 back under its objective (\(.parameters.lc_request_p99_objective_us) µs, 4 windows of 250 ms in a row) within 5 s of the batch start — \(v(if $s["enforce"] == null then null elif $rc == null then false else ($rc <= 5) end)): \(if $rc == null then "never within the run" else "\($rc | f2) s" end)."
' "$json")

jq -r '
  "Measured \(.date) (commit \(.commit)) with `\(.command)`: \(.parameters.reps) repetition(s) per " +
  "scenario in alternating order, \(.parameters.seconds) s measured each; median (min–max).",
  "",
  "Machine: \(.machine.cpus) CPUs (\(.machine.cpu_model), \(.machine.threads_per_core) thread(s) per core), " +
  "kernel \(.machine.kernel), cgroup \(.machine.cgroup_layout); load average \(.machine.loadavg_start) " +
  "at the start, \(.machine.loadavg_end) at the end; other top-level cpu cgroups: \(.machine.other_top_level_cpu_cgroups // "not recorded").",
  "",
  "LC: memcached (2 threads) with an open-loop client at \(.parameters.rate) gets/s over " +
  "\(.parameters.connections) connections, latency from the scheduled send time; percentiles over " +
  "the measured \(.parameters.seconds) s, which start \(.parameters.settle_s) s after the batch work " +
  "(the reaction is in the last column). BE: \(.parameters.be). Agent: interval " +
  "\(.parameters.agent_interval_ms) ms, run-queue objective \(.parameters.agent_runq_p99_objective); " +
  "static: memcached on CPU(s) \(.parameters.static_lc_cpus), the batch on the rest.",
  ""' "$json" > "$dir/results.md"
{
  cat "$dir/table.md"
  echo
  echo "Targets (issue 12):"
  echo
  echo "$verdicts"
} >> "$dir/results.md"
rm -f "$dir/table.md"

# --- the chart ----------------------------------------------------------------------------------
jq -r '.scenarios[] | [.scenario, .lc_p99_us.median, .lc_p99_us.min, .lc_p99_us.max,
  (.be_events_per_s.median // 0), (.be_events_per_s.min // 0), (.be_events_per_s.max // 0)]
  | map(tostring) | join(" ")' "$json" | sed 's/null/0/g' > "$dir/.bars.dat"
# The timeline of the first repetition of "no agent" and "agent enforcing": p99 per window
for s in no-agent enforce; do
  jq -r --arg s "$s" '[.runs[] | select(.scenario == $s)] | first // empty
    | (.be_start_s // 0) as $b | .windows[] | "\(.t - $b) \(.p99_us / 1000)"' "$json" > "$dir/.tl-$s.dat"
done
fa=$(jq -r '[.runs[] | select(.scenario == "enforce")] | first | .first_action.seconds_after_be_start // empty' "$json")
obj=$(jq -r '.parameters.lc_request_p99_objective_us / 1000' "$json")
gnuplot <<EOF
set terminal pngcairo size 1500,480 font ",10" noenhanced
set output "$dir/results.png"
set multiplot layout 1,3 title "schedwarden experiment: memcached (LC) beside sysbench (BE) — median, bars min–max"
set style fill solid 0.6 border -1
set boxwidth 0.6
set xtics rotate by -30 nomirror
set grid ytics
set title "LC request p99 (ms, log)"
set logscale y
set yrange [0.01:*]
plot "$dir/.bars.dat" using 0:(\$2/1000):xtic(1) with boxes lc rgb "#4e79a7" notitle, \
     "" using 0:(\$2/1000):(\$3/1000):(\$4/1000) with yerrorbars lc rgb "black" pt 0 notitle, \
     $obj with lines dt 2 lc rgb "red" title "objective"
unset logscale y
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set title "BE throughput (sysbench events/s)"
plot "$dir/.bars.dat" using 0:5:xtic(1) with boxes lc rgb "#59a14f" notitle, \
     "" using 0:5:6:7 with yerrorbars lc rgb "black" pt 0 notitle
set offsets 0, 0, 0, 0
set arrow from 0, graph 0 to 0, graph 1 nohead lc rgb "gray"
set title "LC p99 per 250 ms window, first repetition (ms, log)"
set xtics norotate
set xlabel "seconds after the batch work starts"
set logscale y
set yrange [0.01:*]
$( [[ -n $fa ]] && echo "set arrow from $fa, graph 0 to $fa, graph 1 nohead dt 3 lc rgb 'black'; set label 'first action' at $fa, graph 0.95 left offset 0.5,0" )
plot "$dir/.tl-no-agent.dat" using 1:2 with lines lc rgb "#e15759" title "no agent", \
     "$dir/.tl-enforce.dat" using 1:2 with lines lc rgb "#4e79a7" title "agent enforcing", \
     $obj with lines dt 2 lc rgb "red" title "objective"
unset multiplot
EOF
rm -f "$dir"/.bars.dat "$dir"/.tl-*.dat
