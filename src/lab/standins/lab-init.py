#!/usr/bin/python3
"""breakglass lab: PID 1 of a lab node's PID namespace (src/lab/netns.rs).

Not a real init. It only reaps: processes started by the stand-in `systemctl` (setsid) are
reparented here when their starter exits, and would stay zombies without a reaper. When this
process dies the kernel kills every other process of the node, which is how the lab tears a
node down without hunting for its processes.
"""
import os
import signal


def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


signal.signal(signal.SIGCHLD, reap)
# PID 1 of a namespace ignores signals it has no handler for; be explicit about TERM and INT so
# a stray `kill 1` on the node does not look like it worked.
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
reap()
while True:
    signal.pause()
