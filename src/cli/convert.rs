//! The one conversion of parsed arguments into plain settings: each
//! subcommand's groups become the matching groups of its settings type.

use super::{BaselineArgs, BenchArgs, CheckArgs, Cli, ExportArgs, OutputArgs, ReportArgs, Sub};
use crate::spec::{
    BaselineSpec, BenchSpec, CheckSpec, Command, Current, Destination, OutputSpec, Policy,
    ProfileSpec, ReplaySpec, ReportSpec, RerunSpec, SamplingSpec, Target, WorkloadSpec,
};
use crate::workloads::WORKLOADS;
use std::path::PathBuf;

/// Runs per bench cell: the default, and with `--quick`.
const BENCH_RUNS: usize = 3;
const BENCH_QUICK_RUNS: usize = 2;

impl Cli {
    /// Turn parsed arguments into settings, or say what is missing.
    pub fn into_command(self) -> Result<Command, String> {
        Ok(match self.subcommand {
            Some(Sub::Bench(b)) => Command::Bench(bench(b)),
            Some(Sub::NativeWorkload {
                workload,
                strategy,
                workers,
                size,
            }) => Command::NativeWorkload(WorkloadSpec {
                name: workload,
                strategy,
                workers,
                size,
                python: PathBuf::new(),
            }),
            Some(Sub::Baseline(b)) => Command::Baseline(baseline(b)),
            Some(Sub::Check(c)) => Command::Check(check(c)?),
            Some(Sub::Report(r)) => Command::Report(report(r)),
            Some(Sub::Completions { shell }) => Command::Print(super::generate::completions(shell)),
            Some(Sub::Man) => Command::Print(super::generate::man_page()),
            Some(Sub::Replay {
                timeline,
                output,
                exports,
                quiet,
            }) => Command::Replay(ReplaySpec {
                timeline,
                output: output_spec(output, exports, quiet.quiet),
            }),
            None => Command::Profile(self.profile()?),
        })
    }

    fn profile(self) -> Result<ProfileSpec, String> {
        let t = self.target;
        let command = self.command.command;
        if !self.rerun.vary.is_empty() && (t.workload.is_some() || t.attach.is_some()) {
            return Err("--vary fills placeholders of a command given after `--`".into());
        }
        let target = match (t.workload, t.attach, command.is_empty()) {
            (Some(name), None, true) => Target::Workload(WorkloadSpec {
                name,
                strategy: t.strategy,
                workers: t.workers,
                size: t.size,
                python: self
                    .python
                    .python
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("python3")),
            }),
            (None, Some(pid), true) => Target::Attach { pid },
            (None, None, false) => {
                // Only a grid has placeholders: without --vary, braces are the
                // command's own (`python3 -c "print(f'{x}')"`, `find -exec {}`).
                if !self.rerun.vary.is_empty() {
                    crate::rerun::plan::check_vary(&command, &self.rerun.vary)?;
                }
                Target::Command(command)
            }
            (None, None, true) => {
                return Err("nothing to profile: give a command after `--`, e.g. `boundcheck -- python3 app.py`, or --workload NAME, or --attach PID".into());
            }
            _ => return Err("give only one of: a command after `--`, --workload, --attach".into()),
        };
        Ok(ProfileSpec {
            target,
            duration: t.duration,
            timeout: t.timeout,
            sampling: SamplingSpec {
                rate_hz: self.sampling.rate,
                stacks: !self.sampling.no_stacks,
                native: self.sampling.native,
            },
            rerun: RerunSpec {
                enabled: !self.rerun.no_rerun,
                runs: self.rerun.runs as usize,
                budget: Some(self.rerun.budget),
                vary: self.rerun.vary,
                python: self.python.python,
                python_ft: self.python.python_ft,
                cluster: cluster(self.rerun.cluster.as_deref())?,
            },
            output: output_spec(self.output, self.exports, self.quiet.quiet),
        })
    }
}

/// `--cluster`, else the engines' own variables; its form checked here,
/// its reachability before the target runs (`commands/profile.rs`).
fn cluster(flag: Option<&str>) -> Result<Option<String>, String> {
    match crate::rerun::engines::cluster_from(flag) {
        Some(a) => crate::rerun::engines::Cluster::parse(&a).map(|c| Some(c.address)),
        None => Ok(None),
    }
}

fn output_spec(o: OutputArgs, exports: ExportArgs, quiet: bool) -> OutputSpec {
    OutputSpec {
        out_dir: o.out,
        json: o.json,
        force: o.force,
        quiet,
        exports: exports.format,
        step_summary: true,
    }
}

fn bench(b: BenchArgs) -> BenchSpec {
    let runs = b.runs.map_or(
        if b.quick {
            BENCH_QUICK_RUNS
        } else {
            BENCH_RUNS
        },
        usize::from,
    );
    let sizes = if !b.size.is_empty() {
        b.size
    } else if b.quick {
        vec!["low".into()]
    } else {
        vec!["med".into()]
    };
    // Every strategy but those that start a cluster per run.
    let default_strategies: Vec<&str> = crate::bench::BENCH_STRATEGIES
        .into_iter()
        .filter(|s| !crate::bench::ON_REQUEST_STRATEGIES.contains(s))
        .collect();
    let or_all = |v: Vec<String>, all: &[&str]| {
        if v.is_empty() {
            all.iter().map(|s| s.to_string()).collect()
        } else {
            v
        }
    };
    BenchSpec {
        workloads: or_all(b.workloads, &WORKLOADS),
        strategies: or_all(b.strategies, &default_strategies),
        workers: b.workers,
        sizes,
        runs,
        quick: b.quick,
        python: b.python.python.unwrap_or_else(|| PathBuf::from("python3")),
        python_ft: b.python.python_ft,
        out_dir: b.output.out,
        json: b.output.json,
        force: b.output.force,
        quiet: b.quiet.quiet,
    }
}

fn baseline(b: BaselineArgs) -> BaselineSpec {
    BaselineSpec {
        command: b.command.command,
        runs: b.runs as usize,
        out: b.out,
        report_dir: b.report_dir.report_dir,
        force: b.report_dir.force,
        quiet: b.quiet.quiet,
    }
}

fn check(c: CheckArgs) -> Result<CheckSpec, String> {
    let current = match (c.current, c.command.command.is_empty()) {
        (Some(path), _) => Current::File(path),
        (None, false) => Current::Command(c.command.command),
        (None, true) => {
            return Err("check needs the current side: a command after `--`, e.g. `boundcheck check --baseline b.json -- python3 app.py`, or --current FILE".into());
        }
    };
    Ok(CheckSpec {
        baseline: c.baseline,
        current,
        runs: c.runs.map(usize::from),
        policy: Policy {
            max_regression: c.max_regression,
            max_efficiency_drop: c.max_efficiency_drop,
            max_memory_growth: c.max_memory_growth,
            require_same_host: c.require_same_host,
        },
        junit: c.junit,
        save: c.save,
        report_dir: c.report_dir.report_dir,
        force: c.report_dir.force,
        quiet: c.quiet.quiet,
    })
}

fn report(r: ReportArgs) -> ReportSpec {
    let output = match r.output {
        None => Destination::Default,
        Some(p) if p.as_os_str() == "-" => Destination::Stdout,
        Some(p) => Destination::File(p),
    };
    ReportSpec {
        dir: r.dir,
        format: r.format,
        output,
    }
}
