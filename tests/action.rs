//! The GitHub Action's shell part (`scripts/action.sh`, what `action.yml`
//! runs) on a real program: a baseline, then a check that passes and one
//! that regressed, with the step summary, the outputs and the files the
//! artifact keeps.

mod common;
use common::*;
use std::path::Path;
use std::process::Output;

/// `scripts/action.sh run` in `dir` with these inputs, GitHub's files in `dir`.
fn action(dir: &Path, inputs: &[(&str, &str)]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(script)
        .arg("run")
        .current_dir(dir)
        .env("BOUNDCHECK", env!("CARGO_BIN_EXE_boundcheck"))
        .env("GITHUB_OUTPUT", dir.join("github_output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("step_summary.md"));
    for (k, v) in inputs {
        cmd.env(k, v);
    }
    cmd.output().expect("run scripts/action.sh")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The last `exit-code=` the script wrote to $GITHUB_OUTPUT.
fn exit_code(dir: &Path) -> String {
    read(&dir.join("github_output"))
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("exit-code="))
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_action_records_a_baseline_then_fails_the_check_of_a_slower_program() {
    let _machine = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Sleeps are steady under load: a 0.2 s program against a 0.8 s one is
    // a regression whatever else runs on the machine.
    let o = action(
        d,
        &[
            ("BC_MODE", "baseline"),
            ("BC_RUNS", "3"),
            ("BC_COMMAND", "python3 -c 'import time; time.sleep(0.2)'"),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the run phase itself failed: {err}");
    assert_eq!(exit_code(d), "0", "{err}");
    assert!(d.join("boundcheck-baseline.json").is_file(), "{err}");
    let outputs = read(&d.join("github_output"));
    assert!(
        outputs.contains(&format!("{}/boundcheck-report/", d.display())),
        "the artifact's files are absolute paths: {outputs}"
    );
    assert!(
        d.join("boundcheck-report/report.html").is_file(),
        "the artifact gets the page: {err}"
    );

    let o = action(
        d,
        &[
            ("BC_COMMAND", "python3 -c 'import time; time.sleep(0.8)'"),
            ("BC_RUNS", "3"),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the run phase itself failed: {err}");
    assert_eq!(
        exit_code(d),
        "1",
        "a 4x slower program is a regression: {err}"
    );
    assert!(err.contains("REGRESSION"), "{err}");
    let summary = read(&d.join("step_summary.md"));
    assert!(
        summary.contains("| wall-time |") || summary.contains("wall-time"),
        "the step summary gets the gate's markdown table: {summary}"
    );
    assert!(d.join("boundcheck-junit.xml").is_file(), "{err}");
}

#[test]
fn a_missing_baseline_fails_the_step_and_says_why_in_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = action(
        d,
        &[
            ("BC_BASELINE", "no-such-baseline.json"),
            ("BC_COMMAND", "true"),
        ],
    );
    assert!(o.status.success());
    assert_eq!(exit_code(d), "2");
    let summary = read(&d.join("step_summary.md"));
    assert!(summary.contains("cannot read the baseline"), "{summary}");
}

#[test]
fn when_boundcheck_writes_no_summary_the_script_says_what_happened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A usage error stops boundcheck before it writes any markdown.
    let o = action(d, &[("BC_ARGS", "--no-such-flag"), ("BC_COMMAND", "true")]);
    assert!(o.status.success());
    assert_eq!(exit_code(d), "2");
    let summary = read(&d.join("step_summary.md"));
    assert!(summary.contains("could not decide (exit 2)"), "{summary}");
}

#[test]
fn an_empty_command_is_an_error_naming_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = action(dir.path(), &[("BC_COMMAND", "")]);
    assert_eq!(exit_code(dir.path()), "2");
    assert!(String::from_utf8_lossy(&o.stderr).contains("'command' input is empty"));
}

#[test]
fn every_input_of_the_action_is_documented_and_reaches_the_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = read(&root.join("action.yml"));
    let docs = read(&root.join("docs/ci-gating.md"));
    let inputs: Vec<&str> = action
        .split("\ninputs:\n")
        .nth(1)
        .and_then(|rest| rest.split("\noutputs:").next())
        .expect("an inputs: block before outputs:")
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with(' '))
        .collect();
    assert!(inputs.len() >= 10, "{inputs:?}");
    for input in inputs {
        assert!(
            docs.contains(&format!("| `{input}` |")),
            "input {input} is not in docs/ci-gating.md's table"
        );
        assert!(
            action.contains(&format!("${{{{ inputs.{input} }}}}")),
            "input {input} is never used by action.yml"
        );
    }
}

#[test]
fn the_command_input_is_split_like_shell_words_but_never_run_by_a_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A stand-in for boundcheck that shows each argument it gets as [arg].
    let show = d.join("show-args");
    std::fs::write(&show, "#!/bin/sh\nprintf '[%s]' \"$@\"\n").expect("write");
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&show)
        .status()
        .expect("chmod");
    let o = std::process::Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action.sh"))
        .arg("run")
        .current_dir(d)
        .env("BOUNDCHECK", &show)
        .env("GITHUB_OUTPUT", d.join("github_output"))
        .env_remove("GITHUB_STEP_SUMMARY")
        .env(
            "BC_COMMAND",
            r#"python3 -c 'print("a b")' $(touch injected) "two words""#,
        )
        .output()
        .expect("run scripts/action.sh");
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.ends_with(r#"[--][python3][-c][print("a b")][$(touch][injected)][two words]"#),
        "{printed}"
    );
    assert!(!d.join("injected").exists(), "the input ran a command");
}
