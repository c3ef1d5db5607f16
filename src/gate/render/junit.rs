//! JUnit XML of a `check` outcome, so CI systems (GitHub test reporters,
//! GitLab's `artifacts:reports:junit`, Jenkins) show the gate as a test
//! suite: one test case per policy, a `<failure>` for each regression, a
//! `<skipped>` for a policy the data could not test, an `<error>` when the
//! gate could not compare. No timestamps: the same outcome gives the same bytes.

use crate::gate::{GateOutcome, Status};
use std::fmt::Write;

const SUITE: &str = "boundcheck check";
const CLASS: &str = "boundcheck.check";

pub fn render_gate(o: &GateOutcome) -> Vec<u8> {
    let failures = o.failures();
    let skipped = o
        .checks
        .iter()
        .filter(|c| c.status == Status::NotTested)
        .count();
    let host_case = o.require_same_host;
    let errors = usize::from(o.host_error());
    let tests = o.checks.len() + usize::from(host_case);
    let mut s = head(tests, failures, errors, skipped);
    let _ = writeln!(s, "    <properties>");
    for (name, value) in [
        ("command", o.command.join(" ")),
        ("baseline", o.baseline_source.clone()),
        ("baseline_runs", o.baseline_runs.to_string()),
        ("current", o.current_source.clone()),
        ("current_runs", o.current_runs.to_string()),
    ] {
        let _ = writeln!(
            s,
            "      <property name=\"{name}\" value=\"{}\"/>",
            esc(&value)
        );
    }
    let _ = writeln!(s, "    </properties>");
    for c in &o.checks {
        let _ = write!(s, "    <testcase classname=\"{CLASS}\" name=\"{}\"", c.name);
        match c.status {
            Status::Pass => {
                let _ = writeln!(
                    s,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    esc(&c.detail)
                );
            }
            Status::Fail => {
                let _ = writeln!(
                    s,
                    ">\n      <failure type=\"regression\" message=\"{} {} → {} ({}, limit {})\">{}</failure>\n    </testcase>",
                    c.name,
                    esc(&c.baseline),
                    esc(&c.current),
                    esc(&c.change),
                    esc(&c.limit),
                    esc(&c.detail)
                );
            }
            Status::NotTested => {
                let _ = writeln!(
                    s,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(&c.detail)
                );
            }
        }
    }
    if host_case {
        let _ = write!(s, "    <testcase classname=\"{CLASS}\" name=\"same-host\"");
        if o.host_error() {
            let _ = writeln!(
                s,
                ">\n      <error type=\"host-differs\" message=\"{}\"/>\n    </testcase>",
                esc(&o.host_differences.join("; "))
            );
        } else {
            let _ = writeln!(s, "/>");
        }
    }
    if !o.warnings.is_empty() {
        let _ = writeln!(
            s,
            "    <system-err>{}</system-err>",
            esc(&o.warnings.join("\n"))
        );
    }
    tail(s)
}

/// The gate could not run: one test case holding the error.
pub fn render_error(message: &str) -> Vec<u8> {
    let mut s = head(1, 0, 1, 0);
    let _ = writeln!(
        s,
        "    <testcase classname=\"{CLASS}\" name=\"check\">\n      <error type=\"error\" message=\"{}\"/>\n    </testcase>",
        esc(message)
    );
    tail(s)
}

fn head(tests: usize, failures: usize, errors: usize, skipped: usize) -> String {
    let counts = format!(
        "tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\""
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{SUITE}\" {counts}>\n  <testsuite name=\"{SUITE}\" {counts}>\n"
    )
}

fn tail(mut s: String) -> Vec<u8> {
    s.push_str("  </testsuite>\n</testsuites>\n");
    s.into_bytes()
}

/// Escape for XML text and attributes; drop characters XML 1.0 forbids.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
        let xml = String::from_utf8(render_error("no <baseline> & no luck")).unwrap();
        assert!(
            xml.contains("message=\"no &lt;baseline&gt; &amp; no luck\""),
            "{xml}"
        );
        assert!(xml.contains("errors=\"1\""));
    }
}
