#!/usr/bin/env bash
# deploy_install_test.sh SOURCE_DIR BUILD_DIR SCHEDWARDEN CMAKE
set -euo pipefail
src=$1 build=$2 bin=$3 cmake=$4
tmp=$(mktemp -d /tmp/ops-deploy-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. Hardening score: at most 3.0 ("OK") with systemd 252's offline analysis.
out=$(systemd-analyze security --offline=true --no-pager "$src/deploy/systemd/schedwarden.service" 2>&1)
score=$(sed -n 's/.*Overall exposure level for schedwarden.service: \([0-9.]*\).*/\1/p' <<<"$out")
[[ -n $score ]] || fail "no score from systemd-analyze: $out"
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score > 3.0"
echo "systemd-analyze security: $score"

# 2. Install into a DESTDIR: binary, unit naming the prefix's binary, example config, and
#    /etc/schedwarden/config.yaml only when absent.
DESTDIR=$tmp/root "$cmake" --install "$build" --prefix /opt/sw >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install"; }
root=$tmp/root
[[ -x $root/opt/sw/bin/schedwarden ]] || fail "no bin/schedwarden"
unit=$root/opt/sw/lib/systemd/system/schedwarden.service
grep -q '^ExecStart=/opt/sw/bin/schedwarden run ' "$unit" || fail "ExecStart does not name the prefix"
grep -q '^ExecStopPost=/opt/sw/bin/schedwarden restore ' "$unit" || fail "ExecStopPost"
cmp -s "$root/etc/schedwarden/config.yaml" "$src/deploy/config/config.yaml" || fail "config.yaml"
[[ -f $root/opt/sw/share/schedwarden/config.yaml.example ]] || fail "no config.yaml.example"
"$bin" check-config "$root/etc/schedwarden/config.yaml" || fail "installed config invalid"
echo "# mine" >"$root/etc/schedwarden/config.yaml"
DESTDIR=$root "$cmake" --install "$build" --prefix /opt/sw >"$tmp/install2.log" 2>&1
[[ $(cat "$root/etc/schedwarden/config.yaml") == "# mine" ]] || fail "install overwrote the operator's config"

# 3. The container stage holds every library the agent needs except glibc's.
bash "$src/deploy/container/stage.sh" "$bin" "$tmp/croot" >/dev/null
libs=$tmp/croot/usr/local/lib/schedwarden
LD_LIBRARY_PATH=$libs ldd "$tmp/croot/usr/local/bin/schedwarden" | awk '$2 == "=>" {print $1, $3}' |
  while read -r name path; do
    case $name in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*) continue ;; esac
    [[ $path == "$libs"/* ]] || fail "$name resolves outside the stage: $path"
  done
LD_LIBRARY_PATH=$libs "$tmp/croot/usr/local/bin/schedwarden" version >/dev/null || fail "staged binary"
[[ -f $tmp/croot/Containerfile && -f $tmp/croot/etc/schedwarden/config.yaml ]] || fail "stage files"
echo "deploy install test: OK"
