#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# bus1ctl-check.py BUS1CTL   (inside the VM, with an engine running and
# no other clients)
#
# bus1ctl against a known state: with no peers, then with one peer this
# process opened (its UID and PID must show), in JSON and for people. Peers
# of earlier clients are released asynchronously, so the empty state is
# waited for, boundedly. Prints what it checked; exits nonzero on failure.

import json
import os
import subprocess
import sys
import time

bus1ctl = sys.argv[1]


def snapshot():
    out = subprocess.run([bus1ctl, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    for _ in range(50):
        doc = snapshot()
        if doc["totals"]["peers"] == 0:
            break
        time.sleep(0.1)
    if doc["totals"]["peers"] != 0 or doc["peers"]:
        print(f"expected no peers, got {doc['totals']} {doc['peers']}")
        return 1
    print("bus1ctl --json: 0 peers with no client")

    fd = os.open("/dev/bus1", os.O_RDWR)
    doc = snapshot()
    peers = doc["peers"]
    if doc["totals"]["peers"] != 1 or len(peers) != 1:
        print(f"expected 1 peer, got {doc['totals']} {peers}")
        return 1
    if peers[0]["uid"] != os.getuid() or peers[0]["pid"] != os.getpid():
        print(f"expected uid {os.getuid()} pid {os.getpid()}, got {peers[0]}")
        return 1
    if peers[0]["nodes"] or peers[0]["handles"] or peers[0]["queued"]:
        print(f"expected an empty peer, got {peers[0]}")
        return 1
    print(f"bus1ctl --json: 1 peer, uid {os.getuid()} pid {os.getpid()}")

    text = subprocess.run([bus1ctl, "peers"], check=True,
                          capture_output=True, text=True).stdout
    print(text, end="")
    if not any(str(os.getpid()) in line.split() for line in text.splitlines()):
        print("bus1ctl peers does not show this process's PID")
        return 1
    text = subprocess.run([bus1ctl], check=True,
                          capture_output=True, text=True).stdout
    print(text, end="")
    os.close(fd)
    return 0


sys.exit(main())
