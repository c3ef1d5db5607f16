//! What a user who installs boundcheck gets beside the binary: shell
//! completions and a man page made from the clap definitions, a hint for
//! the most common first mistake, and documentation that names every flag.

mod common;
use clap::CommandFactory;
use common::*;
use std::path::Path;

fn stdout_of(args: &[&str]) -> Vec<u8> {
    let o = bin().args(args).output().expect("run boundcheck");
    assert!(
        o.status.success(),
        "boundcheck {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
fn bash_completion_parses_and_completes_flags_and_subcommands() {
    let script = stdout_of(&["completions", "bash"]);
    assert!(!script.is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("boundcheck.bash");
    std::fs::write(&file, &script).expect("write");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash");
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Source it and ask for completions as bash would on TAB.
    let probe = r#"
        source "$1"
        COMP_WORDS=(boundcheck --work); COMP_CWORD=1; _boundcheck boundcheck --work boundcheck
        echo "flags: ${COMPREPLY[*]}"
        COMP_WORDS=(boundcheck comp); COMP_CWORD=1; _boundcheck boundcheck comp boundcheck
        echo "subcommands: ${COMPREPLY[*]}"
    "#;
    let o = std::process::Command::new("bash")
        .args(["-c", probe, "probe"])
        .arg(&file)
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("flags: --workload"), "{out}");
    assert!(out.contains("subcommands: completions"), "{out}");
}

#[test]
fn zsh_and_fish_completions_are_written() {
    let zsh = String::from_utf8(stdout_of(&["completions", "zsh"])).expect("utf-8");
    assert!(zsh.starts_with("#compdef boundcheck"), "{zsh}");
    assert!(zsh.contains("--workload"));
    let fish = String::from_utf8(stdout_of(&["completions", "fish"])).expect("utf-8");
    assert!(fish.contains("complete -c boundcheck"), "{fish}");
    assert!(fish.contains("-l max-regression"), "{fish}");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let o = bin().args(["completions", "tcsh"]).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_man_page_renders_with_every_subcommand() {
    let page = stdout_of(&["man"]);
    let text = String::from_utf8(page.clone()).expect("utf-8");
    assert!(text.contains(".TH boundcheck 1"), "roff title line");
    for sub in ["bench", "baseline", "check", "report", "replay"] {
        assert!(
            text.contains(&format!(".TH boundcheck-{sub} 1")),
            "no page for {sub}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("boundcheck.1");
    std::fs::write(&file, &page).expect("write");
    // groff with every warning on (-ww), input recoded from UTF-8 (-k), as
    // man does; any warning is a broken page.
    let groff = std::process::Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
        .expect("groff is needed for this test: run scripts/install-doc-tools.sh");
    assert!(groff.status.success());
    assert_eq!(String::from_utf8_lossy(&groff.stderr), "", "groff warnings");
    let man = std::process::Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man is needed for this test: run scripts/install-doc-tools.sh");
    let shown = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.status.success(),
        "{}",
        String::from_utf8_lossy(&man.stderr)
    );
    assert!(
        shown.contains("SYNOPSIS") && shown.contains("--max-regression"),
        "{shown}"
    );
}

#[test]
fn a_command_without_the_separator_gets_the_fix_spelled_out() {
    let o = bin()
        .args(["--rate", "50", "python3", "app.py", "--workers", "2"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // clap's own message stays, the hint is added.
    assert!(err.contains("unexpected argument 'python3'"), "{err}");
    assert!(
        err.contains("`boundcheck --rate 50 -- python3 app.py --workers 2`"),
        "{err}"
    );
}

#[test]
fn a_mistyped_flag_gets_no_separator_hint() {
    let o = bin().args(["--workloda", "cpu"]).output().expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("put it after `--`"), "{err}");
}

/// Every long flag of every visible subcommand (and of the main command),
/// e.g. `--max-regression`, as `--help` lists it.
fn long_flags(cmd: &clap::Command, path: &str, into: &mut Vec<(String, String)>) {
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long().filter(|l| !["help", "version"].contains(l)) {
            into.push((path.to_string(), format!("--{long}")));
        }
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        long_flags(sub, &format!("{path} {}", sub.get_name()), into);
    }
}

#[test]
fn every_flag_and_subcommand_in_help_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push_str(&std::fs::read_to_string(&path).expect("doc page"));
        }
    }
    let cmd = boundcheck::cli::Cli::command();
    let mut flags = Vec::new();
    long_flags(&cmd, "boundcheck", &mut flags);
    assert!(flags.len() > 30, "found only {} flags", flags.len());
    // A flag name followed by a letter would be another flag (`--python`
    // inside `--python-ft`): require a non-name character after it.
    let mentioned = |flag: &str| {
        docs.match_indices(flag).any(|(i, _)| {
            !docs[i + flag.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let missing: Vec<String> = flags
        .iter()
        .filter(|(_, f)| !mentioned(f))
        .map(|(cmd, f)| format!("{cmd} {f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "flags in --help that neither README.md nor docs/*.md mention: {missing:#?}"
    );
    let undocumented: Vec<&str> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name())
        .filter(|name| !docs.contains(&format!("boundcheck {name}")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "subcommands no page shows in use: {undocumented:?}"
    );
}
