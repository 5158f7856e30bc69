//! The report from records made up here: a drill with an overload and its recovery, hostile
//! strings, empty and extreme ones. The chart is drawn by a real renderer (`rsvg-convert`, the
//! Debian package `librsvg2-bin`) and the picture checked not to be blank.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::svg::downsample;
use super::*;
use crate::drill::model::{Expectation, Sample, StepSpan};

const HOSTILE_ID: &str = "<script>alert(\"x\")</script>";
const ESCAPE: &str = "wipe\x1b[2J";

/// Rounded to a decimal with few digits, so the JSON round trip is exact.
fn round(v: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

/// 90 s at 250 ms: load builds from 5 s, readyz fails at 8 s, detection at 10 s, the run from
/// 10.2 s with 8 steps, the first effect at 14 s, the agents gone by 40 s, recovery at 70 s.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn record() -> DrillRecord {
    let samples = (0..360u32)
        .map(|i| {
            let t = f64::from(i) / 4.0;
            let load = if t < 5.0 {
                0.0
            } else if t < 14.0 {
                ((t - 5.0) / 5.0).min(1.0)
            } else {
                (1.0 - (t - 14.0) / 25.0).max(0.0)
            };
            // A gap in the latency stats, as when no request finished in a second.
            let gap = (120..124).contains(&i);
            Sample {
                t_ms: u64::from(i) * 250,
                ready: !(8.0..40.0).contains(&t),
                p50_ms: (!gap).then(|| round(4.0 + 300.0 * load, 1)),
                p99_ms: (!gap).then(|| round(20.0 + 4500.0 * load + f64::from(i % 7), 1)),
                error_rate: round(0.4 * load, 3),
                throttled_per_s: round(90.0 * load, 1),
                inflight: 5 + (400.0 * load) as u32,
                agent_pods: if t < 30.0 {
                    20
                } else if t < 40.0 {
                    20 - (t - 30.0) as u32 * 2
                } else {
                    0
                },
                nodes_connected: 20,
                nodes_running: None,
            }
        })
        .collect();
    let ids = [
        HOSTILE_ID,
        "block-apiservers",
        "tune-inflight",
        "pause-workload",
        "kill-agents",
        "scale-nodes",
        "unblock-apiservers",
        "settle-and-hold",
    ];
    let steps = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let start = 10_200 + 6_000 * i as u64;
            let mut outcomes = BTreeMap::from([("ok".to_owned(), 20)]);
            if i == 4 {
                outcomes.insert("failed".to_owned(), 1);
            }
            StepSpan {
                id: (*id).to_owned(),
                action: if i == 4 {
                    ESCAPE.to_owned()
                } else {
                    format!("action.{i}")
                },
                start_ms: start,
                end_ms: Some(start + 1_500 + 400 * i as u64),
                status: if i == 4 { "failed" } else { "completed" }.to_owned(),
                outcomes,
            }
        })
        .collect();
    DrillRecord {
        runbook: "apiserver-overload".to_owned(),
        run_id: Some("20260101T000000Z-abcd".to_owned()),
        started_at: "2026-01-01T00:00:00Z".to_owned(),
        fleet: "lab".to_owned(),
        workers: 20,
        control_planes: 1,
        detect_ms: Some(10_000),
        run_start_ms: Some(10_200),
        first_effect_ms: Some(14_000),
        recovered_ms: Some(70_000),
        latency_threshold_ms: 1000.0,
        recovery_window_ms: 30_000,
        breakglass_api_requests: 31,
        ssh_logins_per_node: Some(2),
        samples,
        steps,
        expectations: vec![
            Expectation {
                name: "recovered_within".to_owned(),
                wanted: "5m".to_owned(),
                observed: "59.8 s".to_owned(),
                held: true,
            },
            Expectation {
                name: "failed_targets".to_owned(),
                wanted: "0".to_owned(),
                observed: "1 <b>&amp; \"one\"".to_owned(),
                held: false,
            },
        ],
        verdict: "recovered".to_owned(),
        restored: Some(true),
    }
}

/// A record with nothing in it but its name: no samples, steps, expectations or times.
fn empty() -> DrillRecord {
    DrillRecord {
        samples: Vec::new(),
        steps: Vec::new(),
        expectations: Vec::new(),
        detect_ms: None,
        run_start_ms: None,
        first_effect_ms: None,
        recovered_ms: None,
        ssh_logins_per_node: None,
        restored: None,
        run_id: None,
        verdict: "not recovered".to_owned(),
        ..record()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Writes the report and checks what holds for any record: three files of mode 0600, the JSON
/// the same record, one SVG and nothing fetched from elsewhere in the page.
fn write_and_check(record: &DrillRecord) -> (tempfile::TempDir, ReportPaths, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reports/drill");
    let paths = write(record, &dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    for path in [&paths.json, &paths.md, &paths.html] {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let back: DrillRecord = serde_json::from_str(&read(&paths.json)).unwrap();
    assert_eq!(&back, record);
    let (md, html) = (read(&paths.md), read(&paths.html));
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    // The only address in the page is the SVG namespace, which is a name, not a resource.
    let page = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in [
        "http://", "https://", "src=", "href=", "url(", "@import", "<link", "<script",
    ] {
        assert!(!page.contains(needle), "report.html contains {needle}");
    }
    for text in [&md, &html] {
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    }
    (tmp, paths, md, html)
}

#[test]
fn a_drill_becomes_three_files_naming_every_step() {
    let record = record();
    let (_tmp, paths, md, html) = write_and_check(&record);
    for step in &record.steps {
        assert!(
            md.contains(&text::markdown(&step.id)),
            "report.md lacks {}",
            step.id
        );
        assert!(
            html.contains(&text::html(&step.id)),
            "report.html lacks {}",
            step.id
        );
    }
    assert!(md.contains("| block-apiservers | action.1 | 6.0 s | 1.9 s | completed | ok 20 |"));
    assert!(
        md.contains("| kill-agents | wipe␛\\[2J | 24.0 s | 3.1 s | failed | failed 1, ok 20 |")
    );
    assert!(md.contains("| time to first effect | 3.8 s | 14.0 s |"));
    assert!(md.contains("| time to detect | -0.2 s | 10.0 s |"));
    assert!(md.contains("| failed_targets | 0 | 1 \\<b\\>\\&amp; \"one\" | ✗ |"));
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(html.contains("wipe␛[2J") && html.contains("1 &lt;b&gt;&amp;amp; &quot;one&quot;"));
    assert!(html.contains("<span class=\"badge good\">recovered</span>"));
    assert!(html.contains("<span class=\"badge bad\">1 of 2 expectations failed</span>"));
    assert!(!read(&paths.json).contains('\x1b'));
    let summary = terminal_summary(&record, &paths);
    assert_eq!(summary.lines().count(), 5, "{summary}");
    assert!(summary.starts_with("drill apiserver-overload: recovered\n"));
    assert!(summary.contains(
        "time to first effect: 3.8 s from the run's start (14.0 s from the drill's start)"
    ));
    assert!(summary.contains("time to recovery:     59.8 s from the run's start"));
    assert!(summary.ends_with(&format!(
        "{} (report.md and report.json beside it)",
        paths.html.display()
    )));
}

#[test]
fn empty_records_still_make_valid_reports() {
    for record in [
        empty(),
        DrillRecord {
            samples: record().samples,
            ..empty()
        },
    ] {
        let (_tmp, paths, md, html) = write_and_check(&record);
        assert!(md.contains("| time to recovery | not reached | not reached |"));
        assert!(md.contains("No steps ran.") && md.contains("No expectations were set."));
        assert!(html.contains("No steps ran."));
        assert!(html.contains("<span class=\"badge bad\">not recovered</span>"));
        let summary = terminal_summary(&record, &paths);
        assert!(
            summary.contains("time to detect:       not reached"),
            "{summary}"
        );
        rasterise(&render_svg(&record));
    }
    assert!(render_svg(&empty()).contains("no samples recorded"));
}

#[test]
fn one_sample_is_drawn_as_dots() {
    let record = DrillRecord {
        samples: record().samples[..1].to_vec(),
        ..empty()
    };
    let svg = render_svg(&record);
    assert!(svg.matches("<circle").count() >= 5, "{svg}");
    write_and_check(&record);
}

#[test]
fn long_runs_keep_their_spikes_in_few_points() {
    let mut points: Vec<(f64, Option<f64>)> =
        (0..20_000).map(|i| (f64::from(i), Some(1.0))).collect();
    points[12_345].1 = Some(900.0);
    points[777].1 = None;
    let kept = downsample(&points, MAX_POINTS);
    assert!(kept.len() <= MAX_POINTS);
    assert!(kept.contains(&(12_345.0, Some(900.0))));
    assert_eq!(
        downsample(&points[..100], MAX_POINTS),
        points[..100].to_vec()
    );

    // Two hours at 250 ms: every path in the chart stays within the bound.
    let mut record = record();
    let template = record.samples[100].clone();
    record.samples = (0..28_800u64)
        .map(|i| Sample {
            t_ms: i * 250,
            ready: i % 1000 > 10,
            ..template.clone()
        })
        .collect();
    let svg = render_svg(&record);
    for path in svg.split("<path d=\"").skip(1) {
        let d = &path[..path.find('"').unwrap()];
        assert!(d.matches(['M', 'L']).count() <= MAX_POINTS);
    }
    assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
}

#[test]
fn an_existing_report_is_replaced_and_a_symlink_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("precious");
    std::fs::write(&outside, "keep me").unwrap();
    let dir = tmp.path().join("report");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(JSON_FILE)).unwrap();
    std::fs::write(dir.join(HTML_FILE), "old").unwrap();
    std::fs::set_permissions(dir.join(HTML_FILE), Permissions::from_mode(0o644)).unwrap();

    let paths = write(&record(), &dir).unwrap();
    assert_eq!(read(&outside), "keep me");
    assert!(std::fs::symlink_metadata(&paths.json).unwrap().is_file());
    assert_eq!((mode(&paths.json), mode(&paths.html)), (0o600, 0o600));
    assert!(read(&paths.html).contains("<svg"));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
}

#[test]
fn a_real_renderer_draws_the_chart() {
    let (width, height, pixels) = rasterise(&render_svg(&record()));
    assert!(width >= 1000 && height >= 400, "{width}x{height}");
    let colours: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(colours.len() >= 16, "{} colours", colours.len());
    let inked = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        inked * 100 >= pixels.len() * 5,
        "{inked} of {} pixels drawn",
        pixels.len()
    );
    // The series themselves, not only the axes: p99 in red, agent pods in green.
    for (name, colour) in [
        ("p99", [0xc0, 0x39, 0x2b]),
        ("agent pods", [0x2e, 0x8b, 0x3e]),
    ] {
        let drawn = pixels.iter().filter(|p| **p == colour).count();
        assert!(drawn >= 200, "{name}: {drawn} pixels");
    }
}

/// The SVG drawn by `rsvg-convert` into RGB pixels.
fn rasterise(svg: &str) -> (u32, u32, Vec<[u8; 3]>) {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("chart.svg"), tmp.path().join("chart.png"));
    std::fs::write(&input, svg).unwrap();
    let status = Command::new("rsvg-convert")
        .args(["--format", "png", "--output"])
        .arg(&output)
        .arg(&input)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run rsvg-convert ({e}): install the Debian package librsvg2-bin (.ci/install-deps does)")
        });
    assert!(status.success(), "rsvg-convert rejected the SVG:\n{svg}");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(&output).unwrap()));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| match *p {
            [g] | [g, _] => [g, g, g],
            [r, g, b, ..] => [r, g, b],
            _ => unreachable!(),
        })
        .collect();
    (info.width, info.height, pixels)
}
