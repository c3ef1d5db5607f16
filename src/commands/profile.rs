//! A profiled run: launch (or attach), sample, diagnose, show and write the
//! report, then the comparative re-runs and the files again.
//!
//! [`profile`] returns the run in memory ([`ProfiledRun`]): the main command
//! turns it into an exit status, and the gate builds its baseline from it.

use super::Outcome;
use crate::error::Error;
use crate::report::flame::flamegraphs;
use crate::report::output;
use crate::report::run_files::{Drawn, RunFiles};
use crate::report::{Report, json, markdown, text};
use crate::rerun;
use crate::sample::native::NativeSampler;
use crate::sample::offcpu::OffCpuSampler;
use crate::sample::{self, Recording, SamplerSettings, host, perf::TreeCounters};
use crate::spec::{ProfileSpec, Target};
use crate::target::{self, signals};
use crate::timeline::{
    AttachCoverage, Counters, ExitInfo, NativeProfile, OffCpuProfile, RunMeta, RunMode, Sample,
    Timeline,
};
use crate::workloads;
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

/// One profiled run, in memory.
#[derive(Debug)]
pub struct ProfiledRun {
    pub timeline: Timeline,
    /// The report as written (with the re-runs' recommendation when they ran).
    pub report: Report,
    /// The flamegraphs as written: (file name, bytes).
    pub flames: Vec<(String, Vec<u8>)>,
    /// The directory the files went to (`--out`, or a numbered sibling).
    pub out_dir: std::path::PathBuf,
    /// The target's own status (124 when `--timeout` stopped it, 130 when
    /// Ctrl-C stopped the re-runs).
    pub exit_code: i32,
}

pub fn run(spec: &ProfileSpec) -> Result<Outcome, Error> {
    let run = profile(spec)?;
    Ok(Outcome {
        exit_code: run.exit_code,
    })
}

/// Profile the target as `spec` says, show the results and write the files.
pub fn profile(spec: &ProfileSpec) -> Result<ProfiledRun, Error> {
    let o = &spec.output;
    let cluster = reachable_cluster(spec)?;
    let mut files = RunFiles::prepare(&o.out_dir, o.force, &o.exports)?;
    let also = cluster
        .as_ref()
        .filter(|c| program_is_client(c))
        .map(rerun::engines::Cluster::local_processes)
        .unwrap_or_default();
    let sampled = match launch_and_sample(spec, &also) {
        Ok(s) => s,
        Err(e) => {
            files.abandon();
            return Err(e);
        }
    };
    files.announce();
    let mut exit_code = sampled.exit_code;
    let timeline = sampled.timeline;
    let mut report = Report::of(&timeline);
    report.output_dir = files.renumbered();
    report.rerun_skipped = skip_reason(spec, &timeline);
    let flames = flamegraphs(&timeline)?;
    let listed = files.listed(true, &flames);
    let drawn = Drawn {
        timeline: Some(&timeline),
        flames: &flames,
    };
    if let Some(why) = &report.rerun_skipped {
        if o.json {
            output::to_stdout(&json::render_report(&report));
        } else {
            output::to_stderr(&text::render(&report, &listed));
        }
        if !o.quiet && spec.rerun.enabled {
            output::to_stderr(format!("re-runs: skipped: {why}\n").as_bytes());
        }
        if o.step_summary {
            output::append_step_summary(&markdown::render_report(&report));
        }
        files.write_diagnosis(&report, true, drawn);
        files.write_extras(&report, drawn);
    } else {
        // Show and keep the diagnosis before the (longer) re-runs: an
        // interrupted or failed re-run then loses nothing measured so far.
        if !o.json {
            output::to_stderr(&text::render(&report, &[]));
        }
        files.write_diagnosis(&report, true, drawn);
        let profiled = rerun::judge::Profiled {
            exit_status: timeline.meta.exit.map_or(0, |e| e.shell_status()),
            cpu_s: sampled.profiled_cpu_s,
            children: Some(rerun::judge::lasting_children_apart(
                &timeline.processes,
                &[&also.pids[..], &also.children_of[..]].concat(),
            )),
            written_bytes: sampled.profiled_written,
        };
        let rec = rerun_alternatives(
            spec,
            &timeline,
            (sampled.cores, cluster),
            &report.diagnosis,
            profiled,
        );
        if rec.interrupted {
            exit_code = 130;
        }
        report.recommendation = Some(rec);
        if o.json {
            output::to_stdout(&json::render_report(&report));
        } else if let Some(rec) = &report.recommendation {
            output::to_stderr(&text::render_recommendation(rec, &listed));
        }
        if o.step_summary {
            output::append_step_summary(&markdown::render_report(&report));
        }
        files.write_report(&report, drawn);
        files.write_extras(&report, drawn);
    }
    let out_dir = files.dir().to_path_buf();
    files.finish()?;
    Ok(ProfiledRun {
        timeline,
        report,
        flames,
        out_dir,
        exit_code,
    })
}

/// The timeline of a run and the status it ends with.
struct Sampled {
    timeline: Timeline,
    exit_code: i32,
    cores: usize,
    profiled_cpu_s: Option<f64>,
    profiled_written: Option<u64>,
}

/// What one way of reaching the target (attach or launch) recorded.
struct Recorded {
    rec: Recording,
    mode: RunMode,
    workload: Option<String>,
    command: Vec<String>,
    exit: Option<ExitInfo>,
    counters: Option<Counters>,
    cores: usize,
    timed_out: Option<Duration>,
    /// CPU time and bytes written by the launched tree, for its re-runs to match.
    profiled_cpu_s: Option<f64>,
    profiled_written: Option<u64>,
    /// What the perf samplers covered, when attached.
    attach: Option<AttachCoverage>,
}

/// `also`: an existing cluster's processes on this machine, sampled with a
/// launched target as part of its tree (the work it hands them).
fn launch_and_sample(spec: &ProfileSpec, also: &target::tree::Extra) -> Result<Sampled, Error> {
    signals::install();
    target::become_subreaper();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let host = host::host_facts();
    let progress = sampling_progress(spec);
    let on_sample = |s: &Sample| {
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
    let recorded = match &spec.target {
        Target::Attach { pid } => attach(spec, *pid, &on_sample)?,
        Target::Command(_) | Target::Workload(_) => launch(spec, also, &on_sample)?,
    };
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let Recorded {
        rec,
        mode,
        workload,
        command,
        exit,
        counters,
        cores,
        timed_out,
        profiled_cpu_s,
        profiled_written,
        attach,
    } = recorded;
    // The stack reader's answer first: asking the interpreter takes a
    // process start after the run (≈ 13 ms here).
    let python_version = rec
        .python_version
        .clone()
        .or_else(|| rec.python_exe.as_deref().and_then(host::python_version));
    let meta = RunMeta {
        command,
        mode,
        workload,
        started_at,
        duration_s: rec.duration_s,
        exit,
        interrupted: signals::received().is_some(),
        timed_out_after_s: timed_out.map(|d| d.as_secs_f64()),
        host,
        cores_available: cores,
        python_version,
        attach,
    };
    let mut exit_code = exit.map_or(0, |e| e.shell_status());
    if timed_out.is_some() {
        exit_code = target::timeout::TIMED_OUT_STATUS;
    }
    Ok(Sampled {
        timeline: rec.into_timeline(meta, counters),
        exit_code,
        cores,
        profiled_cpu_s,
        profiled_written,
    })
}

fn settings(spec: &ProfileSpec) -> SamplerSettings {
    SamplerSettings {
        rate_hz: spec.sampling.rate_hz,
        attach: matches!(spec.target, Target::Attach { .. }),
        stacks: spec.sampling.stacks,
    }
}

/// Sample a running process until it ends, `--duration` passes or Ctrl-C,
/// with the perf samplers opened on every thread it has (and its children
/// have) and following the threads they create. Native stacks as when
/// launched: always for a program that is not Python, with `--native` for one that is.
fn attach(spec: &ProfileSpec, pid: i32, on_sample: &dyn Fn(&Sample)) -> Result<Recorded, Error> {
    target::check_attachable(pid)?;
    let cores = host::cores_available(pid);
    let start = Instant::now();
    let want_native = spec.sampling.native || !sample::attach::runs_python(pid);
    let mut perf = sample::attach::AttachedPerf::open(pid, want_native, start);
    let deadline = spec.duration.map(|d| start + d);
    let mut rec = sample::record(
        pid,
        settings(spec),
        start,
        || {
            signals::received().is_some()
                || deadline.is_some_and(|d| Instant::now() >= d)
                || target::has_ended(pid)
        },
        |s| {
            on_sample(s);
            perf.tick(s);
        },
    );
    let perf = perf.finish();
    rec.native = perf.native;
    rec.off_cpu = Some(perf.off_cpu);
    Ok(Recorded {
        rec,
        mode: RunMode::Attach,
        workload: None,
        command: vec!["attach".to_string(), pid.to_string()],
        exit: None,
        counters: Some(perf.counters),
        cores,
        timed_out: None,
        profiled_cpu_s: None,
        profiled_written: None,
        attach: Some(perf.coverage),
    })
}

/// The command runs a Python interpreter directly (`python3 …`, `/usr/bin/python3.12 …`).
fn looks_like_python(argv: &[OsString]) -> bool {
    argv.first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("python"))
}

/// Launch the command (or workload) and sample it until it exits.
fn launch(
    spec: &ProfileSpec,
    also: &target::tree::Extra,
    on_sample: &dyn Fn(&Sample),
) -> Result<Recorded, Error> {
    let prepared = match &spec.target {
        Target::Workload(w) => Some(workloads::prepare(w)?),
        _ => None,
    };
    let (argv, mut env): (Vec<OsString>, Vec<(OsString, OsString)>) =
        match (&spec.target, &prepared) {
            (_, Some(p)) => (p.argv.clone(), p.env.clone()),
            (Target::Command(argv), None) if !spec.rerun.vary.is_empty() => {
                // Profile the first point of the --vary grid.
                let first = rerun::plan::grid(&spec.rerun.vary).swap_remove(0);
                (rerun::plan::expand(argv, &first), Vec::new())
            }
            (Target::Command(argv), None) => (argv.clone(), Vec::new()),
            _ => unreachable!("launch targets only"),
        };
    // Native stacks: always for a program that is not Python (there is
    // nothing else to name its code), with --native for C frames under
    // Python. 3.12+ then names Python functions in native stacks through its
    // perf trampoline.
    let python_target = prepared.is_some() || looks_like_python(&argv);
    let want_native = spec.sampling.native || !python_target;
    if spec.sampling.native && python_target {
        env.push(("PYTHONPERFSUPPORT".into(), "1".into()));
    }
    let (mut opened, mut native, mut off_cpu) = (None, None, None);
    let start = Instant::now();
    // With --json, stdout carries the report: the target's own output goes
    // to stderr so the JSON stays parseable.
    let opts = target::LaunchOptions {
        stdout: if spec.output.json {
            target::stderr_file()
        } else {
            None
        },
        ..target::LaunchOptions::default()
    };
    let child = target::launch_with(&argv, &env, &opts, |pid| {
        opened = Some(TreeCounters::open(pid, true));
        if want_native {
            native = Some(NativeSampler::open(pid, true, start));
        }
        off_cpu = Some(OffCpuSampler::open(pid, true, start));
    })?;
    let cores = host::cores_available(child.pid());
    let mut timeout = target::timeout::Timeout::new(start, spec.timeout);
    let mut rec = sample::record_with(
        child.pid(),
        also,
        settings(spec),
        start,
        || {
            // A target that ended on its own just before the limit was not
            // stopped by it: ask about exit first.
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
    rec.native = native.map(|n| match n {
        Ok(n) => n.finish(),
        Err(e) => NativeProfile::unavailable(e.0),
    });
    rec.off_cpu = off_cpu.map(|o| match o {
        Ok(o) => o.finish(),
        Err(e) => OffCpuProfile::unavailable(e.0),
    });
    // Exited, not yet reaped: its byte count is final and readable.
    let profiled_written = rerun::measure::written_bytes(child.pid());
    let (ended, cpu_s) = child.wait_rusage();
    let exit = Some(ended);
    // No status means the wait failed: no CPU time either.
    let profiled_cpu_s = (ended.code.is_some() || ended.signal.is_some()).then_some(cpu_s);
    Ok(Recorded {
        rec,
        mode: if prepared.is_some() {
            RunMode::Workload
        } else {
            RunMode::Launch
        },
        workload: match &spec.target {
            Target::Workload(w) => Some(w.label()),
            _ => None,
        },
        command: argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        exit,
        counters: opened.map(TreeCounters::read),
        cores,
        timed_out: timeout.fired(),
        profiled_cpu_s,
        profiled_written,
        attach: None,
    })
}

/// The comparative re-runs the verdict suggests.
fn rerun_alternatives(
    spec: &ProfileSpec,
    timeline: &Timeline,
    (cores, cluster): (usize, Option<rerun::engines::Cluster>),
    diagnosis: &crate::diagnose::Diagnosis,
    profiled: rerun::judge::Profiled,
) -> rerun::Recommendation {
    let ctx = rerun::plan::PlanContext {
        verdict: diagnosis.verdict,
        argv: match &spec.target {
            Target::Command(argv) => argv.clone(),
            _ => Vec::new(),
        },
        env: Vec::new(),
        cores,
        python: spec.rerun.python.clone(),
        python_314: rerun::plan::find_on_path("python3.14"),
        python_ft: rerun::plan::find_free_threaded(spec.rerun.python_ft.as_deref()),
        python_version: timeline.meta.python_version.clone(),
        workload: match &spec.target {
            Target::Workload(w) => Some(w.clone()),
            _ => None,
        },
        vary: spec.rerun.vary.clone(),
        predictions: diagnosis.predictions.clone(),
        site: diagnosis.site.as_ref().map(|s| s.at.label()),
        cluster,
        uses_joblib: timeline.stacks.uses_package("joblib"),
    };
    let settings = rerun::execute::Settings {
        runs: spec.rerun.runs.max(1),
        budget: spec.rerun.budget,
        estimate: Duration::from_secs_f64(timeline.meta.duration_s),
        quiet: spec.output.quiet,
        profiled,
    };
    rerun::rerun(&ctx, &settings)
}

/// The `--cluster` the engine experiment will use and whose processes on
/// this machine are sampled with the target, checked before anything runs:
/// an address nothing answers at is an error now, not after a profile.
fn reachable_cluster(spec: &ProfileSpec) -> Result<Option<rerun::engines::Cluster>, Error> {
    let launched = !matches!(spec.target, Target::Attach { .. });
    let Some(address) = spec.rerun.cluster.as_deref().filter(|_| launched) else {
        return Ok(None);
    };
    let cluster = rerun::engines::Cluster::parse(address).map_err(Error::Cluster)?;
    cluster.check_reachable().map_err(Error::Cluster)?;
    Ok(Some(cluster))
}

/// Whether the program itself connects to the cluster: its address came from
/// the variable the engine reads (`ray.init()` reads `RAY_ADDRESS`, Dask's
/// `Client()` `DASK_SCHEDULER_ADDRESS`), so the cluster's workers run the
/// program's work and are sampled with it. A `--cluster` alone only directs
/// the engine experiment: sampling an idle cluster would skew the verdict.
fn program_is_client(cluster: &rerun::engines::Cluster) -> bool {
    ["RAY_ADDRESS", "DASK_SCHEDULER_ADDRESS"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|a| a.trim() == cluster.address))
}

/// Why comparative re-runs would tell nothing here, if they would not.
fn skip_reason(spec: &ProfileSpec, tl: &Timeline) -> Option<String> {
    if !spec.rerun.enabled {
        return Some("--no-rerun".into());
    }
    if tl.meta.mode == RunMode::Attach {
        return Some("attached to a running process, which boundcheck cannot re-run".into());
    }
    if tl.meta.interrupted {
        return Some("the run was interrupted".into());
    }
    if tl.meta.timed_out_after_s.is_some() {
        return Some("--timeout stopped the target: re-runs compare complete runs only".into());
    }
    // A program that exits non-zero by itself (`compileall` on a few
    // unparsable files) is re-run: a run counts when it fails the same
    // way. One killed by a signal ended by accident, not by itself.
    match tl.meta.exit {
        Some(e) if e.code.is_none() && e.signal.is_some() => Some(format!(
            "the target was killed by signal {}: re-runs compare runs that end by themselves",
            e.signal.unwrap_or(0)
        )),
        _ => None,
    }
}

/// What to show while a target is sampled. A launched target writes to the
/// same terminal as boundcheck (its stderr always, its stdout too unless
/// redirected), and a spinner redrawn in place would glue its output onto
/// the spinner's line: so a launched target gets one static line before it
/// starts and no live redraws; an attached process (whose output goes
/// elsewhere) keeps the spinner.
fn sampling_progress(spec: &ProfileSpec) -> Option<indicatif::ProgressBar> {
    use std::io::{IsTerminal, Write};
    let what = match &spec.target {
        Target::Attach { .. } => return crate::progress::spinner(spec.output.quiet),
        Target::Workload(w) => format!("the {} workload ({})", w.name, w.strategy),
        Target::Command(argv) => {
            let words: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            text::shorten(&words.join(" "), COMMAND_SHOWN)
        }
    };
    if !spec.output.quiet && std::io::stderr().is_terminal() {
        let line = format!("boundcheck: sampling {what}; the diagnosis follows when it exits\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    None
}

/// Characters of the command shown on the static sampling line.
const COMMAND_SHOWN: usize = 60;
