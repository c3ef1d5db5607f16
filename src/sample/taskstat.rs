//! Pure parsers of a thread's own `/proc/PID/task/TID/*` files, as bytes.
//!
//! The live sampler reads these files every tick from descriptors it keeps
//! open, into one reused buffer: parsing the bytes in place, and only the
//! fields the sampler uses, costs a fraction of `procfs`'s full parse (which
//! builds an owned struct of every field, and whose reads go through
//! `read_to_string` with its extra `statx`). Like `parse.rs`, nothing here
//! touches the OS; the unit tests run on text captured from real threads.

/// The fields of `/proc/PID/task/TID/stat` the sampler uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskStat {
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub minflt: u64,
    /// User and kernel CPU time, clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Threads of the whole process (the same in every thread's file): lets
    /// the sampler skip listing `task/` while the count is unchanged.
    pub num_threads: u64,
    /// Start time, clock ticks since boot: with the tid, who the thread is.
    pub starttime: u64,
    /// Resident pages of the process.
    pub rss: u64,
}

/// `stat`: `pid (comm) S ppid …`. The name may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
pub fn parse_task_stat(bytes: &[u8]) -> Option<TaskStat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(bytes.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field numbers of proc(5) minus 3 (pid, comm and state are behind us).
    let mut at = [0u64; 22];
    for (i, f) in fields.take(at.len()).enumerate() {
        // ppid and tty may be negative in principle; only ppid is kept.
        at[i] = if i == 0 {
            f.parse::<i64>().ok()? as u64
        } else {
            f.parse().unwrap_or(0)
        };
    }
    Some(TaskStat {
        comm,
        state,
        ppid: at[0] as i32,
        minflt: at[6],
        utime: at[10],
        stime: at[11],
        num_threads: at[16],
        starttime: at[18],
        rss: at[20],
    })
}

/// `schedstat`: CPU time (ns), time runnable without a CPU (ns), times
/// scheduled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedStat {
    pub runtime_ns: u64,
    pub run_delay_ns: u64,
    pub pcount: u64,
}

pub fn parse_schedstat(bytes: &[u8]) -> Option<SchedStat> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut f = text.split_ascii_whitespace().map(|x| x.parse::<u64>().ok());
    Some(SchedStat {
        runtime_ns: f.next()??,
        run_delay_ns: f.next()??,
        pcount: f.next()??,
    })
}

/// Voluntary and involuntary context switches from `status` (the only
/// fields of that file the per-thread reading needs).
pub fn parse_status_switches(bytes: &[u8]) -> (Option<u64>, Option<u64>) {
    let text = String::from_utf8_lossy(bytes);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    (
        value("voluntary_ctxt_switches:"),
        value("nonvoluntary_ctxt_switches:"),
    )
}

/// What `/proc/PID/task/TID/syscall` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallState {
    /// On a CPU: no system call to show.
    Running,
    /// Blocked, but not in a system call (`-1 sp pc`: a page fault, say).
    NotInSyscall,
    /// Blocked in this system call with these six arguments.
    Blocked { number: u64, args: [u64; 6] },
}

pub fn parse_syscall(bytes: &[u8]) -> Option<SyscallState> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text == "running" {
        return Some(SyscallState::Running);
    }
    let mut f = text.split_ascii_whitespace();
    let first = f.next()?;
    if first.starts_with('-') {
        return Some(SyscallState::NotInSyscall);
    }
    let number = first.parse().ok()?;
    let mut args = [0u64; 6];
    for a in &mut args {
        let v = f.next()?;
        *a = u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()?;
    }
    Some(SyscallState::Blocked { number, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a Python worker thread (CPython 3.11, Linux 6.18).
    const STAT: &str = "4242 (cpu-0 (x) y) S 4200 4200 77 34816 4200 4194368 1503 0 2 0 \
                        251 17 0 0 20 0 5 0 33419 31526912 2302 18446744073709551615 1 1 0 0 0 \
                        0 0 16781312 2 0 0 0 -1 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_task_stat(STAT.as_bytes()).expect("parses");
        assert_eq!(s.comm, "cpu-0 (x) y");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 4200);
        assert_eq!(s.minflt, 1503);
        assert_eq!((s.utime, s.stime), (251, 17));
        assert_eq!(s.num_threads, 5);
        assert_eq!(s.starttime, 33419);
        assert_eq!(s.rss, 2302);
    }

    #[test]
    fn stat_of_this_thread_parses() {
        let text = std::fs::read("/proc/thread-self/stat").expect("own stat");
        let s = parse_task_stat(&text).expect("parses");
        assert_eq!(s.state, 'R');
        assert!(s.num_threads >= 1 && s.starttime > 0, "{s:?}");
        assert!(parse_task_stat(b"12 (trunc").is_none());
        assert!(parse_task_stat(b"").is_none());
    }

    #[test]
    fn schedstat_and_status() {
        assert_eq!(
            parse_schedstat(b"1234567 8910 42\n"),
            Some(SchedStat {
                runtime_ns: 1234567,
                run_delay_ns: 8910,
                pcount: 42
            })
        );
        assert_eq!(parse_schedstat(b"1 2\n"), None);
        let status = b"Name:\tpython3\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t150\n\
                       nonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(parse_status_switches(status), (Some(150), Some(7)));
        assert_eq!(parse_status_switches(b"Name:\tx\n"), (None, None));
    }

    #[test]
    fn syscall_states() {
        assert_eq!(parse_syscall(b"running\n"), Some(SyscallState::Running));
        assert_eq!(
            parse_syscall(b"-1 0x7ffc3c1f8d48 0x7f0a2c0a1b2c\n"),
            Some(SyscallState::NotInSyscall)
        );
        assert_eq!(
            parse_syscall(b"202 0x7f1a2b3c4d50 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd 0x7f00\n"),
            Some(SyscallState::Blocked {
                number: 202,
                args: [0x7f1a2b3c4d50, 0x189, 0, 0, 0, 0xffffffff]
            })
        );
        assert_eq!(parse_syscall(b"7 0x1\n"), None);
    }
}
