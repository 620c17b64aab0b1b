#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# count-tap.sh LOGFILE
#
# Count the TAP results in the output of test programs (cmocka's, with
# CMOCKA_MESSAGE_OUTPUT=TAP, or a program that prints TAP itself) and
# print "PASSED FAILED" as two numbers. The counts come from the runner's
# result lines alone, never from its summaries, which cmocka 1.1.5 gets
# wrong (a failed group teardown still reads "[  PASSED  ] N test(s)").
#
#   ok N - name          passed
#   not ok N - name      failed, whatever N: cmocka reports a failed group
#                        setup or teardown as "not ok 0"
#   ... # SKIP / # TODO  failed: a skipped case proves nothing
#   1..N                 a plan: the next N results belong to it (the plan
#                        comes first, as cmocka prints it); each missing
#                        result counts as failed, surplus ones as one more
#   Bail out!            one more failed
#
# Results before any plan count one more failed, and so does output with
# neither plan nor result. Why each failure beyond a "not ok" line was
# counted goes to stderr. Other lines (diagnostics "# ...", the programs'
# own output) are ignored.

set -eu

exec awk '
function note(msg) { print "tap: " msg > "/dev/stderr" }
function close_plan() {
	if (!in_plan)
		return
	if (got < want) {
		failed += want - got
		note(sprintf("plan 1..%d but %d result(s): %d missing, counted as failed", want, got, want - got))
	} else if (got > want) {
		failed++
		note(sprintf("plan 1..%d but %d results, counted as one more failed", want, got))
	}
	in_plan = 0
}
{ sub(/\r$/, "") }
/^1\.\.[0-9]+/ {
	close_plan()
	plans++
	want = substr($0, 4) + 0
	got = 0
	in_plan = 1
	if (want == 0) {
		failed++
		note("an empty plan (1..0): nothing ran, counted as failed")
	}
	next
}
/^Bail out!/ {
	failed++
	note("\"" $0 "\", counted as failed")
	next
}
/^(not )?ok( |$)/ {
	not_ok = /^not ok/
	rest = substr($0, not_ok ? 7 : 3)
	number = -1
	if (match(rest, /^ +[0-9]+/))
		number = substr(rest, RSTART, RLENGTH) + 0
	# cmocka numbers group set-up and teardown results 0, outside the plan
	if (number != 0) {
		if (in_plan)
			got++
		else
			stray++
	}
	if (tolower(rest) ~ /#[ \t]*(skip|todo)/) {
		failed++
		note("\"" $0 "\": skipped, counted as failed")
	} else if (not_ok) {
		failed++
	} else {
		passed++
	}
}
END {
	close_plan()
	if (stray) {
		failed++
		note(sprintf("%d result(s) before any plan, counted as one more failed", stray))
	}
	if (!plans && !passed && !failed) {
		failed++
		note("no TAP output (neither a plan nor a result), counted as failed")
	}
	printf "%d %d\n", passed, failed
}' "$1"
