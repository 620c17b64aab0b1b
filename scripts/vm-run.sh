#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# vm-run.sh [--timeout SECONDS] [--] COMMAND [ARGS...]
#
# Boot Debian's installed kernel under QEMU (TCG: the host cannot load
# modules and has no KVM) and run COMMAND as root in a chroot of the host's
# root filesystem, shared read-only over virtio-9p like virtme-ng does, with
# this repository shared read-write at its own absolute path. The working
# directory is the caller's if it lies inside the repository, else the
# repository's top; BUS1_TOP names the top.
#
# Exit status: the command's, if the guest printed its exit marker, QEMU
# left through the isa-debug-exit port with a matching code, and the kernel
# log holds no problem report (see scan-kernel-log.sh). Otherwise nonzero:
# 124 on timeout, 125 if the guest never finished its command, 1 (or the
# command's own failure status) if the kernel reported a problem.
# The console log stays in build/vm/console.log for post-mortem.
#
# Another kernel (make check-debug's): BUS1_VM_KERNEL=IMAGE boots IMAGE,
# which must have the virtio-pci, 9p and serial drivers built in, as its
# initramfs holds no module; BUS1_VM_MODULE=PATH is the bus1.ko the guest
# scripts load instead of kmod/bus1.ko; BUS1_VM_MEMORY the guest's memory
# (default 2G).

set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/.." && pwd -P)
timeout=900

usage() {
	echo "usage: $0 [--timeout SECONDS] [--] COMMAND [ARGS...]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--timeout=*) timeout=${1#--timeout=}; shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || usage
case $timeout in '' | *[!0-9]*) usage ;; esac

# The path travels on the kernel command line and in -virtfs options.
case $top in
*[[:space:],]*)
	echo "vm-run: repository path '$top' must not contain blanks or commas" >&2
	exit 2
	;;
esac

kver=$("$here/kver.sh")
vmdir=$top/build/vm
cache=$vmdir/$kver
mkdir -p "$cache" "$vmdir/run" "$vmdir/logs"

# PVH boot of the uncompressed kernel; the bzImage if extraction fails.
# The cache is per kernel version, and redone if the package replaced the
# image under the same version.
image=/boot/vmlinuz-$kver
kernel=$image
if [ "$image" -nt "$cache/vmlinux" ] && [ "$image" -nt "$cache/no-pvh" ]; then
	rm -f "$cache/vmlinux" "$cache/no-pvh"
fi
if [ ! -e "$cache/vmlinux" ] && [ ! -e "$cache/no-pvh" ]; then
	"$here/extract-vmlinux.sh" "$image" "$cache/vmlinux" ||
		touch "$cache/no-pvh"
fi
[ -e "$cache/vmlinux" ] && kernel=$cache/vmlinux

initrd=$cache/initramfs.cpio.gz
if [ ! -e "$initrd" ] || [ "$here/vm-init.sh" -nt "$initrd" ] ||
   [ "$here/mkinitramfs.sh" -nt "$initrd" ] || [ "$image" -nt "$initrd" ]; then
	"$here/mkinitramfs.sh" "$kver" "$initrd"
fi
if [ -n "${BUS1_VM_KERNEL:-}" ]; then
	kernel=$BUS1_VM_KERNEL
	initrd=$vmdir/no-modules/initramfs.cpio.gz
	if [ ! -e "$initrd" ] || [ "$here/vm-init.sh" -nt "$initrd" ] ||
	   [ "$here/mkinitramfs.sh" -nt "$initrd" ]; then
		mkdir -p "$vmdir/no-modules"
		"$here/mkinitramfs.sh" "" "$initrd"
	fi
fi

cwd=$(pwd -P)
case $cwd/ in
"$top"/*) ;;
*) cwd=$top ;;
esac

cmdfile=$(mktemp "$vmdir/run/cmd.XXXXXX")
log=$vmdir/logs/console-$(date +%Y%m%d-%H%M%S)-$$.log
trap 'rm -f "$cmdfile"' EXIT
{
	printf 'cd %q || exit 125\n' "$cwd"
	printf 'export BUS1_TOP=%q\n' "$top"
	[ -z "${BUS1_VM_MODULE:-}" ] ||
		printf 'export BUS1_VM_MODULE=%q\n' "$BUS1_VM_MODULE"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$cmdfile"

append="console=ttyS0 loglevel=5 panic=-1 oops=panic"
# Debian's kernel zeroes fresh allocations (CONFIG_INIT_ON_ALLOC_DEFAULT_ON)
# and has no KASAN, which hides reads of uninitialised or freed memory.
# Poisoned, red-zoned, consistency-checked slabs and poisoned free pages,
# with zeroing off, make such a read show at once (BUG, or an oops on the
# 0x6b pattern), as on the many kernels built or booted without zeroing.
append+=" slub_debug=FZPU init_on_alloc=0 page_poison=1"
append+=" i8042.noaux i8042.nokbd i8042.nopnp"
append+=" vmrun.top=$top vmrun.cmd=$cmdfile"

start=$(date +%s.%N)
set +e
timeout -k 10 "$timeout" qemu-system-x86_64 \
	-nodefaults -no-user-config \
	-machine pc -accel tcg,thread=multi -cpu max -smp 2 -m "${BUS1_VM_MEMORY:-2G}" \
	-display none -monitor none -serial stdio -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$kernel" -initrd "$initrd" -append "$append" \
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$top,mount_tag=repo,security_model=none,multidevs=remap" \
	</dev/null 2>&1 | sed -u 's/\r//g' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
ln -sfn "logs/$(basename "$log")" "$vmdir/console.log"
ls -1t "$vmdir"/logs/console-*.log | tail -n +21 | xargs -r rm -f

# The guest prints its uptime when it starts the command and when it ends.
t_boot=$(sed -n 's/^vm-init: running .* at uptime \([0-9.]*\)$/\1/p' "$log" | tail -n 1)
t_done=$(sed -n 's/^VMRUN-UPTIME=\([0-9.]*\)$/\1/p' "$log" | tail -n 1)
awk -v s="$start" -v e="$end" -v b="${t_boot:-}" -v d="${t_done:-}" 'BEGIN {
	printf "vm-run: total %.1f s", e - s
	if (b != "") printf ", guest reached the command after %.1f s", b
	if (b != "" && d != "") printf ", command took %.1f s, overhead %.1f s", d - b, (e - s) - (d - b)
	printf "\n"
}' >&2

status=$(sed -n 's/^VMRUN-EXIT-STATUS=\([0-9]*\)$/\1/p' "$log" | tail -n 1)
problems=0
found=$("$here/scan-kernel-log.sh" "$log") || problems=$?

if [ "$problems" -eq 1 ]; then
	echo "vm-run: KERNEL PROBLEMS in the console log (log: $log):" >&2
	echo "$found" >&2
elif [ "$problems" -ne 0 ]; then
	echo "vm-run: cannot scan the console log $log" >&2
fi
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	echo "vm-run: TIMEOUT: the VM did not finish within $timeout s (log: $log)" >&2
	exit 124
fi
if [ -z "$status" ]; then
	echo "vm-run: the guest did not finish its command (no exit marker, QEMU status $qemu_rc; log: $log)" >&2
	exit 125
fi
want=3
[ "$status" -eq 0 ] && want=1
if [ "$qemu_rc" -ne "$want" ]; then
	echo "vm-run: QEMU exited with $qemu_rc, expected $want for guest status $status (log: $log)" >&2
	[ "$status" -ne 0 ] && exit "$status"
	exit 1
fi
if [ "$problems" -ne 0 ]; then
	[ "$status" -ne 0 ] && exit "$status"
	exit 1
fi
exit "$status"
