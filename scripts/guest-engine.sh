#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-engine.sh start|stop|restart|status   (inside the VM, as root)
#
# Run the bus1 engine in the background. start returns once the engine has
# attached to /dev/bus1-engine (it logs a line containing "attached"), so a
# caller can use /dev/bus1 right away; stop returns once it has exited.
# Integration tests use this to kill and restart the engine. Every wait is
# bounded; a failure prints the engine's log.
#
# The engine's stdout and stderr go to /run/bus1d.log, appended across
# restarts so that nothing is lost for post-mortem; start looks for
# "attached" only in what the new engine wrote.
#
# BUS1D_ARGS adds arguments to the engine's command line (split on
# whitespace), e.g. BUS1D_ARGS="--fault abort,at=5" for fault tests. An
# engine that dies later (a fault) is not an error for stop, which then
# just reports it as not running.

set -eu

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
engine=${BUS1D:-$top/daemon/bus1d}
pidfile=/run/bus1d.pid
log=/run/bus1d.log
start_timeout=${BUS1D_START_TIMEOUT:-30}
stop_timeout=${BUS1D_STOP_TIMEOUT:-10}

# running PID: the process exists and is not a zombie.
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# alive PID: running and the engine (guards against a stale pidfile whose
# number was reused).
alive() {
	running "$1" || return 1
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = bus1d ]
}

pid_of() {
	local pid
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && alive "$pid" && echo "$pid"
}

show_log() {
	echo "guest-engine: --- $log (from offset $1) ---" >&2
	tail -c "+$(($1 + 1))" "$log" >&2 || true
	echo "guest-engine: --- end of log ---" >&2
}

start() {
	local pid offset i

	if pid=$(pid_of); then
		echo "guest-engine: already running (pid $pid)" >&2
		return 1
	fi
	rm -f "$pidfile"
	if [ ! -x "$engine" ]; then
		echo "guest-engine: $engine missing (make -C daemon)" >&2
		return 1
	fi
	touch "$log"
	offset=$(stat -c %s "$log")
	# Its own session: it outlives the test program that started it,
	# whose session guest-integration.sh kills when the program ends.
	# shellcheck disable=SC2086 # split on purpose
	setsid "$engine" ${BUS1D_ARGS:-} </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"

	for ((i = 0; i < start_timeout * 10; i++)); do
		if tail -c "+$((offset + 1))" "$log" | grep -q attached; then
			echo "guest-engine: started (pid $pid)"
			return 0
		fi
		# not alive: until the fork has exec'ed, comm is the shell's
		if ! running "$pid"; then
			echo "guest-engine: engine exited before attaching" >&2
			rm -f "$pidfile"
			show_log "$offset"
			return 1
		fi
		sleep 0.1
	done
	echo "guest-engine: engine did not attach within $start_timeout s" >&2
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$pidfile"
	show_log "$offset"
	return 1
}

stop() {
	local pid i

	if ! pid=$(pid_of); then
		rm -f "$pidfile"
		echo "guest-engine: not running"
		return 0
	fi
	kill -TERM "$pid"
	for ((i = 0; i < stop_timeout * 10; i++)); do
		if ! alive "$pid"; then
			rm -f "$pidfile"
			echo "guest-engine: stopped (pid $pid)"
			return 0
		fi
		sleep 0.1
	done
	echo "guest-engine: engine ignored SIGTERM for $stop_timeout s, killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	rm -f "$pidfile"
	return 1
}

status() {
	local pid

	if pid=$(pid_of); then
		echo "guest-engine: running (pid $pid)"
		return 0
	fi
	echo "guest-engine: not running"
	return 1
}

case ${1:-} in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status) status ;;
*)
	echo "usage: $0 start|stop|restart|status" >&2
	exit 2
	;;
esac
