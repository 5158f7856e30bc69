//! `breakglass drill`: the arguments checked and handed to `drill::lab`.

use crate::cli::DrillArgs;
use crate::drill::expect;
use crate::drill::lab::LabDrill;
use crate::error::{Exit, ExitError};
use crate::settings::Settings;

pub async fn drill(settings: &Settings, args: &DrillArgs) -> anyhow::Result<Exit> {
    if !args.lab {
        return Err(ExitError::new(
            Exit::Usage,
            "drills against a real inventory are not implemented yet; use --lab (root) to \
             rehearse on a lab built on this machine",
        )
        .into());
    }
    super::lab::check_size(args.workers, args.control_planes)?;
    let expect = args
        .expect
        .iter()
        .map(|(k, v)| expect::parse(k, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ExitError::new(Exit::Usage, e))?;
    crate::drill::lab::run(
        settings,
        &LabDrill {
            runbook: args.runbook.clone(),
            params: args.params.clone(),
            workers: args.workers,
            control_planes: args.control_planes,
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
