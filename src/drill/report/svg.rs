//! The drill's timeline as one hand-written SVG: three panels over one time axis (latency with
//! agent pods on the right axis, error rate, requests in flight), the steps as bands, the
//! not-ready samples shaded, and the moments that matter marked. No scripts, no fonts, no
//! references outside the document, so `report.html` stays one self-contained file and any
//! renderer (a browser, `rsvg-convert`) draws the same picture.

mod scale;
mod series;

use super::facts::{self, Tone};
use super::text::{format_secs, html as esc, neutralise, secs};
use crate::drill::model::{DrillRecord, Sample, StepSpan};
use scale::{Panel, Scale, XAxis, format_ms, latency_scale, time_scale, time_ticks};
use series::line;

#[cfg(test)]
pub(super) use series::downsample;

/// At most this many points per series, whatever the run's length: a two-hour drill sampled
/// every 250 ms has 28,800 samples, more than a 1000-pixel-wide chart can show. The time
/// axis is cut into `MAX_POINTS / 2` buckets and each keeps its lowest and highest value, so a
/// one-sample spike stays visible.
pub const MAX_POINTS: usize = 1500;

const WIDTH: f64 = 1000.0;
const PLOT_LEFT: f64 = 72.0;
const PLOT_RIGHT: f64 = WIDTH - 64.0;
const ROW: f64 = 14.0;
/// Rows of step labels (and of moment labels); a label that fits in none is left out.
const LABEL_ROWS: usize = 4;
/// A generous width of one character at 11 px in a sans-serif face, to place labels apart.
const CHAR_WIDTH: f64 = 6.6;
/// Longer step ids are cut in the chart (the full id is in the tooltip and the tables).
const LABEL_CHARS: usize = 28;

const P50: &str = "#4e79a7";
const P99: &str = "#c0392b";
const PODS: &str = "#2e8b3e";
const ERRORS: &str = "#e07b00";
const INFLIGHT: &str = "#1a8a94";
const NOT_READY: &str = "#f6d5d5";
const RECOVERY: &str = "#ddf0df";
const STEP: &str = "#5b6b8c";
const STEP_BAD: &str = "#b3261e";
const GRID: &str = "#e4e4e4";
const INK: &str = "#333";

/// The chart alone, as a standalone SVG document (also inlined in `report.html`).
pub fn render_svg(record: &DrillRecord) -> String {
    let axis = XAxis::of(record);
    let (legend, legend_height) = legend();
    let steps = place_labels(
        record
            .steps
            .iter()
            .map(|s| (axis.px(secs(s.start_ms)), cut(&s.id))),
    );
    let label_rows = steps.iter().flatten().map(|l| l.row + 1).max().unwrap_or(1);
    let upper = Panel::new(legend_height + count(label_rows) * ROW + 22.0, 230.0);
    let middle = Panel::new(upper.bottom() + 26.0, 90.0);
    let lower = Panel::new(middle.bottom() + 26.0, 90.0);
    let marks = moments(record, &axis);
    let mark_rows = marks.iter().map(|m| m.placed.row + 1).max().unwrap_or(0);
    let height = lower.bottom() + 40.0 + count(mark_rows) * ROW + 6.0;

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         width=\"{WIDTH}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\" \
         role=\"img\" aria-label=\"Timeline of the drill {}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
        esc(&record.runbook)
    );
    svg.push_str(&legend);
    // Recovery is the start of a window that stayed good to its end (`drill/lab.rs`).
    if let Some(at) = record.recovered_ms {
        let start = axis.px(secs(at));
        let end = axis.px(secs(at.saturating_add(record.recovery_window_ms)));
        for p in [&upper, &middle, &lower] {
            svg.push_str(&rect(start, p.top, end - start, p.height, RECOVERY));
        }
    }
    for (start, end) in not_ready_spans(&record.samples, &axis) {
        for p in [&upper, &middle, &lower] {
            svg.push_str(&rect(start, p.top, end - start, p.height, NOT_READY));
        }
    }
    for (i, (step, label)) in record.steps.iter().zip(&steps).enumerate() {
        let label_y = label
            .as_ref()
            .map(|l| legend_height + count(l.row + 1) * ROW);
        svg.push_str(&step_band(
            step,
            i,
            &axis,
            (&upper, &lower),
            label.as_ref().zip(label_y),
        ));
    }

    let samples = &record.samples;
    let latency = latency_scale(record);
    let pods = Scale::linear(samples.iter().map(|s| f64::from(s.agent_pods)), true);
    let errors = Scale::linear(samples.iter().map(|s| s.error_rate * 100.0), false);
    let inflight = Scale::linear(samples.iter().map(|s| f64::from(s.inflight)), true);
    svg.push_str(&frame(
        &upper,
        &axis,
        &latency,
        "API latency (log scale)",
        "",
    ));
    svg.push_str(&right_axis(&upper, &pods, "agent pods running"));
    svg.push_str(&frame(
        &middle,
        &axis,
        &errors,
        "error rate (5xx and 429)",
        "%",
    ));
    svg.push_str(&frame(&lower, &axis, &inflight, "requests in flight", ""));
    svg.push_str(&x_axis(&lower, &axis));

    let series = |value: &dyn Fn(&Sample) -> Option<f64>| {
        samples
            .iter()
            .map(|s| (secs(s.t_ms), value(s).filter(|v| v.is_finite())))
            .collect::<Vec<_>>()
    };
    svg.push_str(&line(
        &series(&|s| s.p50_ms),
        &axis,
        &latency,
        &upper,
        P50,
        1.5,
    ));
    svg.push_str(&line(
        &series(&|s| s.p99_ms),
        &axis,
        &latency,
        &upper,
        P99,
        2.0,
    ));
    let agents = series(&|s| Some(f64::from(s.agent_pods)));
    svg.push_str(&line(&agents, &axis, &pods, &upper, PODS, 2.0));
    let error_rate = series(&|s| Some(s.error_rate * 100.0));
    svg.push_str(&line(&error_rate, &axis, &errors, &middle, ERRORS, 1.5));
    let in_flight = series(&|s| Some(f64::from(s.inflight)));
    svg.push_str(&line(&in_flight, &axis, &inflight, &lower, INFLIGHT, 1.5));
    if samples.is_empty() {
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"14\">no samples recorded</text>\n",
            f64::midpoint(PLOT_LEFT, PLOT_RIGHT),
            upper.top + upper.height / 2.0
        ));
    }
    if record.latency_threshold_ms > 0.0 {
        let y = latency.y(&upper, record.latency_threshold_ms);
        svg.push_str(&format!(
            "<line x1=\"{PLOT_LEFT}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{y:.1}\" stroke=\"{INK}\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\">p99 threshold {}</text>\n",
            PLOT_RIGHT - 4.0,
            y - 4.0,
            format_ms(record.latency_threshold_ms)
        ));
    }
    for m in &marks {
        let y = lower.bottom() + 40.0 + count(m.placed.row + 1) * ROW;
        svg.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"8 3\"/>\
             <text x=\"{:.1}\" y=\"{y:.1}\" fill=\"{colour}\" font-weight=\"bold\">{}</text>\n",
            upper.top,
            y - 10.0,
            m.placed.left,
            esc(&m.placed.text),
            x = m.x,
            colour = m.colour,
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// A step as a band over the panels from its start (solid line) to its end (dashed; the
/// chart's end when the step never ended), its id at the top in its label row, and its id,
/// action and status as a tooltip.
fn step_band(
    step: &StepSpan,
    index: usize,
    axis: &XAxis,
    (upper, lower): (&Panel, &Panel),
    label: Option<(&Placed, f64)>,
) -> String {
    let start = axis.px(secs(step.start_ms));
    let end = axis.px(step.end_ms.map_or(axis.t1, secs)).max(start);
    let colour = if facts::step_tone(step) == Tone::Bad {
        STEP_BAD
    } else {
        STEP
    };
    let shade = if index.is_multiple_of(2) {
        "0.07"
    } else {
        "0.13"
    };
    let (top, bottom) = (upper.top, lower.bottom());
    let line_top = label.map_or(top, |(_, y)| y - 10.0);
    let text = label.map_or_else(String::new, |(placed, y)| {
        format!(
            "<text x=\"{:.1}\" y=\"{y:.1}\" fill=\"{colour}\">{}</text>",
            placed.left,
            esc(&placed.text)
        )
    });
    format!(
        "<g><title>step {}: {}, {}</title>\
         <rect x=\"{start:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"{shade}\"/>\
         <line x1=\"{start:.1}\" y1=\"{line_top:.1}\" x2=\"{start:.1}\" y2=\"{bottom:.1}\" stroke=\"{colour}\"/>\
         <line x1=\"{end:.1}\" y1=\"{top:.1}\" x2=\"{end:.1}\" y2=\"{bottom:.1}\" stroke=\"{colour}\" stroke-dasharray=\"3 3\"/>\
         {text}</g>\n",
        esc(&step.id),
        esc(&step.action),
        esc(&step.status),
        end - start,
        bottom - top,
    )
}

/// A panel's frame, horizontal grid, left ticks and title.
fn frame(p: &Panel, x: &XAxis, scale: &Scale, title: &str, unit: &str) -> String {
    let mut out = format!(
        "<text x=\"{PLOT_LEFT}\" y=\"{:.1}\" fill=\"{INK}\" font-weight=\"bold\">{title}</text>\n",
        p.top - 6.0
    );
    for t in time_ticks(x) {
        let px = x.px(t);
        out.push_str(&format!(
            "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>\n",
            p.top,
            p.bottom()
        ));
    }
    for v in scale.ticks() {
        let y = scale.y(p, v);
        out.push_str(&format!(
            "<line x1=\"{PLOT_LEFT}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\">{}{unit}</text>\n",
            PLOT_LEFT - 5.0,
            y + 4.0,
            scale.label(v)
        ));
    }
    out.push_str(&format!(
        "<rect x=\"{PLOT_LEFT}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#999\"/>\n",
        p.top,
        PLOT_RIGHT - PLOT_LEFT,
        p.height
    ));
    out
}

fn right_axis(p: &Panel, scale: &Scale, title: &str) -> String {
    let mut out = format!(
        "<text x=\"{WIDTH}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{PODS}\" font-weight=\"bold\">{title} (right axis)</text>\n",
        p.top - 6.0
    );
    for v in scale.ticks() {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{PODS}\">{}</text>\n",
            PLOT_RIGHT + 5.0,
            scale.y(p, v) + 4.0,
            scale.label(v)
        ));
    }
    out
}

fn x_axis(p: &Panel, x: &XAxis) -> String {
    let scale = time_scale(x);
    let mut out = String::new();
    for t in time_ticks(x) {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\">{} s</text>\n",
            x.px(t),
            p.bottom() + 14.0,
            scale.label(t)
        ));
    }
    out.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\">seconds since the drill started</text>\n",
        f64::midpoint(PLOT_LEFT, PLOT_RIGHT),
        p.bottom() + 30.0
    ));
    out
}

/// The not-ready stretches, in pixels: each sample counts until the next one (the last for
/// the usual 250 ms); stretches less than a pixel apart are drawn as one.
fn not_ready_spans(samples: &[Sample], x: &XAxis) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for (i, s) in samples.iter().enumerate().filter(|(_, s)| !s.ready) {
        let end = samples.get(i + 1).map_or(s.t_ms + 250, |next| next.t_ms);
        let (start, end) = (
            x.px(secs(s.t_ms)),
            x.px(secs(end)).max(x.px(secs(s.t_ms)) + 1.0),
        );
        match spans.last_mut() {
            Some(last) if start - last.1 < 1.0 => last.1 = last.1.max(end),
            _ => spans.push((start, end)),
        }
    }
    spans
}

/// A label put in a row.
struct Placed {
    left: f64,
    row: usize,
    text: String,
}

/// Puts each label (its anchor, its text) in the first of `LABEL_ROWS` rows where it does not
/// overlap the previous one, its left edge kept inside the chart. A label that fits in no row
/// is left out rather than drawn over another: the tables and the tooltip still name it.
fn place_labels(labels: impl Iterator<Item = (f64, String)>) -> Vec<Option<Placed>> {
    let mut row_ends = [f64::NEG_INFINITY; LABEL_ROWS];
    labels
        .map(|(x, text)| {
            let width = count(text.chars().count()) * CHAR_WIDTH + 8.0;
            let left = (x + 2.0).min(WIDTH - width).max(0.0);
            let row = row_ends.iter().position(|end| *end <= left)?;
            row_ends[row] = left + width;
            Some(Placed { left, row, text })
        })
        .collect()
}

/// A step id for the chart: visible characters only, cut to `LABEL_CHARS`.
fn cut(id: &str) -> String {
    let id = neutralise(id);
    if id.chars().count() <= LABEL_CHARS {
        id
    } else {
        format!("{}…", id.chars().take(LABEL_CHARS - 1).collect::<String>())
    }
}

/// A moment marked on the chart.
struct Mark {
    x: f64,
    placed: Placed,
    colour: &'static str,
}

fn moments(record: &DrillRecord, x: &XAxis) -> Vec<Mark> {
    let all = [
        ("run start", record.run_start_ms, STEP),
        ("detect", record.detect_ms, "#8e44ad"),
        ("first effect", record.first_effect_ms, "#b8860b"),
        ("recovered", record.recovered_ms, PODS),
    ];
    let present: Vec<_> = all
        .into_iter()
        .filter_map(|(name, at, colour)| at.map(|ms| (name, ms, colour)))
        .collect();
    let placed = place_labels(present.iter().map(|(name, ms, _)| {
        (
            x.px(secs(*ms)),
            format!("{name} {}", format_secs(secs(*ms))),
        )
    }));
    present
        .iter()
        .zip(placed)
        .filter_map(|((_, ms, colour), placed)| {
            placed.map(|placed| Mark {
                x: x.px(secs(*ms)),
                placed,
                colour,
            })
        })
        .collect()
}

/// The legend across the top, and its height.
fn legend() -> (String, f64) {
    let items: [(&str, &str, &str); 9] = [
        ("line", P50, "p50 latency"),
        ("line", P99, "p99 latency"),
        ("dash", INK, "p99 threshold"),
        ("line", PODS, "agent pods (right axis)"),
        ("line", ERRORS, "error rate"),
        ("line", INFLIGHT, "in flight"),
        ("box", NOT_READY, "readyz failing"),
        ("box", RECOVERY, "recovery window"),
        ("box", STEP, "step (start solid, end dashed)"),
    ];
    let (mut out, mut left, mut row) = (String::new(), PLOT_LEFT, 0.0);
    for (kind, colour, label) in items {
        let width = 26.0 + count(label.chars().count()) * CHAR_WIDTH + 14.0;
        if left + width > WIDTH {
            (left, row) = (PLOT_LEFT, row + 1.0);
        }
        let y = 14.0 + row * 16.0;
        out.push_str(&match kind {
            "box" => rect(left, y - 8.0, 20.0, 10.0, colour),
            _ => format!(
                "<line x1=\"{left:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{}/>",
                y - 3.0,
                left + 20.0,
                y - 3.0,
                if kind == "dash" { " stroke-dasharray=\"6 4\"" } else { "" }
            ),
        });
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{y:.1}\" fill=\"{INK}\">{label}</text>\n",
            left + 26.0
        ));
        left += width;
    }
    (out, 14.0 + row * 16.0 + 12.0)
}

fn rect(x: f64, y: f64, width: f64, height: f64, fill: &str) -> String {
    format!(
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" fill=\"{fill}\"/>"
    )
}

/// A small count as a coordinate. Exact below 2^53.
#[allow(clippy::cast_precision_loss)]
fn count(n: usize) -> f64 {
    n as f64
}
