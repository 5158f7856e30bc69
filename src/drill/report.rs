//! The report of a drill: a pure function from a `DrillRecord` to three files in one
//! directory. `report.json` is the record itself (the facts, for machines and for a later
//! re-render), `report.md` states them for people in text, and `report.html` is one
//! self-contained page with the timeline chart (`render_svg`). It reads nothing but the record
//! and writes nothing outside the directory it is given; it never prints (the command that ran
//! the drill prints `terminal_summary`).
//!
//! Every string in a record may come from a runbook or from the fleet, so each renderer escapes
//! it for its format and neutralises control characters (`text.rs`).

mod facts;
mod html;
mod markdown;
mod svg;
#[cfg(test)]
mod tests;
mod text;

use std::fs::{DirBuilder, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::drill::model::DrillRecord;

pub use svg::{MAX_POINTS, render_svg};

pub const JSON_FILE: &str = "report.json";
pub const MARKDOWN_FILE: &str = "report.md";
pub const HTML_FILE: &str = "report.html";

/// Where `write` put the three files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    pub dir: PathBuf,
    pub json: PathBuf,
    pub md: PathBuf,
    pub html: PathBuf,
}

/// Writes `report.json`, `report.md` and `report.html` into `dir`, creating it (mode 0700:
/// a report describes the fleet) when missing. Each file is written whole to a new file of
/// mode 0600 and renamed over its name, so a reader never sees half a report and a symlink
/// planted at the name is replaced, never followed.
pub fn write(record: &DrillRecord, dir: &Path) -> anyhow::Result<ReportPaths> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the report directory {}", dir.display()))?;
    let paths = ReportPaths {
        dir: dir.to_path_buf(),
        json: dir.join(JSON_FILE),
        md: dir.join(MARKDOWN_FILE),
        html: dir.join(HTML_FILE),
    };
    let mut json = serde_json::to_string_pretty(record).context("encoding the drill record")?;
    json.push('\n');
    replace(&paths.json, &json)?;
    replace(&paths.md, &markdown::render(record))?;
    replace(&paths.html, &html::render(record, &render_svg(record)))?;
    Ok(paths)
}

/// The lines the terminal ends a drill with: the verdict, the three times, then where the
/// report is. No trailing newline.
pub fn terminal_summary(record: &DrillRecord, paths: &ReportPaths) -> String {
    let verdict = format!("drill {}: {}", record.runbook, record.verdict);
    let mut lines = vec![text::neutralise(&verdict)];
    lines.extend(facts::moments(record).iter().map(|moment| {
        let name = format!("{}:", moment.name);
        match moment.at_ms {
            Some(_) => {
                let (big, origin, other) = moment.headline(record);
                format!("{name:<22}{big} {origin} ({other})")
            }
            None => format!("{name:<22}{}", facts::NOT_REACHED),
        }
    }));
    lines.push(format!(
        "report: {} ({MARKDOWN_FILE} and {JSON_FILE} beside it)",
        text::neutralise(&paths.html.display().to_string())
    ));
    lines.join("\n")
}

/// Writes `path` whole: a new file (`O_CREAT | O_EXCL`, which fails rather than follow a
/// symlink) of mode 0600 in the same directory, synced, then renamed over `path`; rename(2)
/// replaces whatever entry `path` names, a symlink included, without following it.
fn replace(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("creating a new file in {}", dir.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.as_file().sync_data())
        .with_context(|| format!("writing {}", file.path().display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
