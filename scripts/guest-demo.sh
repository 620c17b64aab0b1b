#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# guest-demo.sh   (inside the VM, as root; see vm-run.sh)
#
# Load bus1.ko, start the engine, run libbus1/examples/bus1-demo, stop the
# engine and unload the module. Exits with the demo's status, or nonzero if
# any step around it failed.

set -u

top=${BUS1_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# vm-run.sh exports BUS1_VM_MODULE when it boots another kernel
module=${BUS1_VM_MODULE:-$top/kmod/bus1.ko}
export BUS1_TOP=$top
here=$top/scripts
rc=0

insmod "$module" || exit 1
if ! "$here/guest-engine.sh" start; then
	rmmod bus1
	exit 1
fi

echo "=== bus1-demo"
timeout -k 10 "${BUS1_TEST_TIMEOUT:-300}" "$top/libbus1/examples/bus1-demo" || rc=$?
echo "=== bus1-demo exited with status $rc"

"$here/guest-engine.sh" stop || rc=1
rmmod bus1 || rc=1
exit "$rc"
