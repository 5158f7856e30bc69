# shellcheck shell=sh
# shellcheck disable=SC2154 # dir and step are inputs, set by the lines before this script
# The firewall facts: reads everything firewall.block and firewall.unblock decide on and
# verify with; changes nothing. Runs after prelude.sh and deadman.sh.
#
# Inputs: dir (/run/breakglass/RUN), step (STEP): whose restore script and timer to report.
#
# Output sections (`Facts::parse` in mod.rs): tools (nft, iptables, ip6tables, systemd: what
# is there), ssh (the session's $SSH_CONNECTION, looked up in parent processes when sudo
# dropped it), nft_table + nft_json (only when the table exists), nft_error, iptables /
# ip6tables (the BREAKGLASS chain and the INPUT, FORWARD and OUTPUT rules, as `-S` prints them)
# or *_error, saved and saved_before (the prior state an earlier attempt of this step recorded),
# deadman (this step's timer), owner (the owner marker, owner.sh), timers (every live breakglass
# timer on the node) and a `timer_prior BASE MTIME` section per live timer with the state it
# restores.
sec tools
if command -v nft >/dev/null 2>&1; then echo nft; fi
for fam in iptables ip6tables; do
  if command -v "$fam" >/dev/null 2>&1 && command -v "$fam-restore" >/dev/null 2>&1; then echo "$fam"; fi
done
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then echo systemd; fi
sec ssh
conn=${SSH_CONNECTION:-}
pid=$$
while [ -z "$conn" ] && [ "$pid" -gt 1 ] 2>/dev/null; do
  conn=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n 1)
  pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
  [ -n "$pid" ] || break
done
printf '%s\n' "$conn"
if command -v nft >/dev/null 2>&1; then
  if tables=$(nft list tables 2>&1); then
    if printf '%s\n' "$tables" | grep -qx 'table inet breakglass'; then
      sec nft_table
      nft -s list table inet breakglass || exit 3
      # JSON output is optional at build time; without it the text listing is checked.
      if json=$(nft -j list table inet breakglass 2>/dev/null); then
        sec nft_json
        printf '%s\n' "$json"
      fi
    fi
  else
    sec nft_error
    printf '%s\n' "$tables"
  fi
fi
for fam in iptables ip6tables; do
  if command -v "$fam" >/dev/null 2>&1 && command -v "$fam-restore" >/dev/null 2>&1; then
    if rules=$("$fam" -w 10 -t filter -S 2>&1); then
      sec "$fam"
      printf '%s\n' "$rules" | grep -E -- '^-N BREAKGLASS$|^-A (BREAKGLASS|INPUT|FORWARD|OUTPUT) ' || true
    else
      sec "${fam}_error"
      printf '%s\n' "$rules"
    fi
  fi
done
if [ -f "$dir/$step.restore" ]; then
  sec saved
  sed -n 's/^# breakglass-prior: //p' "$dir/$step.restore"
  sec saved_before
  sed -n 's/^# breakglass-before: //p' "$dir/$step.restore"
fi
sec owner
sed -n 1p /run/breakglass/firewall.owner 2>/dev/null || true
sec deadman
deadman_state "$dir" "$step"
sec timers
seen=
for f in /run/breakglass/*/*.pid /run/breakglass/*/*.unit; do
  [ -f "$f" ] || continue
  b=${f%.*}
  case " $seen " in *" $b "*) continue ;; esac
  st=$(deadman_state "${b%/*}" "${b##*/}")
  case $st in detached*|systemd*) seen="$seen $b"; echo "$b $st" ;; esac
done
for b in $seen; do
  sec "timer_prior $b $(stat -c %Y "$b.restore" 2>/dev/null || echo 0)"
  sed -n 's/^# breakglass-prior: //p' "$b.restore" 2>/dev/null
done
