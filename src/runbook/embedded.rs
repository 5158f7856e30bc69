//! The runbooks shipped in `runbooks/`, compiled into the binary so they are there when the
//! network (and any package mirror) is not. A test keeps this list and the directory in step.

use super::Runbook;
use super::diagnostic::RunbookError;

/// (file name, text) of every shipped runbook; the name is the file stem.
const FILES: &[(&str, &str)] = &[
    (
        "aks-apiserver-overload.toml",
        include_str!("../../runbooks/aks-apiserver-overload.toml"),
    ),
    (
        "apiserver-overload.toml",
        include_str!("../../runbooks/apiserver-overload.toml"),
    ),
    (
        "eks-apiserver-overload.toml",
        include_str!("../../runbooks/eks-apiserver-overload.toml"),
    ),
    (
        "fleet-triage.toml",
        include_str!("../../runbooks/fleet-triage.toml"),
    ),
    (
        "gke-apiserver-overload.toml",
        include_str!("../../runbooks/gke-apiserver-overload.toml"),
    ),
    (
        "restore-after-block.toml",
        include_str!("../../runbooks/restore-after-block.toml"),
    ),
    (
        "workload-removal.toml",
        include_str!("../../runbooks/workload-removal.toml"),
    ),
];

/// `(name, summary)` of every shipped runbook, in name order, for `runbook list`.
pub fn list() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = FILES
        .iter()
        .map(|(file, text)| {
            let summary = Runbook::parse(text, &origin(file))
                .map_or_else(|e| format!("(invalid: {e})"), |r| r.summary);
            (stem(file), summary)
        })
        .collect();
    out.sort_by_key(|(name, _)| *name);
    out
}

/// The names of the shipped runbooks.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = FILES.iter().map(|(file, _)| stem(file)).collect();
    names.sort_unstable();
    names
}

/// The shipped runbook called `name`, loaded. `None` if there is none by that name.
pub fn get(name: &str) -> Option<Result<Runbook, RunbookError>> {
    source(name).map(|(origin, text)| Runbook::parse(text, &origin))
}

/// The origin (`embedded:NAME.toml`) and text of the shipped runbook called `name`.
pub fn source(name: &str) -> Option<(String, &'static str)> {
    FILES
        .iter()
        .find(|(file, _)| stem(file) == name)
        .map(|(file, text)| (origin(file), *text))
}

fn stem(file: &'static str) -> &'static str {
    file.strip_suffix(".toml").unwrap_or(file)
}

fn origin(file: &str) -> String {
    format!("embedded:{file}")
}
