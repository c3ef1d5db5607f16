//! Errors of the library. Each message says what went wrong and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no command given: use `boundcheck -- CMD ARGS…`, `--workload NAME` or `--attach PID`")]
    NoCommand,

    #[error("command not found: {command} (not a file, and not on PATH)")]
    CommandNotFound { command: String },

    #[error("cannot execute {command}: {reason}")]
    CommandNotExecutable { command: String, reason: String },

    #[error("cannot launch the command: {0}")]
    Launch(String),

    #[error("no process with pid {pid}")]
    NoSuchProcess { pid: i32 },

    #[error(
        "cannot attach to pid {pid}: {reason} (attach as the same user as the process, or as root)"
    )]
    AttachDenied { pid: i32, reason: String },

    #[error("output directory {path} is not writable: {reason}")]
    OutputNotWritable { path: PathBuf, reason: String },

    #[error("cannot write {path}: {reason}")]
    WriteFailed { path: PathBuf, reason: String },

    #[error("cannot read {path}: {reason}")]
    ReadFailed { path: PathBuf, reason: String },

    #[error("{path} is not a boundcheck {expected} file: {reason}")]
    BadFile {
        path: PathBuf,
        expected: &'static str,
        reason: String,
    },

    #[error(
        "{path} was written by a newer boundcheck (schema {found}, this one reads up to {supported}); upgrade boundcheck to read it"
    )]
    NewerSchema {
        path: PathBuf,
        found: String,
        supported: String,
    },

    #[error(
        "cannot read the {role} {path}: {reason} (record a baseline with `boundcheck baseline -- CMD`)"
    )]
    GateInput {
        path: PathBuf,
        role: &'static str,
        reason: String,
    },

    /// The CI gate could not measure or compare (exit 2, never 1).
    #[error("{0}")]
    Gate(String),

    #[error("{0}")]
    Workload(String),

    /// `--cluster` names no reachable cluster (exit 2, before the target runs).
    #[error("{0}")]
    Cluster(String),

    #[error("cannot draw {what}: {reason}")]
    Render { what: String, reason: String },

    #[error(
        "this platform is not supported: boundcheck samples through Linux /proc and perf events"
    )]
    Unsupported,
}
