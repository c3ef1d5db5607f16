//! `bench.md`: one table per workload and size, for people and PR comments.

use crate::bench::{BenchReport, CellStatus};
use std::fmt::Write;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn mib(v: Option<u64>) -> String {
    v.map_or("—".into(), |b| {
        format!("{:.0}", b as f64 / (1024.0 * 1024.0))
    })
}

pub fn render(r: &BenchReport) -> Vec<u8> {
    let mut s = String::new();
    let _ = writeln!(s, "# boundcheck bench\n");
    let _ = writeln!(
        s,
        "{} · {} CPUs · {} runs per cell{} · {}\n",
        r.host.cpu_model,
        r.cores,
        r.runs,
        if r.quick { " (--quick)" } else { "" },
        r.started_at
    );
    for i in &r.interpreters {
        let _ = writeln!(s, "- {}: `{}` ({})", i.role, i.path, i.version);
    }
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for c in &r.cells {
        if !groups.contains(&(c.workload.as_str(), c.size.as_str())) {
            groups.push((&c.workload, &c.size));
        }
    }
    for (w, size) in groups {
        let _ = writeln!(s, "\n## {w} ({size})\n");
        let _ = writeln!(
            s,
            "| strategy | median s | min–max s | CPU s | tasks/s | peak MiB | CPU eff. | speedup vs sequential | parallel speedup | efficiency | verdict |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
        for c in r.cells.iter().filter(|c| c.workload == w && c.size == size) {
            if c.status != CellStatus::Measured {
                let _ = writeln!(
                    s,
                    "| {} | {}: {} | | | | | | | | | |",
                    c.strategy,
                    c.status,
                    c.reason.as_deref().unwrap_or("").replace('|', "/")
                );
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {}–{} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
                c.strategy,
                opt(c.median_s, 3),
                opt(c.min_s, 3),
                opt(c.max_s, 3),
                opt(c.cpu_s, 2),
                opt(c.throughput_per_s, 1),
                mib(c.peak_rss_bytes),
                opt(c.cpu_efficiency, 2),
                c.speedup.map_or("—".into(), |x| format!("{x:.2}x")),
                c.parallel_speedup
                    .map_or("—".into(), |x| format!("{x:.2}x")),
                opt(c.efficiency, 2),
                c.verdict.as_deref().unwrap_or("—"),
                if c.warning.is_some() { " ⚠" } else { "" }
            );
        }
        let startups: Vec<String> = r
            .cells
            .iter()
            .filter(|c| c.workload == w && c.size == size)
            .filter_map(|c| Some(format!("{} {:.2} s", c.strategy, c.engine_startup_s?)))
            .collect();
        if !startups.is_empty() {
            let _ = writeln!(
                s,
                "
Cluster start-up, inside the median (a one-off cost a longer job amortises): {}.",
                startups.join(", ")
            );
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(s, "\n## Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(s, "- {w}");
        }
    }
    let _ = writeln!(
        s,
        "\nspeedup = Python sequential ÷ cell (median wall); parallel speedup = the cell's serial counterpart ÷ cell; efficiency = parallel speedup ÷ min(workers, cores); CPU eff. = CPU time ÷ (wall × workers); peak = the whole process tree. Ideal parallel speedup here: {}x.",
        r.cores
    );
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{BenchReport, Cell};

    fn cell(strategy: &str, status: CellStatus, median: Option<f64>) -> Cell {
        Cell {
            workload: "cpu".into(),
            strategy: strategy.into(),
            size: "low".into(),
            workers: 2,
            status,
            reason: (status != CellStatus::Measured).then(|| "needs Python 3.14+".into()),
            interpreter: None,
            runs: Vec::new(),
            median_s: median,
            min_s: median,
            max_s: median,
            cpu_s: median,
            throughput_per_s: Some(10.0),
            peak_rss_bytes: Some(25 * 1024 * 1024),
            cpu_efficiency: Some(0.5),
            speedup: median.map(|m| 2.0 / m),
            parallel_speedup: median.map(|m| 2.0 / m),
            efficiency: median.map(|m| 1.0 / m),
            verdict: Some("cpu-parallel".into()),
            warning: None,
            engine_startup_s: None,
        }
    }

    #[test]
    fn tables_show_measured_and_unmeasured_cells() {
        let r = BenchReport {
            format: "boundcheck-bench".into(),
            schema_version: "1.0".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            host: Default::default(),
            cores: 2,
            runs: 3,
            quick: false,
            interpreters: Vec::new(),
            cells: vec![
                cell("sequential", CellStatus::Measured, Some(2.0)),
                cell("processes", CellStatus::Measured, Some(1.0)),
                cell("interpreters", CellStatus::NotAvailable, None),
            ],
            warnings: vec!["a warning".into()],
        };
        let md = String::from_utf8(render(&r)).unwrap();
        assert!(md.contains("## cpu (low)"));
        assert!(md.contains("| processes | 1.000 | 1.000–1.000 | 1.00 | 10.0 | 25 | 0.50 | 2.00x | 2.00x | 1.00 | cpu-parallel |"), "{md}");
        assert!(
            md.contains("| interpreters | not-available: needs Python 3.14+ |"),
            "{md}"
        );
        assert!(md.contains("- a warning"));
        let svg = String::from_utf8(crate::report::bench_svg::render(
            &r,
            crate::report::bench_svg::Figure::Speedup,
        ))
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("ideal 2x on 2 cores"), "{svg}");
        assert_eq!(
            svg.matches("<rect x=").count() - 2,
            2,
            "one bar per measured cell (plus legend swatches): {svg}"
        );
    }
}
