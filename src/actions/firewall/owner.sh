# shellcheck shell=sh
# shellcheck disable=SC2154 # owner_expect and owner_new are inputs, set before this script
# The owner marker: /run/breakglass/firewall.owner holds `/run/breakglass/RUN/STEP EPOCH`, the
# firewall step whose change the node's breakglass firewall state now is, and since when. A
# block and an unblock claim it; an undo, a rollback and a dead-man revert hand it back to the
# step that held it before. `undo` restores a step's prior state only while the marker still
# names that step (restore.rs), so it never clobbers a later run's change.
#
# Inputs: owner_expect (`-`: change it whatever it names; else only while it names this
# RUN_DIR/STEP), owner_new (the RUN_DIR/STEP it names from now on; empty: remove it).
om=/run/breakglass/firewall.owner
om_now=$(sed -n '1s/ .*//p' "$om" 2>/dev/null || true)
if [ "$owner_expect" = - ] || [ "$om_now" = "$owner_expect" ]; then
  mkdir -p /run/breakglass
  if [ -n "$owner_new" ]; then
    printf '%s %s\n' "$owner_new" "$(date +%s)" > "$om.tmp" && mv -f "$om.tmp" "$om"
  else
    rm -f "$om"
  fi
fi
