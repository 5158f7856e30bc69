//! `--expect NAME=VALUE`: what a drill must show for its exit code to be 0.
//!
//! - `recovered_within=DURATION`: recovery (readyz passing and p99 under the threshold for the
//!   recovery window) reached within DURATION of the run's start;
//! - `failed_targets=N`: at most N targets ended not ok;
//! - `api_requests_max=N`: breakglass sent at most N requests to the API servers;
//! - `restored=true`: undo put the fleet back as it was.

use std::time::Duration;

use super::model::{DrillRecord, Expectation};

/// One parsed expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    RecoveredWithin(Duration),
    FailedTargets(u64),
    ApiRequestsMax(u64),
    Restored,
}

pub const NAMES: &str =
    "recovered_within=DURATION, failed_targets=N, api_requests_max=N, restored=true";

pub fn parse(name: &str, value: &str) -> Result<Expect, String> {
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("--expect {name}={v}: expected a whole number"))
    };
    match name {
        "recovered_within" => crate::duration::parse(value)
            .map(Expect::RecoveredWithin)
            .map_err(|e| format!("--expect recovered_within={value}: {e} (e.g. 5m, 90s)")),
        "failed_targets" => number(value).map(Expect::FailedTargets),
        "api_requests_max" => number(value).map(Expect::ApiRequestsMax),
        "restored" if value == "true" => Ok(Expect::Restored),
        _ => Err(format!(
            "--expect {name}={value}: unknown expectation; known: {NAMES}"
        )),
    }
}

/// Judges `e` against the record; `failed_targets` comes from the run's journal.
pub fn judge(e: &Expect, r: &DrillRecord, failed_targets: u64) -> Expectation {
    let secs = |ms: u64| format!("{:.1}s", Duration::from_millis(ms).as_secs_f64());
    let (name, wanted, observed, held) = match e {
        Expect::RecoveredWithin(d) => {
            let since_run = r
                .recovered_ms
                .zip(r.run_start_ms)
                .map(|(rec, start)| rec.saturating_sub(start));
            (
                "recovered_within",
                humantime::format_duration(*d).to_string(),
                since_run.map_or_else(|| "not recovered".to_owned(), secs),
                since_run.is_some_and(|ms| u128::from(ms) <= d.as_millis()),
            )
        }
        Expect::FailedTargets(n) => (
            "failed_targets",
            format!("<= {n}"),
            failed_targets.to_string(),
            failed_targets <= *n,
        ),
        Expect::ApiRequestsMax(n) => (
            "api_requests_max",
            format!("<= {n}"),
            r.breakglass_api_requests.to_string(),
            r.breakglass_api_requests <= *n,
        ),
        Expect::Restored => (
            "restored",
            "true".to_owned(),
            r.restored
                .map_or_else(|| "no undo ran".to_owned(), |b| b.to_string()),
            r.restored == Some(true),
        ),
    };
    Expectation {
        name: name.to_owned(),
        wanted,
        observed,
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_parse_and_unknown_ones_name_the_known() {
        assert_eq!(
            parse("recovered_within", "5m"),
            Ok(Expect::RecoveredWithin(Duration::from_secs(300)))
        );
        assert_eq!(parse("failed_targets", "0"), Ok(Expect::FailedTargets(0)));
        assert!(parse("failed_targets", "-1").is_err());
        let e = parse("recoverd", "1m").expect_err("unknown");
        assert!(e.contains("recovered_within=DURATION"), "{e}");
    }
}
