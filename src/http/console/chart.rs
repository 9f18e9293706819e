//! Inline SVG line charts of the last hour (throughput per topic, lag per group): no script, no
//! image files, drawn from the points of `core::history`.
use crate::core::history::{Points, WINDOW_MS};
use maud::{html, Markup};

const W: f64 = 640.0;
const H: f64 = 140.0;
const PAD_L: f64 = 56.0;
const PAD_B: f64 = 20.0;

/// A chart of `points` over the hour up to `now`, titled `title` with values in `unit`.
pub fn line_chart(id: &str, title: &str, unit: &str, points: &Points, now: i64) -> Markup {
    let start = now - WINDOW_MS;
    let max = points.iter().map(|(_, v)| *v).fold(0.0f64, f64::max);
    let top = if max <= 0.0 { 1.0 } else { max * 1.1 };
    let x = |t: i64| PAD_L + (t - start).clamp(0, WINDOW_MS) as f64 / WINDOW_MS as f64 * (W - PAD_L - 4.0);
    let y = |v: f64| 4.0 + (1.0 - v / top) * (H - PAD_B - 8.0);
    let path: String = points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect::<Vec<_>>().join(" ");
    let last = points.last().map(|(_, v)| *v);
    html! {
        figure.chart id=(id) data-points=(points.len()) data-last=(last.map(|v| format!("{v:.0}")).unwrap_or_default()) {
            figcaption { (title) " (" (unit) ", last hour)" @if let Some(v) = last { " — now " strong { (format!("{v:.0}")) } } }
            svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
                line x1=(PAD_L) y1=(H - PAD_B) x2=(W) y2=(H - PAD_B) stroke="#999" {}
                line x1=(PAD_L) y1="4" x2=(PAD_L) y2=(H - PAD_B) stroke="#999" {}
                text x=(PAD_L - 4.0) y="12" text-anchor="end" font-size="10" { (format!("{top:.0}")) }
                text x=(PAD_L - 4.0) y=(H - PAD_B) text-anchor="end" font-size="10" { "0" }
                text x=(PAD_L) y=(H - 4.0) font-size="10" { "-60 min" }
                text x=(W - 4.0) y=(H - 4.0) text-anchor="end" font-size="10" { "now" }
                @if points.len() == 1 {
                    circle cx=(x(points[0].0)) cy=(y(points[0].1)) r="3" fill="#1f6feb" {}
                } @else if !points.is_empty() {
                    polyline points=(path) fill="none" stroke="#1f6feb" stroke-width="1.5" {}
                }
            }
            @if points.is_empty() { p.muted { "No samples yet (one every 10 s)." } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_inside_the_frame() {
        let now = 10 * WINDOW_MS;
        let pts = vec![(now - WINDOW_MS, 0.0), (now - WINDOW_MS / 2, 50.0), (now, 100.0)];
        let svg = line_chart("c", "T", "msg/s", &pts, now).into_string();
        assert!(svg.contains("data-points=\"3\""), "{svg}");
        let poly = svg.split("polyline points=\"").nth(1).unwrap().split('"').next().unwrap();
        for p in poly.split(' ') {
            let (x, y) = p.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!((PAD_L..=W).contains(&x) && (0.0..=H).contains(&y), "{p}");
        }
    }
}
