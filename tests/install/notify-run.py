#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later
#
# notify-run.py SOCKET -- COMMAND...
#
# Play the service manager for one Type=notify service: listen on a unix
# datagram socket, run COMMAND with NOTIFY_SOCKET pointing to it, and print
# one line per event, for guest-service.sh to check:
#   notify: READY=1          (each assignment received, in order)
#   ready                    (after READY=1; the caller's checks run now)
#   exit: N                  (the command's exit status after SIGTERM)
# Between "ready" and the SIGTERM it waits for a line on stdin, so the
# caller decides when the service stops. Every wait is bounded.

import os
import signal
import socket
import subprocess
import sys


def receive(sock, want, timeout):
    sock.settimeout(timeout)
    while True:
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            print(f"timeout waiting for {want}", flush=True)
            return False
        for line in data.split("\n"):
            if line:
                print(f"notify: {line}", flush=True)
        if want in data.split("\n"):
            return True


def main():
    path = sys.argv[1]
    cmd = sys.argv[3:]
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    # Like systemd's notify socket, open to a service that is not root.
    os.chmod(path, 0o666)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    try:
        if not receive(sock, "READY=1", 30):
            return 1
        print("ready", flush=True)
        sys.stdin.readline()
        proc.send_signal(signal.SIGTERM)
        stopping = receive(sock, "STOPPING=1", 30)
        print(f"exit: {proc.wait(timeout=30)}", flush=True)
        return 0 if stopping else 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.unlink(path)


sys.exit(main())
