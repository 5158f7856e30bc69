//! Placeholder until the report renderer lands: writes `report.json` only.

use std::path::{Path, PathBuf};

use super::model::DrillRecord;

pub struct ReportPaths {
    pub html: PathBuf,
    pub md: PathBuf,
    pub json: PathBuf,
}

pub fn write(record: &DrillRecord, dir: &Path) -> anyhow::Result<ReportPaths> {
    std::fs::create_dir_all(dir)?;
    let paths = ReportPaths {
        html: dir.join("report.html"),
        md: dir.join("report.md"),
        json: dir.join("report.json"),
    };
    std::fs::write(&paths.json, serde_json::to_string_pretty(record)?)?;
    Ok(paths)
}

pub fn terminal_summary(record: &DrillRecord, paths: &ReportPaths) -> String {
    format!("{}: report {}", record.verdict, paths.json.display())
}
