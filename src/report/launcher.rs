//! The `launcher-noise` rule: processes that only started the program.
//!
//! `python3` is often not Python but a launcher: pyenv's shim is a bash
//! script that runs `pyenv`, `pyenv-which`, `readlink`, `dirname`, … (about
//! twenty short-lived processes) and then execs the interpreter; `env`, `sh
//! -c` and virtualenv wrappers do the same on a smaller scale. Their threads
//! filled the report's `threads`, `thread_groups` and `processes` with
//! `bash ×20` and `readlink`. The rule hides a process from those three
//! lists when all of these hold:
//!
//! - its name is a shell, a pyenv command or a small tool launchers call
//!   ([`LAUNCHER_NAMES`], `pyenv*`);
//! - it was last seen within [`LAUNCHER_WINDOW_S`] of the start;
//!   (the launched pid becomes the program when the launcher execs, and
//!   lives on past the window under its launcher's first name);
//! - the run outlived the window (a run that is all launcher keeps it all).
//!
//! The diagnosis still counts every thread: the rule only shortens lists.

use crate::timeline::Timeline;
use std::collections::BTreeSet;

/// How soon after the start a launcher process must have ended. pyenv's
/// shim chain ends within ~200 ms on an idle machine; 0.5 s leaves room
/// for a loaded one without catching the program's own short children.
pub const LAUNCHER_WINDOW_S: f64 = 0.5;

/// Shells and the tools launcher scripts call (pyenv's shim uses these).
pub const LAUNCHER_NAMES: [&str; 16] = [
    "bash", "sh", "dash", "zsh", "env", "readlink", "realpath", "dirname", "basename", "uname",
    "cat", "head", "sed", "grep", "mkdir", "which",
];

fn is_launcher_name(name: &str) -> bool {
    name.starts_with("pyenv") || LAUNCHER_NAMES.contains(&name)
}

/// The pids the rule hides.
pub fn noise_pids(tl: &Timeline) -> BTreeSet<i32> {
    if tl.meta.duration_s <= LAUNCHER_WINDOW_S {
        return BTreeSet::new();
    }
    tl.processes
        .iter()
        .filter(|p| p.last_seen_s <= LAUNCHER_WINDOW_S && is_launcher_name(&p.name))
        .map(|p| p.pid)
        .collect()
}
