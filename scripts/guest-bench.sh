#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-bench.sh [BENCH ARGS...]   (inside the VM, as root; see vm-run.sh)
#
# Load bus1.ko, start the engine, load binder_linux for the binder peer
# (guest-binder.sh; a failure is reported and the binder rows then say
# NOT AVAILABLE), run tests/bench/bus1-bench with the given arguments (the
# table also goes to build/bench/results.txt), then, unless --short was
# given, profile the bus1 ping-pong: context switches and CPU
# time per round trip, and the engine's and the application's system calls
# counted by strace -c (build/bench/profile.txt). Stop the engine, unload
# the modules and print the kernel log for the host to scan. Exits nonzero
# if the benchmark failed, a peer was missing, or set-up failed.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# vm-run.sh exports BUS1_VM_MODULE when it boots another kernel
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
export BUS1_TOP=$top
here=$top/scripts
bench=$top/tests/bench/bus1-bench
prof_iters=${BUS1_BENCH_PROFILE_ITERS:-500}
rc=0
short=0
for a in "$@"; do
	[ "$a" = --short ] && short=1
done

finish() {
	"$here/guest-engine.sh" stop || { echo "bench: ERROR: the engine did not stop cleanly"; rc=1; }
	rmmod bus1 || { echo "bench: ERROR: rmmod bus1 failed"; rc=1; }
	"$here/guest-binder.sh" unload
	echo "=== dmesg"
	dmesg
	echo "=== end of dmesg"
	echo "bench: exit status $rc"
	exit "$rc"
}

if ! insmod "$module"; then
	echo "bench: ERROR: insmod $module failed"
	exit 1
fi
if ! "$here/guest-engine.sh" start; then
	echo "bench: ERROR: the engine did not start"
	rmmod bus1
	exit 1
fi

"$here/guest-binder.sh" load

mkdir -p "$top/build/bench"
"$bench" "$@" || rc=1

if [ "$short" -eq 0 ]; then
	prof=$top/build/bench/profile.txt
	pid=$(cat /run/bus1d.pid)
	{
		echo "=== profile: context switches and CPU per round trip"
		"$bench" --profile "$prof_iters" --engine-pid "$pid" || rc=1
		echo "=== profile: engine system calls during $prof_iters round trips (strace -c -f -p engine)"
		strace -c -f -p "$pid" -o /tmp/strace-engine.txt &
		spid=$!
		sleep 2
		"$bench" --profile "$prof_iters" --engine-pid "$pid" >/dev/null || rc=1
		kill -INT "$spid"
		wait "$spid"
		cat /tmp/strace-engine.txt
		echo "=== profile: application system calls during $prof_iters round trips (strace -c -f, both sides)"
		strace -c -f -o /tmp/strace-app.txt \
			"$bench" --profile "$prof_iters" --engine-pid "$pid" >/dev/null || rc=1
		cat /tmp/strace-app.txt
	} 2>&1 | tee "$prof"
fi
finish
