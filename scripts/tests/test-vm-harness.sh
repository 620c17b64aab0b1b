#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# End-to-end check of the VM harness without the real bus1: a stand-in
# tree under build/harness-test holds a dummy bus1.ko (dummy-bus1/bus1.c),
# a fake engine and fake cmocka-style tests, and each case boots the VM and
# checks vm-run.sh's exit status and the figures guest-integration.sh
# prints: failures are counted, a kernel WARNING is caught although every
# test passed, a failing command and a timeout are reported as such.

set -eu

top=$(cd "$(dirname "$0")/../.." && pwd -P)
fake=$top/build/harness-test
kver=$("$top/scripts/kver.sh")
passed=0
failed=0

rm -rf "$fake"
mkdir -p "$fake/kmod" "$fake/daemon" "$fake/tests/integration"
ln -s ../../scripts "$fake/scripts"
cp "$top/scripts/tests/dummy-bus1/bus1.c" "$fake/kmod/"
echo 'obj-m := bus1.o' >"$fake/kmod/Kbuild"
make -s -C "/lib/modules/$kver/build" M="$fake/kmod" modules >/dev/null

cat >"$fake/daemon/bus1d" <<'ENGINE'
#!/bin/bash
trap 'echo "fake bus1d: terminated" >&2; exit 0' TERM
echo "fake bus1d: attached" >&2
while :; do sleep 0.1; done
ENGINE

cat >"$fake/pass2" <<'TEST'
#!/bin/bash
printf '[==========] Running 2 test(s).\n[==========] 2 test(s) run.\n'
printf '[  PASSED  ] 2 test(s).\n'
TEST

cat >"$fake/fail1of3" <<'TEST'
#!/bin/bash
printf '[==========] Running 3 test(s).\n[==========] 3 test(s) run.\n'
printf '[  PASSED  ] 2 test(s).\n[  FAILED  ] 1 test(s), listed below:\n'
printf '[  FAILED  ] test_broken\n\n 1 FAILED TEST(S)\n'
exit 1
TEST

cat >"$fake/restart-engine" <<'TEST'
#!/bin/bash
"$BUS1_TOP/scripts/guest-engine.sh" restart
TEST

cat >"$fake/warn" <<'TEST'
#!/bin/bash
echo Y >/sys/module/bus1/parameters/warn_on_exit
TEST
chmod +x "$fake"/daemon/bus1d "$fake"/pass2 "$fake"/fail1of3 \
	"$fake"/restart-engine "$fake"/warn

# use_tests NAME...: make exactly these fake programs the integration tests
use_tests() {
	rm -f "$fake"/tests/integration/test-*
	for t in "$@"; do
		ln -s "../../$t" "$fake/tests/integration/test-$t"
	done
}

# expect NAME WANT_STATUS PATTERN... -- VM-RUN-ARGS...: run vm-run.sh,
# compare its exit status ("nonzero" for any failure) and grep its output
# for each pattern.
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
	"$top/scripts/vm-run.sh" "$@" >"$fake/out" 2>&1 || rc=$?
	case $want in
	nonzero) [ "$rc" -ne 0 ] || ok=0 ;;
	*) [ "$rc" -eq "$want" ] || ok=0 ;;
	esac
	[ "$ok" -eq 1 ] || echo "FAIL: $name: exit status $rc, expected $want"
	for pat in "${pats[@]}"; do
		if ! grep -qE -- "$pat" "$fake/out"; then
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

run=(-- env "BUS1_TOP=$fake" "$top/scripts/guest-integration.sh")

use_tests pass2 fail1of3 restart-engine
expect "failing test counted" nonzero \
	'^integration: 5 passed, 1 failed$' \
	'^integration programs: 2 passed, 1 failed$' \
	'^=== FAIL: test-fail1of3' \
	'guest-engine: stopped' '^=== dmesg$' 'dummy bus1 unloaded' \
	-- "${run[@]}"

use_tests pass2 restart-engine
expect "all tests pass" 0 \
	'^integration: 3 passed, 0 failed$' \
	'^VMRUN-EXIT-STATUS=0$' \
	-- "${run[@]}"

use_tests pass2 warn
expect "kernel WARNING caught" nonzero \
	'^integration: 3 passed, 0 failed$' \
	'^vm-run: KERNEL PROBLEMS' 'WARNING: .*bus1' \
	-- "${run[@]}"

use_tests
expect "no tests is a failure" nonzero \
	'^integration: 0 passed, 1 failed$' \
	-- "${run[@]}"

expect "guest command status" 42 '^VMRUN-EXIT-STATUS=42$' \
	-- sh -c 'exit 42'

expect "timeout" 124 '^vm-run: TIMEOUT' \
	-- --timeout 8 -- sleep 60

expect "kernel crash" nonzero 'Kernel panic' '^vm-run: the guest did not finish' \
	-- sh -c 'echo c >/proc/sysrq-trigger'

echo "vm-harness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
