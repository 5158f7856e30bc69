
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'breakglass' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'breakglass'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'breakglass' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command on every selected host over SSH, folding identical output')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'One screen of a cluster''s health: API /readyz and /livez, etcd, SSH to the control plane')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Show what a runbook would do, step by step and wave by wave, without changing anything')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue an interrupted or stopped run from its journal, skipping finished targets')
            [CompletionResult]::new('undo', 'undo', [CompletionResultType]::ParameterValue, 'Reverse a run''s changes from the snapshots in its journal, last step first')
            [CompletionResult]::new('confirm', 'confirm', [CompletionResultType]::ParameterValue, 'Confirm a run''s firewall changes: cancel the dead-man timers so the blocks stay')
            [CompletionResult]::new('runbook', 'runbook', [CompletionResultType]::ParameterValue, 'List, show and validate runbooks')
            [CompletionResult]::new('inventory', 'inventory', [CompletionResultType]::ParameterValue, 'Show and check the inventory; snapshot a cluster''s nodes or import a cloud''s machines into one')
            [CompletionResult]::new('journal', 'journal', [CompletionResultType]::ParameterValue, 'List, show and verify run journals')
            [CompletionResult]::new('lab', 'lab', [CompletionResultType]::ParameterValue, 'A practice fleet on this machine: network namespaces with real sshd and nftables (root)')
            [CompletionResult]::new('drill', 'drill', [CompletionResultType]::ParameterValue, 'Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this machine (root), runs the runbook, waits for recovery, undoes, and writes a report')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;exec' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Also write each host''s output to DIR/HOST.out and DIR/HOST.err (and the status to DIR/HOST.status)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;health' {
            [CompletionResult]::new('--max-latency', '--max-latency', [CompletionResultType]::ParameterName, 'A probe answering slower than this counts as unhealthy, e.g. 500ms (requests give up after three times as long)')
            [CompletionResult]::new('--control-plane', '--control-plane', [CompletionResultType]::ParameterName, 'Which of the cluster''s hosts are its control plane (a selector, see `inventory show`)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;plan' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)')
            [CompletionResult]::new('--operator-cidr', '--operator-cidr', [CompletionResultType]::ParameterName, 'Your egress address as the cloud sees it, which a cloud firewall block must not cut (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster''s `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Read nothing. By default `plan` reads each etcd key and Kubernetes object a step names (read-only, a few seconds at most) to show what it holds now: kind, name, uid, revision, size. Hosts are never contacted by `plan`')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;run' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)')
            [CompletionResult]::new('--operator-cidr', '--operator-cidr', [CompletionResultType]::ParameterName, 'Your egress address as the cloud sees it, which a cloud firewall block must not cut (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster''s `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent')
            [CompletionResult]::new('--cloud-rate', '--cloud-rate', [CompletionResultType]::ParameterName, 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles')
            [CompletionResult]::new('--cloud-budget', '--cloud-budget', [CompletionResultType]::ParameterName, 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (pauses must be skippable). For automation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (pauses must be skippable). For automation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan and stop (the same as `breakglass plan`)')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;resume' {
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent')
            [CompletionResult]::new('--cloud-rate', '--cloud-rate', [CompletionResultType]::ParameterName, 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles')
            [CompletionResult]::new('--cloud-budget', '--cloud-budget', [CompletionResultType]::ParameterName, 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--allow-inventory-change', '--allow-inventory-change', [CompletionResultType]::ParameterName, 'Accept that the inventory changed since the run started')
            [CompletionResult]::new('--rerun-in-doubt', '--rerun-in-doubt', [CompletionResultType]::ParameterName, 'Run a step that is not idempotent again on targets an earlier attempt was cut off changing (reported `in_doubt`); check those hosts first')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;undo' {
            [CompletionResult]::new('--step', '--step', [CompletionResultType]::ParameterName, 'Undo only this step')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a transport failure (unreachable, timed out); a command that may have run is retried only when its action is idempotent')
            [CompletionResult]::new('--cloud-rate', '--cloud-rate', [CompletionResultType]::ParameterName, 'Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across the run: every call, retry and operation poll waits for its slot; 0: no limit, else at least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example: `--cloud-rate 1` while the provider throttles')
            [CompletionResult]::new('--cloud-budget', '--cloud-budget', [CompletionResultType]::ParameterName, 'Requests the run may send to each cloud provider in all (every retry, poll and token request counts); past it, cloud calls fail with "budget spent" instead of adding load')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--allow-inventory-change', '--allow-inventory-change', [CompletionResultType]::ParameterName, 'Accept that the inventory changed since the run started')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;confirm' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;runbook' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the shipped runbooks')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print a runbook''s parameters and steps (and its source with --output json)')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;runbook;list' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;runbook;show' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;runbook;validate' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;runbook;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the shipped runbooks')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print a runbook''s parameters and steps (and its source with --output json)')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;runbook;help;list' {
            break
        }
        'breakglass;runbook;help;show' {
            break
        }
        'breakglass;runbook;help;validate' {
            break
        }
        'breakglass;runbook;help;help' {
            break
        }
        'breakglass;inventory' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'List the selected hosts (table, or JSON with --output json)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency')
            [CompletionResult]::new('snapshot', 'snapshot', [CompletionResultType]::ParameterValue, 'Write a cluster''s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster''s node groups and control-plane resources')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;inventory;show' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;inventory;check' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;inventory;snapshot' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The inventory file to write (TOML)')
            [CompletionResult]::new('--from-file', '--from-file', [CompletionResultType]::ParameterName, 'Read the nodes from a saved `kubectl get nodes -o json` instead of the API')
            [CompletionResult]::new('--page-size', '--page-size', [CompletionResultType]::ParameterName, 'Nodes per LIST request (its `limit`; the rest follows through `continue`), 1-500')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Fail (exit 1, FILE untouched) when a node is skipped, instead of warning')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace FILE even when it is not an earlier snapshot')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;inventory;import' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('aws', 'aws', [CompletionResultType]::ParameterValue, 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name')
            [CompletionResult]::new('gcp', 'gcp', [CompletionResultType]::ParameterValue, 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools')
            [CompletionResult]::new('azure', 'azure', [CompletionResultType]::ParameterValue, 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;inventory;import;aws' {
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The cluster: its name in the inventory, and the cloud''s name for it (the EKS, GKE or AKS cluster; the default tag filter)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The inventory file to write (TOML); `-` writes it to stdout')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP `goog-k8s-cluster-name=CLUSTER`, Azure none]')
            [CompletionResult]::new('--endpoint', '--endpoint', [CompletionResultType]::ParameterName, 'The provider''s API at another URL (a VPC or private endpoint); written to the inventory')
            [CompletionResult]::new('--page-size', '--page-size', [CompletionResultType]::ParameterName, 'Results asked for per page of each list call (the rest follows by page token)')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'The region [default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile''s]; written to the inventory')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A profile of ~/.aws/config for the credentials; written to the inventory')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace FILE if it exists')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;inventory;import;gcp' {
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The cluster: its name in the inventory, and the cloud''s name for it (the EKS, GKE or AKS cluster; the default tag filter)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The inventory file to write (TOML); `-` writes it to stdout')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP `goog-k8s-cluster-name=CLUSTER`, Azure none]')
            [CompletionResult]::new('--endpoint', '--endpoint', [CompletionResultType]::ParameterName, 'The provider''s API at another URL (a VPC or private endpoint); written to the inventory')
            [CompletionResult]::new('--page-size', '--page-size', [CompletionResultType]::ParameterName, 'Results asked for per page of each list call (the rest follows by page token)')
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'The project [default: the key file''s `project_id`, `CLOUDSDK_CORE_PROJECT`]')
            [CompletionResult]::new('--zone', '--zone', [CompletionResultType]::ParameterName, 'List instances in this zone only [default: every zone, through aggregatedList]')
            [CompletionResult]::new('--location', '--location', [CompletionResultType]::ParameterName, 'The GKE cluster''s location (zone or region) [default: the nodes'' `goog-k8s-cluster-location` label]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace FILE if it exists')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;inventory;import;azure' {
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The cluster: its name in the inventory, and the cloud''s name for it (the EKS, GKE or AKS cluster; the default tag filter)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The inventory file to write (TOML); `-` writes it to stdout')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP `goog-k8s-cluster-name=CLUSTER`, Azure none]')
            [CompletionResult]::new('--endpoint', '--endpoint', [CompletionResultType]::ParameterName, 'The provider''s API at another URL (a VPC or private endpoint); written to the inventory')
            [CompletionResult]::new('--page-size', '--page-size', [CompletionResultType]::ParameterName, 'Results asked for per page of each list call (the rest follows by page token)')
            [CompletionResult]::new('--subscription', '--subscription', [CompletionResultType]::ParameterName, 'The subscription id')
            [CompletionResult]::new('--resource-group', '--resource-group', [CompletionResultType]::ParameterName, 'The resource group of the AKS cluster, or of the cluster''s scale sets and VMs')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace FILE if it exists')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;inventory;import;help' {
            [CompletionResult]::new('aws', 'aws', [CompletionResultType]::ParameterValue, 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name')
            [CompletionResult]::new('gcp', 'gcp', [CompletionResultType]::ParameterValue, 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools')
            [CompletionResult]::new('azure', 'azure', [CompletionResultType]::ParameterValue, 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;inventory;import;help;aws' {
            break
        }
        'breakglass;inventory;import;help;gcp' {
            break
        }
        'breakglass;inventory;import;help;azure' {
            break
        }
        'breakglass;inventory;import;help;help' {
            break
        }
        'breakglass;inventory;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'List the selected hosts (table, or JSON with --output json)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency')
            [CompletionResult]::new('snapshot', 'snapshot', [CompletionResultType]::ParameterValue, 'Write a cluster''s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster''s node groups and control-plane resources')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;inventory;help;show' {
            break
        }
        'breakglass;inventory;help;check' {
            break
        }
        'breakglass;inventory;help;snapshot' {
            break
        }
        'breakglass;inventory;help;import' {
            [CompletionResult]::new('aws', 'aws', [CompletionResultType]::ParameterValue, 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name')
            [CompletionResult]::new('gcp', 'gcp', [CompletionResultType]::ParameterValue, 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools')
            [CompletionResult]::new('azure', 'azure', [CompletionResultType]::ParameterValue, 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools')
            break
        }
        'breakglass;inventory;help;import;aws' {
            break
        }
        'breakglass;inventory;help;import;gcp' {
            break
        }
        'breakglass;inventory;help;import;azure' {
            break
        }
        'breakglass;inventory;help;help' {
            break
        }
        'breakglass;journal' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print a run''s records (human summary, or the raw records with --output json)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a run''s hash chain: detects edited, reordered, missing and truncated records')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;journal;list' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;journal;show' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;journal;verify' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;journal;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print a run''s records (human summary, or the raw records with --output json)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a run''s hash chain: detects edited, reordered, missing and truncated records')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;journal;help;list' {
            break
        }
        'breakglass;journal;help;show' {
            break
        }
        'breakglass;journal;help;verify' {
            break
        }
        'breakglass;journal;help;help' {
            break
        }
        'breakglass;lab' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List the labs on this machine: id, subnet, nodes, owner process, inventory')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Tear labs down: ask each one''s owner to (SIGTERM), then remove what dead owners left')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;lab;up' {
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Worker nodes')
            [CompletionResult]::new('--control-planes', '--control-planes', [CompletionResultType]::ParameterName, 'Control-plane nodes (each runs an API server stand-in on 6443)')
            [CompletionResult]::new('--node-groups', '--node-groups', [CompletionResultType]::ParameterName, 'Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale` stops and starts workers); 0: none')
            [CompletionResult]::new('--nodes-per-namespace', '--nodes-per-namespace', [CompletionResultType]::ParameterName, 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;lab;status' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;lab;down' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;lab;demo' {
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Worker nodes')
            [CompletionResult]::new('--control-planes', '--control-planes', [CompletionResultType]::ParameterName, 'Control-plane nodes (each runs an API server stand-in on 6443)')
            [CompletionResult]::new('--node-groups', '--node-groups', [CompletionResultType]::ParameterName, 'Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale` stops and starts workers); 0: none')
            [CompletionResult]::new('--nodes-per-namespace', '--nodes-per-namespace', [CompletionResultType]::ParameterName, 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;lab;help' {
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List the labs on this machine: id, subnet, nodes, owner process, inventory')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Tear labs down: ask each one''s owner to (SIGTERM), then remove what dead owners left')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;lab;help;up' {
            break
        }
        'breakglass;lab;help;status' {
            break
        }
        'breakglass;lab;help;down' {
            break
        }
        'breakglass;lab;help;demo' {
            break
        }
        'breakglass;lab;help;help' {
            break
        }
        'breakglass;drill' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A runbook parameter, `name=value` (repeatable); on a lab the lab''s own are filled in')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'A runbook parameter, `name=value` (repeatable); on a lab the lab''s own are filled in')
            [CompletionResult]::new('--stop-if', '--stop-if', [CompletionResultType]::ParameterName, 'Without --lab: stop the run and undo what it changed when health fails (repeatable): `not_ready=DURATION` (an API endpoint fails /readyz that long), `p99_over=DURATION`')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Worker nodes of the lab')
            [CompletionResult]::new('--control-planes', '--control-planes', [CompletionResultType]::ParameterName, 'Control-plane nodes of the lab')
            [CompletionResult]::new('--node-groups', '--node-groups', [CompletionResultType]::ParameterName, 'Auto Scaling groups the lab''s workers belong to (a real `moto_server` in the lab, so `nodes.scale` stops and starts workers); 0: none, and node-group steps are skipped')
            [CompletionResult]::new('--nodes-per-namespace', '--nodes-per-namespace', [CompletionResultType]::ParameterName, 'Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each worker still with its own address, sshd, host key and processes')
            [CompletionResult]::new('--report-dir', '--report-dir', [CompletionResultType]::ParameterName, 'Where the report goes (default: the run''s journal directory, `drill/`)')
            [CompletionResult]::new('--expect', '--expect', [CompletionResultType]::ParameterName, 'What must hold for exit 0 (repeatable): `recovered_within=DURATION`, `failed_targets=N`, `api_requests_max=N`, `restored=true`')
            [CompletionResult]::new('--latency-threshold', '--latency-threshold', [CompletionResultType]::ParameterName, 'p99 latency above which the API counts as unhealthy (detection and recovery)')
            [CompletionResult]::new('--recovery-window', '--recovery-window', [CompletionResultType]::ParameterName, 'How long the API must stay ready and fast to count as recovered')
            [CompletionResult]::new('--recovery-timeout', '--recovery-timeout', [CompletionResultType]::ParameterName, 'How long after the run to wait for recovery')
            [CompletionResult]::new('--detect-timeout', '--detect-timeout', [CompletionResultType]::ParameterName, 'How long the injected incident may take to saturate the API servers')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts contacted at once')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--command-timeout', '--command-timeout', [CompletionResultType]::ParameterName, 'Deadline for the remote command, e.g. 2m [inventory default, else 60s]')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]')
            [CompletionResult]::new('--max-output', '--max-output', [CompletionResultType]::ParameterName, 'Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'New SSH sessions per second across the whole command: every session a step, gate, undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory check and health]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'Build the lab and inject the incident (root). Without it the drill runs against the inventory (`-i`) and the runbook''s `-p cluster=NAME`, with --stop-if conditions')
            [CompletionResult]::new('--no-undo', '--no-undo', [CompletionResultType]::ParameterName, 'Leave the run''s changes in place (the lab is still torn down)')
            [CompletionResult]::new('--accept-new-host-keys', '--accept-new-host-keys', [CompletionResultType]::ParameterName, 'Accept and record host keys not yet known (a changed key is still refused)')
            [CompletionResult]::new('--no-agent', '--no-agent', [CompletionResultType]::ParameterName, 'Do not use keys from ssh-agent')
            [CompletionResult]::new('--sudo', '--sudo', [CompletionResultType]::ParameterName, 'Run the command through `sudo -n` when the SSH user is not root')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'breakglass;completions' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'Inventory file (TOML, or JSON with the same schema)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (folded text, progress on stderr) or json (one event per line)')
            [CompletionResult]::new('--journal-dir', '--journal-dir', [CompletionResultType]::ParameterName, 'Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: ~/.config/breakglass/config.toml]')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draw progress bars (they are drawn only when stderr is a terminal anyway)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'breakglass;help' {
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command on every selected host over SSH, folding identical output')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'One screen of a cluster''s health: API /readyz and /livez, etcd, SSH to the control plane')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Show what a runbook would do, step by step and wave by wave, without changing anything')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue an interrupted or stopped run from its journal, skipping finished targets')
            [CompletionResult]::new('undo', 'undo', [CompletionResultType]::ParameterValue, 'Reverse a run''s changes from the snapshots in its journal, last step first')
            [CompletionResult]::new('confirm', 'confirm', [CompletionResultType]::ParameterValue, 'Confirm a run''s firewall changes: cancel the dead-man timers so the blocks stay')
            [CompletionResult]::new('runbook', 'runbook', [CompletionResultType]::ParameterValue, 'List, show and validate runbooks')
            [CompletionResult]::new('inventory', 'inventory', [CompletionResultType]::ParameterValue, 'Show and check the inventory; snapshot a cluster''s nodes or import a cloud''s machines into one')
            [CompletionResult]::new('journal', 'journal', [CompletionResultType]::ParameterValue, 'List, show and verify run journals')
            [CompletionResult]::new('lab', 'lab', [CompletionResultType]::ParameterValue, 'A practice fleet on this machine: network namespaces with real sshd and nftables (root)')
            [CompletionResult]::new('drill', 'drill', [CompletionResultType]::ParameterValue, 'Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this machine (root), runs the runbook, waits for recovery, undoes, and writes a report')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'breakglass;help;exec' {
            break
        }
        'breakglass;help;health' {
            break
        }
        'breakglass;help;plan' {
            break
        }
        'breakglass;help;run' {
            break
        }
        'breakglass;help;resume' {
            break
        }
        'breakglass;help;undo' {
            break
        }
        'breakglass;help;confirm' {
            break
        }
        'breakglass;help;runbook' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the shipped runbooks')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print a runbook''s parameters and steps (and its source with --output json)')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check runbook files; every problem is reported as `FILE:LINE:COLUMN`')
            break
        }
        'breakglass;help;runbook;list' {
            break
        }
        'breakglass;help;runbook;show' {
            break
        }
        'breakglass;help;runbook;validate' {
            break
        }
        'breakglass;help;inventory' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'List the selected hosts (table, or JSON with --output json)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check TCP connect, SSH handshake, host key and authentication on each host, with latency')
            [CompletionResult]::new('snapshot', 'snapshot', [CompletionResultType]::ParameterValue, 'Write a cluster''s nodes (names, internal IPs, labels, roles) to an inventory file for the day its API is down')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags, role, node group) and the cluster''s node groups and control-plane resources')
            break
        }
        'breakglass;help;inventory;show' {
            break
        }
        'breakglass;help;inventory;check' {
            break
        }
        'breakglass;help;inventory;snapshot' {
            break
        }
        'breakglass;help;inventory;import' {
            [CompletionResult]::new('aws', 'aws', [CompletionResultType]::ParameterValue, 'EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name')
            [CompletionResult]::new('gcp', 'gcp', [CompletionResultType]::ParameterValue, 'GCE instances by label, their managed instance groups, and the GKE cluster''s node pools')
            [CompletionResult]::new('azure', 'azure', [CompletionResultType]::ParameterValue, 'Scale sets and VMs of a resource group, and the AKS cluster''s agent pools')
            break
        }
        'breakglass;help;inventory;import;aws' {
            break
        }
        'breakglass;help;inventory;import;gcp' {
            break
        }
        'breakglass;help;inventory;import;azure' {
            break
        }
        'breakglass;help;journal' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print a run''s records (human summary, or the raw records with --output json)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a run''s hash chain: detects edited, reordered, missing and truncated records')
            break
        }
        'breakglass;help;journal;list' {
            break
        }
        'breakglass;help;journal;show' {
            break
        }
        'breakglass;help;journal;verify' {
            break
        }
        'breakglass;help;lab' {
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build a lab, print its inventory and example commands, tear it down on Ctrl-C or SIGTERM (`lab down`)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List the labs on this machine: id, subnet, nodes, owner process, inventory')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Tear labs down: ask each one''s owner to (SIGTERM), then remove what dead owners left')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'A short drill: the reference incident on a fresh lab, `apiserver-overload` run against it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)')
            break
        }
        'breakglass;help;lab;up' {
            break
        }
        'breakglass;help;lab;status' {
            break
        }
        'breakglass;help;lab;down' {
            break
        }
        'breakglass;help;lab;demo' {
            break
        }
        'breakglass;help;drill' {
            break
        }
        'breakglass;help;completions' {
            break
        }
        'breakglass;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
