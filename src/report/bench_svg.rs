//! Bench charts as standalone SVG: grouped bars per workload, one bar per
//! strategy, with a dashed line at the ideal (the core count).
//!
//! Hand-written rather than a plotting crate: two bar charts of a few dozen
//! bars need ~100 lines of SVG text, and a plotting library (plotters and its
//! font stack) would be most of the build for it.

use crate::bench::BenchReport;
use std::fmt::Write;

const PALETTE: [&str; 9] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f",
];

/// Which figure a chart shows.
#[derive(Debug, Clone, Copy)]
pub enum Figure {
    /// Parallel speedup over the serial counterpart, ideal = cores.
    Speedup,
    /// Efficiency = parallel speedup ÷ min(workers, cores), ideal = 1.
    Efficiency,
}

pub fn render(r: &BenchReport, figure: Figure) -> Vec<u8> {
    let (title, ideal) = match figure {
        Figure::Speedup => (
            "Parallel speedup over each strategy's serial run",
            r.cores as f64,
        ),
        Figure::Efficiency => ("Efficiency: parallel speedup ÷ min(workers, cores)", 1.0),
    };
    let value = |c: &crate::bench::Cell| match figure {
        Figure::Speedup => c.parallel_speedup,
        Figure::Efficiency => c.efficiency,
    };
    let mut strategies: Vec<&str> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    for c in r.cells.iter().filter(|c| value(c).is_some()) {
        if !strategies.contains(&c.strategy.as_str()) {
            strategies.push(&c.strategy);
        }
        let g = format!("{} ({})", c.workload, c.size);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let max = r
        .cells
        .iter()
        .filter_map(value)
        .fold(ideal, f64::max)
        .max(0.1)
        * 1.1;
    let bar = 14.0;
    let group_w = bar * strategies.len().max(1) as f64 + 24.0;
    let (left, top, plot_h) = (50.0, 40.0, 220.0);
    let width = left + group_w * groups.len().max(1) as f64 + 180.0;
    let height = top + plot_h + 60.0;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="14">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r#"<line x1="{left}" y1="{:.1}" x2="{left}" y2="{:.1}" stroke="black"/>"#,
        top,
        top + plot_h
    );
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.1}</text>"#,
            left - 4.0,
            y(v) + 4.0
        );
    }
    for (gi, g) in groups.iter().enumerate() {
        let x0 = left + 12.0 + gi as f64 * group_w;
        for (si, st) in strategies.iter().enumerate() {
            let Some(v) = r
                .cells
                .iter()
                .find(|c| format!("{} ({})", c.workload, c.size) == *g && c.strategy == *st)
                .and_then(value)
            else {
                continue;
            };
            let x = x0 + si as f64 * bar;
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {v:.2}</title></rect>"#,
                y(v),
                bar - 2.0,
                (top + plot_h - y(v)).max(0.0),
                PALETTE[si % PALETTE.len()],
                escape(g),
                escape(st)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + group_w / 2.0 - 12.0,
            top + plot_h + 16.0,
            escape(g)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#333" stroke-dasharray="5,4"/><text x="{2:.1}" y="{3:.1}">{4}</text>"##,
        y(ideal),
        width - 180.0,
        width - 176.0,
        y(ideal) + 4.0,
        match figure {
            Figure::Speedup => format!("ideal {ideal:.0}x on {} cores", r.cores),
            Figure::Efficiency => "ideal 1.0".to_string(),
        }
    );
    for (si, st) in strategies.iter().enumerate() {
        let ly = top + 30.0 + si as f64 * 16.0;
        let lx = width - 170.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 9.0,
            PALETTE[si % PALETTE.len()],
            lx + 14.0,
            escape(st)
        );
    }
    let _ = writeln!(s, "</svg>");
    s.into_bytes()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
