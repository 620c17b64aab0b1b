#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# run.sh   (on the host; the install stage of make check)
#
# test-install.sh natively (it leaves a PREFIX=/usr install with the
# DKMS-built module in build/install-root), then guest-service.sh in one VM
# boot against that tree. Ends with "install: N passed, N failed"; a stage
# that reports no result line counts as one failed check.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$top" || exit 1
mkdir -p build
root=$top/build/install-root

count() {
	sed -n "s/^$1: \([0-9]*\) passed, \([0-9]*\) failed\$/\1 \2/p" "$2" | tail -n 1
}

echo "=== install tests (native)"
tests/install/test-install.sh "$root" 2>&1 | tee build/install-native.log
native_rc=${PIPESTATUS[0]}
res=$(count install-native build/install-native.log)
[ -n "$res" ] || res="0 1"
read -r np nf <<<"$res"
[ "$native_rc" -ne 0 ] && [ "$nf" -eq 0 ] && nf=1

echo "=== install tests (VM)"
if [ -f "$root/bus1.ko" ]; then
	scripts/vm-run.sh --timeout 600 -- tests/install/guest-service.sh "$root" 2>&1 |
		tee build/install-vm.log
	vm_rc=${PIPESTATUS[0]}
	res=$(count install-vm build/install-vm.log)
	[ -n "$res" ] || res="0 1"
	read -r vp vf <<<"$res"
	[ "$vm_rc" -ne 0 ] && [ "$vf" -eq 0 ] && vf=1
else
	echo "install: no installed tree with a DKMS-built module; the VM test cannot run"
	vp=0 vf=1
fi

echo "install: $((np + vp)) passed, $((nf + vf)) failed"
[ $((nf + vf)) -eq 0 ]
