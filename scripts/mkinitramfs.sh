#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# mkinitramfs.sh KVER OUTPUT
#
# Build the VM's initramfs: busybox-static, scripts/vm-init.sh as /init and
# the modules needed to mount the host over virtio-9p, in the order
# `modprobe --show-depends` gives (dependencies first), decompressed so that
# busybox insmod can load them. An empty KVER makes it without modules, for
# a kernel with those drivers built in (vm-run.sh's BUS1_VM_KERNEL).

set -eu

kver=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p"
[ -n "$kver" ] || mods=

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || busybox=/bin/busybox
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' &&
   ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable'; then
	echo "mkinitramfs.sh: $busybox is not static (install busybox-static)" >&2
	exit 1
fi

stage=$(mktemp -d "${out}.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/modules" "$stage/proc" "$stage/sys" \
	"$stage/dev" "$stage/mnt"
cp "$busybox" "$stage/bin/busybox"
cp "$here/vm-init.sh" "$stage/init"
chmod 755 "$stage/init"

: >"$stage/modules.order"
for mod in $mods; do
	modprobe -S "$kver" --show-depends "$mod" | while read -r kw path _; do
		[ "$kw" = insmod ] || continue
		name=$(basename "$path")
		name=${name%.xz}
		name=${name%.zst}
		name=${name%.gz}
		name=${name%.ko}
		grep -qx "$name" "$stage/modules.order" && continue
		case "$path" in
		*.ko.xz) xz -dc "$path" >"$stage/modules/$name.ko" ;;
		*.ko.zst) zstd -qdc "$path" >"$stage/modules/$name.ko" ;;
		*.ko.gz) gzip -dc "$path" >"$stage/modules/$name.ko" ;;
		*) cp "$path" "$stage/modules/$name.ko" ;;
		esac
		echo "$name" >>"$stage/modules.order"
	done
done
for mod in $mods; do
	if ! grep -qx "$(echo "$mod" | tr - _)" "$stage/modules.order"; then
		echo "mkinitramfs.sh: module $mod not found for $kver" >&2
		exit 1
	fi
done

(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
