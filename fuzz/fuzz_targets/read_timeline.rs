//! Any bytes as a timeline.json: `read_timeline` returns a clear error or a
//! timeline that the whole replay chain (diagnose, report, renderers) handles;
//! it never panics.
#![no_main]

use boundcheck::report::{Report, json, read_timeline, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("bc-fuzz-timeline-{}.json", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Ok(tl) = read_timeline(&path) {
        let report = Report::of(&tl);
        let _ = json::render_report(&report);
        let _ = json::render_timeline(&tl);
        let _ = text::render(&report, &[]);
    }
});
