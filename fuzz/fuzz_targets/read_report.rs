//! Any bytes as a report.json: `read_report` returns a clear error or a
//! report that every renderer handles; it never panics. The reader takes a
//! path (as users call it), so each input goes through a file in /dev/shm.
#![no_main]

use boundcheck::report::{json, read_report, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("bc-fuzz-report-{}.json", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Ok(report) = read_report(&path) {
        let _ = json::render_report(&report);
        let _ = text::render(&report, &[]);
        if let Some(rec) = &report.recommendation {
            let _ = text::render_recommendation(rec, &[]);
        }
    }
});
