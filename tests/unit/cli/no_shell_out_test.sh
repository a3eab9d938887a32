#!/bin/bash
# The agent never runs another program: no libc entry point that starts one is imported by the
# schedwarden binary (its own code and the static sw_* libraries), and no source file under
# userspace/ calls one. A shell-out from a root agent would run with its privileges.
set -euo pipefail
binary=$1
src=$2
forbidden='^(system|popen|execl|execlp|execle|execv|execve|execvp|execvpe|fexecve|posix_spawn|posix_spawnp|fork|vfork|clone|clone3)(@.*)?$'
imports=$(nm -D --undefined-only "$binary" | awk '{print $NF}')
bad=$(grep -E "$forbidden" <<<"$imports" || true)
if [[ -n $bad ]]; then
  echo "FAIL: $binary imports functions that start programs:" >&2
  echo "$bad" >&2
  exit 1
fi
# Source too (catches a call through a library that the symbol check cannot see by name).
if grep -rnE '\b(std::)?(system|popen|exec[lv]p?e?|posix_spawnp?|vfork)\s*\(' "$src/userspace" \
    --include='*.cpp' --include='*.h' | grep -vE '^\S+:\s*//'; then
  echo "FAIL: a shell-out in userspace/ (above)" >&2
  exit 1
fi
echo "OK: $(wc -l <<<"$imports") imports checked, none starts a program"
