#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages only) and builds schedwarden into build/.
# Safe to run again: it installs nothing that is present and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake g++ make pkg-config clang libclang-rt-dev llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  libhwloc-dev hwloc libcivetweb-dev libyaml-cpp-dev libcli11-dev libspdlog-dev
  nlohmann-json3-dev libcap-dev libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev
  stress-ng rt-tests libbpf-tools linux-perf prometheus curl jq tmux
  memcached sysbench gnuplot-nox stunnel4 openssl
  qemu-system-x86 busybox-static cpio
  containerd golang-github-containerd-containerd-dev libgrpc++-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j"$(nproc)"
