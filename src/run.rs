//! The pipeline of one run: target → sample → timeline → diagnose → report.
//!
//! Exit status policy (a contract, see `--help`): a launched target's own
//! status is returned (128 + N when killed by signal N); boundcheck's own
//! failures are errors (exit 2, printed by `main`), except a command that
//! cannot be found or executed, which returns 127 / 126 like a shell. When
//! the report cannot be written (full disk), the summary is still printed
//! before the error, so nothing measured is lost.

use crate::error::Error;
use crate::report::output::{self, OutputDir, REPORT_FILE, TIMELINE_FILE};
use crate::report::{Report, html, json, markdown, read_timeline, text};
use crate::spec::{Spec, TargetSpec};
use crate::timeline::Timeline;

/// How a run ended, for `main` to turn into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: i32,
}

/// Run one boundcheck invocation.
pub fn run(spec: &Spec) -> Result<Outcome, Error> {
    match &spec.target {
        TargetSpec::Replay(path) => {
            // Read first: the timeline may live in the output directory.
            let tl = read_timeline(path)?;
            let out = prepare_out(spec, REPORT_FILE)?;
            let mut report = Report::of(&tl);
            report.output_dir = renumbered(spec, &out);
            emit(spec, &out, &report, None, Some(&tl))?;
            Ok(Outcome { exit_code: 0 })
        }
        TargetSpec::Report(r) => crate::rerender::run(r),
        TargetSpec::NativeWorkload(w) => {
            match crate::workloads::native::run(&w.name, &w.strategy, w.workers, &w.size) {
                Ok(r) => {
                    let line = serde_json::json!({
                        "workload": w.name, "strategy": w.strategy, "workers": w.workers,
                        "size": w.size, "tasks": r.tasks, "wall_s": r.wall_s, "checksum": r.checksum,
                    });
                    output::to_stdout(format!("{line}\n").as_bytes());
                    Ok(Outcome { exit_code: 0 })
                }
                Err(e) => {
                    // Exit 3 = "does not apply", as the Python runner says it.
                    output::to_stderr(format!("{e}\n").as_bytes());
                    Ok(Outcome { exit_code: 3 })
                }
            }
        }
        #[cfg(target_os = "linux")]
        TargetSpec::Bench(b) => {
            let out = prepare_out(spec, "bench.json")?;
            let report = crate::bench::run_bench(b)?;
            let json_bytes = json::render_bench(&report);
            let md = crate::report::bench_md::render(&report);
            if spec.json {
                output::to_stdout(&json_bytes);
            } else {
                output::to_stderr(&md);
            }
            use crate::report::bench_svg::{Figure, render as svg};
            out.write("bench.json", &json_bytes)?;
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
        #[cfg(target_os = "linux")]
        TargetSpec::Baseline(b) => crate::gate::run_baseline(b),
        #[cfg(target_os = "linux")]
        TargetSpec::Check(c) => crate::gate::run_check(c),
        #[cfg(target_os = "linux")]
        _ => live::run_live(spec),
        #[cfg(not(target_os = "linux"))]
        _ => Err(Error::Unsupported),
    }
}

/// The output directory, never over an earlier run's `marker` file unless
/// `--force`: a numbered sibling is used instead and named on stderr (even
/// with `--quiet`: the files are not where the caller asked).
fn prepare_out(spec: &Spec, marker: &str) -> Result<OutputDir, Error> {
    let (out, moved) = OutputDir::prepare_fresh(&spec.out_dir, spec.force, marker)?;
    if moved {
        output::to_stderr(
            format!(
                "boundcheck: {} holds an earlier run's {marker}; writing to {} instead (--force replaces it)\n",
                spec.out_dir.display(),
                out.dir().display()
            )
            .as_bytes(),
        );
    }
    Ok(out)
}

/// `report.output_dir`: set only when the files went elsewhere than `--out`.
fn renumbered(spec: &Spec, out: &OutputDir) -> Option<String> {
    (out.dir() != spec.out_dir.as_path()).then(|| out.dir().display().to_string())
}

/// Print the summary (or JSON), then write the files; a write failure is
/// returned only after the reader has the results on screen. `timeline` is
/// a live run's, written with its flamegraphs; a replay's is on disk
/// already and comes as `charts`, for report.html's time charts only.
fn emit(
    spec: &Spec,
    out: &OutputDir,
    report: &Report,
    timeline: Option<&Timeline>,
    charts: Option<&Timeline>,
) -> Result<(), Error> {
    let report_bytes = json::render_report(report);
    let flames = match timeline {
        Some(tl) => flamegraphs(tl)?,
        None => Vec::new(),
    };
    let files = listed_files(out, timeline.is_some(), &flames);
    if spec.json {
        output::to_stdout(&report_bytes);
    } else {
        output::to_stderr(&text::render(report, &files));
    }
    if spec.step_summary {
        output::append_step_summary(&markdown::render_report(report));
    }
    if let Some(tl) = timeline {
        out.write_with(TIMELINE_FILE, |w| json::write_timeline(tl, w))?;
    }
    for (name, bytes) in &flames {
        out.write(name, bytes)?;
    }
    out.write(REPORT_FILE, &report_bytes)?;
    out.write(
        html::HTML_FILE,
        &html::render(report, timeline.or(charts), &flames),
    )?;
    for (name, bytes) in exports(spec, report, timeline.or(charts)) {
        out.write(name, &bytes)?;
    }
    Ok(())
}

/// The `--format` extras: markdown from the report, the others from the timeline.
fn exports(spec: &Spec, report: &Report, tl: Option<&Timeline>) -> Vec<(&'static str, Vec<u8>)> {
    spec.exports
        .iter()
        .filter_map(|&f| {
            let bytes = match f {
                crate::spec::Format::Markdown => markdown::render_report(report),
                _ => crate::rerender::render_export(f, tl?)?,
            };
            Some((f.file_name(), bytes))
        })
        .collect()
}

/// The files the summary's `report` line names: the report, the page, the
/// timeline when one is written, and the flamegraphs' SVGs.
fn listed_files(out: &OutputDir, with_timeline: bool, flames: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut files = vec![out.path(REPORT_FILE), out.path(html::HTML_FILE)];
    if with_timeline {
        files.push(out.path(TIMELINE_FILE));
    }
    files.extend(
        flames
            .iter()
            .filter(|(name, _)| name.ends_with(".svg"))
            .map(|(name, _)| out.path(name)),
    );
    files.iter().map(|p| p.display().to_string()).collect()
}

/// The flamegraphs of a timeline as (file name, bytes): `cpu.folded`,
/// `cpu.svg`, `wall.folded`, `wall.svg`, each only when it has samples.
fn flamegraphs(tl: &Timeline) -> Result<Vec<(String, Vec<u8>)>, Error> {
    use crate::report::flame::{self, View};
    let mut files = Vec::new();
    let mut views = vec![View::Cpu, View::Wall];
    // Native stacks beside Python ones (`--native`) get a graph of their own;
    // without Python stacks they already are the on-CPU graph.
    if !tl.stacks.is_empty() && tl.native.as_ref().is_some_and(|n| !n.samples.is_empty()) {
        views.push(View::Native);
    }
    for view in views {
        let folded = flame::folded(tl, view);
        if let Some(svg) = flame::svg(tl, &folded, view)? {
            files.push((format!("{}.folded", view.file_stem()), folded.into_bytes()));
            files.push((format!("{}.svg", view.file_stem()), svg));
        }
    }
    Ok(files)
}

#[cfg(target_os = "linux")]
mod live {
    use super::*;
    use crate::rerun;
    use crate::sample::native::NativeSampler;
    use crate::sample::offcpu::OffCpuSampler;
    use crate::sample::{self, SamplerSettings, host, perf::TreeCounters};
    use crate::target::{self, signals};
    use crate::timeline::{NativeProfile, OffCpuProfile, RunMeta};
    use crate::workloads;
    use std::ffi::OsString;
    use std::time::{Instant, SystemTime};

    /// The command runs a Python interpreter directly (`python3 …`, `/usr/bin/python3.12 …`).
    fn looks_like_python(argv: &[OsString]) -> bool {
        argv.first()
            .and_then(|a| std::path::Path::new(a).file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python"))
    }

    pub fn run_live(spec: &Spec) -> Result<Outcome, Error> {
        let out = prepare_out(spec, REPORT_FILE)?;
        signals::install();
        // Orphans of the tree (`cmd &` in a shell, daemons) are re-parented
        // to us instead of init, so the tree scan still sees them.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let host = host::host_facts();
        let progress = crate::progress::spinner(spec.quiet);
        let settings = SamplerSettings {
            rate_hz: spec.rate_hz,
            attach: matches!(spec.target, TargetSpec::Attach { .. }),
            stacks: spec.stacks,
        };
        let on_sample = |s: &crate::timeline::Sample| {
            if let Some(p) = &progress {
                p.set_message(format!(
                    "sampling · {:.1} s · {} process{} · {} thread{}",
                    s.t_s,
                    s.processes,
                    if s.processes == 1 { "" } else { "es" },
                    s.threads.len(),
                    if s.threads.len() == 1 { "" } else { "s" }
                ));
            }
        };
        let (mode, workload, command, mut rec, exit, counters, cores);
        let (mut native_profile, mut off_cpu_profile) = (None, None);
        let mut timed_out = None;
        match &spec.target {
            TargetSpec::Attach { pid } => {
                let pid = *pid;
                target::check_attachable(pid)?;
                cores = host::cores_available(pid);
                let start = Instant::now();
                let deadline = spec.duration.map(|d| start + d);
                rec = sample::record(
                    pid,
                    settings,
                    start,
                    || {
                        signals::received().is_some()
                            || deadline.is_some_and(|d| Instant::now() >= d)
                            || target::has_ended(pid)
                    },
                    on_sample,
                );
                mode = "attach";
                workload = None;
                command = vec!["attach".to_string(), pid.to_string()];
                exit = None;
                counters = None;
            }
            TargetSpec::Command(_) | TargetSpec::Workload(_) => {
                let prepared = match &spec.target {
                    TargetSpec::Workload(w) => Some(workloads::prepare(w)?),
                    _ => None,
                };
                let (argv, env): (Vec<OsString>, Vec<(OsString, OsString)>) =
                    match (&spec.target, &prepared) {
                        (_, Some(p)) => (p.argv.clone(), p.env.clone()),
                        (TargetSpec::Command(argv), None) if !spec.vary.is_empty() => {
                            // Profile the first point of the --vary grid.
                            let first = rerun::plan::grid(&spec.vary).swap_remove(0);
                            (rerun::plan::expand(argv, &first), Vec::new())
                        }
                        (TargetSpec::Command(argv), None) => (argv.clone(), Vec::new()),
                        _ => unreachable!("launch targets only"),
                    };
                let mut opened = None;
                // Native stacks: always for a program that is not Python
                // (there is nothing else to name its code), with --native
                // for C frames under Python. 3.12+ then names Python
                // functions in native stacks through its perf trampoline.
                let python_target = prepared.is_some() || looks_like_python(&argv);
                let want_native = spec.native || !python_target;
                let mut env = env;
                if spec.native && python_target {
                    env.push(("PYTHONPERFSUPPORT".into(), "1".into()));
                }
                let (mut native, mut off_cpu) = (None, None);
                let start = Instant::now();
                // With --json, stdout carries the report: the target's own
                // output goes to stderr so the JSON stays parseable.
                let opts = target::LaunchOptions {
                    stdout: if spec.json { stderr_file() } else { None },
                    ..target::LaunchOptions::default()
                };
                let child = target::launch_with(&argv, &env, &opts, |pid| {
                    opened = Some(TreeCounters::open(pid, true));
                    if want_native {
                        native = Some(NativeSampler::open(pid, true, start));
                    }
                    off_cpu = Some(OffCpuSampler::open(pid, true, start));
                })?;
                cores = host::cores_available(child.pid());
                let mut timeout = target::timeout::Timeout::new(start, spec.timeout);
                rec = sample::record(
                    child.pid(),
                    settings,
                    start,
                    || {
                        // A target that ended on its own just before the
                        // limit was not stopped by it: ask about exit first.
                        let exited = child.has_exited();
                        if !exited {
                            timeout.poll(child.pid());
                        }
                        exited
                    },
                    |s| {
                        on_sample(s);
                        if let Some(Ok(n)) = &mut native {
                            n.drain();
                        }
                        if let Some(Ok(o)) = &mut off_cpu {
                            o.drain();
                        }
                    },
                );
                timeout.finish(child.pid());
                timed_out = timeout.fired();
                native_profile = native.map(|n| match n {
                    Ok(n) => n.finish(),
                    Err(e) => NativeProfile::unavailable(e.0),
                });
                off_cpu_profile = off_cpu.map(|o| match o {
                    Ok(o) => o.finish(),
                    Err(e) => OffCpuProfile::unavailable(e.0),
                });
                exit = Some(child.wait());
                counters = opened.map(TreeCounters::read);
                mode = if prepared.is_some() {
                    "workload"
                } else {
                    "launch"
                };
                workload = match &spec.target {
                    TargetSpec::Workload(w) => Some(w.label()),
                    _ => None,
                };
                command = argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                drop(prepared);
            }
            TargetSpec::Replay(_)
            | TargetSpec::Bench(_)
            | TargetSpec::NativeWorkload(_)
            | TargetSpec::Baseline(_)
            | TargetSpec::Check(_)
            | TargetSpec::Report(_) => {
                unreachable!("handled by run()")
            }
        }
        if let Some(p) = &progress {
            p.finish_and_clear();
        }
        let python_version = rec.python_exe.as_deref().and_then(host::python_version);
        let meta = RunMeta {
            command,
            mode: mode.into(),
            workload,
            started_at,
            duration_s: rec.duration_s,
            exit,
            interrupted: signals::received().is_some(),
            timed_out_after_s: timed_out.map(|d| d.as_secs_f64()),
            host,
            cores_available: cores,
            python_version,
        };
        rec.native = native_profile;
        rec.off_cpu = off_cpu_profile;
        let timeline = rec.into_timeline(meta, counters);
        let mut report = Report::of(&timeline);
        report.output_dir = renumbered(spec, &out);
        let verdict = report.diagnosis.verdict;
        report.rerun_skipped = skip_reason(spec, &timeline);
        let mut exit_code = exit.map_or(0, |e| e.shell_status());
        if timed_out.is_some() {
            exit_code = target::timeout::TIMED_OUT_STATUS;
        }
        if report.rerun_skipped.is_some() {
            emit(spec, &out, &report, Some(&timeline), None)?;
            return Ok(Outcome { exit_code });
        }
        // Show and keep the diagnosis before the (longer) re-runs: an
        // interrupted or failed re-run then loses nothing measured so far.
        let flames = flamegraphs(&timeline)?;
        let files = listed_files(&out, true, &flames);
        if !spec.json {
            output::to_stderr(&text::render(&report, &[]));
        }
        let mut write_error = out
            .write_with(TIMELINE_FILE, |w| json::write_timeline(&timeline, w))
            .err();
        for (name, bytes) in &flames {
            write_error = write_error.or(out.write(name, bytes).err());
        }
        write_error = write_error.or(out.write(REPORT_FILE, &json::render_report(&report)).err());
        // The page too, before the re-runs: an interrupted re-run keeps it.
        let page = html::render(&report, Some(&timeline), &flames);
        write_error = write_error.or(out.write(html::HTML_FILE, &page).err());
        let ctx = rerun::plan::PlanContext {
            verdict,
            argv: match &spec.target {
                TargetSpec::Command(argv) => argv.clone(),
                _ => Vec::new(),
            },
            env: Vec::new(),
            cores,
            python: spec.python.clone(),
            python_314: rerun::plan::find_on_path("python3.14"),
            python_ft: rerun::plan::find_free_threaded(spec.python_ft.as_deref()),
            python_version: timeline.meta.python_version.clone(),
            workload: match &spec.target {
                TargetSpec::Workload(w) => Some(w.clone()),
                _ => None,
            },
            vary: spec.vary.clone(),
            predictions: report.diagnosis.predictions.clone(),
            site: report.diagnosis.site.as_ref().map(|s| s.at.label()),
        };
        let settings = rerun::execute::Settings {
            runs: spec.runs.max(1),
            budget: spec.budget,
            estimate: std::time::Duration::from_secs_f64(timeline.meta.duration_s),
            quiet: spec.quiet,
        };
        let rec = rerun::rerun(&ctx, &settings);
        if rec.interrupted {
            exit_code = 130;
        }
        report.recommendation = Some(rec);
        let bytes = json::render_report(&report);
        if spec.json {
            output::to_stdout(&bytes);
        } else if let Some(rec) = &report.recommendation {
            output::to_stderr(&text::render_recommendation(rec, &files));
        }
        if spec.step_summary {
            output::append_step_summary(&markdown::render_report(&report));
        }
        write_error = write_error.or(out.write(REPORT_FILE, &bytes).err());
        let page = html::render(&report, Some(&timeline), &flames);
        write_error = write_error.or(out.write(html::HTML_FILE, &page).err());
        for (name, bytes) in exports(spec, &report, Some(&timeline)) {
            write_error = write_error.or(out.write(name, &bytes).err());
        }
        match write_error {
            Some(e) => Err(e),
            None => Ok(Outcome { exit_code }),
        }
    }

    /// Why comparative re-runs would tell nothing here, if they would not.
    fn skip_reason(spec: &Spec, tl: &Timeline) -> Option<String> {
        if !spec.rerun {
            return Some("--no-rerun".into());
        }
        if tl.meta.mode == "attach" {
            return Some("attached to a running process, which boundcheck cannot re-run".into());
        }
        if tl.meta.interrupted {
            return Some("the run was interrupted".into());
        }
        if tl.meta.timed_out_after_s.is_some() {
            return Some("--timeout stopped the target: re-runs compare complete runs only".into());
        }
        match tl.meta.exit {
            Some(e) if e.shell_status() != 0 => Some(format!(
                "the target exited with status {}: re-runs compare successful runs only",
                e.shell_status()
            )),
            _ => None,
        }
    }

    /// A second handle on our stderr, to hand to the target as its stdout.
    fn stderr_file() -> Option<std::fs::File> {
        use std::os::fd::AsFd;
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::fs::File::from)
    }
}
