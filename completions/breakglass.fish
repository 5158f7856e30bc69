# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_breakglass_global_optspecs
    string join \n i/inventory= o/output= journal-dir= config= no-progress h/help V/version
end

function __fish_breakglass_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_breakglass_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_breakglass_using_subcommand
    set -l cmd (__fish_breakglass_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c breakglass -n "__fish_breakglass_needs_command" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_needs_command" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_needs_command" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_needs_command" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_needs_command" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_needs_command" -s V -l version -d 'Print version'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "exec" -d 'Run a command on every selected host over SSH, folding identical output'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "health" -d 'One screen of a cluster\'s health: API /readyz and /livez, etcd, SSH to the control plane'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "plan" -d 'Show what a runbook would do, step by step and wave by wave, without changing anything'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "run" -d 'Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "resume" -d 'Continue an interrupted or stopped run from its journal, skipping finished targets'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "undo" -d 'Reverse a run\'s changes from the snapshots in its journal, last step first'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "confirm" -d 'Confirm a run\'s firewall changes: cancel the dead-man timers so the blocks stay'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "runbook" -d 'List, show and validate runbooks'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "inventory" -d 'Show and check the inventory; snapshot a cluster\'s nodes or import a cloud\'s machines into one'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "journal" -d 'List, show and verify run journals'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "lab" -d 'A practice fleet on this machine: network namespaces with real sshd and nftables (root)'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "drill" -d 'Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this machine (root), runs the runbook, waits for recovery, undoes, and writes a report'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c breakglass -n "__fish_breakglass_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l out-dir -d 'Also write each host\'s output to DIR/HOST.out and DIR/HOST.err (and the status to DIR/HOST.status)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l max-latency -d 'A probe answering slower than this counts as unhealthy, e.g. 500ms (requests give up after three times as long)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l control-plane -d 'Which of the cluster\'s hosts are its control plane (a selector, see `inventory show`)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -s p -l param -d 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -l operator-cidr -d 'Your egress address as the cloud sees it, which a cloud firewall block must not cut (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster\'s `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -l offline -d 'Read nothing. By default `plan` reads each etcd key and Kubernetes object a step names (read-only, a few seconds at most) to show what it holds now: kind, name, uid, revision, size. Hosts are never contacted by `plan`'
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand plan" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s p -l param -d 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l operator-cidr -d 'Your egress address as the cloud sees it, which a cloud firewall block must not cut (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster\'s `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l retries -d 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l cloud-rate -d 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l cloud-budget -d 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s y -l yes -d 'Do not ask for confirmation (pauses must be skippable). For automation'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l dry-run -d 'Print the plan and stop (the same as `breakglass plan`)'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand run" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l retries -d 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l cloud-rate -d 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l cloud-budget -d 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s y -l yes -d 'Do not ask for confirmation'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l allow-inventory-change -d 'Accept that the inventory changed since the run started'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l rerun-in-doubt -d 'Run a step that is not idempotent again on targets an earlier attempt was cut off changing (reported `in_doubt`); check those hosts first'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand resume" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l step -d 'Undo only this step' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l retries -d 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l cloud-rate -d 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l cloud-budget -d 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s y -l yes -d 'Do not ask for confirmation'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l allow-inventory-change -d 'Accept that the inventory changed since the run started'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand undo" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand confirm" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -f -a "list" -d 'List the shipped runbooks'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -f -a "show" -d 'Print a runbook\'s parameters and steps (and its source with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -f -a "validate" -d 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and not __fish_seen_subcommand_from list show validate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from list" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from list" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from list" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from list" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from show" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from show" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from show" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from validate" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from validate" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from validate" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from validate" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from validate" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from validate" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the shipped runbooks'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print a runbook\'s parameters and steps (and its source with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from help" -f -a "validate" -d 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`'
complete -c breakglass -n "__fish_breakglass_using_subcommand runbook; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -f -a "show" -d 'List the selected hosts (table, or JSON with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -f -a "check" -d 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -f -a "snapshot" -d 'Write a cluster\'s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -f -a "import" -d 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster\'s node groups and control-plane resources'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and not __fish_seen_subcommand_from show check snapshot import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from show" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from show" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from show" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l out -d 'The inventory file to write (TOML)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l from-file -d 'Read the nodes from a saved `kubectl get nodes -o json` instead of the API' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l page-size -d 'Nodes per LIST request (its `limit`; the rest follows through `continue`), 1-500' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l strict -d 'Fail (exit 1, FILE untouched) when a node is skipped, instead of warning'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l force -d 'Replace FILE even when it is not an earlier snapshot'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -f -a "aws" -d 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -f -a "gcp" -d 'GCE instances by label, their managed instance groups, and the GKE cluster\'s node pools'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -f -a "azure" -d 'Scale sets and VMs of a resource group, and the AKS cluster\'s agent pools'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from import" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from help" -f -a "show" -d 'List the selected hosts (table, or JSON with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from help" -f -a "snapshot" -d 'Write a cluster\'s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from help" -f -a "import" -d 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster\'s node groups and control-plane resources'
complete -c breakglass -n "__fish_breakglass_using_subcommand inventory; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -f -a "list" -d 'List runs, newest first'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -f -a "show" -d 'Print a run\'s records (human summary, or the raw records with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -f -a "verify" -d 'Check a run\'s hash chain: detects edited, reordered, missing and truncated records'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and not __fish_seen_subcommand_from list show verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from list" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from list" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from list" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from list" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from show" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from show" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from show" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from verify" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from verify" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from verify" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from verify" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from help" -f -a "list" -d 'List runs, newest first'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print a run\'s records (human summary, or the raw records with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check a run\'s hash chain: detects edited, reordered, missing and truncated records'
complete -c breakglass -n "__fish_breakglass_using_subcommand journal; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -f -a "up" -d 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -f -a "status" -d 'List the labs on this machine: id, subnet, nodes, owner process, inventory'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -f -a "down" -d 'Tear labs down: ask each one\'s owner to (SIGTERM), then remove what dead owners left'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -f -a "demo" -d 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and not __fish_seen_subcommand_from up status down demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l workers -d 'Worker nodes' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l control-planes -d 'Control-plane nodes (each runs an API server stand-in on 6443)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l node-groups -d 'Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale` stops and starts workers); 0: none' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l nodes-per-namespace -d 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from status" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from status" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from status" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from status" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from down" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from down" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from down" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from down" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from down" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l workers -d 'Worker nodes' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l control-planes -d 'Control-plane nodes (each runs an API server stand-in on 6443)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l node-groups -d 'Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale` stops and starts workers); 0: none' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l nodes-per-namespace -d 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from demo" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "up" -d 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "status" -d 'List the labs on this machine: id, subnet, nodes, owner process, inventory'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "down" -d 'Tear labs down: ask each one\'s owner to (SIGTERM), then remove what dead owners left'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "demo" -d 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)'
complete -c breakglass -n "__fish_breakglass_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s p -l param -d 'A runbook parameter, `name=value` (repeatable); on a lab the lab\'s own are filled in' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l stop-if -d 'Without --lab: stop the run and undo what it changed when health fails (repeatable): `not_ready=DURATION` (an API endpoint fails /readyz that long), `p99_over=DURATION`' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l workers -d 'Worker nodes of the lab' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l control-planes -d 'Control-plane nodes of the lab' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l node-groups -d 'Auto Scaling groups the lab\'s workers belong to (a real `moto_server` in the lab, so `nodes.scale` stops and starts workers); 0: none, and node-group steps are skipped' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l nodes-per-namespace -d 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l report-dir -d 'Where the report goes (default: the run\'s journal directory, `drill/`)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l expect -d 'What must hold for exit 0 (repeatable): `recovered_within=DURATION`, `failed_targets=N`, `api_requests_max=N`, `restored=true`' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l latency-threshold -d 'p99 latency above which the API counts as unhealthy (detection and recovery)' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l recovery-window -d 'How long the API must stay ready and fast to count as recovered' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l recovery-timeout -d 'How long after the run to wait for recovery' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l detect-timeout -d 'How long the injected incident may take to saturate the API servers' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s f -l concurrency -d 'Hosts contacted at once' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l connect-timeout -d 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s t -l command-timeout -d 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l known-hosts -d 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s k -l identity -d 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l max-output -d 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l rate -d 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]' -r
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l lab -d 'Build the lab and inject the incident (root). Without it the drill runs against the inventory (`-i`) and the runbook\'s `-p cluster=NAME`, with --stop-if conditions'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l no-undo -d 'Leave the run\'s changes in place (the lab is still torn down)'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l accept-new-host-keys -d 'Accept and record host keys not yet known (a changed key is still refused)'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l no-agent -d 'Do not use keys from ssh-agent'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l sudo -d 'Run the command through `sudo -n` when the SSH user is not root'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand drill" -s h -l help -d 'Print help'
complete -c breakglass -n "__fish_breakglass_using_subcommand completions" -s i -l inventory -d 'Inventory file (TOML, or JSON with the same schema)' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand completions" -s o -l output -d 'Output format: human (folded text, progress on stderr) or json (one event per line)' -r -f -a "human\t''
json\t''"
complete -c breakglass -n "__fish_breakglass_using_subcommand completions" -l journal-dir -d 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand completions" -l config -d 'Configuration file [default: ~/.config/breakglass/config.toml]' -r -F
complete -c breakglass -n "__fish_breakglass_using_subcommand completions" -l no-progress -d 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
complete -c breakglass -n "__fish_breakglass_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "exec" -d 'Run a command on every selected host over SSH, folding identical output'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "health" -d 'One screen of a cluster\'s health: API /readyz and /livez, etcd, SSH to the control plane'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "plan" -d 'Show what a runbook would do, step by step and wave by wave, without changing anything'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "run" -d 'Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "resume" -d 'Continue an interrupted or stopped run from its journal, skipping finished targets'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "undo" -d 'Reverse a run\'s changes from the snapshots in its journal, last step first'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "confirm" -d 'Confirm a run\'s firewall changes: cancel the dead-man timers so the blocks stay'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "runbook" -d 'List, show and validate runbooks'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "inventory" -d 'Show and check the inventory; snapshot a cluster\'s nodes or import a cloud\'s machines into one'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "journal" -d 'List, show and verify run journals'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "lab" -d 'A practice fleet on this machine: network namespaces with real sshd and nftables (root)'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "drill" -d 'Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this machine (root), runs the runbook, waits for recovery, undoes, and writes a report'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and not __fish_seen_subcommand_from exec health plan run resume undo confirm runbook inventory journal lab drill completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from runbook" -f -a "list" -d 'List the shipped runbooks'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from runbook" -f -a "show" -d 'Print a runbook\'s parameters and steps (and its source with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from runbook" -f -a "validate" -d 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from inventory" -f -a "show" -d 'List the selected hosts (table, or JSON with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from inventory" -f -a "check" -d 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from inventory" -f -a "snapshot" -d 'Write a cluster\'s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from inventory" -f -a "import" -d 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster\'s node groups and control-plane resources'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from journal" -f -a "list" -d 'List runs, newest first'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from journal" -f -a "show" -d 'Print a run\'s records (human summary, or the raw records with --output json)'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from journal" -f -a "verify" -d 'Check a run\'s hash chain: detects edited, reordered, missing and truncated records'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "up" -d 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "status" -d 'List the labs on this machine: id, subnet, nodes, owner process, inventory'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "down" -d 'Tear labs down: ask each one\'s owner to (SIGTERM), then remove what dead owners left'
complete -c breakglass -n "__fish_breakglass_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "demo" -d 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)'
