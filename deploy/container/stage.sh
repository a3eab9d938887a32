#!/usr/bin/env bash
# Stages the image's files from the build output: the agent and the shared libraries it links
# (as ldd resolves them on this Debian 12 build host), except glibc's, which the Debian 12 base
# image has in the same version. Usage (from the repository root):
#   deploy/container/stage.sh [build/schedwarden] [build/container-root]
#   podman build -f deploy/container/Containerfile -t schedwarden:0.1.0 build/container-root
set -euo pipefail
binary=${1:-build/schedwarden}
root=${2:-build/container-root}
[[ -x $binary ]] || { echo "stage: $binary not found: build first (scripts/setup.sh)" >&2; exit 1; }
rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/schedwarden" "$root/etc/ld.so.conf.d" \
         "$root/etc/schedwarden"
install -m755 "$binary" "$root/usr/local/bin/schedwarden"
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
  case $(basename "$lib") in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;;
  esac
  cp -L "$lib" "$root/usr/local/lib/schedwarden/"
done
echo /usr/local/lib/schedwarden > "$root/etc/ld.so.conf.d/schedwarden.conf"
install -m644 "$(dirname "$0")/../config/config.yaml" "$root/etc/schedwarden/config.yaml"
install -m644 "$(dirname "$0")/Containerfile" "$root/Containerfile"
echo "stage: $root ($(ls "$root/usr/local/lib/schedwarden" | wc -l) libraries)"
