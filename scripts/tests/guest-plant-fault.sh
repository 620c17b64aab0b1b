#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-plant-fault.sh   (inside the VM, as root: bus1.ko loaded, a normal
# engine running through guest-engine.sh)
#
# Plants "a fault that never fires" and checks that test-fault notices:
# the engine guest-engine.sh starts (BUS1D) becomes a wrapper that drops
# every --fault SPEC from its arguments and clears BUS1D_FAULT, so each
# "faulty" engine is a normal one. Every case of test-fault that needs its
# fault must then fail; the cases that need none (test_burst,
# test_broken_control_file) may pass. Prints what it did and which cases
# failed and passed, restores the request timeout, and leaves the module
# loaded and a normal engine running. Exits 0 only if test-fault failed
# with every fault case failing (the planted failure was detected).

set -eu

top=${BUS1_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
export BUS1_TOP=$top
real=${BUS1D:-$top/daemon/bus1d}
timeout_param=/sys/module/bus1/parameters/request_timeout_ms
# cases that need no fault, allowed to pass
no_fault=" test_burst test_broken_control_file "

dir=$(mktemp -d /tmp/plant-fault.XXXXXX)
trap 'rm -rf "$dir"' EXIT
out=$dir/test-fault.out
timeout_ms=$(cat "$timeout_param")

# Named bus1d and exec'ing the engine, so guest-engine.sh finds the
# engine's own process under the name it expects.
{
	echo '#!/bin/bash'
	echo '# planted by guest-plant-fault.sh: the engine without its faults'
	printf 'real=%q\n' "$real"
	cat <<'WRAPPER'
unset BUS1D_FAULT
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--fault) shift ;;
	--fault=*) ;;
	*) args+=("$1") ;;
	esac
	shift
done
exec "$real" "${args[@]}"
WRAPPER
} >"$dir/bus1d"
chmod +x "$dir/bus1d"

echo "guest-plant-fault: running test-fault with BUS1D=$dir/bus1d, which drops --fault and BUS1D_FAULT"
rc=0
# Its own session, as guest-integration.sh runs it, so nothing it leaves
# behind outlives it.
(cd "$top/tests/integration" &&
	BUS1D=$dir/bus1d CMOCKA_MESSAGE_OUTPUT=TAP \
		exec setsid timeout -k 10 900 ./test-fault) >"$out" 2>&1 &
sid=$!
wait "$sid" || rc=$?
pkill -KILL -s "$sid" 2>/dev/null || true
echo "guest-plant-fault: test-fault exited with status $rc"

planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out")
failed=() passed=() missed=()
while read -r line; do
	case $line in
	"not ok "*) failed+=("${line#* - }") ;;
	"ok "*)
		name=${line#* - }
		passed+=("$name")
		[[ $no_fault == *" $name "* ]] || missed+=("$name")
		;;
	esac
done <"$out"
echo "guest-plant-fault: failed (${#failed[@]}): ${failed[*]}"
# why: the assertion cmocka reports under each "not ok"
awk '/^not ok / { name = $5; n = 2; next }
	n && /^# / { print "guest-plant-fault:   " name ": " substr($0, 3); n--; next }
	{ n = 0 }' "$out"
echo "guest-plant-fault: passed (${#passed[@]}): ${passed[*]}"

detected=1
if [ "$rc" -eq 0 ]; then
	echo "guest-plant-fault: NOT DETECTED: test-fault passed without faults"
	detected=0
fi
if [ -z "$planned" ] || [ $((${#failed[@]} + ${#passed[@]})) -lt "$planned" ]; then
	echo "guest-plant-fault: NOT DETECTED: test-fault planned ${planned:-no} cases, reported ${#failed[@]} failed and ${#passed[@]} passed"
	detected=0
fi
if [ "${#missed[@]}" -gt 0 ]; then
	echo "guest-plant-fault: NOT DETECTED: passed although their fault never fired: ${missed[*]}"
	detected=0
fi
if [ "$detected" -eq 0 ]; then
	echo "guest-plant-fault: --- output of test-fault ---"
	cat "$out"
	echo "guest-plant-fault: --- end of output ---"
fi

# Back to a normal engine and the timeout found at the start.
echo "$timeout_ms" >"$timeout_param"
BUS1D=$real BUS1D_ARGS='' "$top/scripts/guest-engine.sh" restart

if [ "$detected" -eq 1 ]; then
	echo "guest-plant-fault: detected: every fault case failed when its fault never fired"
	exit 0
fi
exit 1
