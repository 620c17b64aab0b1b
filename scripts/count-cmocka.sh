#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# count-cmocka.sh LOGFILE
#
# Add up the summaries cmocka prints at the end of each test group and
# print "PASSED FAILED SKIPPED" as three numbers. cmocka's FAILED figure
# already includes tests that errored in setup or teardown. Only the summary
# lines count ("[  FAILED  ] 2 test(s), listed below:"), not the per-test
# lines that follow them ("[  FAILED  ] test_name").

set -eu

tr -d '\r' <"$1" | awk '
/^\[  PASSED  \] [0-9]+ test\(s\)/ { p += $4 }
/^\[  FAILED  \] [0-9]+ test\(s\)/ { f += $4 }
/^\[  SKIPPED \] [0-9]+ test\(s\)/ { s += $4 }
END { printf "%d %d %d\n", p, f, s }'
