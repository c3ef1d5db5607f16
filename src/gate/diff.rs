//! The differential flamegraph of `check`: where on-CPU time moved between
//! the baseline and the current run.
//!
//! Both sides' `cpu.folded` (kept in the baseline file; read beside a
//! report.json) are first made comparable: process and thread roots carry
//! pids and tids (`python3 [pid 4711]`), which differ on every run, so those
//! suffixes are dropped and equal stacks merged. inferno's differential
//! folding then pairs the two (normalised to the same total, so a run that
//! was simply longer does not paint everything red) and its flamegraph
//! colours frames red where the current run spends more, blue where less.

use crate::error::Error;
use inferno::differential;
use inferno::flamegraph::{self, Options};
use std::collections::BTreeMap;

/// `frame;frame count` lines without pid/tid suffixes, equal stacks merged, sorted.
pub fn comparable(folded: &str) -> String {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for line in folded.lines() {
        let Some((stack, n)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = n.trim().parse::<u64>() else {
            continue;
        };
        let stack = stack
            .split(';')
            .map(strip_ids)
            .collect::<Vec<_>>()
            .join(";");
        *counts.entry(stack).or_default() += n;
    }
    counts
        .into_iter()
        .map(|(s, n)| format!("{s} {n}\n"))
        .collect()
}

/// `python3 [pid 4711]` → `python3`; other frames unchanged.
fn strip_ids(frame: &str) -> &str {
    for tag in [" [pid ", " [tid "] {
        if let Some(i) = frame.rfind(tag)
            && frame.ends_with(']')
            && frame[i + tag.len()..frame.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            return &frame[..i];
        }
    }
    frame
}

/// The differential folded lines and their SVG, or `None` when either side
/// has no stacks.
pub fn render(before: &str, after: &str) -> Result<Option<(String, Vec<u8>)>, Error> {
    let (before, after) = (comparable(before), comparable(after));
    if before.is_empty() || after.is_empty() {
        return Ok(None);
    }
    let fail = |e: std::io::Error| Error::Render {
        what: "diff.svg".into(),
        reason: e.to_string(),
    };
    let mut diff = Vec::new();
    let opts = differential::Options {
        normalize: true,
        strip_hex: false,
    };
    differential::from_readers(opts, before.as_bytes(), after.as_bytes(), &mut diff)
        .map_err(fail)?;
    let diff = String::from_utf8_lossy(&diff).into_owned();
    let mut flame = Options::default();
    flame.title = "boundcheck check · on-CPU change, baseline → current".into();
    flame.subtitle =
        Some("width: current samples; red: more time than the baseline, blue: less".into());
    flame.count_name = "samples".into();
    flame.deterministic = true;
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut flame, diff.lines(), &mut svg).map_err(fail)?;
    Ok(Some((diff, svg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_and_tids_are_dropped_and_equal_stacks_merged() {
        let f = "python3 [pid 12];a (x.py:1);hot (x.py:2) 3\npython3 [pid 13];a (x.py:1);hot (x.py:2) 4\nw [tid 9];[sleep] 1\n";
        assert_eq!(
            comparable(f),
            "python3;a (x.py:1);hot (x.py:2) 7\nw;[sleep] 1\n"
        );
        // A function whose name ends in brackets is left alone.
        assert_eq!(strip_ids("f [pid x]"), "f [pid x]");
    }

    #[test]
    fn a_function_that_grew_is_in_the_difference() {
        let before = "python3 [pid 1];main;old 90\npython3 [pid 1];main;new 10\n";
        let after = "python3 [pid 2];main;old 10\npython3 [pid 2];main;new 90\n";
        let (diff, svg) = render(before, after).unwrap().unwrap();
        assert!(diff.contains("python3;main;new 10 90"), "{diff}");
        assert!(String::from_utf8_lossy(&svg).contains("<svg"));
        assert!(render("", after).unwrap().is_none());
    }
}
