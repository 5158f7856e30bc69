//! A series of samples as a path, at most `MAX_POINTS` points long whatever the run's length.

use super::MAX_POINTS;
use super::scale::{Panel, Scale, XAxis};

/// Keeps at most `max` points (at least 2) of a series: below that it is returned as is;
/// above, each of `max / 2` buckets keeps its lowest and highest value in time order, or a gap
/// when it held no value at all.
pub fn downsample(points: &[(f64, Option<f64>)], max: usize) -> Vec<(f64, Option<f64>)> {
    if points.len() <= max {
        return points.to_vec();
    }
    let buckets = (max / 2).max(1);
    let mut out = Vec::with_capacity(max);
    for b in 0..buckets {
        let bucket = &points[b * points.len() / buckets..(b + 1) * points.len() / buckets];
        let values = bucket
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.1.map(|v| (i, v)));
        let low = values.clone().min_by(|p, q| p.1.total_cmp(&q.1));
        let high = values.max_by(|p, q| p.1.total_cmp(&q.1));
        match (low, high) {
            (Some((i, _)), Some((j, _))) => {
                out.push(bucket[i.min(j)]);
                if i != j {
                    out.push(bucket[i.max(j)]);
                }
            }
            _ => out.push((bucket[0].0, None)),
        }
    }
    out
}

/// One series as a path, broken where a value is missing; a value alone between two gaps is a
/// dot, since a path of one point draws nothing.
pub(super) fn line(
    points: &[(f64, Option<f64>)],
    x: &XAxis,
    scale: &Scale,
    p: &Panel,
    colour: &str,
    width: f64,
) -> String {
    let mut path = String::new();
    let mut dots = String::new();
    let points = downsample(points, MAX_POINTS);
    for run in points
        .split(|pt| pt.1.is_none())
        .filter(|run| !run.is_empty())
    {
        let xy = |(t, v): &(f64, Option<f64>)| (x.px(*t), scale.y(p, v.unwrap_or(0.0)));
        if let [only] = run {
            let (cx, cy) = xy(only);
            dots.push_str(&format!(
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{width:.1}\" fill=\"{colour}\"/>"
            ));
            continue;
        }
        for (i, pt) in run.iter().enumerate() {
            let (px, py) = xy(pt);
            path.push_str(&format!(
                "{}{px:.1} {py:.1}",
                if i == 0 { "M" } else { " L" }
            ));
        }
        path.push(' ');
    }
    if !path.is_empty() {
        path = format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"/>",
            path.trim_end()
        );
    }
    format!("{path}{dots}\n")
}
