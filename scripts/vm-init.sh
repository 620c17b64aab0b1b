#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# /init of the VM's initramfs (see mkinitramfs.sh, vm-run.sh). Loads the
# virtio/9p modules, mounts the host's root read-only at /mnt and the
# repository read-write at its own path, chroots there and runs the command
# vm-run.sh wrote into the repository. The host trusts the run only if it
# sees the marker line this prints after the command, so every failure here
# ends without the marker. The exit goes through QEMU's isa-debug-exit port:
# QEMU then exits with (byte << 1) | 1, i.e. 1 for success, 3 for failure.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s

quit() {
	sync
	printf '\001' | dd of=/dev/port bs=1 seek=244 count=1 conv=notrunc 2>/dev/null
	poweroff -f
}

fail() {
	echo "vm-init: $*"
	quit
}

mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "cannot mount /dev"
# The initramfs has no /dev/console node, so the kernel could not give us
# one: take it from devtmpfs.
exec </dev/console >/dev/console 2>&1

for m in $(cat /modules.order); do
	insmod "/modules/$m.ko" || fail "cannot load $m"
done

top=
cmd=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	vmrun.top=*) top=${arg#vmrun.top=} ;;
	vmrun.cmd=*) cmd=${arg#vmrun.cmd=} ;;
	esac
done
[ -n "$top" ] && [ -n "$cmd" ] || fail "vmrun.top= or vmrun.cmd= missing"

r=/mnt
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" host "$r" || fail "cannot mount host root"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp" || fail "cannot mount /tmp"
mount -t tmpfs -o mode=755 tmpfs "$r/run" || fail "cannot mount /run"
mount -t proc proc "$r/proc" || fail "cannot mount /proc"
mount -t sysfs sysfs "$r/sys" || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs "$r/dev" || fail "cannot mount /dev"
# devtmpfs lacks the links udev would make; bash needs /dev/fd for <(...).
ln -sf /proc/self/fd "$r/dev/fd"
ln -sf /proc/self/fd/0 "$r/dev/stdin"
ln -sf /proc/self/fd/1 "$r/dev/stdout"
ln -sf /proc/self/fd/2 "$r/dev/stderr"
mkdir -p "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts" || fail "cannot mount /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm" || fail "cannot mount /dev/shm"
# The repository goes last: it may live below /tmp, which is a tmpfs now,
# and must not be hidden under it.
mkdir -p "$r$top" 2>/dev/null
mount -t 9p -o "$opts" repo "$r$top" || fail "cannot mount repository at $top"

hostname bus1-vm
ip link set lo up 2>/dev/null

read -r up _ </proc/uptime
echo "vm-init: running $cmd at uptime $up"
chroot "$r" /usr/bin/env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 \
	/bin/bash "$cmd" </dev/null
rc=$?

# A command's last line may lack its newline; the marker must start a line.
read -r up _ </proc/uptime
echo
echo "VMRUN-UPTIME=$up"
echo "VMRUN-EXIT-STATUS=$rc"
sync
if [ "$rc" -eq 0 ]; then
	printf '\000' | dd of=/dev/port bs=1 seek=244 count=1 conv=notrunc 2>/dev/null
fi
quit
