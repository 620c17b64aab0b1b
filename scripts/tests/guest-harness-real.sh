#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-harness-real.sh   (inside the VM, as root; run by test-vm-harness.sh)
#
# The harness against the real module and engine: a real bus1d stops
# cleanly under guest-engine.sh (exit 0, nothing at error level in its
# log), and one killed behind guest-engine.sh's back fails the next check.
# Then every plant script of the fault and fuzz tests the tree has
# (scripts/tests/guest-plant-fault.sh, guest-plant-fuzz.sh): each runs
# with bus1.ko loaded and a normal engine running, exits 0 only if the
# failure it planted was detected, and must leave a normal engine
# running. An absent plant script is named, not counted. Ends with
# "real-harness: N passed, N failed" after the kernel log.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
engine=$top/scripts/guest-engine.sh
passed=0
failed=0

ok() { echo "real-harness: ok - $*"; passed=$((passed + 1)); }
fail() { echo "real-harness: FAIL - $*"; failed=$((failed + 1)); }

finish() {
	"$engine" stop || fail "the engine did not stop cleanly at the end"
	rmmod bus1 || fail "rmmod bus1"
	echo "=== dmesg"
	dmesg
	echo "=== end of dmesg"
	echo "real-harness: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

if ! insmod "$top/kmod/bus1.ko" || ! "$engine" start; then
	fail "load bus1.ko and start the engine"
	finish
fi

if "$engine" restart && "$engine" check; then
	ok "a real bus1d stops with exit status 0 and a clean log"
else
	fail "a real bus1d did not stop cleanly"
fi

pid=$(cat /run/bus1d.pid)
kill -KILL "$pid"
while [ -e "/proc/$pid" ]; do
	sleep 0.1
done
if "$engine" check; then
	fail "a real bus1d killed without asking passed the check"
else
	ok "a real bus1d killed without asking fails the check"
fi
if "$engine" start && "$engine" check; then
	ok "a fresh engine runs once the failure was reported"
else
	fail "no fresh engine after a reported failure"
	finish
fi

for plant in guest-plant-fault.sh guest-plant-fuzz.sh; do
	if [ ! -e "$top/scripts/tests/$plant" ]; then
		fail "$plant is missing"
		continue
	fi
	echo "=== $plant"
	if timeout -k 10 900 "$top/scripts/tests/$plant"; then
		ok "$plant detected its planted failure"
	else
		fail "$plant: the planted failure went undetected, or the plant failed"
	fi
	if "$engine" check; then
		ok "$plant left a normal engine running"
	else
		fail "$plant did not leave a normal engine running"
		"$engine" status >/dev/null && "$engine" kill KILL
		"$engine" start || finish
	fi
done
finish
