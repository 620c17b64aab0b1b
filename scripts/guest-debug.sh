#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-debug.sh [STRESS_ROUNDS [IOCTL_N [CONTROL_N]]]
#   (inside the VM of `make check-debug`, on the debug kernel, as root;
#   see check-debug.sh)
#
# Everything `make check-debug` runs, in one boot, part after part, each
# timed ("=== debug: PART: PASS|FAIL (N s)"):
#   integration  guest-integration.sh: every test program, the fault
#                tests, the short fuzzers, bus1-bench --short and 100
#                module load/unload rounds
#   fuzz         guest-fuzz.sh, IOCTL_N / CONTROL_N iterations (default
#                30000 / 5000: fuzz-ioctl and fuzz-control bound their
#                own run time, 600 s and 300 s), seed 1
#   control      test-control with STRESS_ROUNDS rounds of teardown against
#                engine writes (default 1000)
#   failslab     a share of the module's allocations fails (below)
#   kmemleak     once the module is gone, a scan: a suspected leak
#                allocated through bus1 fails the part; every report is
#                kept in build/debug-kernel/kmemleak.txt
# The last line is "debug: N passed, N failed", one case per part. KASAN,
# lockdep and every other kernel report are judged by the host, which
# scans the console log (vm-run.sh).
#
# failslab: 6.1 has no stack trace filter on x86_64 (require-start/end),
# so the failures are aimed at tasks (task-filter, make-it-fail). First
# fuzz-ioctl marks itself for its random ioctls (FUZZ_MAKE_IT_FAIL), which
# fails the module's allocations on the application side (peer, request,
# payload) and must still pass: ENOMEM is a documented errno. Then the
# engine's threads are marked while test programs send real traffic,
# which fails those on the engine side (replies, routes, lent
# items) and whatever else the engine allocates: the engine may give up
# and the traffic fail, which is not judged. Then the engine is started
# afresh, unmarked, fuzz-ioctl must pass and the module must unload. Each
# phase prints how many allocations it failed and must fail some.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
export BUS1_TOP=$top
export CMOCKA_MESSAGE_OUTPUT=STDOUT
here=$top/scripts
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
stress_rounds=${1:-1000}
ioctl_n=${2:-30000}
control_n=${3:-5000}
failslab=/sys/kernel/debug/failslab
failslab_budget=1000000
kmemleak=/sys/kernel/debug/kmemleak
# Test programs that send, lend and route through the engine and never
# restart it (which would drop its make-it-fail marks).
engine_side_tests="test-send test-messages test-lend test-recv test-transfer"
passed=0
failed=0

# part NAME FUNCTION: run one part, time it, count it.
part() {
	local start secs
	echo "=== debug: $1"
	start=$(date +%s)
	if "$2"; then
		passed=$((passed + 1))
		secs=$(($(date +%s) - start))
		echo "=== debug: $1: PASS ($secs s)"
	else
		failed=$((failed + 1))
		secs=$(($(date +%s) - start))
		echo "=== debug: $1: FAIL ($secs s)"
	fi
}

# up / down: load the module and start the engine; stop and unload.
up() {
	insmod "$module" || return 1
	"$here/guest-engine.sh" start && return 0
	rmmod bus1
	return 1
}

down() {
	local rc=0
	"$here/guest-engine.sh" stop || rc=1
	rmmod bus1 || { echo "debug: rmmod bus1 failed"; rc=1; }
	return "$rc"
}

integration() {
	BUS1_TEST_TIMEOUT=1800 "$here/guest-integration.sh"
}

fuzz() {
	"$here/guest-fuzz.sh" "$ioctl_n" "$control_n" 1
}

control() {
	local rc
	up || return 1
	(cd "$top/tests/integration" &&
		STRESS_ROUNDS=$stress_rounds timeout -k 10 7200 ./test-control)
	rc=$?
	down || rc=1
	return "$rc"
}

# failslab_arm PERCENT: fail that share of the marked tasks' allocations,
# sleeping ones included, quietly (verbose 1 would print each failure).
failslab_arm() {
	echo 0 >"$failslab/verbose" &&
	echo N >"$failslab/ignore-gfp-wait" &&
	echo Y >"$failslab/task-filter" &&
	echo 1 >"$failslab/interval" &&
	echo "$failslab_budget" >"$failslab/times" &&
	echo "$1" >"$failslab/probability"
}

# failslab_disarm WHAT: stop failing; print and check how many failed.
failslab_disarm() {
	local left n
	echo 0 >"$failslab/probability"
	left=$(cat "$failslab/times") || return 1
	n=$((failslab_budget - left))
	echo "debug: failslab: $n allocations failed during $1"
	[ "$n" -gt 0 ]
}

# mark_engine 0|1: set make-it-fail on every thread of the engine.
mark_engine() {
	local t
	for t in /proc/"$(cat /run/bus1d.pid)"/task/*/make-it-fail; do
		echo "$1" >"$t" || return 1
	done
}

failslab_part() {
	local rc=0 fuzz=$top/tests/fuzz
	if [ ! -e "$failslab/times" ]; then
		echo "debug: no $failslab (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS)"
		return 1
	fi
	up || return 1

	echo "--- failslab: fuzz-ioctl marked (application side)"
	failslab_arm 10 || rc=1
	(cd "$fuzz" && FUZZ_MAKE_IT_FAIL=1 timeout -k 10 1200 \
		./fuzz-ioctl --iterations 20000 --seed 2) || rc=1
	failslab_disarm "fuzz-ioctl's ioctls" || rc=1

	echo "--- failslab: the engine marked, test programs (engine side)"
	# failed allocations may end it; how it ends is not judged either
	"$here/guest-engine.sh" expect-exit
	mark_engine 1 || rc=1
	failslab_arm 2 || rc=1
	for t in $engine_side_tests; do
		(cd "$top/tests/integration" && timeout -k 10 600 "./$t") >/dev/null ||
			echo "debug: failslab: $t failed (not judged)"
	done
	failslab_disarm "the engine's run" || rc=1

	echo "--- failslab: a fresh engine, unmarked"
	"$here/guest-engine.sh" stop
	"$here/guest-engine.sh" start || rc=1
	(cd "$fuzz" && timeout -k 10 600 ./fuzz-ioctl --iterations 2000 --seed 3) ||
		rc=1
	down || rc=1
	return "$rc"
}

# A kmemleak record starts with "unreferenced object"; one is bus1's when
# a frame of its backtrace is in bus1 or, the module being unloaded, a
# bare address in the module area (a loaded kernel symbol has a name).
kmemleak_part() {
	local report=$top/build/debug-kernel/kmemleak.txt all ours
	if [ ! -e "$kmemleak" ]; then
		echo "debug: no $kmemleak (CONFIG_DEBUG_KMEMLEAK)"
		return 1
	fi
	# objects younger than 5 s are not reported; two scans settle it
	sleep 6
	echo scan >"$kmemleak" && echo scan >"$kmemleak" || return 1
	cat "$kmemleak" >"$report" || return 1
	all=$(grep -c '^unreferenced object' "$report")
	ours=$(awk '
		/^unreferenced object/ { if (rec != "" && hit) printf "%s", rec; rec = ""; hit = 0 }
		{ rec = rec $0 "\n" }
		/\[bus1\]| 0xffffffff[c-f][0-9a-f]+$/ { hit = 1 }
		END { if (rec != "" && hit) printf "%s", rec }' "$report")
	echo "debug: kmemleak: $all suspected leak(s) in all, in $report"
	[ -z "$ours" ] && return 0
	echo "debug: kmemleak: LEAKS ATTRIBUTED TO BUS1:"
	echo "$ours"
	return 1
}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
echo "debug: $(uname -r), module $module"
part integration integration
part fuzz fuzz
part control control
part failslab failslab_part
part kmemleak kmemleak_part
echo "debug: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
