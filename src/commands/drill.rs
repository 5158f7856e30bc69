//! `breakglass drill`: the arguments checked and handed to `drill::lab`.

use crate::cli::DrillArgs;
use crate::drill::lab::LabDrill;
use crate::drill::{expect, staging};
use crate::error::{Exit, ExitError};
use crate::settings::Settings;

pub async fn drill(settings: &Settings, args: &DrillArgs) -> anyhow::Result<Exit> {
    let expect = args
        .expect
        .iter()
        .map(|(k, v)| expect::parse(k, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ExitError::new(Exit::Usage, e))?;
    if !args.lab {
        let stop_if = args
            .stop_if
            .iter()
            .map(|(k, v)| staging::parse_stop(k, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ExitError::new(Exit::Usage, e))?;
        return staging::run(
            settings,
            &staging::StagingDrill {
                runbook: args.runbook.clone(),
                params: args.params.clone(),
                report_dir: args.report_dir.clone(),
                expect,
                stop_if,
                latency_threshold: args.latency_threshold,
                recovery_window: args.recovery_window,
                recovery_timeout: args.recovery_timeout,
                ssh: args.ssh.clone(),
            },
        )
        .await;
    }
    if !args.stop_if.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            "--stop-if is for drills against an inventory; a lab drill always runs to the end",
        )
        .into());
    }
    super::lab::check_size(args.workers, args.control_planes, args.nodes_per_namespace)?;
    crate::drill::lab::run(
        settings,
        &LabDrill {
            runbook: args.runbook.clone(),
            params: args.params.clone(),
            workers: args.workers,
            control_planes: args.control_planes,
            node_groups: args.node_groups,
            nodes_per_namespace: args.nodes_per_namespace,
            report_dir: args.report_dir.clone(),
            expect,
            latency_threshold: args.latency_threshold,
            recovery_window: args.recovery_window,
            recovery_timeout: args.recovery_timeout,
            detect_timeout: args.detect_timeout,
            undo: !args.no_undo,
        },
    )
    .await
}
