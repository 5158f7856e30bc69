# shellcheck shell=sh
# The fixed part of a firewall restore script: the script that puts the breakglass firewall
# state of a node back as it was recorded. The dead-man timer runs it on its own (`/bin/sh
# /run/breakglass/RUN/STEP.restore`), `undo` and firewall.unblock send it with other scripts.
# `restore_script` in mod.rs writes it: `# breakglass-prior:` comment lines (the recorded
# state as JSON, which facts.sh reports), this file, then one call per recorded component,
# with the recorded text in a quoted heredoc (`<<'EOF'`: the shell expands nothing in it):
#
#   restore_table <<'BREAKGLASS_EOF'    the nft ruleset: table inet breakglass as recorded
#   restore_chain iptables <<'...'      the BREAKGLASS chain's rules and `-I INPUT N` (OUTPUT, FORWARD) jumps
#   remove_chain ip6tables              no BREAKGLASS chain was recorded: delete it
#
# Exit 3 when a tool refuses; each call is one atomic commit.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
export PATH

# restore_table: loads the nft ruleset on stdin in one transaction (it declares, deletes and
# recreates table inet breakglass, or only declares and deletes it).
restore_table() {
  nft -f - || { echo 'breakglass: nft could not restore table inet breakglass' >&2; exit 3; }
}

# chain_commit FAMILY restore|remove: one FAMILY-restore --noflush commit that removes every
# jump from INPUT, FORWARD or OUTPUT to the BREAKGLASS chain, then recreates the chain with the
# lines on stdin (restore) or deletes the chain if it exists (remove).
chain_commit() {
  cc_cur=$("$1" -w 10 -t filter -S) || { echo "breakglass: $1 -S failed" >&2; exit 3; }
  {
    echo '*filter'
    printf '%s\n' "$cc_cur" | grep -E -- '^-A (INPUT|FORWARD|OUTPUT) .*-j BREAKGLASS( |$)' | sed 's/^-A /-D /'
    if [ "$2" = restore ]; then
      echo ':BREAKGLASS - [0:0]'
      cat
    elif printf '%s\n' "$cc_cur" | grep -qx -- '-N BREAKGLASS'; then
      echo ':BREAKGLASS - [0:0]'
      echo '-X BREAKGLASS'
    fi
    echo COMMIT
  } | "$1-restore" -w 10 --noflush || { echo "breakglass: $1-restore could not restore the BREAKGLASS chain" >&2; exit 3; }
}

# restore_chain FAMILY: the chain's rules and jumps on stdin, as iptables-restore lines.
restore_chain() { chain_commit "$1" restore; }

# remove_chain FAMILY: no chain and no jumps.
remove_chain() { chain_commit "$1" remove; }
