#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# check.sh   (on the host; the tail of `make check`, after deps and build)
#
# Run every test stage and end with exactly one summary line per stage:
#   unit: N passed, N failed          unit tests, natively (run-unit.sh)
#   valgrind: N passed, N failed      the same under valgrind
#   integration: N passed, N failed   one VM boot (guest-integration.sh)
#   install: N passed, N failed       make install, the unit in the VM
#   harness: N passed, N failed       self-tests of this harness: the
#                                     kernel-log scan, the TAP counter, and
#                                     the VM harness with planted failures
# Every stage always runs, so every figure is always there; each stage's
# time goes to the log. A stage whose runner prints no result line (a
# VM failure no test case reports: kernel problem, timeout, no result
# line from the guest) counts one failed case. Exits 0 only if every
# stage passed. BUS1_TESTS (a subset of the integration programs, for
# development) is refused: make check always runs everything.

set -u

top=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$top" || exit 1
mkdir -p build
vm_timeout=${BUS1_VM_TIMEOUT:-2400}

if [ -n "${BUS1_TESTS:-}" ]; then
	echo "check: BUS1_TESTS is set ('$BUS1_TESTS'); make check runs every program" \
		"and does not take a subset: unset it, or use scripts/vm-run.sh with" \
		"'env BUS1_TESTS=... scripts/guest-integration.sh'" >&2
	exit 2
fi

lines=()
status=0
times=()

# stage NAME LOG COMMAND...: run COMMAND, tee its output to LOG, take its
# last "NAME: N passed, N failed" line (or count one failed case).
stage() {
	local name=$1 log=$2 rc line start
	shift 2
	echo "=== $name"
	start=$(date +%s)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	times+=("$name $(($(date +%s) - start)) s")
	line=$(grep -a -E "^$name: [0-9]+ passed, [0-9]+ failed$" "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: no result line (exit status $rc); counted as 1 failed"
		line="$name: 0 passed, 1 failed"
	elif [ "$rc" -ne 0 ] && [[ "$line" == *", 0 failed" ]]; then
		echo "$name: exit status $rc without a failed case; counted as 1 failed"
		line=${line%, 0 failed}", 1 failed"
	fi
	[ "$rc" -eq 0 ] && [[ "$line" == *", 0 failed" ]] || status=1
	lines+=("$line")
}

# The harness self-tests, one line: the sum of theirs.
harness() {
	local p=0 f=0 t line rc=0
	for t in test-scan-kernel-log.sh test-count-tap.sh test-vm-harness.sh; do
		echo "--- scripts/tests/$t"
		scripts/tests/"$t" 2>&1 | tee build/check-harness-part.log
		[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
		line=$(grep -a -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' \
			build/check-harness-part.log | tail -n 1)
		if [ -z "$line" ]; then
			f=$((f + 1))
			continue
		fi
		read -r _ tp _ tf _ <<<"$line"
		p=$((p + tp))
		f=$((f + tf))
	done
	rm -f build/check-harness-part.log
	echo "harness: $p passed, $f failed"
	return "$rc"
}

stage unit build/check-unit.log scripts/run-unit.sh
stage valgrind build/check-valgrind.log scripts/run-unit.sh --valgrind
stage integration build/check-integration.log \
	scripts/vm-run.sh --timeout "$vm_timeout" -- scripts/guest-integration.sh
stage install build/check-install.log tests/install/run.sh
stage harness build/check-harness.log harness

echo
echo "check: logs in build/check-{unit,valgrind,integration,install,harness}.log, build/vm/console.log"
echo "check: time per stage: ${times[*]/%/;}"
printf '%s\n' "${lines[@]}"
exit "$status"
