//! Pure parsers for the `/proc` files that the `procfs` crate does not cover
//! (`wchan`, epoll `fdinfo`, fd link targets, per-core deltas, the memory map
//! lookup for futex addresses). They take text, never touch the OS, and are
//! unit-tested on text captured from real processes in `fixtures/proc/`.

use crate::timeline::{CoreSample, FutexSite, Resource};

/// `/proc/PID/task/TID/wchan`: a kernel symbol, or `0` / empty when running.
pub fn parse_wchan(text: &str) -> Option<String> {
    let w = text.trim();
    if w.is_empty() || w == "0" {
        None
    } else {
        Some(w.to_string())
    }
}

/// What a `/proc/PID/fd/N` link points at. Sockets come back as
/// [`Resource::Socket`] with their inode, to be told apart (inet vs unix)
/// by the caller against `/proc/net/*`.
pub fn parse_fd_link(link: &str) -> (Resource, Option<u64>) {
    if let Some(rest) = link.strip_prefix("socket:[") {
        let inode = rest.trim_end_matches(']').parse().ok();
        return (Resource::Socket, inode);
    }
    if link.starts_with("pipe:[") {
        return (Resource::Pipe, None);
    }
    if link.starts_with("anon_inode:") {
        return (Resource::Event, None);
    }
    if link.starts_with("/dev/") && !is_block_device_name(link) {
        return (Resource::Device, None);
    }
    if link.starts_with('/') {
        return (Resource::File, None);
    }
    (Resource::Unknown, None)
}

/// Block devices behave like files for our purpose (disk I/O); the usual
/// prefixes are enough here because a wrong guess only moves a wait between
/// `disk-wait` and `other`.
fn is_block_device_name(path: &str) -> bool {
    [
        "/dev/sd",
        "/dev/vd",
        "/dev/nvme",
        "/dev/xvd",
        "/dev/mapper/",
        "/dev/dm-",
        "/dev/loop",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// The descriptors an epoll set watches, from `/proc/PID/fdinfo/EPFD`
/// (`tfd:        5 events:       19 data: …` lines).
pub fn parse_epoll_targets(fdinfo: &str) -> Vec<i32> {
    fdinfo
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("tfd:")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

/// One row of a `/proc/net/{tcp,tcp6,udp,udp6}` table, reduced to what
/// counting requests in flight needs: the socket's two ends as the table
/// writes them (`hex address:hex port`, compared as text: both ends of a
/// connection sit in the same table) and whether it is listening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetSocket {
    pub local: String,
    pub remote: String,
    /// TCP state `0A` (LISTEN): a server waiting for connections, no request.
    pub listening: bool,
}

/// `(inode, socket)` for each row of a `/proc/net/{tcp,tcp6,udp,udp6}` table
/// (columns `local_address`, `rem_address`, `st` and `inode`, the 10th).
/// Hand-rolled because only those columns are needed and the `procfs`
/// parser allocates a full entry per socket of the whole namespace.
pub fn parse_inet_sockets(table: &str) -> impl Iterator<Item = (u64, InetSocket)> + '_ {
    table.lines().skip(1).filter_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        let inode = cols.get(9)?.parse().ok()?;
        Some((
            inode,
            InetSocket {
                local: (*cols.get(1)?).to_string(),
                remote: (*cols.get(2)?).to_string(),
                listening: *cols.get(3)? == "0A",
            },
        ))
    })
}

/// Socket inodes listed in `/proc/net/unix` (column `Inode`, the 7th).
pub fn parse_unix_inodes(table: &str) -> impl Iterator<Item = u64> + '_ {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(6)?.parse().ok())
}

/// A mapping of a process's address space, reduced to what the futex lookup needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File path, `[heap]`, `[stack]`, or empty for anonymous memory.
    pub path: String,
}

/// `/proc/PID/maps` lines → mappings. Hand-rolled: `procfs`'s parser also
/// works, but building its full `MemoryMap` per process costs more and we
/// need only the range and the path.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let range = parts.next()?;
            let (a, b) = range.split_once('-')?;
            let start = u64::from_str_radix(a, 16).ok()?;
            let end = u64::from_str_radix(b, 16).ok()?;
            // perms, offset, dev, inode, then the optional path (may hold spaces).
            let path = parts.skip(4).collect::<Vec<_>>().join(" ");
            Some(Mapping { start, end, path })
        })
        .collect()
}

/// Where a futex word lives. CPython keeps its GIL in the interpreter's
/// static runtime state (inside the `python*` binary or `libpython*`), while
/// `threading.Lock`, conditions and queues allocate their semaphores on the
/// heap: so the address alone tells a GIL wait from an application lock wait.
pub fn futex_site(maps: &[Mapping], addr: u64) -> FutexSite {
    let Some(m) = maps.iter().find(|m| m.start <= addr && addr < m.end) else {
        return FutexSite::Unknown;
    };
    let file = m.path.rsplit('/').next().unwrap_or("");
    if file.starts_with("python") || file.starts_with("libpython") {
        FutexSite::Interpreter
    } else if m.path.starts_with("/dev/shm/") {
        FutexSite::Shared
    } else if m.path.is_empty() || m.path == "[heap]" || m.path.starts_with("[anon") {
        FutexSite::Heap
    } else if m.path.starts_with('[') {
        FutexSite::Unknown
    } else {
        FutexSite::Library
    }
}

/// Cumulative ticks of one CPU from `/proc/stat`, enough to compute a [`CoreSample`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreTicks {
    pub user: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub steal: u64,
}

impl CoreTicks {
    fn total(&self) -> u64 {
        self.user + self.system + self.idle + self.iowait + self.steal
    }
}

/// Per-CPU lines (`cpu0 …`, `cpu1 …`) of `/proc/stat`. The aggregate `cpu`
/// line is skipped; user includes nice, system includes irq and softirq.
/// Not `procfs::KernelStats`: it is read every tick, and `KernelStats`
/// parses the whole file (interrupt and context-switch totals too) into
/// owned structures, where only the per-CPU lines and their five sums are needed.
pub fn parse_proc_stat_cores(text: &str) -> Vec<CoreTicks> {
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            CoreTicks {
                user: at(0) + at(1),
                system: at(2) + at(5) + at(6),
                idle: at(3),
                iowait: at(4),
                steal: at(7),
            }
        })
        .collect()
}

/// The split of each core's time between two readings, as fractions.
/// A core with no ticks in between (or a counter that went backwards, which
/// iowait is allowed to do) yields an all-idle sample rather than garbage.
pub fn core_deltas(before: &[CoreTicks], after: &[CoreTicks]) -> Vec<CoreSample> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| {
            let d = |x: u64, y: u64| x.saturating_sub(y) as f32;
            let total = a.total().saturating_sub(b.total()) as f32;
            if total <= 0.0 {
                return CoreSample {
                    idle: 1.0,
                    ..CoreSample::default()
                };
            }
            CoreSample {
                user: d(a.user, b.user) / total,
                system: d(a.system, b.system) / total,
                idle: d(a.idle, b.idle) / total,
                iowait: d(a.iowait, b.iowait) / total,
                steal: d(a.steal, b.steal) / total,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixture files start with `#` lines saying how they were captured.
    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/proc/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn wchan_of_running_thread_is_none() {
        assert_eq!(parse_wchan("0"), None);
        assert_eq!(parse_wchan(""), None);
        assert_eq!(
            parse_wchan(&fixture("wchan_futex.txt")).as_deref(),
            Some("futex_do_wait")
        );
    }

    #[test]
    fn fd_links_are_told_apart() {
        assert_eq!(
            parse_fd_link("socket:[123456]"),
            (Resource::Socket, Some(123456))
        );
        assert_eq!(parse_fd_link("pipe:[99]").0, Resource::Pipe);
        assert_eq!(parse_fd_link("anon_inode:[eventpoll]").0, Resource::Event);
        assert_eq!(parse_fd_link("/dev/pts/0").0, Resource::Device);
        assert_eq!(parse_fd_link("/dev/vda1").0, Resource::File);
        assert_eq!(parse_fd_link("/tmp/x (deleted)").0, Resource::File);
        assert_eq!(parse_fd_link("weird").0, Resource::Unknown);
    }

    #[test]
    fn epoll_fdinfo_lists_watched_descriptors() {
        assert_eq!(
            parse_epoll_targets(&fixture("fdinfo_epoll.txt")),
            vec![4, 6]
        );
        assert!(parse_epoll_targets("pos:\t0\nflags:\t02\n").is_empty());
    }

    #[test]
    fn net_tables_give_inodes() {
        let tcp: Vec<(u64, InetSocket)> = parse_inet_sockets(&fixture("net_tcp.txt")).collect();
        assert!(tcp.len() >= 3);
        assert_eq!(tcp[0].0, 17166);
        assert!(tcp[0].1.listening);
        assert_eq!(tcp[2].1.local, "0100007F:B4A9");
        assert_eq!(tcp[2].1.remote, "0100007F:84A4");
        assert!(!tcp[2].1.listening);
        let unix: Vec<u64> = parse_unix_inodes(&fixture("net_unix.txt")).collect();
        assert!(!unix.is_empty());
    }

    #[test]
    fn futex_in_python_data_is_the_gil_and_heap_is_a_lock() {
        let maps = parse_maps(&fixture("maps_python.txt"));
        assert!(maps.len() > 10);
        let data = maps
            .iter()
            .find(|m| m.path.rsplit('/').next().unwrap().starts_with("python"))
            .expect("python mapping in fixture");
        assert_eq!(futex_site(&maps, data.start), FutexSite::Interpreter);
        let heap = maps.iter().find(|m| m.path == "[heap]").expect("heap");
        assert_eq!(futex_site(&maps, heap.start + 8), FutexSite::Heap);
        assert_eq!(futex_site(&maps, 1), FutexSite::Unknown);
        let libc = maps
            .iter()
            .find(|m| m.path.contains("libc.so"))
            .expect("libc");
        assert_eq!(futex_site(&maps, libc.start), FutexSite::Library);
        let shm = parse_maps(
            "7f0000000000-7f0000001000 rw-s 00000000 00:1a 42   /dev/shm/sem.mp-k2x9 (deleted)\n",
        );
        assert_eq!(futex_site(&shm, 0x7f0000000010), FutexSite::Shared);
    }

    #[test]
    fn proc_stat_cores_and_deltas() {
        let a = parse_proc_stat_cores(&fixture("proc_stat_a.txt"));
        let b = parse_proc_stat_cores(&fixture("proc_stat_b.txt"));
        assert_eq!(a.len(), 2, "two cores, aggregate line skipped");
        let d = core_deltas(&a, &b);
        for c in &d {
            let sum = c.user + c.system + c.idle + c.iowait + c.steal;
            assert!((sum - 1.0).abs() < 1e-3, "fractions sum to 1, got {sum}");
        }
        // Captured while one busy loop ran (migrating between the two cores):
        // about one core's worth of user time in total.
        let user: f32 = d.iter().map(|c| c.user).sum();
        assert!((0.8..1.2).contains(&user), "{d:?}");
    }

    #[test]
    fn core_counter_going_backwards_is_idle_not_garbage() {
        let a = vec![CoreTicks {
            user: 10,
            system: 0,
            idle: 10,
            iowait: 5,
            steal: 0,
        }];
        let b = vec![CoreTicks {
            user: 10,
            system: 0,
            idle: 10,
            iowait: 0,
            steal: 0,
        }];
        assert_eq!(core_deltas(&a, &b)[0].idle, 1.0);
    }
}
