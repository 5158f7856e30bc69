# shellcheck shell=sh
# shellcheck disable=SC2154 # the input below is set before this script
# Stops a command that ran past its deadline: sent on a second channel of the same SSH
# connection, so this shell and the command's are both children of the connection's sshd
# process ($PPID). sshd starts every command in a session of its own (setsid(2)), and runs one
# command at a time for breakglass, whose earlier commands on this connection were reaped when
# their channels closed: the command is the one other child of $PPID that leads its own
# session. Its whole process group gets the signal, so what it started goes too, unless it
# left the group (setsid, a systemd unit).
#
# Input: sig (TERM or KILL). Runs in the login shell as the login user, never under sudo: the
# session leader is the login user's shell (or `sudo`, which passes the signal on).
# Output: the process groups signalled. Exit 3 when none is left (the command ended), 1 on an
# error.
set -u
found=
for stat in /proc/[0-9]*/stat; do
  pid=${stat#/proc/}
  pid=${pid%/stat}
  [ "$pid" = "$$" ] && continue
  # One line; the command name may hold spaces and parentheses, so cut after the last ") ".
  read -r line 2>/dev/null < "$stat" || continue
  # The fields after the name: state, ppid, pgrp, session.
  # shellcheck disable=SC2086 # split on purpose
  set -- ${line##*) }
  if [ "$#" -ge 4 ] && [ "$2" = "$PPID" ] && [ "$4" = "$pid" ]; then
    kill -s "$sig" -- "-$pid" 2>/dev/null && found="$found $pid"
  fi
done
[ -n "$found" ] || exit 3
echo "signalled process group(s)$found"
