#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-fault-modload.sh [N]   (inside the VM, as root, module not loaded)
#
# Load and unload bus1.ko N times (default 100). Every third round runs
# with an engine attached and a peer open in between (both closed before
# rmmod, as the open files pin the module; rmmod while they are open must
# fail with EBUSY and leave everything working); every other round with a
# bare module, and with the control device opened but not attached. Prints
# "modload: N rounds, N failed" and exits nonzero on any failure. The
# caller checks the kernel log.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# vm-run.sh exports BUS1_VM_MODULE when it boots another kernel
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
rounds=${1:-100}
failed=0

fail() {
	echo "modload: round $1: $2"
	failed=$((failed + 1))
}

for ((i = 1; i <= rounds; i++)); do
	if ! insmod "$module"; then
		fail "$i" "insmod failed"
		break
	fi
	case $((i % 3)) in
	0)
		if ! "$top/scripts/guest-engine.sh" start >/dev/null; then
			fail "$i" "engine did not start"
		else
			exec 7<>/dev/bus1 || fail "$i" "open /dev/bus1 failed"
			rmmod bus1 2>/dev/null && fail "$i" "rmmod succeeded with files open"
			exec 7>&-
			"$top/scripts/guest-engine.sh" stop >/dev/null ||
				fail "$i" "engine did not stop"
		fi
		;;
	1)
		exec 7<>/dev/bus1-engine || fail "$i" "open /dev/bus1-engine failed"
		exec 7>&-
		;;
	esac
	if ! rmmod bus1; then
		fail "$i" "rmmod failed"
		break
	fi
done

echo "modload: $rounds rounds, $failed failed"
[ "$failed" -eq 0 ]
