//! Parse errors a new user meets first, with the fix added to clap's own
//! message (still exit 2). The classic one: `boundcheck python3 app.py`
//! without `--`, which clap reads as an unknown subcommand.

use super::Cli;
use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::ffi::OsString;

/// Parse the process's arguments; on a usage error print clap's message
/// (with a hint when we know the fix) and exit 2, as `Cli::parse` does.
pub fn parse_args() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(mut err) => {
            if let Some(tip) = missing_separator(&err, &args) {
                err.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![tip.into()]),
                );
            }
            err.exit()
        }
    }
}

/// When clap stopped at a word that is not a boundcheck subcommand or flag
/// (`python3`, `./app`), the user most likely meant it as the command to
/// profile: say to put it after `--`, spelled out with their own words.
fn missing_separator(err: &clap::Error, args: &[OsString]) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidSubcommand | ErrorKind::UnknownArgument
    ) {
        return None;
    }
    let Some(ContextValue::String(word)) = err
        .get(ContextKind::InvalidSubcommand)
        .or(err.get(ContextKind::InvalidArg))
    else {
        return None;
    };
    if word.starts_with('-') {
        return None;
    }
    let at = args
        .iter()
        .position(|a| a.to_str() == Some(word.as_str()))?;
    let (flags, command) = args[1..].split_at(at - 1);
    let quote = |a: &OsString| a.to_string_lossy().into_owned();
    let mut line: Vec<String> = vec!["boundcheck".into()];
    line.extend(flags.iter().map(quote));
    line.push("--".into());
    line.extend(command.iter().map(quote));
    Some(format!(
        "to profile a command, put it after `--`: `{}`",
        line.join(" ")
    ))
}
