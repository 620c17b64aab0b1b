#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# check.sh   (on the host; the tail of `make check`, after deps and build)
#
# Run the unit tests natively, then the integration tests in one VM boot,
# and end with exactly one summary line per stage:
#   unit: N passed, N failed
#   integration: N passed, N failed
#   install: N passed, N failed
# Every stage always runs, so every figure is always there. A VM failure
# that no test case reports (kernel problem in the log, timeout, no result
# line from the guest) counts as one failed integration case. Exits 0 only
# if every stage passed.

set -u

top=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$top" || exit 1
mkdir -p build
vm_timeout=${BUS1_VM_TIMEOUT:-2400}

echo "=== unit tests"
scripts/run-unit.sh | tee build/check-unit.log
unit_rc=${PIPESTATUS[0]}
unit_line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' build/check-unit.log | tail -n 1)
[ -n "$unit_line" ] || unit_line="unit: 0 passed, 1 failed"

echo "=== integration tests (VM)"
scripts/vm-run.sh --timeout "$vm_timeout" -- scripts/guest-integration.sh 2>&1 |
	tee build/check-integration.log
vm_rc=${PIPESTATUS[0]}

res=$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
	build/check-integration.log | tail -n 1)
if [ -n "$res" ]; then
	read -r ip if <<<"$res"
else
	echo "integration: the guest printed no result line; counting the cases it reported plus 1 failed"
	read -r ip if is < <(scripts/count-cmocka.sh build/check-integration.log)
	if=$((if + is + 1))
fi
if [ "$vm_rc" -ne 0 ] && [ "$if" -eq 0 ]; then
	echo "integration: the VM run failed (status $vm_rc) without a failed test case; counted as 1 failed"
	if=1
fi

echo "=== install tests (make install, the unit's command line in the VM)"
tests/install/run.sh 2>&1 | tee build/check-install.log
install_rc=${PIPESTATUS[0]}
install_line=$(grep -a -E '^install: [0-9]+ passed, [0-9]+ failed$' build/check-install.log | tail -n 1)
[ -n "$install_line" ] || install_line="install: 0 passed, 1 failed"

echo
echo "check: logs in build/unit.log, build/check-integration.log, build/check-install.log, build/vm/console.log"
echo "$unit_line"
echo "integration: $ip passed, $if failed"
echo "$install_line"
[ "$unit_rc" -eq 0 ] && [ "$vm_rc" -eq 0 ] && [ "$if" -eq 0 ] && [ "$install_rc" -eq 0 ]
