#!/bin/sh
# breakglass lab stand-in for systemd-run(1). NOT systemd: lab nodes have no init system, so
# this script follows the documented command line and exit codes of `systemd-run` for the one
# thing breakglass asks of it, a transient timer (the firewall dead-man timer):
#
#   systemd-run [-q|--quiet] [-u|--unit=NAME] --on-active=SPAN [--timer-property=AccuracySec=SPAN]
#               [--description=TEXT] COMMAND [ARGUMENT...]
#
# As on a host whose PID 1 is not systemd, it refuses to run unless /proc/1/comm reads
# `systemd` (Lab::pose_as_systemd renames a node's init so). Option parsing stops at COMMAND, as
# getopt's "+" does for the real one. Exit codes: 0 once the timer is armed, 1 on any error
# (unknown or unsupported option, no command, a NAME.timer already loaded). Messages go to
# stderr; without --quiet it says which units it made, as systemd-run does.
#
# The timer is a session leader (setsid) that sleeps SPAN plus AccuracySec (default 1min: the
# latest time systemd may choose; systemd picks a point in that window), then runs COMMAND as the
# transient NAME.service would: cwd /, umask 0022, only systemd's default PATH and LANG in the
# environment, output appended to NAME.service.log. systemd-run sets RemainAfterElapse=no on
# its timers, so NAME.timer stays active (running) until the service exits, and is unloaded
# then. The stand-in `systemctl` reads and stops these timers. State, in /run/breakglass-lab/
# transient/ (node-private):
#
#   NAME.timer        the timer process's PID while it waits (active, waiting)
#   NAME.service      the same PID once the timer elapsed and its service runs (active, running);
#                     the process renames NAME.timer to this, and `systemctl stop` renames
#                     NAME.timer away first to cancel it: whichever rename wins decides, so a
#                     stop racing the expiry never both cancels and runs the service
#   NAME.timer.stopped  `systemctl stop` of an elapsed timer: the service runs on, the timer is gone
#   NAME.timer.description

UNITS=/run/breakglass-lab/transient
# The PATH systemd gives services (its built-in default; system.conf's DefaultEnvironment= may
# change it).
SERVICE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

fail() {
    echo "$1" >&2
    exit 1
}

unsupported() {
    fail "systemd-run: $1 is not supported by the breakglass lab stand-in (it makes transient timers only)"
}

# A systemd time span (systemd.time(7)): "5s", "1min 30s", "250ms", a bare number of seconds.
# Prints seconds with a fractional part, or fails.
span_seconds() {
    printf '%s\n' "$1" | awk '
        {
            s = $0; total = 0; n = 0
            while (1) {
                sub(/^[ \t]+/, "", s)
                if (s == "") break
                if (!match(s, /^[0-9]+(\.[0-9]+)?/)) exit 1
                num = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
                sub(/^[ \t]+/, "", s)
                match(s, /^[a-z]*/); unit = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
                if (unit == "" || unit ~ /^(s|sec|secs|second|seconds)$/) f = 1
                else if (unit ~ /^(us|usec)$/) f = 0.000001
                else if (unit ~ /^(ms|msec)$/) f = 0.001
                else if (unit ~ /^(m|min|mins|minute|minutes)$/) f = 60
                else if (unit ~ /^(h|hr|hour|hours)$/) f = 3600
                else if (unit ~ /^(d|day|days)$/) f = 86400
                else if (unit ~ /^(w|week|weeks)$/) f = 604800
                else exit 1
                total += num * f; n++
            }
            if (n == 0) exit 1
            printf "%.6f\n", total
        }'
}

[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] || {
    echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
    fail "Failed to connect to bus: Host is down"
}

quiet=
unit=
on_active=
accuracy=1min
description=
while [ "$#" -gt 0 ]; do
    case $1 in
        -q | --quiet) quiet=1 ;;
        -u | --unit | --on-active | --timer-property | --description)
            # `--unit NAME` is `--unit=NAME` (getopt_long), and `-u NAME` too.
            [ "$#" -ge 2 ] || fail "systemd-run: option '$1' requires an argument"
            opt=$1 val=$2
            shift 2
            [ "$opt" = -u ] && opt=--unit
            set -- "$opt=$val" "$@"
            continue
            ;;
        -u?*) unit=${1#-u} ;;
        --unit=*) unit=${1#--unit=} ;;
        --on-active=*) on_active=${1#--on-active=} ;;
        --description=*) description=${1#--description=} ;;
        --timer-property=AccuracySec=*) accuracy=${1#--timer-property=AccuracySec=} ;;
        --timer-property=*) unsupported "timer property ${1#--timer-property=}" ;;
        --) shift; break ;;
        -*) unsupported "option $1" ;;
        *) break ;;
    esac
    shift
done
[ "$#" -gt 0 ] || fail "Command line to execute required."
[ -n "$on_active" ] || unsupported "running COMMAND now (without --on-active=)"
secs=$(span_seconds "$on_active") || fail "Failed to parse timer value: $on_active"
slack=$(span_seconds "$accuracy") || fail "Failed to parse AccuracySec= value: $accuracy"
case $1 in
    /*) ;;
    *) exe=$(command -v "$1") || fail "Failed to find executable $1: No such file or directory"
       shift
       set -- "$exe" "$@" ;;
esac
[ -x "$1" ] || fail "Failed to find executable $1: No such file or directory"

# --unit=NAME names NAME.timer and NAME.service; a .timer or .service suffix names the pair too.
case $unit in
    '') unit=run-r$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n') ;;
    *.timer) unit=${unit%.timer} ;;
    *.service) unit=${unit%.service} ;;
esac
case $unit in
    *[!A-Za-z0-9:_.@-]*) fail "systemd-run: unit name $unit: the breakglass lab stand-in does not mangle names" ;;
esac
[ -n "$description" ] || description=$*

# The PID in FILE if it is this unit's live timer process.
live() {
    pid=$(cat "$1" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$UNITS/$unit" || return 1
    echo "$pid"
}

mkdir -p "$UNITS"
base=$UNITS/$unit
if live "$base.timer" >/dev/null; then
    fail "Failed to start transient timer unit: Unit $unit.timer was already loaded or has a fragment file."
fi
if live "$base.service" >/dev/null; then
    fail "Failed to start transient timer unit: Unit $unit.service was already loaded or has a fragment file."
fi
rm -f "$base.timer" "$base.service" "$base.timer.stopped"
printf '%s\n' "$description" >"$base.timer.description"

# The timer process: ARGV BASE SECONDS PATH COMMAND... (its command line names BASE, which is
# how `live` and the stand-in systemctl tell it from a reused PID).
# shellcheck disable=SC2016 # expanded by the timer process
timer='base=$1 secs=$2 path=$3
shift 3
echo $$ > "$base.timer.tmp" && mv -f "$base.timer.tmp" "$base.timer" || exit 1
sleep "$secs"
mv "$base.timer" "$base.service" 2>/dev/null || exit 0
(cd / && umask 0022 && exec env -i PATH="$path" LANG=C.UTF-8 "$@")
rm -f "$base.service" "$base.timer.stopped" "$base.timer.description"'
setsid /bin/sh -c "$timer" breakglass-lab-timer "$base" \
    "$(awk -v a="$secs" -v b="$slack" 'BEGIN { printf "%.6f", a + b }')" "$SERVICE_PATH" "$@" \
    </dev/null >>"$base.service.log" 2>&1 &
# Armed once the timer process recorded itself (or, for a tiny SPAN, already elapsed or even
# finished: it removes the description last).
i=0
while ! live "$base.timer" >/dev/null && ! live "$base.service" >/dev/null &&
    [ -f "$base.timer.description" ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || fail "Failed to start transient timer unit: the breakglass lab stand-in's timer process did not start (see $base.service.log)"
    sleep 0.02
done
if [ -z "$quiet" ]; then
    echo "Running timer as unit: $unit.timer" >&2
    echo "Will run service as unit: $unit.service" >&2
fi
exit 0
