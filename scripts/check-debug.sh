#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# check-debug.sh [STRESS_ROUNDS [IOCTL_N [CONTROL_N]]]
#   (on the host, as root; `make check-debug`, after deps and build)
#
# Build the debug kernel and bus1.ko for it (debug-kernel.sh), boot it in
# the VM with that module and 6G of memory (KASAN needs more) and run
# guest-debug.sh there; the arguments go to it. The VM's time limit is
# BUS1_VM_TIMEOUT seconds (default 10800). Ends with the time of each part
# and guest-debug.sh's "debug: N passed, N failed"; the log is
# build/check-debug.log, the console log build/vm/console.log. Exits 0
# only if every part passed and the kernel reported nothing (vm-run.sh).

set -eu
set -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$top"
out=$top/build/debug-kernel
log=$top/build/check-debug.log

scripts/debug-kernel.sh
echo "check-debug: the last kernel build took $(cat "$out/build-seconds") s"

rc=0
BUS1_VM_KERNEL=$out/linux/arch/x86/boot/bzImage \
BUS1_VM_MODULE=$out/kmod/bus1.ko \
BUS1_VM_MEMORY=6G \
	scripts/vm-run.sh --timeout "${BUS1_VM_TIMEOUT:-10800}" -- \
	scripts/guest-debug.sh "$@" 2>&1 | tee "$log" || rc=$?

echo
echo "check-debug: log in $log, console log in build/vm/console.log"
grep -E '^=== debug: [a-z]+: (PASS|FAIL)|^vm-run:' "$log" || true
grep -E '^debug: [0-9]+ passed, [0-9]+ failed$' "$log" ||
	echo "debug: 0 passed, 1 failed"
exit "$rc"
