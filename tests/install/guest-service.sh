#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-service.sh ROOT   (inside the VM, as root; run by run.sh)
#
# Operate the installed system the way systemd and udev would, from ROOT,
# a PREFIX=/usr install that test-install.sh left there together with the
# module DKMS built from the installed sources (ROOT/bus1.ko):
#  - the module loads; the device nodes have the modes the udev rule sets;
#  - the engine runs with exactly the unit's ExecStart command line (the
#    binary path prefixed with ROOT), under a stand-in service manager
#    (notify-run.py), with the credentials the unit gives it (setpriv plays
#    DynamicUser=, AmbientCapabilities=, CapabilityBoundingSet= and
#    NoNewPrivileges=; RuntimeDirectory= is made by hand): READY=1 arrives
#    once /dev/bus1 works, by then the engine runs with no capability at
#    all, a client runs, STOPPING=1 arrives on SIGTERM and the exit status
#    is 0;
#  - the installed bus1ctl shows a known state of that engine;
#  - /sys/kernel/debug/bus1/ shows the state, counters and waiting requests,
#    and its abort file disconnects a running engine (started by root with
#    --user nobody, which it becomes), killing its peers.
# Ends with "install-vm: N passed, N failed".

set -u

root=${1:?usage: guest-service.sh ROOT}
top=${BUS1_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$top/tests/install
dbg=/sys/kernel/debug/bus1
passed=0
failed=0

ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
field() { sed -n "s/^$1: //p" "$dbg/engine"; }
has_files() { [ -r "$dbg/engine" ] && [ -r "$dbg/waiting" ] && [ -w "$dbg/abort" ]; }
attached() { [ "$(field state)" = attached ] && [ "$(field generation)" = 1 ]; }
counted() {
	[ "$(field requests)" -gt 0 ] && [ "$(field records_written)" -gt 0 ] &&
		[ "$(field records_rejected)" = 0 ] && [ "$(field pending)" = 0 ] &&
		[ "$(field awaiting_reply)" = 0 ] && [ "$(cat "$dbg/waiting")" = 0 ]
}
engine_gone() {
	! "$top/scripts/guest-engine.sh" status >/dev/null && [ "$(field state)" = none ]
}
unloaded() { rmmod bus1 && [ ! -e "$dbg" ]; }

finish() {
	echo "=== dmesg"
	dmesg
	echo "=== end of dmesg"
	echo "install-vm: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug

if ! insmod "$root/bus1.ko"; then
	fail "insmod of the DKMS-built module"
	finish
fi
ok "insmod of the DKMS-built module"
check "/dev/bus1 is 0666 (as 60-bus1.rules sets it)" \
	[ "$(stat -c %a /dev/bus1)" = 666 ]
check "/dev/bus1-engine is 0600 root (as 60-bus1.rules sets it)" \
	[ "$(stat -c %a:%U /dev/bus1-engine)" = 600:root ]
check "debugfs: engine, waiting and abort files" \
	has_files
check "debugfs: state none before any engine" [ "$(field state)" = none ]

# The unit's command line, run as a Type=notify service, as systemd would
# start it: as a dynamic user (nobody stands in) holding exactly the
# unit's ambient capabilities, with no_new_privs, in its runtime directory.
unit=$root/usr/lib/systemd/system/bus1d.service
unit_value() { sed -n "s/^$1=//p" "$unit"; }
read -r -a argv <<<"$(unit_value ExecStart)"
check "ExecStart names the installed bus1d" [ -x "$root${argv[0]}" ]
argv[0]=$root${argv[0]}
unprivileged_unit() {
	[ "$(unit_value DynamicUser)" = yes ] &&
		[ "$(unit_value NoNewPrivileges)" = yes ]
}
check "the unit runs bus1d as a dynamic user with no new privileges" \
	unprivileged_unit
caps=$(unit_value AmbientCapabilities | tr 'A-Z ' 'a-z\n' | sed 's/^cap_/+/' | paste -sd,)
check "ambient capabilities: exactly CAP_SYS_ADMIN and CAP_DAC_OVERRIDE" \
	[ "$caps" = "+sys_admin,+dac_override" ]
install -d -o nobody -g nogroup -m 0755 /run/bus1d
argv=(setpriv --reuid=nobody --regid=nogroup --clear-groups
	--inh-caps="-all,$caps" --ambient-caps="-all,$caps"
	--bounding-set="-all,$caps" --no-new-privs "${argv[@]}")
echo "running: ${argv[*]}"

# The engine's credentials, from /proc: "field value" lines.
creds() {
	local pid

	pid=$(pgrep -x bus1d | head -n 1) || return 1
	awk '/^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):/ {
		printf "%s %s\n", $1, $2 }' "/proc/$pid/status"
}
dropped() {
	local c

	c=$(creds) || return 1
	echo "$c" | sed 's/^/  bus1d: /'
	[ "$(echo "$c" | grep -c -E '^Cap(Inh|Prm|Eff|Amb): 0+$')" = 4 ] &&
		echo "$c" | grep -qx "Uid: $(id -u nobody)" &&
		echo "$c" | grep -qx 'NoNewPrivs: 1'
}
log=$(mktemp /tmp/notify.XXXXXX)
coproc SVC { python3 "$here/notify-run.py" /run/bus1-notify.sock -- "${argv[@]}" 2>&1; }
svc_pid=$SVC_PID
svc_out=${SVC[0]}
svc_in=${SVC[1]}
while read -t 60 -r line <&"$svc_out"; do
	echo "  $line"
	echo "$line" >>"$log"
	[ "$line" = ready ] && break
done
check "READY=1 arrives on NOTIFY_SOCKET" grep -qx 'notify: READY=1' "$log"
check "once attached, the engine holds no capability and no_new_privs" dropped
check "debugfs: state attached, generation 1" attached
check "a client works once READY=1 is sent (bus1-demo)" \
	"$top/libbus1/examples/bus1-demo" >/dev/null
check "debugfs: the client's requests were counted and answered" counted
sed 's/^/  debugfs: /' "$dbg/engine"
check "bus1ctl against a known state (no peer, then one of ours)" \
	python3 "$here/bus1ctl-check.py" "$root/usr/sbin/bus1ctl"
echo stop >&"$svc_in"
while read -t 60 -r line <&"$svc_out"; do
	echo "  $line"
	echo "$line" >>"$log"
done
wait "$svc_pid" 2>/dev/null
check "STOPPING=1 arrives after SIGTERM" grep -qx 'notify: STOPPING=1' "$log"
check "bus1d exits 0 after SIGTERM" grep -qx 'exit: 0' "$log"
check "debugfs: state none after the engine exited" [ "$(field state)" = none ]
rm -f "$log"

# abort disconnects a live engine; its peers die, a new engine can attach.
# This engine is started by root, by hand, and becomes nobody itself.
if BUS1D="$root/usr/sbin/bus1d" BUS1D_ARGS="--user nobody" \
	"$top/scripts/guest-engine.sh" start; then
	check "started by root with --user nobody: nobody, no capability" \
		dropped
	# The abort ends this engine on its own: tell the supervisor.
	"$top/scripts/guest-engine.sh" expect-exit
	check "debugfs abort: a live peer sees POLLHUP, the engine exits" \
		python3 -c '
import os, select, sys
fd = os.open("/dev/bus1", os.O_RDWR)
with open(sys.argv[1], "w") as f:
    f.write("1\n")
p = select.poll()
p.register(fd, select.POLLIN)
ev = p.poll(5000)
sys.exit(0 if ev and ev[0][1] & select.POLLHUP and ev[0][1] & select.POLLERR else 1)
' "$dbg/abort"
	for ((i = 0; i < 50; i++)); do
		"$top/scripts/guest-engine.sh" status >/dev/null || break
		sleep 0.1
	done
	check "debugfs abort: the engine is gone, state none" engine_gone
	check "debugfs abort with no engine fails with ENOTCONN" \
		sh -c "! echo 1 2>/dev/null >'$dbg/abort'"
	check "a new engine attaches after abort (generation 3)" \
		sh -c "BUS1D='$root/usr/sbin/bus1d' '$top/scripts/guest-engine.sh' start >/dev/null &&
			[ \"\$(sed -n 's/^generation: //p' '$dbg/engine')\" = 3 ]"
	"$top/scripts/guest-engine.sh" stop >/dev/null || fail "engine did not stop"
else
	fail "the installed bus1d did not start under guest-engine.sh"
fi

check "rmmod bus1 removes /sys/kernel/debug/bus1" unloaded
finish
