//! Parse errors a new user meets first, with the fix added to clap's own
//! message (still exit 2). The classic one: `boundcheck python3 app.py`
//! without `--`, which clap reads as an unknown argument.

use super::Cli;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use std::ffi::OsString;

/// Subcommand names this long may carry two typos and still be suggested
/// (`replya`), shorter ones one (`chek`): `bash` must not read as `bench`.
const LONG_NAME: usize = 6;

/// Parse the process's arguments; on a usage error print clap's message
/// (with a hint when we know the fix) and exit 2, as `Cli::parse` does.
pub fn parse_args() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(mut err) => {
            let tip = stray_word(&err).and_then(|word| {
                near_subcommand(&word).or_else(|| missing_separator(&word, &args))
            });
            if let Some(tip) = tip {
                err.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![tip.into()]),
                );
            }
            err.exit()
        }
    }
}

/// The word clap stopped at, when it is not a flag.
fn stray_word(err: &clap::Error) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidSubcommand | ErrorKind::UnknownArgument
    ) {
        return None;
    }
    match err
        .get(ContextKind::InvalidSubcommand)
        .or(err.get(ContextKind::InvalidArg))
    {
        Some(ContextValue::String(word)) if !word.starts_with('-') => Some(word.clone()),
        _ => None,
    }
}

/// A word a typo or two away from a subcommand (`chek`, `replya`) is more
/// likely that subcommand than a program to profile.
fn near_subcommand(word: &str) -> Option<String> {
    let name = Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .find(|name| {
            let allowed = if name.chars().count() >= LONG_NAME {
                2
            } else {
                1
            };
            edit_distance(name, word) <= allowed
        })?;
    Some(format!("a subcommand? `boundcheck {name}`"))
}

/// Levenshtein distance (insertions, deletions, substitutions).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Otherwise the user most likely meant the word as the command to
/// profile (`python3`, `./app`): say to put it after `--`, spelled out with
/// their own words.
fn missing_separator(word: &str, args: &[OsString]) -> Option<String> {
    let at = args.iter().skip(1).position(|a| a.to_str() == Some(word))?;
    let (flags, command) = args[1..].split_at(at);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_subcommands_are_near_and_programs_are_not() {
        assert_eq!(edit_distance("chek", "check"), 1);
        assert_eq!(edit_distance("replya", "replay"), 2);
        assert!(near_subcommand("chek").is_some_and(|t| t.contains("boundcheck check")));
        assert_eq!(near_subcommand("python3"), None);
        assert_eq!(near_subcommand("ls"), None);
        assert_eq!(near_subcommand("bash"), None);
        assert_eq!(near_subcommand("make"), None);
        assert_eq!(near_subcommand("./app"), None);
    }
}
