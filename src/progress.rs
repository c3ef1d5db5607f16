//! Progress on stderr for long work (sampling, re-runs, bench), shown only on
//! a terminal and never with `--quiet`: CI logs and pipes stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// A one-off line on stderr about long work about to start (the re-runs'
/// notice); errors writing it (a closed stderr) are ignored, as for the bars.
pub fn note(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(text.as_bytes());
}
