#!/bin/sh
# breakglass lab stand-in for systemctl(1). NOT systemd: lab nodes have no init system, so this
# script follows the documented command line and exit codes of `systemctl` for the two units a
# Kubernetes node has, kubelet and containerd, and keeps each unit's main PID in a pidfile; and
# for the transient timers the `systemd-run` stand-in makes (standins/systemd-run.sh, which
# describes their state files), the three things breakglass does with them.
#
#   systemctl [OPTIONS] start|stop|restart|is-active|status|is-enabled|enable|disable UNIT...
#   systemctl [OPTIONS] stop|is-active NAME.timer...
#   systemctl [--no-legend] [--plain] [--all] [--state=STATE,...] [list-units [PATTERN...]]
#   systemctl daemon-reload
#
# A unit name without a suffix means NAME.service. Exit codes as systemctl(1) documents them:
# is-active 0 if every unit is active, else 3; status 0 running, 3 not running, 4 no such unit;
# start/stop of an unknown unit 5, and stop of a timer that is not loaded 5 too (transient
# timers are unloaded once stopped or elapsed); list-units 0.
# The units: kubelet (`kubelet --kubeconfig=/etc/kubernetes/kubelet.conf --config=...`, as
# kubeadm's drop-in starts it, with the lab's KubeletConfiguration), containerd, and the transient timers. Stopping a timer cancels it; one that has
# elapsed already is gone at once while the service it started runs on, as in systemd.
# list-units prints `UNIT LOAD ACTIVE SUB DESCRIPTION` per unit, by default only active ones;
# --state= keeps the units whose LOAD, ACTIVE or SUB state is listed, --all keeps every loaded
# one, PATTERNs are shell globs on the unit name; --no-legend drops the header and footer,
# --plain the two-column indent.

STATE=/run/breakglass-lab
TRANSIENT=$STATE/transient
quiet=
legend=1
plain=
all=
states=
verb=
units=
while [ "$#" -gt 0 ]; do
    case $1 in
        -q | --quiet) quiet=1 ;;
        --no-legend) legend= ;;
        --plain) plain=1 ;;
        -a | --all) all=1 ;;
        --state=*) states="$states,${1#--state=}" ;;
        --state) shift; states="$states,${1-}" ;;
        -*) ;; # --no-block, --now, --no-pager, ...: accepted, nothing to do here
        *)
            if [ -z "$verb" ]; then
                verb=$1
            elif [ "$verb" = list-units ]; then
                units="$units $1"
            else
                case $1 in
                    *.timer) units="$units $1" ;;
                    *) units="$units ${1%.service}" ;;
                esac
            fi
            ;;
    esac
    shift
done

command_of() {
    case $1 in
        kubelet) echo "/usr/local/bin/kubelet --kubeconfig=/etc/kubernetes/kubelet.conf --config=/etc/kubernetes/kubelet-config.yaml" ;;
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

# Waits up to 5 s for PID to exit (or be a zombie); true if it did.
gone() {
    i=0
    while [ "$i" -lt 250 ] && [ -d "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; do
        sleep 0.02
        i=$((i + 1))
    done
    ! [ -d "/proc/$1" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]
}

start_unit() {
    main_pid "$1" >/dev/null && return 0
    cmd=$(command_of "$1")
    rm -f "$STATE/$1.pid"
    # setsid: the service must outlive the SSH session that started it.
    # shellcheck disable=SC2016,SC2086 # the inner sh expands $$, $0 and $@; the command line is split on purpose
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
    # TimeoutStopSec elapsed: systemd sends SIGKILL.
    gone "$pid" || kill -KILL "$pid" 2>/dev/null
    rm -f "$STATE/$1.pid"
    return 0
}

known_or_fail() {
    if ! command_of "$1" >/dev/null; then
        echo "Failed to $verb $1.service: Unit $1.service not found." >&2
        exit 5
    fi
}

# The PID in FILE if it is the live timer process of transient unit NAME (its command line
# names the unit's state path, so a reused PID does not count).
timer_pid() {
    pid=$(cat "$1" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$TRANSIENT/$2" || return 1
    echo "$pid"
}

# The SUB state of timer NAME: `waiting`, `running` (elapsed, its service runs), or false when
# it is not loaded.
timer_sub() {
    if timer_pid "$TRANSIENT/$1.timer" "$1" >/dev/null; then
        echo waiting
    elif [ ! -e "$TRANSIENT/$1.timer.stopped" ] && timer_pid "$TRANSIENT/$1.service" "$1" >/dev/null; then
        echo running
    else
        return 1
    fi
}

stop_timer() {
    base=$TRANSIENT/$1
    # Renaming NAME.timer away is the cancellation: the timer process renames it to
    # NAME.service when it elapses, and only one of the two renames can succeed.
    if mv "$base.timer" "$base.timer.stopping" 2>/dev/null; then
        if pid=$(timer_pid "$base.timer.stopping" "$1"); then
            # A session leader: its group holds the `sleep`.
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
            gone "$pid" || kill -KILL -- "-$pid" 2>/dev/null
            rm -f "$base.timer.stopping" "$base.timer.description"
            return 0
        fi
        rm -f "$base.timer.stopping"
    elif [ "$(timer_sub "$1")" = running ]; then
        : >"$base.timer.stopped"
        return 0
    fi
    echo "Failed to stop $1.timer: Unit $1.timer not loaded." >&2
    return 5
}

unit_active() {
    case $1 in
        *.timer) timer_sub "${1%.timer}" >/dev/null ;;
        *) command_of "$1" >/dev/null && main_pid "$1" >/dev/null ;;
    esac
}

timers_only() {
    echo "breakglass lab stand-in for systemctl: $verb of $1 is not supported (timers: stop, is-active, list-units)" >&2
    exit 1
}

# `UNIT<TAB>LOAD<TAB>ACTIVE<TAB>SUB<TAB>DESCRIPTION` for every loaded unit.
unit_rows() {
    for u in kubelet containerd; do
        if main_pid "$u" >/dev/null; then
            printf '%s.service\tloaded\tactive\trunning\t%s\n' "$u" "$(description_of "$u")"
        else
            printf '%s.service\tloaded\tinactive\tdead\t%s\n' "$u" "$(description_of "$u")"
        fi
    done
    for f in "$TRANSIENT"/*.timer.description; do
        [ -f "$f" ] || continue
        name=${f##*/}
        name=${name%.timer.description}
        sub=$(timer_sub "$name") || continue
        printf '%s.timer\tloaded\tactive\t%s\t%s\n' "$name" "$sub" "$(head -n 1 "$f")"
    done
}

list_units() {
    unit_rows | while IFS="$(printf '\t')" read -r unit load active sub description; do
        if [ -n "$states" ]; then
            case ",$states," in
                *",$load,"* | *",$active,"* | *",$sub,"*) ;;
                *) continue ;;
            esac
        elif [ -z "$all" ] && [ "$active" != active ]; then
            continue
        fi
        if [ -n "$units" ]; then
            matched=
            for pattern in $units; do
                # shellcheck disable=SC2254 # the pattern is a glob on purpose
                case $unit in $pattern) matched=1 ;; esac
            done
            [ -n "$matched" ] || continue
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$unit" "$load" "$active" "$sub" "$description"
    done | awk -F '\t' -v legend="$legend" -v indent="$([ -n "$plain" ] || echo '  ')" -v all="$all" '
        { row[NR] = $0; for (i = 1; i <= 4; i++) if (length($i) > w[i]) w[i] = length($i) }
        END {
            split("UNIT LOAD ACTIVE SUB", head, " ")
            for (i = 1; i <= 4; i++) if (length(head[i]) > w[i]) w[i] = length(head[i])
            fmt = indent "%-" w[1] "s %-" w[2] "s %-" w[3] "s %-" w[4] "s %s\n"
            if (legend) printf fmt, "UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"
            for (r = 1; r <= NR; r++) { split(row[r], f, "\t"); printf fmt, f[1], f[2], f[3], f[4], f[5] }
            if (legend) {
                print ""
                print "LOAD   = Reflects whether the unit definition was properly loaded."
                print "ACTIVE = The high-level unit activation state, i.e. generalization of SUB."
                print "SUB    = The low-level unit activation state, values depend on unit type."
                printf "%d loaded units listed.", NR
                if (!all) printf " Pass --all to see loaded but inactive units, too."
                print ""
            }
        }'
}

case $verb in
    start | stop | restart | try-restart | reload-or-restart)
        [ -n "$units" ] || { echo "Too few arguments." >&2; exit 1; }
        for u in $units; do
            case $u in
                *.timer) [ "$verb" = stop ] || timers_only "$u" ;;
                *) known_or_fail "$u" ;;
            esac
        done
        rc=0
        for u in $units; do
            case $verb in
                start) start_unit "$u" || rc=1 ;;
                stop)
                    case $u in
                        *.timer) stop_timer "${u%.timer}" || rc=5 ;;
                        *) stop_unit "$u" ;;
                    esac
                    ;;
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
            if unit_active "$u"; then
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
            case $u in *.timer) timers_only "$u" ;; esac
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
        for u in $units; do
            case $u in *.timer) timers_only "$u" ;; esac
            known_or_fail "$u"
            [ -n "$quiet" ] || echo enabled
        done
        exit 0
        ;;
    enable | disable | daemon-reload | reset-failed)
        exit 0
        ;;
    list-units | "")
        list_units
        exit 0
        ;;
    *)
        echo "Unknown command verb $verb." >&2
        exit 1
        ;;
esac
