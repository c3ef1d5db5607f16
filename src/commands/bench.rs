//! `boundcheck bench`: run the grid, then show the tables (or bench.json)
//! and write bench.json, bench.md and the two charts.

use super::Outcome;
use crate::error::Error;
use crate::report::bench_svg::{Figure, render as svg};
use crate::report::output::{self, OutputDir};
use crate::report::{bench_md, json};
use crate::spec::BenchSpec;

/// The file that marks a directory as holding an earlier bench.
const BENCH_FILE: &str = "bench.json";

pub fn run(spec: &BenchSpec) -> Result<Outcome, Error> {
    let (out, moved) = OutputDir::prepare_fresh(&spec.out_dir, spec.force, BENCH_FILE)?;
    if moved {
        output::to_stderr(
            format!(
                "boundcheck: {} holds an earlier run's {BENCH_FILE}; writing to {} instead (--force replaces it)\n",
                spec.out_dir.display(),
                out.dir().display()
            )
            .as_bytes(),
        );
    }
    let report = crate::bench::run_bench(spec)?;
    let json_bytes = json::render_bench(&report);
    let md = bench_md::render(&report);
    if spec.json {
        output::to_stdout(&json_bytes);
    } else {
        output::to_stderr(&md);
    }
    out.write(BENCH_FILE, &json_bytes)?;
    out.write("bench.md", &md)?;
    out.write("speedup.svg", &svg(&report, Figure::Speedup))?;
    out.write("efficiency.svg", &svg(&report, Figure::Efficiency))?;
    if !spec.json {
        output::to_stderr(
            format!(
                "bench: {}/bench.json, bench.md, speedup.svg, efficiency.svg\n",
                out.dir().display()
            )
            .as_bytes(),
        );
    }
    let interrupted = crate::target::signals::received().is_some();
    Ok(Outcome {
        exit_code: if interrupted { 130 } else { 0 },
    })
}
