#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# scan-kernel-log.sh LOGFILE
#
# Print the kernel problem reports in a VM console log and exit 1 if there
# are any, 0 if there are none, 2 if the log cannot be read. Only kernel lines are considered: they carry
# a printk timestamp "[   12.345678]" (CONFIG_PRINTK_TIME; dmesg output has
# the same prefix), so a test that prints "BUG:" or "WARNING:" itself is not
# mistaken for the kernel. The timestamp may follow other text on the same
# line, since user output without a newline shares the console.
#
# Besides the kernel's own reports, the kernel's notes about user-space
# crashes count: "prog[pid]: segfault at ..." and "traps: prog[pid] trap
# invalid opcode ..." (also divide error, int3, general protection fault).
# They are printed at KERN_INFO, so they appear only in the dmesg the
# guest prints, not on the console at loglevel 5; no test crashes a
# process on purpose (an abort() prints nothing here).
#
# The expected taint notes for an unsigned out-of-tree module ("loading
# out-of-tree module taints kernel", "module verification failed") match
# none of the patterns; the debug kernel's kmemleak announcing itself at
# boot (make check-debug) matches one and is left out.

set -eu

log=$1
ts='\[ *[0-9]+\.[0-9]+\] '
benign='kmemleak: Kernel memory leak detector initialized'
problems='BUG:|BUG [^ ]+ \(|WARNING:|Oops|Kernel panic|general protection fault|kernel BUG at|Call Trace:|Unable to handle|possible recursive locking|circular locking dependency|INFO: task .* blocked|detected stall|soft lockup|hard LOCKUP|KASAN|UBSAN|kmemleak|refcount_t:|list_(add|del) corruption|stack-protector|stack guard page|segfault at|traps: '

if [ ! -r "$log" ]; then
	echo "scan-kernel-log.sh: cannot read $log" >&2
	exit 2
fi

rc=0
tr -d '\r' <"$log" | grep -E "$ts.*($problems)" | grep -Ev "$benign" || rc=$?
case $rc in
0) exit 1 ;;
1) exit 0 ;;
*) exit 2 ;;
esac
