#!/usr/bin/env bash
# Builds everything and runs the whole test suite: unit tests, then the privileged integration
# tests. On a machine that can run the privileged tests (root, kernel BTF), a privileged test that
# would skip fails instead, and the run fails if any test was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [[ $(id -u) -eq 0 && -e /sys/kernel/btf/vmlinux ]]; then
  export SCHEDWARDEN_REQUIRE_PRIVILEGED=1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ctest --test-dir build --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log" || status=$?
if [[ ${SCHEDWARDEN_REQUIRE_PRIVILEGED:-0} == 1 ]] && grep -q "Skipped" "$log"; then
  echo "test: tests were skipped on a machine that can run them; failing" >&2
  grep "Skipped" "$log" >&2
  status=1
fi
exit "$status"
