#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-fuzz.sh [IOCTL_N [CONTROL_N [SEED]]]   (inside the VM, as root; see
# vm-run.sh; `make fuzz`)
#
# The long fuzz runs: load bus1.ko, start the engine, run fuzz-ioctl and
# fuzz-control (which stops the engine, plays the engine itself and
# restarts the real one) with IOCTL_N / CONTROL_N iterations (default
# 1000000 / 300000), stop the engine, unload the module and print the
# kernel log for the host to scan. Each fuzzer picks a fresh seed and
# prints it on its first line; SEED (or BUS1_FUZZ_SEED) makes both use
# that one instead, to replay a failure. The last line is
# "fuzz: N passed, N failed" (one case per fuzzer, plus the unload).

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# vm-run.sh exports BUS1_VM_MODULE when it boots another kernel
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
export BUS1_TOP=$top
ioctl_n=${1:-1000000}
control_n=${2:-300000}
seed=${3:-${BUS1_FUZZ_SEED:-}}
passed=0
failed=0

run() {
	local name=$1 start
	shift
	[ -n "$seed" ] && set -- "$@" --seed "$seed"
	echo "=== $name $*"
	start=$(date +%s)
	if (cd "$top/tests/fuzz" && timeout -k 10 3000 "./$name" "$@"); then
		passed=$((passed + 1))
		echo "=== PASS: $name ($(($(date +%s) - start)) s)"
	else
		failed=$((failed + 1))
		echo "=== FAIL: $name ($(($(date +%s) - start)) s)"
	fi
}

if insmod "$module" && "$top/scripts/guest-engine.sh" start; then
	run fuzz-ioctl --iterations "$ioctl_n"
	run fuzz-control --iterations "$control_n"
	"$top/scripts/guest-engine.sh" stop || failed=$((failed + 1))
	if rmmod bus1; then
		passed=$((passed + 1))
	else
		echo "fuzz: rmmod bus1 failed"
		failed=$((failed + 1))
	fi
else
	echo "fuzz: could not load the module or start the engine"
	failed=$((failed + 1))
fi
echo "=== dmesg"
dmesg
echo "=== end of dmesg"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
