#!/usr/bin/env bash
# One cell of the VM matrix: boots a Debian kernel package under qemu (TCG) with a two-socket SMT
# topology, mounts one cgroup layout inside and runs every privileged test binary of a build
# there (tests/vm/guest-init.sh). Exits 0 only when every binary passed, none skipped, nothing
# was left behind. A cell that cannot boot or run fails.
#
#   tests/vm/run-cell.sh [--build DIR] [--filter GTEST_FILTER] KERNEL LAYOUT
#     KERNEL  6.1   Debian 12's stock kernel (linux-image-cloud-amd64)
#             6.12  Debian 12's 6.12 kernel (linux-image-6.12-cloud-amd64)
#     LAYOUT  cgroup-v2    cgroup2 at /sys/fs/cgroup with +cpu +cpuset
#             systemd-v1   tmpfs, cpu,cpuacct and cpuset v1 hierarchies, cgroup2 at unified
#
# Needs qemu-system-x86, busybox-static (scripts/setup.sh installs them) and, the first time, the
# kernel package (apt-get download; cached in BUILD/vm/kernels). The console log of the last run
# of a cell is BUILD/vm/<kernel>-<layout>.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build="$here/../../build"
filter=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-cell: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || { echo "usage: run-cell.sh [--build DIR] [--filter F] KERNEL LAYOUT" >&2; exit 2; }
kernel=$1 layout=$2
build=$(cd "$build" && pwd)
case "$kernel" in
  6.1) meta=linux-image-cloud-amd64 ;;
  6.12) meta=linux-image-6.12-cloud-amd64 ;;
  *) echo "run-cell: unknown kernel '$kernel' (6.1 or 6.12)" >&2; exit 2 ;;
esac
case "$layout" in
  cgroup-v2|systemd-v1) ;;
  *) echo "run-cell: unknown layout '$layout' (cgroup-v2 or systemd-v1)" >&2; exit 2 ;;
esac
for tool in qemu-system-x86_64 busybox cpio; do
  command -v "$tool" >/dev/null || [[ -x /bin/$tool ]] ||
    { echo "run-cell: $tool not found; run scripts/setup.sh (it installs it)" >&2; exit 1; }
done

vm="$build/vm"
mkdir -p "$vm/kernels"

# --- the kernel: the package the meta package points at today, unpacked (not installed) -------
kernel_image() {
  local pkg
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [[ -z "$pkg" ]]; then
    apt-get update -qq >/dev/null
    pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  [[ -n "$pkg" ]] || { echo "run-cell: apt knows no $meta" >&2; return 1; }
  local dir="$vm/kernels/$pkg"
  if [[ ! -f "$dir/vmlinuz" ]]; then
    local tmp
    tmp=$(mktemp -d "$vm/kernels/.dl.XXXXXX")
    (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null >/dev/null) ||
      { rm -rf "$tmp"; echo "run-cell: apt-get download $pkg failed" >&2; return 1; }
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    mkdir -p "$dir"
    mv "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
    rm -rf "$tmp"
  fi
  echo "$dir/vmlinuz"
}

# --- the initramfs: busybox, /init, the test binaries and the libraries they load ------------
# Files keep their absolute paths, so the paths compiled into the tests (the agent binary, the
# helpers) are valid inside. Rebuilt when any payload file is newer than it.
initramfs() {
  local list="$build/tests/vm/payload.txt" tests="$build/tests/vm/tests.txt"
  local out="$vm/initramfs.cpio"
  [[ -f "$list" && -f "$tests" ]] ||
    { echo "run-cell: $list missing; build first (scripts/setup.sh)" >&2; return 1; }
  local stale=0
  [[ -f "$out" ]] || stale=1
  if [[ $stale == 0 ]]; then
    for f in "$list" "$tests" "$here/guest-init.sh" $(cat "$list"); do
      [[ "$f" -nt "$out" ]] && { stale=1; break; }
    done
  fi
  if [[ $stale == 1 ]]; then
    local root
    root=$(mktemp -d "$vm/.root.XXXXXX")
    chmod 755 "$root"  # mktemp made it 0700: unprivileged test children must traverse /
    mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,run,etc,vm,root,var/lib,lib64}
    cp "$(command -v busybox || echo /bin/busybox)" "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
      [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
    done
    install -m 755 "$here/guest-init.sh" "$root/init"
    echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
    echo "nobody:x:65534:65534:nobody:/nonexistent:/bin/false" >> "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    cp "$tests" "$root/vm/tests.txt"
    local libs=()
    while read -r f; do
      [[ -n "$f" ]] || continue
      mkdir -p "$root$(dirname "$f")"
      objcopy --strip-debug "$f" "$root$f"
      mapfile -t -O "${#libs[@]}" libs < <(ldd "$f" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}')
    done < "$list"
    for l in $(printf '%s\n' "${libs[@]}" | sort -u); do
      mkdir -p "$root$(dirname "$l")"
      cp -L "$l" "$root$l"
    done
    (cd "$root" && find . | cpio -o -H newc --quiet) > "$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$root"
  fi
  echo "$out"
}

# The kernel images and the initramfs are shared by the cells of a build: made under a lock.
# The VMs themselves may run side by side (scripts/test.sh runs two): single-threaded TCG keeps
# one host CPU busy each.
exec 9>"$vm/.lock"
flock 9
vmlinuz=$(kernel_image)
initrd=$(initramfs)
exec 9>&-
log="$vm/$kernel-$layout.log"
append="console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3 sw.layout=$layout"
[[ -n "$filter" ]] && append+=" sw.filter=$filter"
echo "run-cell: $kernel ($(basename "$(dirname "$vmlinuz")")) x $layout, log $log"
start=$(date +%s)
# Multi-threaded TCG crashed kernels while they patched their own text (an Oops at boot or
# when BPF attached). Single-threaded TCG has not; a boot that still dies before init (no
# "SW-VM: kernel" line) is retried, at most twice; a failure after init started never is.
for attempt in 1 2 3; do
  set +e
  # KVM is not used: a nested guest hangs at boot on these machines. Single-threaded TCG: with
  # one host thread per vCPU, the kernel's live text patching (static keys flipped when BPF
  # programs attach) races with other vCPUs and Oopses on int3; one thread is also faster on a
  # 2-CPU host (76 s against 150 s a cell). An Intel CPUID: TCG cannot
  # give an AMD model the topology extensions 6.1 needs to see SMT. Two sockets, one core each,
  # two threads per core: SMT siblings and a socket boundary for the allocator. 4 GiB, because
  # the initramfs lives in RAM.
  timeout --foreground -k 10 "${SW_VM_TIMEOUT:-900}" qemu-system-x86_64 \
    -accel tcg,thread=single -cpu max,vendor=GenuineIntel -m 4G \
    -smp 4,sockets=2,cores=1,threads=2 \
    -object memory-backend-ram,id=m0,size=2G -object memory-backend-ram,id=m1,size=2G \
    -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1 \
    -nographic -no-reboot -nodefaults -serial stdio -display none \
    -kernel "$vmlinuz" -initrd "$initrd" -append "$append" </dev/null > "$log" 2>&1
  qemu_rc=$?
  set -e
  # grep on the file itself: `tr | grep -q` under pipefail fails when grep exits at the match
  # before tr wrote the rest of a large log (SIGPIPE), and a good boot was retried.
  grep -q '^SW-VM: kernel ' "$log" && break
  echo "run-cell: boot attempt $attempt did not reach init (qemu exit $qemu_rc); kept as $log.boot$attempt"
  cp "$log" "$log.boot$attempt"
done
secs=$(($(date +%s) - start))
tr -d '\r' < "$log" | grep -E '^(SW-VM|\[  FAILED|\[  SKIPPED|.*Failure$)' | sed 's/^/  /' || true
result=$(tr -d '\r' < "$log" | grep -E '^SW-VM-RESULT: ' | tail -1 || true)
if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
  echo "run-cell: $kernel x $layout: timed out after ${secs}s (SW_VM_TIMEOUT); see $log" >&2
  exit 1
fi
if [[ "$result" =~ ^SW-VM-RESULT:\ ([0-9]+)\ passed,\ 0\ failed$ && ${BASH_REMATCH[1]} -gt 0 ]]; then
  echo "run-cell: $kernel x $layout: passed in ${secs}s"
  exit 0
fi
echo "run-cell: $kernel x $layout: FAILED in ${secs}s (${result:-no result line; qemu exit $qemu_rc}); see $log" >&2
exit 1
