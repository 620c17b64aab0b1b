#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# Print the version of the Debian kernel the VM boots: the newest
# /boot/vmlinuz-*-amd64 that also has headers in /lib/modules/$KVER/build.
# The host's own running kernel is irrelevant (it may not be Debian's), so
# `uname -r` is never consulted.

set -eu

kver=$(
	for img in /boot/vmlinuz-*-amd64; do
		[ -e "$img" ] || continue
		v=${img#/boot/vmlinuz-}
		[ -e "/lib/modules/$v/build/Makefile" ] && echo "$v"
	done | sort -V | tail -n 1
)

if [ -z "$kver" ]; then
	echo "kver.sh: no /boot/vmlinuz-*-amd64 with matching /lib/modules/*/build" >&2
	echo "kver.sh: run scripts/install-deps.sh (linux-image-amd64, linux-headers-amd64)" >&2
	exit 1
fi
echo "$kver"
