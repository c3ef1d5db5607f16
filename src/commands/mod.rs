//! The command layer: one file per subcommand, above the one-way pipeline.
//! Each file turns its settings from `spec` into calls down the rooms
//! (target → sample → timeline → diagnose → rerun → report, or the gate and
//! the bench) and decides what is shown where; nothing below calls back up.
//!
//! Exit status policy (a contract, see `--help`): a launched target's own
//! status is returned (128 + N when killed by signal N); boundcheck's own
//! failures are errors (exit 2, printed by `main`), except a command that
//! cannot be found or executed, which returns 127 / 126 like a shell. When
//! the report cannot be written (full disk), the summary is still printed
//! before the error, so nothing measured is lost.

#[cfg(target_os = "linux")]
mod bench;
#[cfg(target_os = "linux")]
mod gate;
mod native_workload;
#[cfg(target_os = "linux")]
pub mod profile;
mod replay;
mod report;

#[cfg(target_os = "linux")]
pub use profile::{ProfiledRun, profile};

use crate::error::Error;
use crate::spec::Command;

/// How a command ended, for `main` to turn into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: i32,
}

/// Run one boundcheck invocation.
pub fn run(command: &Command) -> Result<Outcome, Error> {
    match command {
        Command::Replay(spec) => replay::run(spec),
        Command::Report(spec) => report::run(spec),
        Command::NativeWorkload(spec) => Ok(native_workload::run(spec)),
        Command::Print(bytes) => {
            crate::report::output::to_stdout(bytes);
            Ok(Outcome { exit_code: 0 })
        }
        #[cfg(target_os = "linux")]
        Command::Profile(spec) => profile::run(spec),
        #[cfg(target_os = "linux")]
        Command::Bench(spec) => bench::run(spec),
        #[cfg(target_os = "linux")]
        Command::Baseline(spec) => gate::run_baseline(spec),
        #[cfg(target_os = "linux")]
        Command::Check(spec) => gate::run_check(spec),
        #[cfg(not(target_os = "linux"))]
        _ => Err(Error::Unsupported),
    }
}
