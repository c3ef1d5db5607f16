//! Progress on stderr for long work (sampling, re-runs, bench), shown only on
//! a terminal and never with `--quiet`: CI logs and pipes stay clean.

use crate::spec::{Spec, TargetSpec};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};

/// A bar of `total` steps labelled `what`, with an ETA; `None` when hidden.
pub fn bar(quiet: bool, what: &str, total: u64) -> Option<ProgressBar> {
    if quiet {
        return None;
    }
    let p = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if p.is_hidden() {
        return None;
    }
    let template = format!("{what} [{{bar:24}}] {{pos}}/{{len}} {{msg}} (eta {{eta}})");
    let style =
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    p.set_style(style.progress_chars("=> "));
    Some(p)
}

/// A spinner for work of unknown length; `None` when hidden.
pub fn spinner(quiet: bool) -> Option<ProgressBar> {
    if quiet {
        return None;
    }
    let p = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if p.is_hidden() {
        return None;
    }
    p.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    p.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(p)
}

/// What to show while a target is sampled. A launched target writes to the
/// same terminal as boundcheck (its stderr always, its stdout too unless
/// redirected), and a spinner redrawn in place would glue its output onto
/// the spinner's line: so a launched target gets one static line before it
/// starts and no live redraws; an attached process (whose output goes
/// elsewhere) keeps the spinner.
pub fn sampling(spec: &Spec) -> Option<ProgressBar> {
    let what = match &spec.target {
        TargetSpec::Attach { .. } => return spinner(spec.quiet),
        TargetSpec::Workload(w) => format!("the {} workload ({})", w.name, w.strategy),
        TargetSpec::Command(argv) => {
            let words: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            crate::report::text::shorten(&words.join(" "), COMMAND_SHOWN)
        }
        _ => "the target".to_string(),
    };
    if !spec.quiet && std::io::stderr().is_terminal() {
        let line = format!("boundcheck: sampling {what}; the diagnosis follows when it exits\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    None
}

/// Characters of the command shown on the static sampling line.
const COMMAND_SHOWN: usize = 60;
