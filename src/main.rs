//! Thin entry point: parse, run, map the result to an exit code.
//! 0 ok (or the target's own status), 2 boundcheck failed, 126/127 the
//! command could not be executed / found (as a shell would say).

use boundcheck::Error;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = boundcheck::cli::parse_args();
    let command = match cli.into_command() {
        Ok(s) => s,
        Err(msg) => {
            say(&format!(
                "boundcheck: error: {msg}\n\nFor more information, try '--help'."
            ));
            return ExitCode::from(2);
        }
    };
    match boundcheck::run(&command) {
        Ok(outcome) => ExitCode::from(outcome.exit_code.clamp(0, 255) as u8),
        Err(err) => {
            let code = match err {
                Error::CommandNotFound { .. } => 127,
                Error::CommandNotExecutable { .. } => 126,
                _ => 2,
            };
            let err = anyhow::Error::new(err);
            say(&format!("boundcheck: error: {err:#}"));
            ExitCode::from(code)
        }
    }
}

/// Print a line on stderr. Not `eprintln!`: it panics when stderr is a
/// closed pipe (`boundcheck … 2>&1 | head`), which turned exit 127 into 101.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
