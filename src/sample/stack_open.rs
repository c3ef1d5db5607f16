//! Why a Python process's stacks could not be opened, for the report.
//!
//! The reader's (py-spy's) error is kept whole, with its chain of causes; the
//! explanation added to it rests on evidence about the process, not on the
//! error's wording alone. "Failed to find a python interpreter" is what
//! py-spy says for a free-threaded build, but also for an interpreter it does
//! not know or a binary that is not CPython: only a build whose executable or
//! libpython carries the free-threaded ABI flag (`python3.13t`,
//! `libpython3.14t.so`) is called free-threaded.

/// The reason, with the fix when there is one.
pub fn explain(pid: i32, error: &str) -> String {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    explain_with(error, &exe, &maps)
}

/// [`explain`] over what was read of the process: its executable's file name
/// and its `/proc/PID/maps` text (either may be empty when unreadable).
pub fn explain_with(error: &str, exe: &str, maps: &str) -> String {
    let cause = if is_permission(error) {
        " — reading another process's memory needs ptrace rights: run as root, or `sudo sysctl kernel.yama.ptrace_scope=0`, or in a container add `--cap-add SYS_PTRACE`".to_string()
    } else if let Some(build) = free_threaded_build(exe, maps) {
        format!(
            " — {build} is a free-threaded build (GIL disabled), whose interpreter layout py-spy 0.4 cannot read yet; OS states are still sampled"
        )
    } else {
        " — OS states are still sampled".to_string()
    };
    format!("Python stacks unavailable: {error}{cause}")
}

/// The kernel refused the read (EPERM, EACCES), as the error chain says.
fn is_permission(error: &str) -> bool {
    [
        "ermission denied",
        "Operation not permitted",
        "(os error 1)",
        "(os error 13)",
        "EPERM",
    ]
    .iter()
    .any(|m| error.contains(m))
}

/// The free-threaded interpreter the process runs, by file name: the
/// executable, or a mapped libpython, whose ABI flags after `pythonX.Y`
/// include `t`.
pub fn free_threaded_build(exe: &str, maps: &str) -> Option<String> {
    let mapped = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|path| path.rsplit('/').next());
    std::iter::once(exe)
        .chain(mapped)
        .find(|name| abi_flags(name).is_some_and(|f| f.contains('t')))
        .map(|name| name.split(".so").next().unwrap_or(name).to_string())
}

/// `python3.13t` → `t`, `libpython3.14td.so.1.0` → `td`, `python3.12` → ``.
fn abi_flags(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("lib").unwrap_or(name);
    let rest = rest.strip_prefix("python3.")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if digits == 0 {
        return None;
    }
    let flags = &rest[digits..];
    let flags = flags.split(".so").next().unwrap_or(flags);
    flags
        .chars()
        .all(|c| c.is_ascii_lowercase())
        .then_some(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FT_ERROR: &str = "Failed to find a python interpreter in the .data section";

    #[test]
    fn a_free_threaded_executable_is_named_with_the_error_kept_whole() {
        let m = explain_with(FT_ERROR, "python3.13t", "");
        assert!(m.contains(FT_ERROR), "{m}");
        assert!(m.contains("python3.13t is a free-threaded build"), "{m}");
    }

    #[test]
    fn a_free_threaded_libpython_is_found_in_the_maps() {
        let maps = "7f00-7f10 r-xp 00000000 08:01 42 /opt/py/lib/libpython3.14t.so.1.0\n\
                    7f20-7f30 r--p 00000000 08:01 43 /usr/lib/x86_64-linux-gnu/libc.so.6\n";
        assert_eq!(
            free_threaded_build("python3", maps).as_deref(),
            Some("libpython3.14t")
        );
    }

    #[test]
    fn the_same_error_from_a_gil_build_does_not_blame_free_threading() {
        let maps = "7f00-7f10 r-xp 00000000 08:01 42 /usr/lib/libpython3.12.so.1.0\n";
        let m = explain_with(FT_ERROR, "python3.12", maps);
        assert!(!m.contains("free-threaded"), "{m}");
        assert!(m.contains(FT_ERROR), "{m}");
        for name in [
            "python3",
            "python3.14",
            "python3.1",
            "pythonista",
            "python3.x",
        ] {
            assert_eq!(free_threaded_build(name, ""), None, "{name}");
        }
    }

    #[test]
    fn a_refused_read_names_ptrace_rights_whatever_the_build() {
        let m = explain_with("Operation not permitted (os error 1)", "python3.13t", "");
        assert!(m.contains("ptrace rights"), "{m}");
        assert!(!m.contains("free-threaded"), "{m}");
    }
}
