#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-integration.sh   (inside the VM, as root; see vm-run.sh)
#
# Load bus1.ko, start the engine and run every integration program the
# build names (TESTS in tests/integration/Makefile: one per test-*.c plus
# whatever else it adds), in name order, each in its own session under a
# timeout; then the fuzzers and the benchmark in their short modes, stop
# the engine, unload the module, load and unload it 100 times, and print
# the kernel log for the host to scan.
#
# A program passes only if it exits 0, its TAP output (cmocka's, with
# CMOCKA_MESSAGE_OUTPUT=TAP) has no failed, skipped or missing result
# (count-tap.sh), every engine that ended while it ran ended as allowed and
# a normal engine runs after it (guest-engine.sh check), and the kernel
# logged no problem meanwhile (scan-kernel-log.sh). An engine check that
# fails is followed by a fresh normal engine for the next program. A
# program the build names but that is missing fails.
#
# The last line is "integration: N passed, N failed", counting TAP results;
# a program that fails without a failed result counts one more failed
# case, and so does each failure outside the programs (set-up, the final
# unload), so a failing run never shows "0 failed"; each fuzzer, the
# benchmark and the module reloads count as one case. Exits nonzero if
# anything failed.
#
# For development: BUS1_TESTS="test-a test-b" runs only those programs and
# none of the fuzzers, benchmark and module reloads, says so loudly, and
# ends with "integration (partial run, ...): ..." instead, which check.sh
# does not accept. BUS1_FUZZ_SEED=N passes --seed N to the fuzzers (to
# replay a failure; by default they choose and print their own seed).
# BUS1_TEST_TIMEOUT (seconds, default 300) bounds each program.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# vm-run.sh exports BUS1_VM_MODULE when it boots another kernel
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
export BUS1_TOP=$top
export CMOCKA_MESSAGE_OUTPUT=TAP
here=$top/scripts
per_test=${BUS1_TEST_TIMEOUT:-300}
out=$(mktemp /tmp/integration.XXXXXX)
kernel_new=$(mktemp /tmp/integration-kernel.XXXXXX)
partial=${BUS1_TESTS:+yes}

cases_passed=0
cases_failed=0
progs_passed=0
progs_failed=0
problems=0
# uptime of the last kernel log line already scanned
kernel_seen=0

# problem WHAT: a failure outside any program; one failed case each.
problem() {
	echo "integration: ERROR: $*"
	problems=$((problems + 1))
	cases_failed=$((cases_failed + 1))
}

finish() {
	echo "=== dmesg"
	dmesg
	echo "=== end of dmesg"
	echo "integration programs: $progs_passed passed, $progs_failed failed"
	[ "$problems" -eq 0 ] || echo "integration: $problems set-up problem(s), see ERROR lines above"
	rm -f "$out" "$kernel_new" "$kernel_new.found"
	if [ -n "$partial" ]; then
		echo "integration: PARTIAL RUN: only BUS1_TESTS='$BUS1_TESTS', no fuzzers, benchmark or module reloads"
		echo "integration (partial run, BUS1_TESTS): $cases_passed passed, $cases_failed failed"
	else
		echo "integration: $cases_passed passed, $cases_failed failed"
	fi
	[ "$cases_failed" -eq 0 ] && [ "$progs_failed" -eq 0 ] && [ "$problems" -eq 0 ]
	exit
}

# kernel_problems: scan what the kernel logged since the last call; print
# the problem reports and return nonzero if there are any.
kernel_problems() {
	local line last
	dmesg | awk -v seen="$kernel_seen" '
		match($0, /^\[ *[0-9]+\.[0-9]+\]/) {
			t = substr($0, 2, RLENGTH - 2) + 0
			if (t > seen) print
		}' >"$kernel_new"
	# usually the kernel said nothing: no more processes then
	[ -s "$kernel_new" ] || return 0
	while read -r line; do
		last=$line
	done <"$kernel_new"
	last=${last#[}
	last=${last%%]*}
	kernel_seen=${last// /}
	"$here/scan-kernel-log.sh" "$kernel_new" >"$kernel_new.found" && return 0
	echo "integration: the kernel logged problems meanwhile:"
	cat "$kernel_new.found"
	return 1
}

# seconds_since START: the time since START ($EPOCHREALTIME) in seconds
# with one decimal, into $secs.
seconds_since() {
	local us=$((${EPOCHREALTIME/./} - ${1/./}))
	printf -v secs '%d.%d' "$((us / 1000000))" "$((us / 100000 % 10))"
}

# engine_problems: check the engines that ended meanwhile and the one
# running; after a failed check, replace whatever runs by a fresh normal
# engine (killing it is asked for, so the check that follows is clean
# unless the fresh one fails).
engine_problems() {
	"$here/guest-engine.sh" check && return 0
	echo "integration: the engine check failed; starting a fresh engine"
	if "$here/guest-engine.sh" status >/dev/null; then
		"$here/guest-engine.sh" kill KILL >/dev/null 2>&1
	fi
	if ! "$here/guest-engine.sh" start >/dev/null ||
	   ! "$here/guest-engine.sh" check >/dev/null; then
		problem "no normal engine could be started again"
	fi
	return 1
}

# verdict NAME PASSED FAILED RC TOOK WHY: count one program or stage.
verdict() {
	local name=$1 p=$2 f=$3 rc=$4 took=$5 why=$6
	cases_passed=$((cases_passed + p))
	cases_failed=$((cases_failed + f))
	if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
		progs_passed=$((progs_passed + 1))
		echo "=== PASS: $name ($p passed, $took)"
	else
		progs_failed=$((progs_failed + 1))
		echo "=== FAIL: $name ($p passed, $f failed, $why, $took)"
	fi
}

# run_checked NAME DIR TIMEOUT COMMAND...: run COMMAND in DIR in a session
# of its own (whatever it forked and left behind is killed afterwards),
# output in $out; then check the engine and the kernel log. Sets rc, took
# (the program's seconds, and the checks') and checks (the failed checks,
# as text).
run_checked() {
	local name=$1 dir=$2 limit=$3 start sid
	shift 3
	echo "=== $name"
	start=$EPOCHREALTIME
	(cd "$dir" && exec setsid timeout -k 10 "$limit" "$@") >"$out" 2>&1 &
	sid=$!
	wait "$sid"
	rc=$?
	cat "$out"
	if [ "$rc" -eq 124 ]; then
		echo "integration: timed out; what is left of its session:"
		ps -o pid,ppid,stat,etime,wchan:24,args -s "$sid" 2>&1
	fi
	pkill -KILL -s "$sid" 2>/dev/null
	seconds_since "$start"
	took="$secs s"
	start=$EPOCHREALTIME
	checks=
	engine_problems || checks+=", engine check failed"
	kernel_problems || checks+=", kernel problems"
	seconds_since "$start"
	took+=", checks $secs s"
	return 0
}

# run_program PATH: one integration program, counted by its TAP results.
run_program() {
	local t=$1 name=${1##*/} p f why

	if [ ! -x "$t" ]; then
		echo "=== $name"
		echo "integration: $t is missing, though tests/integration/Makefile names it"
		verdict "$name" 0 1 1 "0 s" "missing"
		return
	fi
	run_checked "$name" "$top/tests/integration" "$per_test" "$t"
	read -r p f < <("$here/count-tap.sh" "$out")
	why="exit status $rc"
	[ "$rc" -eq 124 ] && why="timed out after $per_test s"
	why+=$checks
	# a failure no TAP result reports is one more failed case
	if { [ "$rc" -ne 0 ] || [ -n "$checks" ]; } && [ "$f" -eq 0 ]; then
		f=1
	fi
	[ -z "$checks" ] || rc=1
	verdict "$name" "$p" "$f" "$rc" "$took" "$why"
}

# run_stage NAME DIR TIMEOUT COMMAND...: a stage that is one case.
run_stage() {
	local name=$1
	run_checked "$@"
	[ -z "$checks" ] || [ "$rc" -ne 0 ] || rc=1
	if [ "$rc" -eq 0 ]; then
		verdict "$name" 1 0 0 "$took" ""
	else
		verdict "$name" 0 1 "$rc" "$took" "exit status $rc$checks"
	fi
}

# The fuzzers in their short mode, one case each: fuzz-ioctl against the
# real engine, then fuzz-control, which stops the engine, plays it itself
# and starts the real one again. Each chooses and prints its seed.
run_fuzzers() {
	local seed=()
	[ -z "${BUS1_FUZZ_SEED:-}" ] || seed=(--seed "$BUS1_FUZZ_SEED")
	run_stage "fuzz-ioctl --iterations 20000" "$top/tests/fuzz" 120 \
		./fuzz-ioctl --iterations 20000 "${seed[@]}"
	run_stage "fuzz-control --iterations 3000" "$top/tests/fuzz" 120 \
		./fuzz-control --iterations 3000 "${seed[@]}"
}

# The benchmark in its short mode: every benchmark and peer runs once, no
# timing is judged; one case, passed only if all of it ran. binder is one
# of the peers (see guest-binder.sh).
run_bench() {
	"$here/guest-binder.sh" load
	run_stage "bus1-bench --short" "$top" "$per_test" \
		"$top/tests/bench/bus1-bench" --short --out /tmp/bench-short.txt
	"$here/guest-binder.sh" unload
}

# Load and unload the module 100 times, with and without an engine and
# peers in between; one pass/fail case, like a test program. No engine
# runs afterwards, so no engine check, only the kernel log.
run_modload() {
	local start rc=0
	echo "=== guest-fault-modload.sh 100"
	start=$EPOCHREALTIME
	timeout -k 10 "$per_test" "$here/guest-fault-modload.sh" 100 || rc=$?
	checks=
	kernel_problems || checks=", kernel problems"
	seconds_since "$start"
	if [ "$rc" -eq 0 ] && [ -z "$checks" ]; then
		verdict "guest-fault-modload.sh" 1 0 0 "$secs s" ""
	else
		verdict "guest-fault-modload.sh" 0 1 1 "$secs s" "exit status $rc$checks"
	fi
}

# expected_programs: the programs the build makes, one per line.
expected_programs() {
	# shellcheck disable=SC2016 # $(TESTS) is make's
	make -s --no-print-directory -C "$top/tests/integration" \
		--eval 'print-tests: ; @echo $(TESTS)' print-tests | tr ' ' '\n' | sed '/^$/d'
}

if ! insmod "$module"; then
	problem "insmod $module failed"
	finish
fi
# guest-engine.sh check reads whether the module has an engine attached
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug ||
	problem "cannot mount debugfs"
if ! "$here/guest-engine.sh" start; then
	problem "the engine did not start"
	rmmod bus1 || problem "rmmod bus1 failed"
	finish
fi
kernel_problems || problem "the kernel logged problems while loading the module"

mapfile -t expected < <(expected_programs)
if [ "${#expected[@]}" -eq 0 ]; then
	problem "tests/integration/Makefile names no test programs"
fi
for t in "$top"/tests/integration/test-*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	[[ " ${expected[*]} " == *" ${t##*/} "* ]] ||
		echo "integration: NOTE: ${t##*/} is not in tests/integration/Makefile's TESTS; not run"
done

tests=("${expected[@]}")
if [ -n "$partial" ]; then
	echo "integration: ****************************************************"
	echo "integration: PARTIAL RUN: BUS1_TESTS='$BUS1_TESTS'; this run proves nothing"
	echo "integration: about the programs, fuzzers and stages it leaves out"
	echo "integration: ****************************************************"
	tests=()
	for t in $BUS1_TESTS; do
		if [[ " ${expected[*]} " == *" $t "* ]]; then
			tests+=("$t")
		else
			problem "BUS1_TESTS names $t, which tests/integration/Makefile does not"
		fi
	done
fi

for t in "${tests[@]}"; do
	run_program "$top/tests/integration/$t"
done
if [ -z "$partial" ]; then
	run_fuzzers
	run_bench
fi
"$here/guest-engine.sh" stop || problem "the engine did not stop cleanly"
rmmod bus1 || problem "rmmod bus1 failed"
kernel_problems || problem "the kernel logged problems while the module was unloaded"
[ -n "$partial" ] || run_modload
finish
