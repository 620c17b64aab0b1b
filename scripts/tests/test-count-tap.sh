#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# Check count-tap.sh on sample outputs, among them cmocka 1.1.5's own
# (CMOCKA_MESSAGE_OUTPUT=TAP): a failed group setup or teardown, a skip,
# a short or overlong plan and missing TAP all count as failed.

set -eu

count=$(cd "$(dirname "$0")/.." && pwd)/count-tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect "PASSED FAILED" NAME: count stdin, compare the figures
expect() {
	local got
	cat >"$tmp/log"
	got=$("$count" "$tmp/log" 2>/dev/null)
	if [ "$got" = "$1" ]; then
		passed=$((passed + 1))
	else
		echo "FAIL: $2: counted '$got', expected '$1'"
		failed=$((failed + 1))
	fi
}

expect "2 0" "cmocka, all passed" <<'LOG'
1..2
ok 1 - test_a
ok 2 - test_b
# ok - tests
LOG

expect "2 1" "cmocka, a failed group teardown (exit status 0)" <<'LOG'
1..2
ok 1 - test_a
ok 2 - test_b
not ok 0 - tests [  FAILED  ] GROUP TEARDOWN
# ok - tests
LOG

expect "0 3" "cmocka, a failed group setup: no case ran" <<'LOG'
1..2
not ok 0 - tests [  FAILED  ] GROUP SETUP
# ok - tests
LOG

expect "1 1" "cmocka, a failed test teardown" <<'LOG'
1..2
ok 1 - test_a
not ok 2 - test_b Could not run test: Test teardown failed
# not ok - tests
LOG

expect "1 1" "cmocka, a skipped case" <<'LOG'
1..2
ok 1 - test_a
not ok 2 # SKIP test_b
# not ok - tests
LOG

expect "1 1" "a passed case with a SKIP directive" <<'LOG'
1..2
ok 1 - test_a
ok 2 - test_b # skip not on this kernel
LOG

expect "2 1" "two groups, one failing, with output in between" <<'LOG'
1..1
ok 1 - first
# ok - first
guest-engine: started engine 2 (pid 300)
1..2
ok 1 - second_a
not ok 2 - second_b
# 0x1 != 0x2
# test-x.c:8: error: Failure!
# not ok - second
LOG

expect "2 1" "fewer results than planned (a crash)" <<'LOG'
1..3
ok 1 - test_a
ok 2 - test_b
LOG

expect "2 1" "more results than planned (a forked child ran on)" <<'LOG'
1..1
ok 1 - test_a
ok 1 - test_a
LOG

expect "0 1" "no TAP at all" <<'LOG'
[==========] Running 2 test(s).
[  PASSED  ] 2 test(s).
LOG

expect "0 1" "empty output" </dev/null

expect "0 1" "an empty plan" <<'LOG'
1..0 # SKIP nothing to do
LOG

expect "1 1" "results before any plan" <<'LOG'
ok 1 - test_a
LOG

expect "1 2" "Bail out!" <<'LOG'
1..2
ok 1 - test_a
Bail out! engine gone
LOG

expect "2 0" "CRLF line ends, program output that is not TAP" <<LOG
1..2$(printf '\r')
ok 1 - test_a$(printf '\r')
okay, this is output
  ok 3 - indented, not ours
ok 2 - test_b$(printf '\r')
LOG

echo "count-tap: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
