#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# End-to-end check of the VM harness, planting each failure it must catch.
#
# Most cases run the real guest-integration.sh and guest-engine.sh in the
# VM against a stand-in tree under build/harness-test: a dummy bus1.ko
# (dummy-bus1/bus1.c), a fake engine whose misbehaviour BUS1D_ARGS picks,
# fake TAP test programs named by a fake tests/integration/Makefile,
# stand-in fuzzers and benchmark, and a stand-in for the 100 module
# reloads. One boot plants every failure at once and checks that exactly
# the planted programs fail, each for its reason: a failed case, a failed
# group teardown (TAP "not ok 0"), fewer results than the plan, a skipped
# case, no TAP at all, a missing binary, an engine killed behind
# guest-engine.sh's back and then restarted (as test setups do), a normal
# engine that exits nonzero or logs an error when stopped, an engine
# that dies of an assert(), a segfault, and a kernel WARNING. Other boots:
# everything passes (exit status 0), a BUS1_TESTS subset (loud, not
# accepted by check.sh), a failing command, a timeout, a kernel crash.
#
# One boot runs the real module and engine (guest-harness-real.sh): a real
# bus1d killed without asking, and the plant scripts of the fault and fuzz
# tests (scripts/tests/guest-plant-*.sh).

set -eu

top=$(cd "$(dirname "$0")/../.." && pwd -P)
fake=$top/build/harness-test
kver=$("$top/scripts/kver.sh")
passed=0
failed=0

rm -rf "$fake"
mkdir -p "$fake/kmod" "$fake/daemon" "$fake/scripts" "$fake/tests/integration" \
	"$fake/tests/fuzz" "$fake/tests/bench" "$fake/progs"
cp "$top/scripts/tests/dummy-bus1/bus1.c" "$fake/kmod/"
echo 'obj-m := bus1.o' >"$fake/kmod/Kbuild"
make -s -C "/lib/modules/$kver/build" M="$fake/kmod" modules >/dev/null

# The real scripts, but for the module reloads, which need the real module.
for s in "$top"/scripts/*.sh; do
	ln -s "$s" "$fake/scripts/"
done
rm "$fake/scripts/guest-fault-modload.sh"
cat >"$fake/scripts/guest-fault-modload.sh" <<'MODLOAD'
#!/bin/bash
for i in 1 2 3; do
	insmod "$BUS1_TOP/kmod/bus1.ko" && rmmod bus1 || exit 1
done
echo "modload: 3 rounds, 0 failed (stand-in)"
MODLOAD

# The fake engine: attaches at once, exits 0 on SIGTERM, unless told
# otherwise: --term-status=N exits N on SIGTERM, --error-on-term logs an
# error then, --assert dies of a failed assertion 0.3 s after attaching,
# --abort-fault of an abort fault (as bus1d --fault abort logs it).
cat >"$fake/daemon/bus1d" <<'ENGINE'
#!/bin/bash
term_status=0
error_on_term=
abort=
for a in "$@"; do
	case $a in
	--term-status=*) term_status=${a#*=} ;;
	--error-on-term) error_on_term=1 ;;
	--assert) abort="core/queue.c:28: queue_push: Assertion \`item->state == ITEM_IDLE' failed." ;;
	--abort-fault) abort="warning: fault: abort before request 5" ;;
	esac
done
on_term() {
	[ -z "$error_on_term" ] || echo "bus1d: error: planted error" >&2
	echo "bus1d: caught signal 15, exiting" >&2
	exit "$term_status"
}
trap on_term TERM
echo "bus1d: attached to /dev/bus1-engine (fake)" >&2
if [ -n "$abort" ]; then
	sleep 0.3
	echo "bus1d: $abort" >&2
	kill -ABRT $$
fi
while :; do sleep 0.1; done
ENGINE

for f in fuzz-ioctl fuzz-control; do
	printf '#!/bin/bash\necho "%s args: $*"\n' "$f" >"$fake/tests/fuzz/$f"
done
printf '#!/bin/bash\necho "bench args: $*"\n' >"$fake/tests/bench/bus1-bench"

# prog NAME: a fake test program, its script on stdin
prog() {
	cat >"$fake/progs/$1"
}
engine='"$BUS1_TOP/scripts/guest-engine.sh"'

prog pass2 <<'TEST'
#!/bin/bash
printf '1..2\nok 1 - test_a\nok 2 - test_b\n# ok - pass2\n'
TEST
prog fail1of3 <<'TEST'
#!/bin/bash
printf '1..3\nok 1 - test_a\nok 2 - test_b\nnot ok 3 - test_broken\n'
printf '# 0x1 != 0x2\n# not ok - fail1of3\n'
exit 1
TEST
prog teardown-fail <<'TEST'
#!/bin/bash
# cmocka 1.1.5 exits 0 after a failed group teardown
printf '1..2\nok 1 - test_a\nok 2 - test_b\n'
printf 'not ok 0 - teardown-fail [  FAILED  ] GROUP TEARDOWN\n# ok - teardown-fail\n'
TEST
prog short-plan <<'TEST'
#!/bin/bash
printf '1..3\nok 1 - test_a\nok 2 - test_b\n'
TEST
prog skip <<'TEST'
#!/bin/bash
printf '1..2\nok 1 - test_a\nnot ok 2 # SKIP test_b\n'
TEST
prog no-tap <<'TEST'
#!/bin/bash
echo "all fine, trust me"
TEST
prog kill-then-restart <<TEST
#!/bin/bash
# the engine dies behind guest-engine.sh's back; the restart a test's
# setup does must not hide it
printf '1..1\n'
kill -KILL "\$(cat /run/bus1d.pid)"
$engine restart || true
printf 'ok 1 - restarted\n'
TEST
prog engine-exit-status <<TEST
#!/bin/bash
printf '1..1\n'
BUS1D_ARGS=--term-status=3 $engine restart
$engine restart || true
printf 'ok 1 - restarted\n'
TEST
prog engine-logs-error <<TEST
#!/bin/bash
printf '1..1\n'
BUS1D_ARGS=--error-on-term $engine restart
$engine restart || true
printf 'ok 1 - restarted\n'
TEST
prog engine-asserts <<TEST
#!/bin/bash
printf '1..1\n'
BUS1D_ARGS=--assert $engine restart
sleep 1
printf 'ok 1 - restarted\n'
TEST
prog segfault <<'TEST'
#!/bin/bash
# a child crashes for real (the kernel logs "segfault at"); the program
# itself reports success
printf '1..1\n'
python3 -c 'import ctypes; ctypes.string_at(0)' 2>/dev/null || true
printf 'ok 1 - survived\n'
TEST
prog restart-engine <<TEST
#!/bin/bash
printf '1..1\n'
$engine restart && printf 'ok 1 - restarted\n'
TEST
prog fault-engine <<TEST
#!/bin/bash
# a fault engine may die on its own, of SIGABRT after an abort fault fired
printf '1..1\n'
BUS1D_ARGS="--fault abort --abort-fault" $engine restart
sleep 1
$engine start && printf 'ok 1 - fault engine replaced\n'
TEST
prog stray <<'TEST'
#!/bin/bash
printf '1..1\nok 1 - not named, never run\n'
TEST
prog warn <<'TEST'
#!/bin/bash
printf '1..1\n'
echo Y >/sys/module/bus1/parameters/warn_on_exit && printf 'ok 1 - armed\n'
TEST
chmod +x "$fake"/daemon/bus1d "$fake"/tests/fuzz/* "$fake"/tests/bench/* \
	"$fake"/progs/* "$fake"/scripts/guest-fault-modload.sh

# use_tests NAME...: these fake programs are the integration tests, in
# this order, and the fake Makefile names them; a NAME starting with "-"
# is named but missing, one starting with "+" exists but is not named.
use_tests() {
	local names=() t
	rm -f "$fake"/tests/integration/test-*
	for t in "$@"; do
		case $t in
		-*) names+=("test-${t#-}") ;;
		+*) ln -s "../../progs/${t#+}" "$fake/tests/integration/test-${t#+}" ;;
		*)
			names+=("test-$t")
			ln -s "../../progs/$t" "$fake/tests/integration/test-$t"
			;;
		esac
	done
	echo "TESTS := ${names[*]}" >"$fake/tests/integration/Makefile"
}

# expect NAME WANT_STATUS PATTERN... -- COMMAND...: run COMMAND, compare
# its exit status ("nonzero" for any failure) and grep its output for each
# pattern; a pattern starting with "!" must not match.
expect() {
	local name=$1 want=$2 rc=0 ok=1 pat
	shift 2
	local pats=()
	while [ "$1" != -- ]; do
		pats+=("$1")
		shift
	done
	shift
	echo "--- $name"
	"$@" >"$fake/out" 2>&1 || rc=$?
	case $want in
	nonzero) [ "$rc" -ne 0 ] || ok=0 ;;
	*) [ "$rc" -eq "$want" ] || ok=0 ;;
	esac
	[ "$ok" -eq 1 ] || echo "FAIL: $name: exit status $rc, expected $want"
	for pat in "${pats[@]}"; do
		if [ "${pat:0:1}" = '!' ]; then
			if grep -qE -- "${pat:1}" "$fake/out"; then
				echo "FAIL: $name: output matches /${pat:1}/"
				ok=0
			fi
		elif ! grep -qE -- "$pat" "$fake/out"; then
			echo "FAIL: $name: output lacks /$pat/"
			ok=0
		fi
	done
	if [ "$ok" -eq 1 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "--- output of $name:"
		grep -v '^\[ *[0-9]' "$fake/out" || true
	fi
}

vm=("$top/scripts/vm-run.sh" --timeout 900 --)
run=(env "BUS1_TOP=$fake" "$fake/scripts/guest-integration.sh")

use_tests pass2 fail1of3 teardown-fail short-plan skip no-tap -missing kill-then-restart engine-exit-status engine-logs-error \
	engine-asserts segfault restart-engine fault-engine warn +stray
expect "every planted failure fails its program, and only that" nonzero \
	'^=== PASS: test-pass2 \(2 passed' \
	'^=== FAIL: test-fail1of3 \(2 passed, 1 failed, exit status 1' \
	'^=== FAIL: test-teardown-fail \(2 passed, 1 failed, exit status 0' \
	'^tap: plan 1..3 but 2 result\(s\): 1 missing' \
	'^=== FAIL: test-short-plan \(2 passed, 1 failed' \
	'^tap: "not ok 2 # SKIP test_b": skipped' \
	'^=== FAIL: test-skip \(1 passed, 1 failed' \
	'^tap: no TAP output' \
	'^=== FAIL: test-no-tap \(0 passed, 1 failed' \
	'test-missing is missing, though tests/integration/Makefile names it' \
	'^=== FAIL: test-missing \(0 passed, 1 failed, missing' \
	'NOTE: test-stray is not in tests/integration/Makefile' \
	'did not end as allowed: it ended on its own \(killed by SIGKILL\)' \
	'^=== FAIL: test-kill-then-restart \(1 passed, 1 failed, exit status 0, engine check failed' \
	'did not end as allowed: exit status 3 after SIGTERM, expected exit status 0' \
	'^=== FAIL: test-engine-exit-status \(1 passed, 1 failed, exit status 0, engine check failed' \
	'did not end as allowed: its log holds: bus1d: error: planted error' \
	'^=== FAIL: test-engine-logs-error \(1 passed, 1 failed, exit status 0, engine check failed' \
	"ended on its own \\(killed by SIGABRT\\).*its log holds: .*Assertion" \
	'^=== FAIL: test-engine-asserts \(1 passed, 1 failed, exit status 0, engine check failed' \
	'segfault at' \
	'^=== FAIL: test-segfault \(1 passed, 1 failed, exit status 0, kernel problems' \
	'^=== PASS: test-restart-engine \(1 passed' \
	'^=== PASS: test-fault-engine \(1 passed' \
	'^fuzz-ioctl args: --iterations 20000$' \
	'^=== PASS: bus1-bench --short' \
	'^=== PASS: guest-fault-modload.sh' \
	'ERROR: the kernel logged problems while the module was unloaded' \
	'^integration programs: 8 passed, 11 failed$' \
	'^integration: 21 passed, 12 failed$' \
	'^vm-run: KERNEL PROBLEMS' 'WARNING: .*bus1' '!=== test-stray' \
	'guest-engine: stopped engine' 'dummy bus1 unloaded' \
	-- "${vm[@]}" "${run[@]}"

use_tests pass2 restart-engine fault-engine
expect "all tests pass, the fuzzers get BUS1_FUZZ_SEED" 0 \
	'^integration programs: 7 passed, 0 failed$' \
	'^integration: 8 passed, 0 failed$' \
	'^fuzz-ioctl args: --iterations 20000 --seed 77$' \
	'^fuzz-control args: --iterations 3000 --seed 77$' \
	'^VMRUN-EXIT-STATUS=0$' '!FAILED' \
	-- "${vm[@]}" env BUS1_FUZZ_SEED=77 "${run[@]}"

expect "BUS1_TESTS runs a subset, loudly" 0 \
	'^integration: PARTIAL RUN' \
	'^integration \(partial run, BUS1_TESTS\): 2 passed, 0 failed$' \
	'!^integration: [0-9]+ passed' '!=== fuzz-ioctl' '!=== test-restart-engine' \
	-- "${vm[@]}" env BUS1_TESTS=test-pass2 "${run[@]}"

expect "make check refuses BUS1_TESTS" 2 'BUS1_TESTS is set' \
	-- env BUS1_TESTS=test-pass2 "$top/scripts/check.sh"

expect "guest command status" 42 '^VMRUN-EXIT-STATUS=42$' \
	-- "${vm[@]}" sh -c 'exit 42'

expect "timeout" 124 '^vm-run: TIMEOUT' \
	-- "$top/scripts/vm-run.sh" --timeout 8 -- sleep 60

expect "kernel crash" nonzero 'Kernel panic' '^vm-run: the guest did not finish' \
	-- "${vm[@]}" sh -c 'echo c >/proc/sysrq-trigger'

expect "the real engine, and the plant scripts of the fault and fuzz tests" 0 \
	'engine [0-9]+ \(pid [0-9]+, normal, .*did not end as allowed: it ended on its own \(killed by SIGKILL\)' \
	'^real-harness: [1-9][0-9]* passed, 0 failed$' \
	-- "${vm[@]}" "$top/scripts/tests/guest-harness-real.sh"

echo "vm-harness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
