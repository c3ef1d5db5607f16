//! The hidden `boundcheck native-workload`: a built-in workload in native
//! Rust, in this process, so the bench measures its native cells exactly like
//! the Python ones (as a child process). Prints one JSON line.

use super::Outcome;
use crate::report::output;
use crate::spec::WorkloadSpec;

/// Exit status for "does not apply", as the Python runner says it.
const NOT_APPLICABLE_STATUS: i32 = 3;

pub fn run(w: &WorkloadSpec) -> Outcome {
    match crate::workloads::native::run(&w.name, &w.strategy, w.workers, &w.size) {
        Ok(r) => {
            let line = serde_json::json!({
                "workload": w.name, "strategy": w.strategy, "workers": w.workers,
                "size": w.size, "tasks": r.tasks, "wall_s": r.wall_s, "checksum": r.checksum,
            });
            output::to_stdout(format!("{line}\n").as_bytes());
            Outcome { exit_code: 0 }
        }
        Err(e) => {
            output::to_stderr(format!("{e}\n").as_bytes());
            Outcome {
                exit_code: NOT_APPLICABLE_STATUS,
            }
        }
    }
}
