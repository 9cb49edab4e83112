//! The comparison chart, written as plain SVG from the measured numbers (no plotting crate):
//! throughput per server and concurrency, latency distributions (p50 to max on a log scale),
//! and the large-zone AXFR time.

use std::fmt::Write as _;

pub struct Data {
    pub title: String,
    pub servers: Vec<String>,
    pub concurrency: Vec<usize>,
    /// [server][concurrency index] transfers/s.
    pub small_tps: Vec<Vec<f64>>,
    /// [server][concurrency index] latency in ms: p50, p90, p99, p99.9, max.
    pub small_latency: Vec<Vec<[f64; 5]>>,
    /// [server] median single AXFR time of the large zone, ms.
    pub large_ms: Vec<f64>,
}

const W: f64 = 960.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 160.0;
const PANEL_H: f64 = 220.0;
const GAP: f64 = 70.0;

fn color(name: &str, i: usize) -> &'static str {
    match name {
        "xfrd" => "#d62728",
        "knotd" => "#1f77b4",
        "nsd" => "#2ca02c",
        "named" => "#9467bd",
        _ => ["#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"][i % 4],
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" upper bound for a linear axis, and its tick step.
fn nice_max(v: f64) -> (f64, f64) {
    if v <= 0.0 || !v.is_finite() {
        return (1.0, 0.25);
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            let top = m * mag;
            return (top, top / 5.0);
        }
    }
    (10.0 * mag, 2.0 * mag)
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn chart(d: &Data) -> String {
    let plot_w = W - LEFT - RIGHT;
    let h = 60.0 + 3.0 * (PANEL_H + GAP);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}</text>"#,
        W / 2.0,
        esc(&d.title)
    );
    // Legend.
    for (i, name) in d.servers.iter().enumerate() {
        let y = 60.0 + i as f64 * 20.0;
        let x = W - RIGHT + 20.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{}" width="14" height="14" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 11.0,
            color(name, i),
            x + 20.0,
            y,
            esc(name)
        );
    }
    let ns = d.servers.len().max(1) as f64;
    let nc = d.concurrency.len().max(1) as f64;

    // Panel 1: transfers/s, grouped bars.
    let top = 50.0;
    let maxv = d.small_tps.iter().flatten().cloned().fold(0.0f64, f64::max);
    let (ymax, step) = nice_max(maxv);
    let y_of = |v: f64| top + PANEL_H - v / ymax * PANEL_H;
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="13">10k-record zone: completed AXFRs per second, by concurrency</text>"#,
        top - 8.0
    );
    axis_linear(&mut s, top, ymax, step, plot_w, &y_of);
    let group_w = plot_w / nc;
    let bar_w = group_w * 0.8 / ns;
    for (ci, c) in d.concurrency.iter().enumerate() {
        let gx = LEFT + ci as f64 * group_w + group_w * 0.1;
        for (si, name) in d.servers.iter().enumerate() {
            let v = d
                .small_tps
                .get(si)
                .and_then(|x| x.get(ci))
                .copied()
                .unwrap_or(0.0);
            let x = gx + si as f64 * bar_w;
            let y = y_of(v);
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} c={c}: {:.1}/s</title></rect>"#,
                bar_w * 0.9,
                top + PANEL_H - y,
                color(name, si),
                esc(name),
                v
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
                x + bar_w * 0.45,
                y - 2.0,
                fmt_num(v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">c={c}</text>"#,
            gx + group_w * 0.4,
            top + PANEL_H + 16.0
        );
    }

    // Panel 2: latency distributions, log scale.
    let top = 50.0 + PANEL_H + GAP;
    let all: Vec<f64> = d
        .small_latency
        .iter()
        .flatten()
        .flat_map(|a| a.iter().copied())
        .filter(|v| *v > 0.0)
        .collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = all.iter().cloned().fold(0.0f64, f64::max);
    let (lo_e, hi_e) = if all.is_empty() {
        (-1.0, 3.0)
    } else {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    };
    let ly = |v: f64| {
        let l = v.max(10f64.powf(lo_e)).log10();
        top + PANEL_H - (l - lo_e) / (hi_e - lo_e) * PANEL_H
    };
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="13">10k-record zone: transfer latency, ms (log): box p50-p99, whiskers to p99.9 (tick) and max (dot)</text>"#,
        top - 8.0
    );
    let mut e = lo_e;
    while e <= hi_e + 1e-9 {
        let v = 10f64.powf(e);
        let y = ly(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            fmt_num(v)
        );
        e += 1.0;
    }
    for (ci, c) in d.concurrency.iter().enumerate() {
        let gx = LEFT + ci as f64 * group_w + group_w * 0.1;
        for (si, name) in d.servers.iter().enumerate() {
            let Some(p) = d.small_latency.get(si).and_then(|x| x.get(ci)) else {
                continue;
            };
            if p[0] <= 0.0 {
                continue;
            }
            let x = gx + si as f64 * bar_w + bar_w * 0.45;
            let col = color(name, si);
            let (y50, y90, y99, y999, ymx) = (ly(p[0]), ly(p[1]), ly(p[2]), ly(p[3]), ly(p[4]));
            let _ = writeln!(
                s,
                r#"<g><title>{} c={c}: p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ms</title><line x1="{x:.1}" x2="{x:.1}" y1="{y999:.1}" y2="{y50:.1}" stroke="{col}"/><rect x="{:.1}" y="{y99:.1}" width="{:.1}" height="{:.1}" fill="{col}" fill-opacity="0.6" stroke="{col}"/><line x1="{:.1}" x2="{:.1}" y1="{y90:.1}" y2="{y90:.1}" stroke="black"/><line x1="{:.1}" x2="{:.1}" y1="{y999:.1}" y2="{y999:.1}" stroke="{col}"/><circle cx="{x:.1}" cy="{ymx:.1}" r="2.5" fill="{col}"/></g>"#,
                esc(name),
                p[0],
                p[1],
                p[2],
                p[3],
                p[4],
                x - bar_w * 0.35,
                bar_w * 0.7,
                (y50 - y99).max(1.0),
                x - bar_w * 0.35,
                x + bar_w * 0.35,
                x - bar_w * 0.2,
                x + bar_w * 0.2,
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">c={c}</text>"#,
            gx + group_w * 0.4,
            top + PANEL_H + 16.0
        );
    }

    // Panel 3: large AXFR, horizontal bars.
    let top = 50.0 + 2.0 * (PANEL_H + GAP);
    let maxv = d.large_ms.iter().cloned().fold(0.0f64, f64::max);
    let (xmax, xstep) = nice_max(maxv);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="13">Large zone: single AXFR, median time, ms (shorter is better)</text>"#,
        top - 8.0
    );
    let row_h = (PANEL_H - 20.0) / ns;
    let mut t = 0.0;
    while t <= xmax + 1e-9 {
        let x = LEFT + t / xmax * plot_w;
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            top + PANEL_H - 20.0,
            top + PANEL_H - 4.0,
            fmt_num(t)
        );
        t += xstep;
    }
    for (si, name) in d.servers.iter().enumerate() {
        let v = d.large_ms.get(si).copied().unwrap_or(0.0);
        let y = top + si as f64 * row_h + row_h * 0.1;
        let _ = writeln!(
            s,
            r#"<rect x="{LEFT}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}">{:.1} ms</text>"#,
            v / xmax * plot_w,
            row_h * 0.8,
            color(name, si),
            LEFT - 6.0,
            y + row_h * 0.5,
            esc(name),
            LEFT + v / xmax * plot_w + 4.0,
            y + row_h * 0.5,
            v
        );
    }
    s.push_str("</svg>\n");
    s
}

fn axis_linear(
    s: &mut String,
    top: f64,
    ymax: f64,
    step: f64,
    plot_w: f64,
    y_of: &dyn Fn(f64) -> f64,
) {
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            fmt_num(v)
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" x2="{LEFT}" y1="{top}" y2="{}" stroke="black"/>"#,
        top + PANEL_H
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_wellformed_and_mentions_every_server() {
        let d = Data {
            title: "t <&>".into(),
            servers: vec!["xfrd".into(), "knotd".into()],
            concurrency: vec![1, 64],
            small_tps: vec![vec![100.0, 900.0], vec![80.0, 300.0]],
            small_latency: vec![
                vec![[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0]],
                vec![
                    [1.5, 2.5, 3.5, 4.5, 5.5],
                    [15.0, 25.0, 35.0, 1000.0, 1100.0],
                ],
            ],
            large_ms: vec![300.0, 400.0],
        };
        let s = chart(&d);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains(">xfrd<") && s.contains(">knotd<"));
        assert!(s.contains("t &lt;&amp;&gt;"));
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }
}
