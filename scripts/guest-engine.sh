#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-engine.sh start|stop|restart|kill [SIGNAL]|expect-exit|status|check
#   (inside the VM, as root)
#
# Run the bus1 engine in the background, and prove that every engine
# ended as it was allowed to, so that a crash can never be mistaken for a
# stop nor hidden by a restart.
#
#   start        start an engine; returns once it attached to
#                /dev/bus1-engine (it logs a line containing "attached").
#   stop         SIGTERM the engine and wait until it exited.
#   restart      stop, then start.
#   kill [SIG]   end the engine with SIG (default KILL) on purpose.
#   expect-exit  the running engine may end on its own from now on (a test
#                is about to disconnect it, e.g. through debugfs's abort).
#   status       0 if an engine runs, 1 if not; changes nothing.
#   check        for the test runner, after each program: every engine
#                that ended since the last check ended as allowed, the
#                running engine's log is clean, and a normal engine runs,
#                attached and not stopped.
#
# The rules. An engine started without --fault in BUS1D_ARGS (or
# BUS1D_FAULT in the environment) is normal: it must be alive until it is
# stopped or killed, exit 0 on SIGTERM within BUS1D_STOP_TIMEOUT seconds
# (or die of the signal `kill` sent), and its log must hold no line at
# error level or worse ("bus1d: error: ..."), no abort and no assertion,
# sanitizer or glibc memory error report. An engine with --fault may end
# on its own (that is what faults do) with any status, but never of
# SIGSEGV, SIGBUS, SIGILL or SIGFPE, never of SIGABRT unless its log shows
# an abort fault firing, and never with an assertion, sanitizer or glibc
# memory error report. After expect-exit a normal engine may end on its
# own like that; what it logged before is judged as for a normal engine.
#
# start and stop fail when an engine ended against these rules and no
# command failed for it yet (one failure per death, not a cascade); check
# fails for every such engine it has not reported yet, so a test program
# that ignores a failed start is still caught by the runner. Every wait
# is bounded; a failure prints the engine's log.
#
# Each engine runs in a session of its own (it outlives the test program
# that started it, whose session guest-integration.sh kills), under a
# supervisor (this script, "supervise") that waits for it and records its
# exit status. Its PID is in /run/bus1d.pid. Engine N of this boot keeps
# its state in /run/bus1-engine/N.*: its log (N.log, stdout and stderr;
# /run/bus1d.log links to the newest), mode, arguments, PID, exit status
# (128 + S for signal S), the signal it was asked to end with, and the
# verdict. The script spawns as few processes as it can: under emulation
# on a loaded host every one costs.
#
# BUS1D_ARGS adds arguments to the engine's command line (split on
# whitespace), e.g. BUS1D_ARGS="--fault abort,at=5" for fault tests.

set -eu

case $0 in
/*) self=$0 ;;
*) self=$PWD/$0 ;;
esac
top=${BUS1_TOP:-${self%/*}/..}
engine=${BUS1D:-$top/daemon/bus1d}
pidfile=/run/bus1d.pid
state=/run/bus1-engine
debugfs=/sys/kernel/debug/bus1/engine
start_timeout=${BUS1D_START_TIMEOUT:-30}
stop_timeout=${BUS1D_STOP_TIMEOUT:-10}

# What no engine may log: an assertion, a sanitizer report, glibc's
# reports of a corrupted heap or stack (each ends in abort()).
forbidden_always='Assertion .* failed|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|MemorySanitizer|runtime error:|\*\*\* .* \*\*\*|double free|(malloc|free|realloc)\(\): |corrupted (size|double-linked|top)'
# What a normal engine may not log either: a line at error level or
# worse (see daemon/log.c), an abort.
forbidden_normal="^bus1d: (error|critical|alert|emergency): |Aborted|$forbidden_always"
# Signals that are a crash, whatever the engine was asked to do.
crash_signals=" SEGV BUS ILL FPE "
# The line bus1d's abort fault writes right before abort() (daemon/fault.c).
abort_fault='fault: abort (before|after) request'

# Results of the functions below, set instead of printed (no subshell).
pid='' pstate='' status='' sig='' how='' what=''

# readf VAR FILE: the first line of FILE into VAR, empty if there is none.
readf() {
	local -n var=$1
	var=
	[ -r "$2" ] || return 0
	# shellcheck disable=SC2034 # var is a name reference
	read -r var <"$2" || true
}

# proc_state PID: the process state letter of PID into $pstate.
proc_state() {
	local stat
	[ -r "/proc/$1/stat" ] || return 1
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	pstate=${stat%% *}
}

# alive PID: the process exists, is no zombie and is the engine (guards
# against a stale pidfile whose number was reused).
alive() {
	local comm
	proc_state "$1" && [ "$pstate" != Z ] || return 1
	readf comm "/proc/$1/comm"
	[ "$comm" = bus1d ]
}

# pid_of: the running engine's PID into $pid; fails if none runs.
pid_of() {
	readf pid "$pidfile"
	[ -n "$pid" ] && alive "$pid"
}

# signame N: the name of signal N into $sig (SEGV, ABRT, ...).
signame() {
	case $1 in
	1) sig=HUP ;; 2) sig=INT ;; 3) sig=QUIT ;; 4) sig=ILL ;; 5) sig=TRAP ;;
	6) sig=ABRT ;; 7) sig=BUS ;; 8) sig=FPE ;; 9) sig=KILL ;; 10) sig=USR1 ;;
	11) sig=SEGV ;; 12) sig=USR2 ;; 13) sig=PIPE ;; 14) sig=ALRM ;;
	15) sig=TERM ;; *) sig=$1 ;;
	esac
}

# ended N: engine N exited and its supervisor recorded the status; then
# $status is it, $sig the signal that ended it (or empty) and $how both
# in words.
ended() {
	[ -f "$state/$1.status" ] || return 1
	readf status "$state/$1.status"
	sig=
	how="exit status $status"
	if [ "$status" -gt 128 ]; then
		signame "$((status - 128))"
		how="killed by SIG$sig"
	fi
}

# wait_ended N SECONDS: wait until engine N ended.
wait_ended() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		ended "$1" && return 0
		sleep 0.1
	done
	ended "$1"
}

# describe N: engine N in words into $what.
describe() {
	local mode args epid
	readf mode "$state/$1.mode"
	readf args "$state/$1.args"
	readf epid "$state/$1.pid"
	what="engine $1 (pid $epid, $mode, args: '$args')"
}

show_log() {
	echo "guest-engine: --- log of engine $1 (its last 60 lines) ---" >&2
	tail -n 60 "$state/$1.log" >&2 || true
	echo "guest-engine: --- end of log ---" >&2
}

# scan_log N: print the lines of engine N's log after the ones scanned
# before that its mode forbids, and remember how far it got. A normal
# engine's lines are held to the normal rules, so are an expected exit's
# lines before expect-exit; a fault engine's only to the common ones.
scan_log() {
	local mode from strict
	readf mode "$state/$1.mode"
	readf from "$state/$1.scanned"
	case $mode in
	normal) strict=999999999 ;;
	expected-exit) readf strict "$state/$1.expect" ;;
	*) strict=0 ;;
	esac
	NORMAL=$forbidden_normal ALWAYS=$forbidden_always OUT=$state/$1.scanned \
		awk -v from="${from:-0}" -v strict="$strict" '
		NR > from && ((NR <= strict && $0 ~ ENVIRON["NORMAL"]) || $0 ~ ENVIRON["ALWAYS"])
		END { print NR > ENVIRON["OUT"] }' "$state/$1.log"
}

# judge N: decide once whether ended engine N ended as allowed; writes
# N.verdict, "ok" or the reasons it did not.
judge() {
	local f=$state/$1 mode asked note found reasons=
	[ -f "$f.verdict" ] && return 0
	ended "$1"
	readf mode "$f.mode"
	readf asked "$f.asked"
	readf note "$f.note"

	[ -z "$note" ] || reasons+="; $note"
	if [[ "$crash_signals" == *" $sig "* ]]; then
		reasons+="; it crashed: $how"
	elif [ -n "$asked" ]; then
		# bus1d handles TERM and INT: it must exit 0 on them
		case $asked:$sig in
		TERM:* | INT:*)
			[ "$status" -eq 0 ] || [ "$mode" != normal ] ||
				reasons+="; $how after SIG$asked, expected exit status 0" ;;
		*:"$asked") ;;
		*)
			[ "$mode" != normal ] ||
				reasons+="; $how after SIG$asked, expected to die of it" ;;
		esac
	elif [ "$mode" = normal ]; then
		reasons+="; it ended on its own ($how) while it had to run until stopped"
	elif [ "$sig" = ABRT ] && ! grep -qaE "$abort_fault" "$f.log"; then
		reasons+="; killed by SIGABRT, but no abort fault fired"
	fi
	found=$(scan_log "$1")
	[ -z "$found" ] || reasons+="; its log holds: $found"

	if [ -z "$reasons" ]; then
		echo ok >"$f.verdict"
	else
		echo "${reasons#; }" >"$f.verdict"
	fi
}

# judge_ended: judge every engine that ended. One whose supervisor
# recorded no status although the engine is gone (it cannot be, short of
# a kill of the supervisor) is judged lost.
judge_ended() {
	local n epid
	for ((n = 1; n <= newest; n++)); do
		[ ! -f "$state/$n.verdict" ] || continue
		if ! ended "$n"; then
			readf epid "$state/$n.pid"
			[ -z "$epid" ] || ! proc_state "$epid" || [ "$pstate" = Z ] || continue
			if ! wait_ended "$n" 2; then
				echo "its supervisor recorded no exit status" >"$state/$n.verdict"
				continue
			fi
		fi
		judge "$n"
	done
}

# fail_untold MARK: print every judged engine that did not end as allowed
# and has no MARK yet, then set MARK; nonzero if there was one. MARK is
# "told" once a command failed for the engine, "reported" (and told) once
# check reported it to the runner.
fail_untold() {
	local n rc=0 verdict
	for ((n = 1; n <= newest; n++)); do
		if [ ! -f "$state/$n.verdict" ] || [ -f "$state/$n.$1" ]; then
			continue
		fi
		: >"$state/$n.$1"
		: >"$state/$n.told"
		readf verdict "$state/$n.verdict"
		[ "$verdict" != ok ] || continue
		describe "$n"
		echo "guest-engine: FAILED: $what did not end as allowed: $(<"$state/$n.verdict")" >&2
		show_log "$n"
		rc=1
	done
	return "$rc"
}

# has_attached N: engine N logged that it attached.
has_attached() {
	local line
	while read -r line; do
		[[ "$line" != *attached* ]] || return 0
	done <"$state/$1.log"
	return 1
}

start() {
	local n f i args

	if pid_of; then
		echo "guest-engine: already running (pid $pid)" >&2
		return 1
	fi
	judge_ended
	if ! fail_untold told; then
		echo "guest-engine: not starting a new engine" >&2
		return 1
	fi
	if [ ! -x "$engine" ]; then
		echo "guest-engine: $engine missing (make -C daemon)" >&2
		return 1
	fi

	[ -d "$state" ] || mkdir -p "$state"
	n=$((newest + 1))
	f=$state/$n
	read -r -a args <<<"${BUS1D_ARGS:-}"
	echo "${args[*]}" >"$f.args"
	if [ -n "${BUS1D_FAULT:-}" ] || [[ " ${args[*]} " =~ \ --fault[\ =] ]]; then
		echo fault >"$f.mode"
	else
		echo normal >"$f.mode"
	fi
	: >"$f.log"
	echo "$n" >"$state/newest"
	newest=$n
	ln -sfn "$f.log" /run/bus1d.log
	setsid "$self" supervise "$n" "$engine" "${args[@]}" </dev/null >/dev/null 2>&1 &

	for ((i = 0; i < 100; i++)); do
		readf pid "$f.pid"
		[ -z "$pid" ] || break
		sleep 0.05
	done
	if [ -z "$pid" ]; then
		echo "guest-engine: the supervisor did not start engine $n" >&2
		return 1
	fi
	echo "$pid" >"$pidfile"

	for ((i = 0; i < start_timeout * 10; i++)); do
		if has_attached "$n"; then
			echo "guest-engine: started engine $n (pid $pid)"
			return 0
		fi
		if ended "$n"; then
			echo "guest-engine: engine $n exited before attaching ($how)" >&2
			echo "it exited before attaching" >"$f.note"
			break
		fi
		sleep 0.1
	done
	if ! ended "$n"; then
		echo "guest-engine: engine $n did not attach within $start_timeout s" >&2
		echo "it did not attach within $start_timeout s" >"$f.note"
		echo KILL >"$f.asked"
		kill -KILL "$pid" 2>/dev/null || true
		wait_ended "$n" 5 || true
	fi
	: >"$pidfile"
	: >"$f.told"
	judge_ended
	show_log "$n"
	return 1
}

# end_engine SIGNAL: send SIGNAL to the running engine ($pid) on purpose
# and wait until it ended, killing it if it ignores SIGNAL; then judge.
end_engine() {
	local f=$state/$newest
	echo "$1" >"$f.asked"
	kill "-$1" "$pid" 2>/dev/null || true
	if ! wait_ended "$newest" "$stop_timeout"; then
		echo "guest-engine: engine $newest ignored SIG$1 for $stop_timeout s, killing it" >&2
		echo "it did not end within $stop_timeout s of SIG$1" >"$f.note"
		kill -KILL "$pid" 2>/dev/null || true
		wait_ended "$newest" 5 || true
	fi
	: >"$pidfile"
	judge_ended
}

# not_running: what stop and kill say when no engine runs: fine if the
# last one ended as allowed (or none was started).
not_running() {
	judge_ended
	: >"$pidfile" 2>/dev/null || true
	if [ "$newest" -gt 0 ] && ended "$newest"; then
		echo "guest-engine: not running (engine $newest: $how)"
	else
		echo "guest-engine: not running"
	fi
	fail_untold told
}

stop() {
	if ! pid_of; then
		not_running
		return
	fi
	end_engine TERM
	ended "$newest" && echo "guest-engine: stopped engine $newest ($how)"
	fail_untold told
}

kill_engine() {
	local signal=${1#SIG}

	if ! kill -l "$signal" >/dev/null 2>&1; then
		echo "guest-engine: unknown signal $1" >&2
		return 2
	fi
	# its death would look like a crash, which is never allowed
	if [[ "$crash_signals" == *" $signal "* ]]; then
		echo "guest-engine: SIG$signal is a crash signal; end the engine with another one" >&2
		return 2
	fi
	if ! pid_of; then
		not_running
		return
	fi
	end_engine "$signal"
	ended "$newest" && echo "guest-engine: killed engine $newest with SIG$signal ($how)"
	fail_untold told
}

expect_exit() {
	if ! pid_of; then
		echo "guest-engine: no engine running" >&2
		return 1
	fi
	awk 'END { print NR }' "$state/$newest.log" >"$state/$newest.expect"
	echo expected-exit >"$state/$newest.mode"
}

status() {
	if pid_of; then
		echo "guest-engine: running (pid $pid)"
		return 0
	fi
	echo "guest-engine: not running"
	return 1
}

check() {
	local rc=0 mode found line attached=

	judge_ended
	fail_untold reported || rc=1
	if ! pid_of; then
		echo "guest-engine: FAILED: no engine is running" >&2
		return 1
	fi
	describe "$newest"
	found=$(scan_log "$newest")
	if [ -n "$found" ]; then
		echo "guest-engine: FAILED: the running $what logged: $found" >&2
		show_log "$newest"
		rc=1
	fi
	readf mode "$state/$newest.mode"
	if [ "$mode" != normal ]; then
		echo "guest-engine: FAILED: $what is left running; a normal engine must run" >&2
		rc=1
	fi
	if proc_state "$pid" && [ "$pstate" = T ]; then
		echo "guest-engine: FAILED: $what is left stopped (SIGSTOP)" >&2
		rc=1
	fi
	if [ -r "$debugfs" ]; then
		while read -r line; do
			[ "$line" != "state: attached" ] || attached=1
		done <"$debugfs"
		if [ -z "$attached" ]; then
			echo "guest-engine: FAILED: $what runs, but the module has no engine attached:" >&2
			cat "$debugfs" >&2
			rc=1
		fi
	fi
	return "$rc"
}

# supervise N ENGINE ARGS...: run the engine, record its PID in N.pid and,
# once it ended, its exit status (128 + S for signal S) in N.status.
supervise() {
	local f=$state/$1 rc=0
	shift
	"$@" </dev/null >>"$f.log" 2>&1 &
	echo "$!" >"$f.pid"
	wait "$!" || rc=$?
	echo "$rc" >"$f.status.new"
	mv "$f.status.new" "$f.status"
}

newest=0
[ ! -r "$state/newest" ] || readf newest "$state/newest"

case ${1:-} in
start) start ;;
stop) stop ;;
restart) stop && start ;;
kill) kill_engine "${2:-KILL}" ;;
expect-exit) expect_exit ;;
status) status ;;
check) check ;;
supervise) shift; supervise "$@" ;;
*)
	echo "usage: $0 start|stop|restart|kill [SIGNAL]|expect-exit|status|check" >&2
	exit 2
	;;
esac
