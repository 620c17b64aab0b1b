#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# run-unit.sh [--valgrind]   (on the host; make unit, make -C tests/unit check)
#
# Build the unit tests and run each program the build names
# (make -C tests/unit list) with a timeout, with cmocka's TAP output, and
# count their results with count-tap.sh; then bus1d's I/O loop against
# the fake control device (make -C tests/unit check-loop, one result). A
# program passes only if it exits 0 and reports no failed, skipped or
# missing result; one that fails without a failed result (crash, timeout,
# valgrind error) counts one more failed case, so a failing stage never
# shows "0 failed".
#
# With --valgrind every program runs under memcheck, leaks included, with
# a ten times longer timeout; an error fails the program through its exit
# status. The loop is not run then.
#
# Ends with "unit: N passed, N failed" ("valgrind: ..." with --valgrind);
# the output is kept in build/unit.log (build/unit-valgrind.log). Exits
# nonzero on any failure.

set -u

top=$(cd "$(dirname "$0")/.." && pwd -P)
dir=$top/tests/unit
stage=unit
limit=60
wrap=()
if [ "${1:-}" = --valgrind ]; then
	stage=valgrind
	limit=600
	wrap=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all)
fi
mkdir -p "$top/build"
log=$top/build/$stage.log
[ "$stage" = unit ] || log=$top/build/unit-$stage.log
out=$(mktemp /tmp/unit.XXXXXX)
trap 'rm -f "$out"' EXIT
export CMOCKA_MESSAGE_OUTPUT=TAP

passed=0
failed=0

# run_one NAME COMMAND...: run COMMAND in tests/unit, count its results.
run_one() {
	local name=$1 rc=0 p f
	shift
	echo "== $name"
	(cd "$dir" && "$@") >"$out" 2>&1 || rc=$?
	cat "$out"
	read -r p f < <("$top/scripts/count-tap.sh" "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "PASSED: $name ($p passed)"
	else
		echo "FAILED: $name ($p passed, $f failed, exit status $rc)"
	fi
}

run_all() {
	local tests t

	if ! make --no-print-directory -C "$dir" all; then
		echo "$stage: building the unit tests failed"
		failed=$((failed + 1))
		return
	fi
	read -r -a tests < <(make -s --no-print-directory -C "$dir" list)
	if [ "${#tests[@]}" -eq 0 ]; then
		echo "$stage: tests/unit/Makefile names no test programs"
		failed=$((failed + 1))
	fi
	for t in "${tests[@]}"; do
		run_one "$t" timeout "$limit" "${wrap[@]}" "./$t"
	done
	[ "$stage" = valgrind ] ||
		run_one "bus1d loop" make -s --no-print-directory -C "$dir" check-loop
}

{
	run_all
	echo "$stage: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
