#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# bus1ctl-check.py BUS1CTL   (inside the VM, with an engine running and
# no other clients)
#
# bus1ctl against a known state: with no peers, then with one peer this
# process opened (its UID and PID must show), in JSON and for people. Peers
# of earlier clients are released asynchronously, so the empty state is
# waited for, boundedly. The engine counters must move by exactly what this
# process did: one PEER_NEW, then one RELEASE answered with EINVAL. Prints what
# it checked; exits nonzero on failure.

import ctypes
import errno
import fcntl
import json
import os
import struct
import subprocess
import sys
import time

bus1ctl = sys.argv[1]

BUS1_CMD_RELEASE = 0xc0189701


def release_with_bad_flags(fd):
    """A RELEASE the engine must refuse with EINVAL (cmd.flags != 0); the
    module passes its flags on unchecked."""
    ids = ctypes.create_string_buffer(8)
    cmd = bytearray(struct.pack("3Q", 1, 0, ctypes.addressof(ids)))
    try:
        fcntl.ioctl(fd, BUS1_CMD_RELEASE, cmd)
    except OSError as e:
        return e.errno
    return 0


def counter(doc, group, key):
    return doc["engine"][group].get(key, 0)


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

    before = doc
    fd = os.open("/dev/bus1", os.O_RDWR)
    doc = snapshot()
    opened = counter(doc, "requests", "peer_new") - \
        counter(before, "requests", "peer_new")
    if opened != 1:
        print(f"expected peer_new to grow by 1, grew by {opened}")
        return 1
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

    before = snapshot()
    err = release_with_bad_flags(fd)
    if err != errno.EINVAL:
        print(f"expected EINVAL from RELEASE with flags 1, got {err}")
        return 1
    after = snapshot()
    for group, key in (("requests", "release"), ("errors", "EINVAL")):
        grown = counter(after, group, key) - counter(before, group, key)
        if grown != 1:
            print(f"expected engine {group}.{key} to grow by 1, grew by {grown}")
            return 1
    if after["engine"]["batches"] <= before["engine"]["batches"]:
        print("expected the batch count to grow")
        return 1
    print("bus1ctl --json: engine counted one PEER_NEW, one RELEASE, one EINVAL")
    text = subprocess.run([bus1ctl, "engine"], check=True,
                          capture_output=True, text=True).stdout
    print(text, end="")
    if "EINVAL" not in text or "peer_new" not in text:
        print("bus1ctl engine does not show the counters")
        return 1
    os.close(fd)
    return 0


sys.exit(main())
