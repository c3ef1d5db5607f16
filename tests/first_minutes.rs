//! The first ten minutes of a new user (issue 15), each pinned: what the
//! README tells them to run, what the summary and report.html show on a
//! pyenv machine, what the progress line does to the program's output.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn timeline(name: &str) -> PathBuf {
    fixture(&format!("timelines/{name}"))
}

#[test]
fn the_readme_s_first_command_installs_locked_and_offers_pip() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md");
    let first_block = readme
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    assert!(
        first_block.contains("cargo install --locked"),
        "{first_block}"
    );
    assert!(first_block.contains("pip install ."), "{first_block}");
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).expect("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    assert!(
        readme.contains(&format!("Rust {msrv} or newer")),
        "the README states the minimum Rust version ({msrv})"
    );
}

#[test]
fn pyenv_shim_processes_are_not_listed_as_threads_groups_or_processes() {
    // Recorded on a pyenv machine: `python3` ran bash, pyenv-*, readlink …
    // for ~0.2 s before the interpreter.
    let tl: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(timeline("gil-contended__gil_threads.json")).expect("timeline"),
    )
    .expect("json");
    let shims = tl["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .filter(|p| p["name"] == "bash" || p["name"] == "readlink")
        .count();
    assert!(shims >= 2, "the fixture has the shim processes: {shims}");
    let r = run_replay(&timeline("gil-contended__gil_threads.json"), &["--quiet"]);
    let report = r.report();
    let names = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for key in ["threads", "thread_groups", "processes"] {
        let listed = names(key);
        assert!(
            !listed
                .iter()
                .any(|n| n == "bash" || n == "readlink" || n.starts_with("pyenv")),
            "{key}: {listed:?}"
        );
    }
    assert!(names("threads").iter().any(|n| n == "python3"));
    // The summary says which figure is whose.
    let err = r.stderr();
    assert!(
        err.contains("cores     this program: 0.99 cores busy of 2; whole machine: cpu0"),
        "{err}"
    );
}

/// The fill colour of a legend key in report.html's thread chart.
fn legend_colour(html: &str, state: &str) -> Option<String> {
    let key = format!(r#"class="key">{state}</text>"#);
    let at = html.find(&key)?;
    let before = &html[..at];
    let fill = before.rfind("fill=\"#")?;
    Some(before[fill + 6..fill + 13].to_string())
}

#[test]
fn gil_held_and_on_cpu_have_different_colours_in_the_page() {
    let r = run_replay(
        &timeline("gil-contended__gil_threads_stacks.json"),
        &["--quiet"],
    );
    let html = std::fs::read_to_string(r.out_dir.path().join("report.html")).expect("page");
    let held = legend_colour(&html, "gil-held").expect("gil-held in the legend");
    let on_cpu = legend_colour(&html, "on-cpu").expect("on-cpu in the legend");
    assert_ne!(held, on_cpu, "gil-held and on-cpu share a colour");
}

#[test]
fn a_workload_s_command_shows_the_workers_that_ran_and_the_report_line_every_file() {
    let _machine = exclusive();
    let r = run(&[
        "--workload",
        "cpu",
        "--strategy",
        "threads",
        "--size",
        "low",
        "--format",
        "markdown",
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let command: Vec<String> = r.report()["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let at = command
        .iter()
        .position(|a| a == "--workers")
        .expect("--workers");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(command[at + 1], cpus.to_string(), "{command:?}");
    assert!(
        r.report()["workload"]
            .as_str()
            .is_some_and(|w| w == format!("cpu/threads/{cpus}/low")),
        "{}",
        r.report()["workload"]
    );
    // Every file in --out is on the summary's `report` line.
    let err = r.stderr();
    let line = err
        .lines()
        .find(|l| l.trim_start().starts_with("report "))
        .unwrap_or_else(|| panic!("no report line: {err}"));
    let written: Vec<String> = std::fs::read_dir(r.out_dir.path())
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(written.len() >= 8, "{written:?}");
    for name in &written {
        assert!(
            line.contains(&format!("/{name}")),
            "{name} missing from: {line}"
        );
    }
}

#[test]
fn the_program_s_output_never_shares_a_line_with_the_progress() {
    // A terminal for stderr and stdout, as a user has: `script` (util-linux)
    // runs boundcheck under a pseudo-terminal.
    let _machine = exclusive();
    let out = tempfile::tempdir().expect("tempdir");
    let cmd = format!(
        "{} --no-rerun --force --out {} -- python3 -c \"import time; [print('line from the program', i, flush=True) or time.sleep(0.2) for i in range(4)]\"",
        env!("CARGO_BIN_EXE_boundcheck"),
        out.path().display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("`script` gives boundcheck a terminal: run scripts/install-doc-tools.sh");
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("line from the program 3"), "{shown}");
    for line in shown.split(['\n', '\r']) {
        // The output itself ("… program 0"), not the command on the static line.
        if (0..4).any(|i| line.contains(&format!("line from the program {i}"))) {
            assert!(
                line.trim_start().starts_with("line from the program"),
                "the program's output shares a line: {line:?}"
            );
        }
    }
    assert!(shown.contains("boundcheck: sampling python3"), "{shown}");
}

/// A free-threaded Python, from PATH or where scripts/install-pythons.sh puts it.
fn free_threaded() -> PathBuf {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cache = std::env::var_os("BOUNDCHECK_PYTHONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/boundcheck/pythons"))
        .join("bin");
    dirs.iter()
        .chain([&cache])
        .flat_map(|d| [d.join("python3.14t"), d.join("python3.13t")])
        .find(|p| p.is_file())
        .expect("no free-threaded Python: run scripts/install-pythons.sh (scripts/test.sh does)")
}

#[test]
fn python_ft_adds_a_free_threaded_re_run_to_a_workload() {
    let ft = free_threaded();
    let _machine = exclusive();
    let r = run_rerun(&[
        "--workload",
        "cpu",
        "--strategy",
        "threads",
        "--size",
        "low",
        "--runs",
        "1",
        "--python-ft",
        ft.to_str().expect("utf-8"),
    ]);
    let experiments = r.report()["recommendation"]["experiments"]
        .as_array()
        .unwrap_or_else(|| panic!("no re-runs: {}", r.stderr()))
        .clone();
    let ft_run = experiments
        .iter()
        .find(|e| e["strategy"] == "free-threaded")
        .unwrap_or_else(|| panic!("no free-threaded re-run: {experiments:#?}"));
    assert_eq!(ft_run["status"], "measured", "{ft_run:#?}");
    let command = ft_run["command"].to_string();
    assert!(command.contains(ft.to_str().expect("utf-8")), "{command}");
}
