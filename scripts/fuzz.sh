#!/usr/bin/env bash
# Bounded fuzzing runs (docs/testing.md, "Fuzzing"): builds the libFuzzer targets of tests/fuzz/
# with clang (ASan + UBSan) into build-fuzz/ and runs each for SECONDS (default 300), one after
# the other. New coverage goes to build-fuzz/corpus/<target>/ (seeded from the repo's corpus);
# crashes are written to build-fuzz/crashes/<target>/ and fail the run: copy each one to
# tests/fuzz/regressions/<target>/ with the fix.
#   scripts/fuzz.sh                 every target, 300 s each
#   scripts/fuzz.sh journal 120     one target
# Extra libFuzzer flags: FUZZ_FLAGS="-max_len=4096 -jobs=1".
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(config cgroup_path cpu_stat proc cpulist journal status)
if [[ $# -ge 1 && $1 != all ]]; then
  if [[ ! " ${targets[*]} " == *" $1 "* ]]; then
    echo "fuzz: unknown target '$1'; one of: all ${targets[*]}" >&2
    exit 2
  fi
  targets=("$1")
fi
seconds=${2:-300}

cmake -S . -B build-fuzz -DSCHEDWARDEN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t crashes=build-fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  start=$SECONDS
  # Seeds and regressions first (read-only), new inputs into the build dir's corpus.
  if ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" ${FUZZ_FLAGS:-} \
    "$corpus" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" \
    >"build-fuzz/fuzz_$t.log" 2>&1; then
    result=ok
  else
    result="FAILED (see build-fuzz/fuzz_$t.log, inputs in $crashes/)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz_$t.log" |
    grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: $((SECONDS - start))s, $execs runs, $result"
done
exit "$status"
