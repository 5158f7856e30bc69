# shellcheck shell=sh
# shellcheck disable=SC2154 # f, name, run and step are inputs, set before this script
# apiservers.tune, snapshot: reads the manifest, and this run's backup of it if an earlier
# attempt made one. Changes nothing. Runs in the login shell (or `sudo sh -c`) as sent.
#
# Inputs: f (the manifest's absolute path), name (its file name), run and step (the run and
# step ids that name the backup: /var/lib/breakglass/RUN/STEP/NAME, or under /run/breakglass;
# the same list as BACKUP_ROOTS in mod.rs).
#
# Output (`read_remote` in mod.rs): `MODE UID GID SIZE`, the manifest's bytes; then, with a
# backup, `SIZE PATH` and the backup's bytes. Exit 66: no such file; 65: a symbolic link.
[ -f "$f" ] || { printf 'breakglass: no such file: %s\n' "$f" >&2; exit 66; }
# shellcheck disable=SC2016 # `manifest` is the runbook argument's name, not a command
[ ! -L "$f" ] || { printf 'breakglass: %s is a symbolic link; point `manifest` at the file itself\n' "$f" >&2; exit 65; }
stat -c '%a %u %g %s' -- "$f" || exit 1
cat -- "$f" || exit 1
for root in /var/lib/breakglass /run/breakglass; do
  b=$root/$run/$step/$name
  if [ -f "$b" ]; then
    s=$(stat -c %s -- "$b") || exit 1
    printf '%s %s\n' "$s" "$b"
    cat -- "$b" || exit 1
    break
  fi
done
