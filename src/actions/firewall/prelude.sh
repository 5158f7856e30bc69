# shellcheck shell=sh
# firewall.block, firewall.unblock, their undo and `confirm`: the start of every firewall script
# sent to a node (as `/bin/sh -c SCRIPT`, or on stdin to `/bin/sh -s`: POSIX sh whatever the
# login shell is). The action's inputs and the other scripts of this folder follow it.
#
# PATH: nft and iptables live in sbin, which a non-root login (then sudo) may not have on its
# PATH. `sec NAME` starts a section of the output, `@@bg:NAME@@` on a line of its own: the Rust
# side splits the output on these (`sections` in mod.rs).
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
export PATH
umask 077
sec() { printf '\n@@bg:%s@@\n' "$1"; }
