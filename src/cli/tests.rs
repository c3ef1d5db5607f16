//! Parse tests: what the command line means, checked through clap.

use super::*;
use clap::CommandFactory;

use crate::spec::{Command, ProfileSpec, Target};

fn parse(args: &[&str]) -> Result<Command, String> {
    Cli::try_parse_from(args)
        .map_err(|e| e.to_string())?
        .into_command()
}

/// The settings of a profiled run, or a panic naming what was parsed instead.
fn profile(args: &[&str]) -> ProfileSpec {
    match parse(args).unwrap() {
        Command::Profile(p) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn cli_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn arguments_after_double_dash_belong_to_the_command() {
    let spec = profile(&[
        "boundcheck",
        "--rate",
        "50",
        "--",
        "python3",
        "app.py",
        "--rate",
        "7",
        "--json",
    ]);
    assert_eq!(spec.sampling.rate_hz, 50.0);
    assert!(!spec.output.json);
    assert_eq!(
        spec.target,
        Target::Command(
            ["python3", "app.py", "--rate", "7", "--json"]
                .map(OsString::from)
                .to_vec()
        )
    );
}

#[test]
fn workload_defaults() {
    let spec = profile(&["boundcheck", "--workload", "cpu", "--strategy", "threads"]);
    match spec.target {
        Target::Workload(w) => {
            assert_eq!(
                (
                    w.name.as_str(),
                    w.strategy.as_str(),
                    w.size.as_str(),
                    w.workers
                ),
                ("cpu", "threads", "med", 0)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(spec.rerun.enabled);
    assert_eq!(spec.output.out_dir, PathBuf::from("boundcheck-report"));
}

#[test]
fn zero_and_garbage_rates_are_refused() {
    assert!(
        parse(&["boundcheck", "--rate", "0", "--", "true"])
            .unwrap_err()
            .contains("above 0")
    );
    assert!(parse(&["boundcheck", "--rate", "-5", "--", "true"]).is_err());
    assert!(parse(&["boundcheck", "--rate", "fast", "--", "true"]).is_err());
}

#[test]
fn attach_with_duration_and_no_rerun() {
    let spec = profile(&[
        "boundcheck",
        "--attach",
        "42",
        "--duration",
        "10s",
        "--no-rerun",
    ]);
    assert_eq!(spec.target, Target::Attach { pid: 42 });
    assert_eq!(spec.duration, Some(Duration::from_secs(10)));
    assert!(!spec.rerun.enabled);
}

#[test]
fn nothing_or_two_targets_is_an_error() {
    assert!(
        parse(&["boundcheck"])
            .unwrap_err()
            .contains("nothing to profile")
    );
    assert!(parse(&["boundcheck", "--workload", "cpu", "--", "true"]).is_err());
}

#[test]
fn duration_belongs_to_attach() {
    let err = parse(&["boundcheck", "--duration", "5s", "--", "sleep", "9"]).unwrap_err();
    assert!(err.contains("--attach"), "{err}");
}

#[test]
fn check_reads_percentages_and_needs_a_current_side() {
    let spec = parse(&[
        "boundcheck",
        "check",
        "--baseline",
        "b.json",
        "--max-regression",
        "5%",
        "--max-memory-growth",
        "50",
        "--",
        "python3",
        "app.py",
        "--runs",
        "9",
    ])
    .unwrap();
    match spec {
        Command::Check(c) => {
            assert_eq!(c.policy.max_regression, 0.05);
            assert_eq!(c.policy.max_memory_growth, 0.5);
            assert_eq!(c.policy.max_efficiency_drop, 0.10);
            assert_eq!(c.runs, None, "--runs after `--` belongs to the command");
            assert_eq!(
                c.current,
                crate::spec::Current::Command(
                    ["python3", "app.py", "--runs", "9"]
                        .map(OsString::from)
                        .to_vec()
                )
            );
        }
        other => panic!("{other:?}"),
    }
    let err = parse(&["boundcheck", "check", "--baseline", "b.json"]).unwrap_err();
    assert!(err.contains("--current FILE"), "{err}");
    assert!(
        parse(&[
            "boundcheck",
            "check",
            "--baseline",
            "b",
            "--max-regression",
            "lots",
            "--",
            "x"
        ])
        .is_err()
    );
    assert!(
        parse(&[
            "boundcheck",
            "check",
            "--baseline",
            "b",
            "--current",
            "c",
            "--",
            "x"
        ])
        .is_err()
    );
}

#[test]
fn baseline_defaults() {
    let spec = parse(&["boundcheck", "baseline", "--", "true"]).unwrap();
    match spec {
        Command::Baseline(b) => {
            assert_eq!(b.runs, 5);
            assert_eq!(b.out, PathBuf::from("boundcheck-baseline.json"));
            assert!(
                !b.force,
                "an earlier report in --report-dir is kept by default"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        parse(&["boundcheck", "baseline"]).is_err(),
        "a command is required"
    );
}

#[test]
fn report_subcommand_formats_and_destinations() {
    use crate::spec::{Destination, ReportSpec};
    let spec = parse(&["boundcheck", "report", "out"]).unwrap();
    assert_eq!(
        spec,
        Command::Report(ReportSpec {
            dir: PathBuf::from("out"),
            format: "html".into(),
            output: Destination::Default,
        })
    );
    let spec = parse(&[
        "boundcheck",
        "report",
        "out",
        "--format",
        "markdown",
        "-o",
        "-",
    ])
    .unwrap();
    match spec {
        Command::Report(r) => {
            assert_eq!(
                (r.format.as_str(), r.output),
                ("markdown", Destination::Stdout)
            );
        }
        other => panic!("{other:?}"),
    }
    let spec = parse(&[
        "boundcheck",
        "report",
        "out",
        "--format",
        "json",
        "--output",
        "r.json",
    ])
    .unwrap();
    match spec {
        Command::Report(r) => {
            assert_eq!(r.output, Destination::File(PathBuf::from("r.json")));
        }
        other => panic!("{other:?}"),
    }
    // Only implemented formats are offered.
    let err = parse(&["boundcheck", "report", "out", "--format", "pdf"]).unwrap_err();
    assert!(err.contains("html") && err.contains("markdown"), "{err}");
}

#[test]
fn replay_subcommand() {
    match parse(&["boundcheck", "replay", "t.json", "--json"]).unwrap() {
        Command::Replay(r) => {
            assert_eq!(r.timeline, PathBuf::from("t.json"));
            assert!(r.output.json);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shared_flags_keep_their_meaning_in_every_subcommand() {
    match parse(&["boundcheck", "bench", "--quick", "-q", "--json"]).unwrap() {
        Command::Bench(b) => {
            assert_eq!(b.out_dir, PathBuf::from("boundcheck-bench"));
            assert!(b.quiet && b.json && !b.force);
            assert_eq!(b.runs, 2);
        }
        other => panic!("{other:?}"),
    }
    match parse(&[
        "boundcheck",
        "check",
        "--baseline",
        "b",
        "-q",
        "--force",
        "--",
        "x",
    ])
    .unwrap()
    {
        Command::Check(c) => {
            assert!(c.quiet && c.force);
            assert_eq!(c.report_dir, PathBuf::from("boundcheck-report"));
        }
        other => panic!("{other:?}"),
    }
    let spec = profile(&[
        "boundcheck",
        "--python",
        "/p",
        "--python-ft",
        "/t",
        "--",
        "x",
    ]);
    assert_eq!(spec.rerun.python, Some(PathBuf::from("/p")));
    assert_eq!(spec.rerun.python_ft, Some(PathBuf::from("/t")));
    // --no-rerun is a re-run flag, and the profiled run keeps the --vary grid.
    let spec = profile(&[
        "boundcheck",
        "--no-rerun",
        "--vary",
        "n=1,2",
        "--",
        "x",
        "{n}",
    ]);
    assert!(!spec.rerun.enabled);
    assert_eq!(spec.rerun.vary.len(), 1);
}
