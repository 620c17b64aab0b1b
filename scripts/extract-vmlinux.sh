#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# extract-vmlinux.sh BZIMAGE OUTPUT
#
# Extract the uncompressed ELF vmlinux from a bzImage, so that QEMU can boot
# it through the PVH entry point (about half the boot time of the bzImage
# path under TCG). Debian's headers do not ship the kernel's own
# scripts/extract-vmlinux; this does the same: find a compressed stream by
# its magic bytes and keep the first one that decompresses to an ELF file.
# Exits nonzero if none does; callers then boot the bzImage instead.

set -eu

img=$1
out=$2
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

try() {
	# $1: magic as a grep -P pattern, rest: decompressor command
	magic=$1
	shift
	for pos in $(LC_ALL=C grep -aboP "$magic" "$img" 2>/dev/null | cut -d: -f1); do
		tail -c "+$((pos + 1))" "$img" | "$@" >"$tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			mv "$tmp" "$out"
			return 0
		fi
	done
	return 1
}

try '\xfd7zXZ\x00' xz -dc && exit 0
try '\x28\xb5\x2f\xfd' zstd -dc && exit 0
try '\x1f\x8b\x08' gzip -dc && exit 0

echo "extract-vmlinux.sh: no ELF kernel found in $img" >&2
exit 1
