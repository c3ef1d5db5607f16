//! Shell completions and the man page, generated from the clap definitions
//! themselves so they can never drift from `--help`. Produced as bytes here
//! (clap types stay in `cli/`); `run` only prints them.

use super::Cli;
use clap::CommandFactory;

/// The shells `boundcheck completions` writes a script for.
pub use clap_complete::Shell;

/// `boundcheck completions SHELL`: the completion script on stdout, e.g.
/// `boundcheck completions bash > ~/.local/share/bash-completion/completions/boundcheck`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut bytes = Vec::new();
    clap_complete::generate(shell, &mut cmd, "boundcheck", &mut bytes);
    bytes
}

/// `boundcheck man`: the man page (roff, section 1) of the main command with
/// every visible subcommand's page appended, so one file documents them all,
/// e.g. `boundcheck man > ~/.local/share/man/man1/boundcheck.1`.
pub fn man_page() -> Vec<u8> {
    let cmd = Cli::command();
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail; an error here would be a clap_mangen bug.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut bytes);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("boundcheck-{}", sub.get_name());
        let page = sub.clone().display_name(name);
        let source = format!("boundcheck {}", env!("CARGO_PKG_VERSION"));
        let _ = clap_mangen::Man::new(page)
            .source(source)
            .render(&mut bytes);
    }
    bytes
}
