#!/usr/bin/env bash
# Builds everything and runs the whole test suite: unit tests, then the privileged integration
# tests. On a machine that can run the privileged tests (root, kernel BTF), a privileged test that
# would skip fails instead, and the run fails if any test was skipped. Then the unit tests again,
# built with clang's AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/: any report
# (memory error, leak, undefined behaviour) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [[ $(id -u) -eq 0 && -e /sys/kernel/btf/vmlinux ]]; then
  export SCHEDWARDEN_REQUIRE_PRIVILEGED=1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ctest --test-dir build --output-on-failure --no-tests=error -LE vm "$@" 2>&1 | tee "$log" || status=$?
# The VM matrix after the host tests, two cells at a time: each qemu (single-threaded TCG) keeps
# one host CPU busy, and a cell takes 5-6 minutes.
ctest --test-dir build --output-on-failure --no-tests=ignore -L vm -j2 "$@" 2>&1 | tee -a "$log" ||
  status=$?

# Sanitizer tier: every unit test, whatever "$@" selected above. LeakSanitizer ptraces the test's
# own threads; where ptrace is forbidden it fails loudly instead of passing. There, run with
# ASAN_OPTIONS=detect_leaks=0 (the caller's options come last, so they win).
start=$SECONDS
if cmake -S . -B build-asan -DSCHEDWARDEN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null &&
  cmake --build build-asan -j"$(nproc)" --target schedwarden_unit_tests; then
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    ctest --test-dir build-asan -L unit --output-on-failure --no-tests=error -j"$(nproc)" 2>&1 |
    tee -a "$log" || status=$?
else
  echo "test: the sanitizer build (build-asan/) failed" >&2
  status=1
fi
echo "test: sanitizer tier (build-asan/) took $((SECONDS - start))s"

if [[ ${SCHEDWARDEN_REQUIRE_PRIVILEGED:-0} == 1 ]] && grep -q "Skipped" "$log"; then
  echo "test: tests were skipped on a machine that can run them; failing" >&2
  grep "Skipped" "$log" >&2
  status=1
fi
exit "$status"
