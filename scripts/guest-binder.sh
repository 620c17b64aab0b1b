#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-binder.sh load|unload   (inside the VM, as root; see vm-run.sh)
#
# Android binder is a peer of bus1-bench (tests/bench/chan-binder.c).
# Debian's kernel builds it as the module binder_linux, which with
# devices=binder creates /dev/binder itself (no binderfs). "load" loads it
# unless it is loaded already; "unload" removes it again if "load" loaded
# it (the marker is /run/bus1-bench-binder). Both only report failures and
# exit 0: without /dev/binder, bus1-bench reports binder as not available,
# with the reason, and fails by itself.

set -u

mark=/run/bus1-bench-binder

loaded() {
	grep -q '^binder_linux ' /proc/modules
}

case ${1:-} in
load)
	if loaded; then
		echo "binder: binder_linux was loaded already"
	elif out=$(modprobe binder_linux devices=binder 2>&1); then
		touch "$mark"
		echo "binder: loaded binder_linux: $(ls -l /dev/binder 2>&1)"
	else
		echo "binder: WARNING: modprobe binder_linux devices=binder failed: $out"
		echo "binder: WARNING: the binder rows of the benchmark will be NOT AVAILABLE"
	fi
	;;
unload)
	[ -e "$mark" ] || exit 0
	rm -f "$mark"
	if out=$(rmmod binder_linux 2>&1); then
		echo "binder: unloaded binder_linux"
	elif grep -q '^binder_linux .*permanent' /proc/modules; then
		echo "binder: binder_linux cannot be unloaded (a permanent module: no exit function); left loaded"
	else
		echo "binder: WARNING: rmmod binder_linux failed: $out"
	fi
	;;
*)
	echo "usage: $0 load|unload" >&2
	exit 2
	;;
esac
exit 0
