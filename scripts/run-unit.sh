#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# run-unit.sh   (on the host)
#
# Run the native unit tests (make -C tests/unit check), show their output,
# add up cmocka's per-group summaries and end with
# "unit: N passed, N failed". Skipped cases count as failed; a failing make
# without a failed case reported (build error, crash) counts as one failed
# case, and so does a run that reports no case at all, so that a failing
# stage never shows "0 failed". Exits nonzero on any failure.

set -u

top=$(cd "$(dirname "$0")/.." && pwd -P)
mkdir -p "$top/build"
log=$top/build/unit.log

CMOCKA_MESSAGE_OUTPUT=STDOUT make --no-print-directory -C "$top/tests/unit" check 2>&1 |
	tee "$log"
rc=${PIPESTATUS[0]}

read -r p f s < <("$top/scripts/count-cmocka.sh" "$log")
[ "$s" -gt 0 ] && echo "unit: $s skipped test(s) counted as failed"
f=$((f + s))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	echo "unit: make -C tests/unit check failed (status $rc) without a failed test case; counted as 1 failed"
	f=1
fi
if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
	echo "unit: no test results found; counted as 1 failed"
	f=1
fi
echo "unit: $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
