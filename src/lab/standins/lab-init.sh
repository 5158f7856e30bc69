#!/bin/sh
# breakglass lab: PID 1 of a lab node's PID namespace (src/lab/netns/node.rs).
#
# Not a real init. It only reaps: processes started by the stand-in `systemctl` (setsid) are
# reparented here when their starter exits, and would stay zombies without a reaper. When this
# process dies the kernel kills every other process of the node, which is how the lab tears a
# node down without hunting for its processes.
#
# A shell, not Python: a thousand-node lab pays this once per node (about 0.4 MiB here against
# 4 MiB for an interpreter). dash's `wait` blocks in wait3(-1), so it reaps any child that
# exits, the adopted ones included, not only the `sleep` it started.
#
# SIGUSR1 (`Lab::pose_as_systemd`) renames this process `systemd`: `/proc/1/comm` is how
# breakglass and the `systemd-run` stand-in tell a systemd host. It is still not systemd; the
# transient timers are the stand-ins' (standins/systemd-run.sh).
#
# PID 1 of a namespace ignores signals it has no handler for; TERM, INT and HUP get an empty
# one so that a stray `kill 1` on the node does not look like it worked.
trap '' TERM INT HUP
trap 'printf systemd > /proc/self/comm' USR1
while :; do
    if [ -z "${nap:-}" ] || ! kill -0 "$nap" 2>/dev/null; then
        sleep 86400 &
        nap=$!
    fi
    wait "$nap"
done
