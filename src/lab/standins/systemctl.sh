#!/bin/sh
# breakglass lab stand-in for systemctl(1). NOT systemd: lab nodes have no init system, so this
# script follows the documented command line and exit codes of `systemctl` for the two units a
# Kubernetes node has, kubelet and containerd, and keeps each unit's main PID in a pidfile.
#
#   systemctl [OPTIONS] start|stop|restart|is-active|status|is-enabled|enable|disable UNIT...
#   systemctl daemon-reload
#
# Exit codes as systemctl(1) documents them: is-active 0 if every unit is active, else 3;
# status 0 running, 3 not running, 4 no such unit; start/stop of an unknown unit 5.
# The units: kubelet (`kubelet --kubeconfig=/etc/kubernetes/kubelet.conf`, as kubeadm's drop-in
# starts it) and containerd.

STATE=/run/breakglass-lab
quiet=
verb=
units=
for arg in "$@"; do
    case $arg in
        -q | --quiet) quiet=1 ;;
        -*) ;; # --no-block, --now, --no-pager, ...: accepted, nothing to do here
        *)
            if [ -z "$verb" ]; then
                verb=$arg
            else
                units="$units ${arg%.service}"
            fi
            ;;
    esac
done

command_of() {
    case $1 in
        kubelet) echo "/usr/local/bin/kubelet --kubeconfig=/etc/kubernetes/kubelet.conf" ;;
        containerd) echo "/usr/local/bin/containerd" ;;
        *) return 1 ;;
    esac
}

description_of() {
    case $1 in
        kubelet) echo "kubelet: The Kubernetes Node Agent (breakglass lab stand-in)" ;;
        containerd) echo "containerd container runtime (breakglass lab stand-in)" ;;
    esac
}

# The unit's main PID if it is running (pidfile names a live process with the unit's name).
main_pid() {
    pidfile="$STATE/$1.pid"
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    echo "$pid"
}

start_unit() {
    main_pid "$1" >/dev/null && return 0
    cmd=$(command_of "$1")
    rm -f "$STATE/$1.pid"
    # setsid: the service must outlive the SSH session that started it.
    # shellcheck disable=SC2086 # the command line is split on purpose
    setsid sh -c 'echo $$ > "$0"; exec "$@"' "$STATE/$1.pid" $cmd \
        </dev/null >>"$STATE/$1.log" 2>&1 &
    i=0
    while [ "$i" -lt 100 ]; do
        main_pid "$1" >/dev/null && return 0
        sleep 0.02
        i=$((i + 1))
    done
    echo "Job for $1.service failed because the control process exited with error code." >&2
    echo "See \"$STATE/$1.log\" for details." >&2
    return 1
}

stop_unit() {
    pid=$(main_pid "$1") || { rm -f "$STATE/$1.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null
    i=0
    while [ "$i" -lt 250 ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f3)" != Z ]; do
        sleep 0.02
        i=$((i + 1))
    done
    # TimeoutStopSec elapsed: systemd sends SIGKILL.
    [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -f "$STATE/$1.pid"
    return 0
}

known_or_fail() {
    if ! command_of "$1" >/dev/null; then
        echo "Failed to $verb $1.service: Unit $1.service not found." >&2
        exit 5
    fi
}

case $verb in
    start | stop | restart | try-restart | reload-or-restart)
        [ -n "$units" ] || { echo "Too few arguments." >&2; exit 1; }
        for u in $units; do known_or_fail "$u"; done
        rc=0
        for u in $units; do
            case $verb in
                start) start_unit "$u" || rc=1 ;;
                stop) stop_unit "$u" ;;
                try-restart) if main_pid "$u" >/dev/null; then stop_unit "$u"; start_unit "$u" || rc=1; fi ;;
                *) stop_unit "$u"; start_unit "$u" || rc=1 ;;
            esac
        done
        exit $rc
        ;;
    is-active)
        [ -n "$units" ] || { echo "Too few arguments." >&2; exit 1; }
        rc=0
        for u in $units; do
            if command_of "$u" >/dev/null && main_pid "$u" >/dev/null; then
                [ -n "$quiet" ] || echo active
            else
                [ -n "$quiet" ] || echo inactive
                rc=3
            fi
        done
        exit $rc
        ;;
    status)
        rc=0
        for u in $units; do
            if ! command_of "$u" >/dev/null; then
                echo "Unit $u.service could not be found." >&2
                rc=4
                continue
            fi
            echo "* $u.service - $(description_of "$u")"
            echo "     Loaded: loaded (breakglass lab stand-in; enabled)"
            if pid=$(main_pid "$u"); then
                echo "     Active: active (running)"
                echo "   Main PID: $pid ($u)"
            else
                echo "     Active: inactive (dead)"
                [ "$rc" -ne 0 ] || rc=3
            fi
        done
        exit $rc
        ;;
    is-enabled)
        for u in $units; do known_or_fail "$u"; [ -n "$quiet" ] || echo enabled; done
        exit 0
        ;;
    enable | disable | daemon-reload | reset-failed)
        exit 0
        ;;
    "")
        echo "breakglass lab stand-in for systemctl: listing units is not supported." >&2
        exit 1
        ;;
    *)
        echo "Unknown command verb $verb." >&2
        exit 1
        ;;
esac
