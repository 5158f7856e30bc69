//! `breakglass runbook list | show | validate`.

use crate::error::{Exit, ExitError};
use crate::output::{stdout_line, stdout_raw};
use crate::runbook::{ParamType, embedded, load_any};
use crate::settings::Settings;

pub fn list(settings: &Settings) -> anyhow::Result<Exit> {
    let runbooks = embedded::list();
    if settings.json() {
        for (name, summary) in &runbooks {
            stdout_line(
                &serde_json::json!({"type": "runbook", "name": name, "summary": summary})
                    .to_string(),
            );
        }
    } else {
        let width = runbooks.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, summary) in &runbooks {
            stdout_line(&format!("{name:<width$}  {summary}"));
        }
    }
    Ok(Exit::Success)
}

pub fn show(settings: &Settings, name: &str) -> anyhow::Result<Exit> {
    let rb = load_any(name).map_err(|e| ExitError::new(Exit::Usage, e.to_string()))?;
    if settings.json() {
        stdout_line(
            &serde_json::json!({
                "type": "runbook", "name": rb.name, "summary": rb.summary, "origin": rb.origin,
                "digest": rb.digest, "source": rb.source,
            })
            .to_string(),
        );
        return Ok(Exit::Success);
    }
    let mut out = format!("{} — {}\n", rb.name, rb.summary);
    if !rb.description.trim().is_empty() {
        out.push('\n');
        out.push_str(rb.description.trim());
        out.push('\n');
    }
    out.push_str("\nParameters (-p NAME=VALUE):\n");
    for p in &rb.params {
        let req = if p.required {
            "required".to_owned()
        } else {
            p.default.as_ref().map_or_else(
                || "optional".to_owned(),
                |d| format!("default {}", d.to_text()),
            )
        };
        let bounds = match (p.ty, p.range.max) {
            (ParamType::Integer, Some(max)) => format!(", {} to {max}", p.range.lowest()),
            (ParamType::Integer, None) => format!(", at least {}", p.range.lowest()),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {} ({}{bounds}, {req})\n      {}\n",
            p.name,
            p.ty.name(),
            p.help
        ));
    }
    out.push_str("\nSteps:\n");
    for (i, s) in rb.steps.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {} [{}]{}{}\n",
            i + 1,
            s.id,
            s.action,
            s.targets
                .as_deref()
                .map(|t| format!(" on {t}"))
                .unwrap_or_default(),
            if s.confirm { " (confirm)" } else { "" }
        ));
        if let Some(d) = &s.description {
            out.push_str(&format!("     {}\n", d.trim().lines().next().unwrap_or("")));
        }
    }
    out.push_str(&format!("\nSource: {} ({})\n", rb.origin, rb.digest));
    stdout_raw(&out);
    Ok(Exit::Success)
}

pub fn validate(settings: &Settings, files: &[String]) -> anyhow::Result<Exit> {
    let mut bad = 0;
    for f in files {
        match load_any(f) {
            Ok(rb) => {
                if settings.json() {
                    stdout_line(&serde_json::json!({"type": "valid", "file": f, "name": rb.name, "steps": rb.steps.len()}).to_string());
                } else {
                    stdout_line(&format!(
                        "{f}: ok ({} steps, {} parameters)",
                        rb.steps.len(),
                        rb.params.len()
                    ));
                }
            }
            Err(e) => {
                bad += 1;
                if settings.json() {
                    for d in &e.diagnostics {
                        stdout_line(&serde_json::json!({"type": "invalid", "file": d.file, "line": d.line, "column": d.column, "message": d.message}).to_string());
                    }
                } else {
                    stdout_line(&e.to_string());
                }
            }
        }
    }
    if bad > 0 {
        return Err(ExitError::new(
            Exit::Usage,
            format!("{bad} of {} runbook(s) invalid", files.len()),
        )
        .into());
    }
    Ok(Exit::Success)
}
