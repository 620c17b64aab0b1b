#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# Check scan-kernel-log.sh on sample console logs: real kernel reports are
# found, the expected taint notes and user output that merely looks like a
# report are not.

set -eu

scan=$(cd "$(dirname "$0")/.." && pwd)/scan-kernel-log.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect STATUS NAME: scan stdin as a log, compare the exit status
expect() {
	cat >"$tmp/log"
	rc=0
	"$scan" "$tmp/log" >/dev/null || rc=$?
	if [ "$rc" -eq "$1" ]; then
		passed=$((passed + 1))
	else
		echo "FAIL: $2: status $rc, expected $1"
		failed=$((failed + 1))
	fi
}

expect 0 "clean log with taint notes" <<'LOG'
[    0.000000] Linux version 6.1.0-56-amd64
[    3.123456] bus1: loading out-of-tree module taints kernel.
[    3.123999] bus1: module verification failed: signature and/or required key missing - tainting kernel
vm-init: running /x/cmd at uptime 2.1
[==========] 3 test(s) run.
[  PASSED  ] 3 test(s).
VMRUN-EXIT-STATUS=0
LOG

expect 0 "user output that looks like a report" <<'LOG'
WARNING: this is a test program talking
BUG: not a kernel one
Call Trace: printed by a test
LOG

expect 1 "WARN splat" <<'LOG'
[   10.000001] ------------[ cut here ]------------
[   10.000002] WARNING: CPU: 1 PID: 77 at kmod/peer.c:12 bus1_peer_free+0x1/0x2 [bus1]
[   10.000003] Call Trace:
LOG

expect 1 "BUG: splat" <<'LOG'
[    5.5] BUG: kernel NULL pointer dereference, address: 0000000000000000
LOG

expect 1 "Oops with CRLF line ends" <<'LOG'
[    7.100000] Oops: 0002 [#1] PREEMPT SMP NOPTI
LOG

expect 1 "kernel line after user text without newline" <<'LOG'
partial user output[   12.000000] general protection fault, probably for non-canonical address
LOG

expect 1 "hung task" <<'LOG'
[  245.000000] INFO: task test-peer:123 blocked for more than 120 seconds.
LOG

expect 1 "slab corruption" <<'LOG'
[    9.000000] BUG kmalloc-64 (Tainted: G           OE     ): Poison overwritten
LOG

expect 1 "kernel BUG at" <<'LOG'
[    9.000000] kernel BUG at kmod/queue.c:99!
LOG

expect 1 "panic" <<'LOG'
[    9.000000] Kernel panic - not syncing: Fatal exception
LOG

expect 1 "rcu stall" <<'LOG'
[   30.000000] rcu: INFO: rcu_preempt self-detected stall on CPU
LOG

expect 1 "dmesg output of a lockdep report" <<'LOG'
[   11.000000] WARNING: possible circular locking dependency detected
LOG

expect 1 "user-space segfault" <<'LOG'
[   50.123456] bus1d[812]: segfault at 0 ip 000055d5c0a1b2c3 sp 00007ffc12345678 error 4 in bus1d[55d5c0a00000+20000]
LOG

expect 1 "user-space segfault, 6.2+ format" <<'LOG'
[   50.123456] test-send[901]: segfault at 8 ip 00007f3a1b2c3d4e sp 00007ffd11223344 error 4 in libc.so.6[7f3a1b200000+155000] likely on CPU 1 (core 1, socket 0)
LOG

expect 1 "user-space invalid opcode" <<'LOG'
[   51.000000] traps: test-send[900] trap invalid opcode ip:401136 sp:7ffd5c4a0e60 error:0 in test-send[401000+95000]
LOG

expect 1 "user-space general protection fault" <<'LOG'
[   52.000000] traps: bus1d[77] general protection fault ip:7f0c2e6a1b2c sp:7ffe0d9d7a10 error:0 in libc.so.6[7f0c2e600000+155000]
LOG

expect 1 "user-space divide error" <<'LOG'
[   53.000000] traps: fuzz-ioctl[1234] trap divide error ip:401136 sp:7ffd5c4a0e60 error:0 in fuzz-ioctl[401000+9000]
LOG

expect 0 "a test printing a segfault line itself" <<'LOG'
bus1d[812]: segfault at 0 ip 000055d5c0a1b2c3 sp 00007ffc12345678 error 4
traps: test-send[900] trap invalid opcode ip:401136
LOG

expect 0 "the debug kernel's kmemleak at boot" <<'LOG'
[    1.900000] kmemleak: Kernel memory leak detector initialized (mem pool available: 14663)
LOG

expect 1 "kmemleak report on the console" <<'LOG'
[  600.000000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)
LOG

rc=0
"$scan" "$tmp/does-not-exist" >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then
	passed=$((passed + 1))
else
	echo "FAIL: missing log: status $rc, expected 2"
	failed=$((failed + 1))
fi

echo "scan-kernel-log: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
