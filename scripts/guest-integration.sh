#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-integration.sh   (inside the VM, as root; see vm-run.sh)
#
# Load bus1.ko, start the engine, run every tests/integration/test-*
# program in name order, each under a timeout, stop the engine, unload the
# module and print the kernel log for the host to scan. The last line is
# "integration: N passed, N failed", counting cmocka test cases; a program
# that fails without cmocka reporting a failed case (crash, timeout, no
# cmocka output) counts as one failed case, a program that succeeds without
# cmocka output as one passed case, and skipped cases count as failed, so a
# failing run never shows "0 failed". Exits nonzero if anything failed.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# vm-run.sh exports BUS1_VM_MODULE when it boots another kernel
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
export BUS1_TOP=$top
export CMOCKA_MESSAGE_OUTPUT=STDOUT
here=$top/scripts
per_test=${BUS1_TEST_TIMEOUT:-300}
out=$(mktemp /tmp/integration.XXXXXX)

cases_passed=0
cases_failed=0
progs_passed=0
progs_failed=0
problems=0

problem() {
	echo "integration: ERROR: $*"
	problems=$((problems + 1))
}

finish() {
	echo "=== dmesg"
	dmesg
	echo "=== end of dmesg"
	echo "integration programs: $progs_passed passed, $progs_failed failed"
	[ "$problems" -eq 0 ] || echo "integration: $problems set-up problem(s), see ERROR lines above"
	echo "integration: $cases_passed passed, $cases_failed failed"
	rm -f "$out"
	[ "$cases_failed" -eq 0 ] && [ "$progs_failed" -eq 0 ] && [ "$problems" -eq 0 ]
	exit
}

if ! insmod "$module"; then
	problem "insmod $module failed"
	cases_failed=$((cases_failed + 1))
	finish
fi
if ! "$here/guest-engine.sh" start; then
	problem "the engine did not start"
	cases_failed=$((cases_failed + 1))
	rmmod bus1 || problem "rmmod bus1 failed"
	finish
fi

tests=()
for t in "$top"/tests/integration/test-*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	# BUS1_TESTS="test-a test-b" runs only those (while developing).
	if [ -n "${BUS1_TESTS:-}" ] && ! [[ " $BUS1_TESTS " == *" ${t##*/} "* ]]; then
		continue
	fi
	tests+=("$t")
done
if [ "${#tests[@]}" -eq 0 ]; then
	problem "no test programs in $top/tests/integration"
	cases_failed=$((cases_failed + 1))
fi

for t in "${tests[@]}"; do
	name=${t##*/}
	echo "=== $name"
	start=$(date +%s.%N)
	# Its own session, so that a child it forked and left behind (a
	# failed assertion skips the join) is killed instead of holding the
	# output open or disturbing the next program.
	(cd "$top/tests/integration" &&
		exec setsid timeout -k 10 "$per_test" "$t") >"$out" 2>&1 &
	sid=$!
	wait "$sid"
	rc=$?
	pkill -KILL -s "$sid" 2>/dev/null
	cat "$out"
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	read -r p f s < <("$here/count-cmocka.sh" "$out")
	f=$((f + s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		p=1
	fi
	cases_passed=$((cases_passed + p))
	cases_failed=$((cases_failed + f))
	if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
		progs_passed=$((progs_passed + 1))
		echo "=== PASS: $name ($p passed, ${secs} s)"
	else
		progs_failed=$((progs_failed + 1))
		why="exit status $rc"
		[ "$rc" -eq 124 ] && why="timed out after $per_test s"
		[ "$s" -gt 0 ] && why="$why, $s skipped"
		echo "=== FAIL: $name ($p passed, $f failed, $why, ${secs} s)"
	fi
done

# The fuzzers in their short mode, one case each: fuzz-ioctl against the
# real engine, then fuzz-control, which stops the engine, plays it itself
# and starts the real one again. The seed is fixed so a failure repeats.
for f in "fuzz-ioctl --iterations 20000" "fuzz-control --iterations 3000"; do
	echo "=== $f"
	if (cd "$top/tests/fuzz" && timeout -k 10 120 ./$f --seed 1); then
		cases_passed=$((cases_passed + 1))
		progs_passed=$((progs_passed + 1))
		echo "=== PASS: $f"
	else
		cases_failed=$((cases_failed + 1))
		progs_failed=$((progs_failed + 1))
		echo "=== FAIL: $f"
	fi
done

# The benchmark in its short mode: every benchmark and peer runs once, no
# timing is judged; one case, passed only if all of it ran.
bench=$top/tests/bench/bus1-bench
if [ -x "$bench" ]; then
	echo "=== bus1-bench --short"
	# binder is one of the peers (see guest-binder.sh)
	"$here/guest-binder.sh" load
	if (cd "$top" && timeout -k 10 "$per_test" "$bench" --short \
		--out /tmp/bench-short.txt); then
		cases_passed=$((cases_passed + 1))
		progs_passed=$((progs_passed + 1))
		echo "=== PASS: bus1-bench --short"
	else
		cases_failed=$((cases_failed + 1))
		progs_failed=$((progs_failed + 1))
		echo "=== FAIL: bus1-bench --short"
	fi
	"$here/guest-binder.sh" unload
else
	problem "$bench missing (make -C tests/bench)"
fi

# A test may stop the engine, but must leave it running: an engine that is
# gone now crashed or was left dead.
if ! "$here/guest-engine.sh" status >/dev/null; then
	problem "the engine is not running after the tests"
	echo "--- /run/bus1d.log ---"
	cat /run/bus1d.log 2>/dev/null
	echo "--- end of /run/bus1d.log ---"
fi
"$here/guest-engine.sh" stop || problem "the engine did not stop cleanly"
rmmod bus1 || problem "rmmod bus1 failed"

# Load and unload the module 100 times, with and without an engine and
# peers in between; one pass/fail case, like a test program.
echo "=== guest-fault-modload.sh 100"
if timeout -k 10 "$per_test" "$here/guest-fault-modload.sh" 100; then
	cases_passed=$((cases_passed + 1))
	progs_passed=$((progs_passed + 1))
	echo "=== PASS: guest-fault-modload.sh"
else
	cases_failed=$((cases_failed + 1))
	progs_failed=$((progs_failed + 1))
	echo "=== FAIL: guest-fault-modload.sh"
fi
finish
