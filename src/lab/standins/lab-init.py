#!/usr/bin/python3
"""breakglass lab: PID 1 of a lab node's PID namespace (src/lab/netns/node.rs).

Not a real init. It only reaps: processes started by the stand-in `systemctl` (setsid) are
reparented here when their starter exits, and would stay zombies without a reaper. When this
process dies the kernel kills every other process of the node, which is how the lab tears a
node down without hunting for its processes.

SIGUSR1 (`Lab::pose_as_systemd`) renames this process `systemd`: `/proc/1/comm` is how
breakglass and the `systemd-run` stand-in tell a systemd host. It is still not systemd; the
transient timers are the stand-ins' (standins/systemd-run.sh).
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


def pose_as_systemd(*_):
    # Writing /proc/self/comm is prctl(PR_SET_NAME) for the calling thread: this one.
    with open("/proc/self/comm", "w") as comm:
        comm.write("systemd")


signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGUSR1, pose_as_systemd)
# PID 1 of a namespace ignores signals it has no handler for; be explicit about TERM and INT so
# a stray `kill 1` on the node does not look like it worked.
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
reap()
while True:
    signal.pause()
