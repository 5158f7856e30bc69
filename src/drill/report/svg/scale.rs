//! Where things land on the chart: the panels, the time axis, and the vertical scales with
//! their round ticks (linear from zero, or logarithmic over whole decades for latency).

use super::super::text::secs;
use super::{PLOT_LEFT, PLOT_RIGHT};
use crate::drill::model::DrillRecord;

/// A panel's place on the page.
pub(super) struct Panel {
    pub(super) top: f64,
    pub(super) height: f64,
}

impl Panel {
    pub(super) fn new(top: f64, height: f64) -> Panel {
        Panel { top, height }
    }

    pub(super) fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// Time, seconds since the drill started, from 0 to the last thing recorded.
pub(super) struct XAxis {
    pub(super) t1: f64,
}

impl XAxis {
    pub(super) fn of(record: &DrillRecord) -> XAxis {
        let last = record
            .samples
            .iter()
            .map(|s| Some(s.t_ms))
            .chain(
                record
                    .steps
                    .iter()
                    .map(|s| Some(s.end_ms.unwrap_or(s.start_ms))),
            )
            .chain([record.detect_ms, record.run_start_ms])
            .chain([record.first_effect_ms, record.recovered_ms])
            .flatten()
            .max()
            .unwrap_or(0);
        XAxis {
            t1: secs(last).max(1.0),
        }
    }

    pub(super) fn px(&self, t: f64) -> f64 {
        PLOT_LEFT + (t / self.t1).clamp(0.0, 1.0) * (PLOT_RIGHT - PLOT_LEFT)
    }
}

/// A vertical scale: linear from 0 with round steps, or logarithmic over whole decades.
pub(super) enum Scale {
    Linear { high: f64, step: f64 },
    Log { low: i32, high: i32 },
}

impl Scale {
    pub(super) fn linear(values: impl Iterator<Item = f64>, whole: bool) -> Scale {
        let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
        let (high, step) = nice(if max > 0.0 { max } else { 1.0 }, 4.0, whole);
        Scale::Linear { high, step }
    }

    pub(super) fn y(&self, panel: &Panel, v: f64) -> f64 {
        let fraction = match *self {
            Scale::Linear { high, .. } => v / high,
            Scale::Log { low, high } => {
                (v.max(f64::MIN_POSITIVE).log10() - f64::from(low)) / f64::from(high - low)
            }
        };
        panel.bottom() - fraction.clamp(0.0, 1.0) * panel.height
    }

    /// A tick's label: as many decimals as the step needs, or milliseconds and seconds on the
    /// log scale.
    pub(super) fn label(&self, v: f64) -> String {
        match *self {
            Scale::Linear { step, .. } => {
                let (mut decimals, mut unit) = (0, step);
                while unit < 0.999 && decimals < 6 {
                    (decimals, unit) = (decimals + 1, unit * 10.0);
                }
                format!("{v:.decimals$}")
            }
            Scale::Log { .. } => format_ms(v),
        }
    }

    pub(super) fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { high, step } => {
                // `nice` keeps it to about ten steps.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let steps = (high / step).round().clamp(0.0, 100.0) as u32;
                (0..=steps).map(|i| f64::from(i) * step).collect()
            }
            Scale::Log { low, high } => (low..=high)
                .flat_map(|e| {
                    let decade = 10f64.powi(e);
                    let between: &[f64] = if high - low <= 2 {
                        &[1.0, 2.0, 5.0]
                    } else {
                        &[1.0]
                    };
                    between.iter().map(move |m| m * decade)
                })
                .filter(|v| *v <= 10f64.powi(high) * (1.0 + 1e-9))
                .collect(),
        }
    }
}

/// Whole decades around every latency and the threshold, from 0.1 ms up.
pub(super) fn latency_scale(record: &DrillRecord) -> Scale {
    let values = record
        .samples
        .iter()
        .flat_map(|s| [s.p50_ms, s.p99_ms])
        .chain([Some(record.latency_threshold_ms)])
        .flatten()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if max <= 0.0 {
        return Scale::Log { low: 0, high: 3 };
    }
    let decade = |v: f64, round: fn(f64) -> f64| {
        // Latencies from 0.1 ms to days: the exponent is small whatever the input.
        #[allow(clippy::cast_possible_truncation)]
        let e = round(v.log10()).clamp(-1.0, 12.0) as i32;
        e
    };
    let low = decade(min, f64::floor);
    let high = decade(max, f64::ceil).max(low + 1);
    Scale::Log { low, high }
}

/// A round step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to `max`,
/// and the first multiple of it at or above `max`.
fn nice(max: f64, ticks: f64, whole: bool) -> (f64, f64) {
    let raw = max / ticks;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if whole {
        step = step.max(1.0).ceil();
    }
    ((max / step).ceil() * step, step)
}

/// 0.5 ms, 20 ms, 2 s.
pub(super) fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// About ten round ticks over the run.
pub(super) fn time_scale(x: &XAxis) -> Scale {
    let (high, step) = nice(x.t1, 10.0, false);
    Scale::Linear { high, step }
}

pub(super) fn time_ticks(x: &XAxis) -> Vec<f64> {
    time_scale(x)
        .ticks()
        .into_iter()
        .filter(|t| *t <= x.t1 * (1.0 + 1e-9))
        .collect()
}
