# shellcheck shell=sh
# The dead-man timer of one block step: functions the other firewall scripts call. A step's
# node-side state is /run/breakglass/RUN/STEP.* (mod.rs, the module docs, lists the files).

# cancel_step DIR STEP: cancels the step's dead-man timer and prints what it cancelled
# (`detached PID`, `systemd UNIT`) or `none`. A PID is killed (with its process group: the
# timer's `sleep`) only while its command line still names the step's restore script, so a PID
# reused by another process after the timer fired is left alone.
cancel_step() {
  cs_dir=$1 cs_step=$2 cs_result=none
  if [ -f "$cs_dir/$cs_step.pid" ]; then
    cs_pid=$(cat "$cs_dir/$cs_step.pid" 2>/dev/null || true)
    case $cs_pid in ''|*[!0-9]*) cs_pid= ;; esac
    if [ -n "$cs_pid" ] && tr '\0' '\n' < "/proc/$cs_pid/cmdline" 2>/dev/null | grep -qxF -- "$cs_dir/$cs_step.restore"; then
      kill -s TERM -- "-$cs_pid" 2>/dev/null || kill -s TERM "$cs_pid" 2>/dev/null || true
      cs_result="detached $cs_pid"
    fi
    rm -f "$cs_dir/$cs_step.pid"
  fi
  if [ -f "$cs_dir/$cs_step.unit" ]; then
    cs_unit=$(cat "$cs_dir/$cs_step.unit" 2>/dev/null || true)
    case $cs_unit in
      breakglass-deadman-*)
        if systemctl is-active --quiet "$cs_unit.timer" 2>/dev/null; then
          systemctl stop "$cs_unit.timer" && cs_result="systemd $cs_unit"
        fi ;;
    esac
    rm -f "$cs_dir/$cs_step.unit"
  fi
  printf '%s\n' "$cs_result"
}

# deadman_state DIR STEP: prints the state of the step's timer, changing nothing: `detached
# PID`, `systemd UNIT` (armed), `fired EPOCH`, `confirmed EPOCH`, `superseded RUN_DIR/STEP`
# (a later block took it over), or `none`.
deadman_state() {
  ds_dir=$1 ds_step=$2 ds=none
  ds_pid=$(cat "$ds_dir/$ds_step.pid" 2>/dev/null || true)
  case $ds_pid in
    ''|*[!0-9]*) ;;
    *) if tr '\0' '\n' < "/proc/$ds_pid/cmdline" 2>/dev/null | grep -qxF -- "$ds_dir/$ds_step.restore"; then ds="detached $ds_pid"; fi ;;
  esac
  if [ "$ds" = none ] && [ -f "$ds_dir/$ds_step.unit" ]; then
    ds_unit=$(cat "$ds_dir/$ds_step.unit" 2>/dev/null || true)
    if systemctl is-active --quiet "$ds_unit.timer" 2>/dev/null; then ds="systemd $ds_unit"; fi
  fi
  if [ "$ds" = none ] && [ -f "$ds_dir/$ds_step.fired" ]; then ds="fired $(cat "$ds_dir/$ds_step.fired")"; fi
  if [ "$ds" = none ] && [ -f "$ds_dir/$ds_step.confirmed" ]; then ds="confirmed $(cat "$ds_dir/$ds_step.confirmed")"; fi
  if [ "$ds" = none ] && [ -f "$ds_dir/$ds_step.superseded" ]; then ds="superseded $(cat "$ds_dir/$ds_step.superseded")"; fi
  printf '%s\n' "$ds"
}
