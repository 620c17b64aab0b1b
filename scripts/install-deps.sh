#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# Install the Debian packages the build and the VM tests need. Idempotent:
# when dpkg-query reports every package installed, apt is not touched at
# all (no update, no network); otherwise only the missing ones are
# installed, non-interactively.

set -eu

pkgs="build-essential pkg-config linux-image-amd64 linux-headers-amd64 kmod
qemu-system-x86 busybox-static cpio liburing-dev libcap-ng-dev libcmocka-dev libbsd-dev
valgrind python3 xz-utils libjson-c-dev dbus-daemon dbus-broker libsystemd-dev
man-db groff-base dkms gcc-multilib"

missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "deps: all $(echo "$pkgs" | wc -w) packages installed"
	exit 0
fi

echo "deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install packages (run as root or install:$missing)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
