#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-plant-fuzz.sh   (inside the VM, as root, with bus1.ko loaded and a
# normal engine started by guest-engine.sh start)
#
# A planted failure for the harness self-test: while fuzz-ioctl runs
# against the engine, disconnect the engine through debugfs, as if it had
# died. Every peer of fuzz-ioctl is then dead (ENOTCONN; a reopen fails
# with ENXIO), which the healthy engine fuzz-ioctl expects never causes,
# so fuzz-ioctl must exit nonzero with a FAIL line naming that errno.
# Exits 0 iff it did. Either way it leaves the module loaded and a normal
# engine running: the aborted engine is expected to exit on its own
# (`guest-engine.sh expect-exit`), is killed if it still runs, and a new
# one starts.

set -eu

top=${BUS1_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
export BUS1_TOP=$top
engine=$top/scripts/guest-engine.sh
abort=/sys/kernel/debug/bus1/abort
out=$(mktemp)
trap 'rm -f "$out"' EXIT

restart_engine() {
	if "$engine" status >/dev/null; then
		"$engine" kill
	fi
	"$engine" start
}

[ -e "$abort" ] || mount -t debugfs none /sys/kernel/debug
if [ ! -e "$abort" ]; then
	echo "plant-fuzz: $abort missing; is bus1.ko loaded?"
	exit 1
fi

# Endless unless something fails; it prints its seed first.
"$top/tests/fuzz/fuzz-ioctl" --iterations 1000000000 >"$out" 2>&1 &
pid=$!
for ((i = 0; i < 300; i++)); do
	grep -q "seed" "$out" && break
	sleep 0.1
done
sleep 2
if ! kill -0 "$pid" 2>/dev/null; then
	echo "plant-fuzz: fuzz-ioctl ended before the engine was aborted:"
	cat "$out"
	restart_engine
	exit 1
fi

echo "plant-fuzz: fuzz-ioctl (pid $pid) is running; aborting the engine through $abort"
"$engine" expect-exit
echo 1 >"$abort"
for ((i = 0; i < 300; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	echo "plant-fuzz: fuzz-ioctl still runs 30 s after the engine died"
	kill -KILL "$pid"
fi
rc=0
wait "$pid" || rc=$?
echo "plant-fuzz: fuzz-ioctl exited with status $rc:"
tail -n 5 "$out"

restart_engine
if [ "$rc" -ne 0 ] && grep -Eq "^fuzz-ioctl: FAIL: .*(ENOTCONN|ENXIO)" "$out"; then
	echo "plant-fuzz: PASS: fuzz-ioctl failed on the dead peer"
	exit 0
fi
echo "plant-fuzz: FAIL: fuzz-ioctl did not report the dead peer"
exit 1
