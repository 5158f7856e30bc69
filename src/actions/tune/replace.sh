# shellcheck shell=sh
# shellcheck disable=SC2154 # the inputs below are set before this script
# apiservers.tune and its undo: replaces the manifest with the content on stdin, atomically and
# only if it still holds what the snapshot saw (compare-and-swap on SHA-256). Runs in the login
# shell (or `sudo sh -c`) as sent. The steps and their reasons: mod.rs, the module docs.
#
# Inputs: f (the manifest's absolute path), d (its directory), name (its file name), tmp (the
# temporary file to write, in d, its name starting with a dot), want (the SHA-256 the file must
# have), new (the content's SHA-256: a file that has it already is left alone), conflict (said
# when the file changed under us), mode (octal, for chmod), owner (UID:GID), run and step (the
# backup goes to /var/lib/breakglass/RUN/STEP/NAME, else under /run/breakglass: the same list
# as BACKUP_ROOTS in mod.rs; both empty: no backup, as for undo).
# Stdin: the new content.
#
# Output: `unchanged`, or `written` (plus ` backup=PATH`). Exit 1 with the reason on stderr.
set -u
b=
fail() { printf 'breakglass: %s\n' "$1" >&2; exit 1; }
sum() { h=$(sha256sum < "$1") || return 1; printf '%s' "${h%% *}"; }
cur=$(sum "$f") || fail "cannot read $f"
if [ "$cur" = "$new" ]; then echo unchanged; exit 0; fi
[ "$cur" = "$want" ] || fail "$f has sha256 $cur, expected $want: $conflict"
if [ -n "$run" ]; then
  for root in /var/lib/breakglass /run/breakglass; do
    dir=$root/$run/$step
    if mkdir -p -- "$dir" 2>/dev/null && [ -w "$dir" ]; then b=$dir; break; fi
  done
  [ -n "$b" ] || fail "no writable directory for the backup of $f"
  # An existing backup is an earlier attempt's: it holds the original, keep it.
  if [ ! -f "$b/$name" ]; then
    cp -p -- "$f" "$b/.$name.tmp" || fail "cannot back up $f to $b"
    [ "$(sum "$b/.$name.tmp")" = "$want" ] || fail "the backup copy of $f does not match the snapshot"
    mv -f -- "$b/.$name.tmp" "$b/$name" || fail "cannot back up $f to $b"
  fi
fi
trap 'rm -f -- "$tmp"' EXIT
( umask 077 && cat > "$tmp" ) || fail "cannot write $tmp"
[ "$(sum "$tmp")" = "$new" ] || fail "the uploaded manifest arrived incomplete"
chmod "$mode" "$tmp" || fail "cannot set mode $mode on $tmp"
chown "$owner" "$tmp" || fail "cannot set owner $owner on $tmp"
sync -- "$tmp" 2>/dev/null || sync
[ "$(sum "$f")" = "$want" ] || fail "$f changed while the new version was uploaded: $conflict"
mv -f -- "$tmp" "$f" || fail "cannot replace $f"
sync -- "$d" 2>/dev/null || true
echo "written${b:+ backup=$b/$name}"
