
use builtin;
use str;

set edit:completion:arg-completer[breakglass] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'breakglass'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'breakglass'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand exec 'Run a command on every selected host over SSH, folding identical output'
            cand health 'One screen of a cluster''s health: API /readyz and /livez, etcd, SSH to the control plane'
            cand plan 'Show what a runbook would do, step by step and wave by wave, without changing anything'
            cand run 'Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled'
            cand resume 'Continue an interrupted or stopped run from its journal, skipping finished targets'
            cand undo 'Reverse a run''s changes from the snapshots in its journal, last step first'
            cand confirm 'Confirm a run''s firewall changes: cancel the dead-man timers so the blocks stay'
            cand runbook 'List, show and validate runbooks'
            cand inventory 'Show and check the inventory; snapshot a cluster''s nodes or import a cloud''s machines into one'
            cand journal 'List, show and verify run journals'
            cand lab 'A practice fleet on this machine: network namespaces with real sshd and nftables (root)'
            cand drill 'Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this machine (root), runs the runbook, waits for recovery, undoes, and writes a report'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;exec'= {
            cand --out-dir 'Also write each host''s output to DIR/HOST.out and DIR/HOST.err (and the status to DIR/HOST.status)'
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;health'= {
            cand --max-latency 'A probe answering slower than this counts as unhealthy, e.g. 500ms (requests give up after three times as long)'
            cand --control-plane 'Which of the cluster''s hosts are its control plane (a selector, see `inventory show`)'
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;plan'= {
            cand -p 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)'
            cand --param 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)'
            cand --operator-cidr 'Your egress address as the cloud sees it, which a cloud firewall block must not cut (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster''s `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --offline 'Read nothing. By default `plan` reads each etcd key and Kubernetes object a step names (read-only, a few seconds at most) to show what it holds now: kind, name, uid, revision, size. Hosts are never contacted by `plan`'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;run'= {
            cand -p 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)'
            cand --param 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)'
            cand --operator-cidr 'Your egress address as the cloud sees it, which a cloud firewall block must not cut (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster''s `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32'
            cand --retries 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent'
            cand --cloud-rate 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles'
            cand --cloud-budget 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load'
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand -y 'Do not ask for confirmation (pauses must be skippable). For automation'
            cand --yes 'Do not ask for confirmation (pauses must be skippable). For automation'
            cand --dry-run 'Print the plan and stop (the same as `breakglass plan`)'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;resume'= {
            cand --retries 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent'
            cand --cloud-rate 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles'
            cand --cloud-budget 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load'
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --allow-inventory-change 'Accept that the inventory changed since the run started'
            cand --rerun-in-doubt 'Run a step that is not idempotent again on targets an earlier attempt was cut off changing (reported `in_doubt`); check those hosts first'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;undo'= {
            cand --step 'Undo only this step'
            cand --retries 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent'
            cand --cloud-rate 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles'
            cand --cloud-budget 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load'
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --allow-inventory-change 'Accept that the inventory changed since the run started'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;confirm'= {
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;runbook'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'List the shipped runbooks'
            cand show 'Print a runbook''s parameters and steps (and its source with --output json)'
            cand validate 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;runbook;list'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;runbook;show'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;runbook;validate'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;runbook;help'= {
            cand list 'List the shipped runbooks'
            cand show 'Print a runbook''s parameters and steps (and its source with --output json)'
            cand validate 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;runbook;help;list'= {
        }
        &'breakglass;runbook;help;show'= {
        }
        &'breakglass;runbook;help;validate'= {
        }
        &'breakglass;runbook;help;help'= {
        }
        &'breakglass;inventory'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand show 'List the selected hosts (table, or JSON with --output json)'
            cand check 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency'
            cand snapshot 'Write a cluster''s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down'
            cand import 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster''s node groups and control-plane resources'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;inventory;show'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;inventory;check'= {
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;inventory;snapshot'= {
            cand --out 'The inventory file to write (TOML)'
            cand --from-file 'Read the nodes from a saved `kubectl get nodes -o json` instead of the API'
            cand --page-size 'Nodes per LIST request (its `limit`; the rest follows through `continue`), 1-500'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --strict 'Fail (exit 1, FILE untouched) when a node is skipped, instead of warning'
            cand --force 'Replace FILE even when it is not an earlier snapshot'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;inventory;import'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand aws 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name'
            cand gcp 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools'
            cand azure 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;inventory;import;aws'= {
            cand --cluster 'The cluster: its name in the inventory, and the cloud''s name for it (the EKS, GKE or AKS cluster; the default tag filter)'
            cand --out 'The inventory file to write (TOML); `-` writes it to stdout'
            cand --tag 'Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP `goog-k8s-cluster-name=CLUSTER`, Azure none]'
            cand --endpoint 'The provider''s API at another URL (a VPC or private endpoint); written to the inventory'
            cand --page-size 'Results asked for per page of each list call (the rest follows by page token)'
            cand --region 'The region [default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile''s]; written to the inventory'
            cand --profile 'A profile of ~/.aws/config for the credentials; written to the inventory'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --force 'Replace FILE if it exists'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;inventory;import;gcp'= {
            cand --cluster 'The cluster: its name in the inventory, and the cloud''s name for it (the EKS, GKE or AKS cluster; the default tag filter)'
            cand --out 'The inventory file to write (TOML); `-` writes it to stdout'
            cand --tag 'Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP `goog-k8s-cluster-name=CLUSTER`, Azure none]'
            cand --endpoint 'The provider''s API at another URL (a VPC or private endpoint); written to the inventory'
            cand --page-size 'Results asked for per page of each list call (the rest follows by page token)'
            cand --project 'The project [default: the key file''s `project_id`, `CLOUDSDK_CORE_PROJECT`]'
            cand --zone 'List instances in this zone only [default: every zone, through aggregatedList]'
            cand --location 'The GKE cluster''s location (zone or region) [default: the nodes'' `goog-k8s-cluster-location` label]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --force 'Replace FILE if it exists'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;inventory;import;azure'= {
            cand --cluster 'The cluster: its name in the inventory, and the cloud''s name for it (the EKS, GKE or AKS cluster; the default tag filter)'
            cand --out 'The inventory file to write (TOML); `-` writes it to stdout'
            cand --tag 'Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP `goog-k8s-cluster-name=CLUSTER`, Azure none]'
            cand --endpoint 'The provider''s API at another URL (a VPC or private endpoint); written to the inventory'
            cand --page-size 'Results asked for per page of each list call (the rest follows by page token)'
            cand --subscription 'The subscription id'
            cand --resource-group 'The resource group of the AKS cluster, or of the cluster''s scale sets and VMs'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --force 'Replace FILE if it exists'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;inventory;import;help'= {
            cand aws 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name'
            cand gcp 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools'
            cand azure 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;inventory;import;help;aws'= {
        }
        &'breakglass;inventory;import;help;gcp'= {
        }
        &'breakglass;inventory;import;help;azure'= {
        }
        &'breakglass;inventory;import;help;help'= {
        }
        &'breakglass;inventory;help'= {
            cand show 'List the selected hosts (table, or JSON with --output json)'
            cand check 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency'
            cand snapshot 'Write a cluster''s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down'
            cand import 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster''s node groups and control-plane resources'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;inventory;help;show'= {
        }
        &'breakglass;inventory;help;check'= {
        }
        &'breakglass;inventory;help;snapshot'= {
        }
        &'breakglass;inventory;help;import'= {
            cand aws 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name'
            cand gcp 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools'
            cand azure 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools'
        }
        &'breakglass;inventory;help;import;aws'= {
        }
        &'breakglass;inventory;help;import;gcp'= {
        }
        &'breakglass;inventory;help;import;azure'= {
        }
        &'breakglass;inventory;help;help'= {
        }
        &'breakglass;journal'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'List runs, newest first'
            cand show 'Print a run''s records (human summary, or the raw records with --output json)'
            cand verify 'Check a run''s hash chain: detects edited, reordered, missing and truncated records'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;journal;list'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;journal;show'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;journal;verify'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;journal;help'= {
            cand list 'List runs, newest first'
            cand show 'Print a run''s records (human summary, or the raw records with --output json)'
            cand verify 'Check a run''s hash chain: detects edited, reordered, missing and truncated records'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;journal;help;list'= {
        }
        &'breakglass;journal;help;show'= {
        }
        &'breakglass;journal;help;verify'= {
        }
        &'breakglass;journal;help;help'= {
        }
        &'breakglass;lab'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand up 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)'
            cand status 'List the labs on this machine: id, subnet, nodes, owner process, inventory'
            cand down 'Tear labs down: ask each one''s owner to (SIGTERM), then remove what dead owners left'
            cand demo 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;lab;up'= {
            cand --workers 'Worker nodes'
            cand --control-planes 'Control-plane nodes (each runs an API server stand-in on 6443)'
            cand --node-groups 'Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale` stops and starts workers); 0: none'
            cand --nodes-per-namespace 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;lab;status'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;lab;down'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;lab;demo'= {
            cand --workers 'Worker nodes'
            cand --control-planes 'Control-plane nodes (each runs an API server stand-in on 6443)'
            cand --node-groups 'Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale` stops and starts workers); 0: none'
            cand --nodes-per-namespace 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;lab;help'= {
            cand up 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)'
            cand status 'List the labs on this machine: id, subnet, nodes, owner process, inventory'
            cand down 'Tear labs down: ask each one''s owner to (SIGTERM), then remove what dead owners left'
            cand demo 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;lab;help;up'= {
        }
        &'breakglass;lab;help;status'= {
        }
        &'breakglass;lab;help;down'= {
        }
        &'breakglass;lab;help;demo'= {
        }
        &'breakglass;lab;help;help'= {
        }
        &'breakglass;drill'= {
            cand -p 'A runbook parameter, `name=value` (repeatable); on a lab the lab''s own are filled in'
            cand --param 'A runbook parameter, `name=value` (repeatable); on a lab the lab''s own are filled in'
            cand --stop-if 'Without --lab: stop the run and undo what it changed when health fails (repeatable): `not_ready=DURATION` (an API endpoint fails /readyz that long), `p99_over=DURATION`'
            cand --workers 'Worker nodes of the lab'
            cand --control-planes 'Control-plane nodes of the lab'
            cand --node-groups 'Auto Scaling groups the lab''s workers belong to (a real `moto_server` in the lab, so `nodes.scale` stops and starts workers); 0: none, and node-group steps are skipped'
            cand --nodes-per-namespace 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes'
            cand --report-dir 'Where the report goes (default: the run''s journal directory, `drill/`)'
            cand --expect 'What must hold for exit 0 (repeatable): `recovered_within=DURATION`, `failed_targets=N`, `api_requests_max=N`, `restored=true`'
            cand --latency-threshold 'p99 latency above which the API counts as unhealthy (detection and recovery)'
            cand --recovery-window 'How long the API must stay ready and fast to count as recovered'
            cand --recovery-timeout 'How long after the run to wait for recovery'
            cand --detect-timeout 'How long the injected incident may take to saturate the API servers'
            cand -f 'Hosts contacted at once'
            cand --concurrency 'Hosts contacted at once'
            cand --connect-timeout 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]'
            cand -t 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --command-timeout 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]'
            cand --known-hosts 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]'
            cand -k 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --identity 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]'
            cand --max-output 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated'
            cand --rate 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]'
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --lab 'Build the lab and inject the incident (root). Without it the drill runs against the inventory (`-i`) and the runbook''s `-p cluster=NAME`, with --stop-if conditions'
            cand --no-undo 'Leave the run''s changes in place (the lab is still torn down)'
            cand --accept-new-host-keys 'Accept and record host keys not yet known (a changed key is still refused)'
            cand --no-agent 'Do not use keys from ssh-agent'
            cand --sudo 'Run the command through `sudo -n` when the SSH user is not root'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'breakglass;completions'= {
            cand -i 'Inventory file (TOML, or JSON with the same schema)'
            cand --inventory 'Inventory file (TOML, or JSON with the same schema)'
            cand -o 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --output 'Output format: human (folded text, progress on stderr) or json (one event per line)'
            cand --journal-dir 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]'
            cand --config 'Configuration file [default: ~/.config/breakglass/config.toml]'
            cand --no-progress 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'breakglass;help'= {
            cand exec 'Run a command on every selected host over SSH, folding identical output'
            cand health 'One screen of a cluster''s health: API /readyz and /livez, etcd, SSH to the control plane'
            cand plan 'Show what a runbook would do, step by step and wave by wave, without changing anything'
            cand run 'Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled'
            cand resume 'Continue an interrupted or stopped run from its journal, skipping finished targets'
            cand undo 'Reverse a run''s changes from the snapshots in its journal, last step first'
            cand confirm 'Confirm a run''s firewall changes: cancel the dead-man timers so the blocks stay'
            cand runbook 'List, show and validate runbooks'
            cand inventory 'Show and check the inventory; snapshot a cluster''s nodes or import a cloud''s machines into one'
            cand journal 'List, show and verify run journals'
            cand lab 'A practice fleet on this machine: network namespaces with real sshd and nftables (root)'
            cand drill 'Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this machine (root), runs the runbook, waits for recovery, undoes, and writes a report'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'breakglass;help;exec'= {
        }
        &'breakglass;help;health'= {
        }
        &'breakglass;help;plan'= {
        }
        &'breakglass;help;run'= {
        }
        &'breakglass;help;resume'= {
        }
        &'breakglass;help;undo'= {
        }
        &'breakglass;help;confirm'= {
        }
        &'breakglass;help;runbook'= {
            cand list 'List the shipped runbooks'
            cand show 'Print a runbook''s parameters and steps (and its source with --output json)'
            cand validate 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`'
        }
        &'breakglass;help;runbook;list'= {
        }
        &'breakglass;help;runbook;show'= {
        }
        &'breakglass;help;runbook;validate'= {
        }
        &'breakglass;help;inventory'= {
            cand show 'List the selected hosts (table, or JSON with --output json)'
            cand check 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency'
            cand snapshot 'Write a cluster''s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down'
            cand import 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster''s node groups and control-plane resources'
        }
        &'breakglass;help;inventory;show'= {
        }
        &'breakglass;help;inventory;check'= {
        }
        &'breakglass;help;inventory;snapshot'= {
        }
        &'breakglass;help;inventory;import'= {
            cand aws 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name'
            cand gcp 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools'
            cand azure 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools'
        }
        &'breakglass;help;inventory;import;aws'= {
        }
        &'breakglass;help;inventory;import;gcp'= {
        }
        &'breakglass;help;inventory;import;azure'= {
        }
        &'breakglass;help;journal'= {
            cand list 'List runs, newest first'
            cand show 'Print a run''s records (human summary, or the raw records with --output json)'
            cand verify 'Check a run''s hash chain: detects edited, reordered, missing and truncated records'
        }
        &'breakglass;help;journal;list'= {
        }
        &'breakglass;help;journal;show'= {
        }
        &'breakglass;help;journal;verify'= {
        }
        &'breakglass;help;lab'= {
            cand up 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)'
            cand status 'List the labs on this machine: id, subnet, nodes, owner process, inventory'
            cand down 'Tear labs down: ask each one''s owner to (SIGTERM), then remove what dead owners left'
            cand demo 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)'
        }
        &'breakglass;help;lab;up'= {
        }
        &'breakglass;help;lab;status'= {
        }
        &'breakglass;help;lab;down'= {
        }
        &'breakglass;help;lab;demo'= {
        }
        &'breakglass;help;drill'= {
        }
        &'breakglass;help;completions'= {
        }
        &'breakglass;help;help'= {
        }
    ]
    $completions[$command]
}
