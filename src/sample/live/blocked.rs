//! What a blocked thread waits in: its `wchan`, its system call and, for a
//! call on descriptors, what those descriptors are (a file, a TCP socket, a
//! pipe…), resolved through `/proc/PID/fd`, the socket tables and, for
//! `poll`/`select`, the argument arrays read from the target's memory
//! (`remote.rs`). A blocked thread that has not run since the last tick is
//! still in the same call: its answer ([`Blocked`]) is reused.

use super::super::classify;
use super::super::parse::{self, InetSocket, Mapping};
use super::super::syscalls;
use super::super::taskstat::SyscallState;
use super::tasks::read_text;
use super::{LiveReader, SYSCALL_DENIED, remote};
use crate::timeline::{FutexSite, Resource, ThreadSample};
use std::collections::{HashMap, HashSet};

/// What a blocked thread was blocked in, kept to skip re-reading it.
#[derive(Debug, Clone)]
pub(super) struct Blocked {
    /// `schedstat` switch-in count when read: unchanged means the thread has
    /// not run since, so it is still inside the same blocking call.
    pcount: u64,
    os_state: char,
    wchan: Option<String>,
    syscall: Option<String>,
    waits_on: Option<Resource>,
    futex: Option<FutexSite>,
    futex_addr: Option<u64>,
    watched_sockets: Option<u32>,
}

impl LiveReader {
    /// Fill in what `ts` waits in when it is not running: the last answer
    /// when the thread has not been scheduled since (same call), else read.
    pub(super) fn read_wait(
        &mut self,
        pid: i32,
        tid: i32,
        pcount: Option<u64>,
        ts: &mut ThreadSample,
        sockets: &mut SocketTable,
    ) {
        if ts.os_state == 'R' {
            self.blocked.remove(&tid);
            return;
        }
        match self.blocked.get(&tid) {
            // Not scheduled since the last tick: same call, same answer.
            Some(b) if Some(b.pcount) == pcount && b.os_state == ts.os_state => {
                ts.wchan.clone_from(&b.wchan);
                ts.syscall.clone_from(&b.syscall);
                ts.waits_on = b.waits_on;
                ts.futex = b.futex;
                ts.futex_addr = b.futex_addr;
                ts.watched_sockets = b.watched_sockets;
            }
            _ => {
                self.read_blocked(pid, tid, ts, sockets);
                if let Some(pcount) = pcount {
                    self.blocked.insert(
                        tid,
                        Blocked {
                            pcount,
                            os_state: ts.os_state,
                            wchan: ts.wchan.clone(),
                            syscall: ts.syscall.clone(),
                            waits_on: ts.waits_on,
                            futex: ts.futex,
                            futex_addr: ts.futex_addr,
                            watched_sockets: ts.watched_sockets,
                        },
                    );
                }
            }
        }
    }

    /// What a blocked thread waits in: its syscall, what its descriptor is,
    /// and its `wchan` when those do not decide or it waits on the disk.
    fn read_blocked(
        &mut self,
        pid: i32,
        tid: i32,
        ts: &mut ThreadSample,
        sockets: &mut SocketTable,
    ) {
        self.read_call(pid, tid, ts, sockets);
        // `wchan` only when the call does not decide the state, or for a
        // disk wait (flush or not): elsewhere skipping it saves one of the
        // two reads per wait, at 100 Hz nearly every thread's every tick.
        if classify::wchan_needed(ts.os_state, ts.syscall.as_deref(), ts.waits_on) {
            ts.wchan = self.files.wchan(pid, tid);
        }
    }

    /// The system call a blocked thread is in, and what it waits on.
    fn read_call(&mut self, pid: i32, tid: i32, ts: &mut ThreadSample, sockets: &mut SocketTable) {
        let Ok(syscall) = self.files.syscall(pid, tid) else {
            // No ptrace access (another user's process without
            // CAP_SYS_PTRACE, a setuid program): the wait cannot be told
            // apart. Counted, so a caveat says so instead of a silent "other".
            self.fail(SYSCALL_DENIED);
            return;
        };
        let Some(SyscallState::Blocked { number, args }) = syscall else {
            return;
        };
        let Some(name) = syscalls::name(number as i64) else {
            return;
        };
        ts.syscall = Some(name.to_string());
        if name == "futex" {
            ts.futex = Some(self.futex_site(pid, args[0]));
            ts.futex_addr = Some(args[0]);
        } else if classify::syscall_uses_fd(name) {
            let (resource, watched) = self.resolve_wait(pid, name, &args, sockets);
            ts.waits_on = Some(resource);
            ts.watched_sockets = watched;
        }
    }

    fn futex_site(&mut self, pid: i32, addr: u64) -> FutexSite {
        let maps = self.maps.entry(pid).or_insert_with(|| read_maps(pid));
        match parse::futex_site(maps, addr) {
            FutexSite::Unknown => {
                // The map may have grown since we read it: refresh once.
                *maps = read_maps(pid);
                parse::futex_site(maps, addr)
            }
            site => site,
        }
    }

    /// What the call waits on, and for a multiplexing call (`poll`,
    /// `select`, `epoll`) how many network sockets it watches.
    fn resolve_wait(
        &mut self,
        pid: i32,
        name: &str,
        args: &[u64; 6],
        sockets: &mut SocketTable,
    ) -> (Resource, Option<u32>) {
        let fds: Vec<i32> = match name {
            "poll" | "ppoll" => match remote::read_pollfds(pid, args[0], args[1]) {
                Some(fds) => fds,
                None => return (Resource::Unknown, None),
            },
            "select" | "pselect6" => match remote::read_fdsets(pid, args[0], &args[1..4]) {
                Some(fds) => fds,
                None => return (Resource::Unknown, None),
            },
            "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => {
                read_text(&format!("/proc/{pid}/fdinfo/{}", args[0] as i32))
                    .map(|t| parse::parse_epoll_targets(&t))
                    .unwrap_or_default()
            }
            _ => {
                let (one, _) = resolve_fd(pid, args[0] as i32, sockets);
                return (classify::waited_resource(name, args, one), None);
            }
        };
        let kinds: Vec<(Resource, Option<u64>)> =
            fds.iter().map(|&fd| resolve_fd(pid, fd, sockets)).collect();
        let inet: Vec<&InetSocket> = kinds
            .iter()
            .filter(|(k, _)| *k == Resource::InetSocket)
            .filter_map(|(_, inode)| sockets.inet.get(&(*inode)?))
            .collect();
        // Sockets watched but gone from the table by now (closed meanwhile)
        // still made this a network wait: at least one.
        let in_flight = (!inet.is_empty()).then(|| classify::requests_in_flight(&inet).max(1));
        let watched = classify::combine(kinds.iter().map(|(k, _)| *k));
        (classify::waited_resource(name, args, watched), in_flight)
    }
}

/// What descriptor `fd` is, and its inode when it is a socket.
fn resolve_fd(pid: i32, fd: i32, sockets: &mut SocketTable) -> (Resource, Option<u64>) {
    if fd < 0 {
        return (Resource::Unknown, None);
    }
    let Ok(link) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
        return (Resource::Unknown, None);
    };
    match parse::parse_fd_link(&link.to_string_lossy()) {
        (Resource::Socket, Some(inode)) => (sockets.kind(pid, inode), Some(inode)),
        (r, _) => (r, None),
    }
}

/// Socket inodes of the target's network namespace, read at most once per tick
/// and only when a thread is found blocked on a socket.
#[derive(Default)]
pub(super) struct SocketTable {
    loaded: bool,
    inet: HashMap<u64, InetSocket>,
    unix: HashSet<u64>,
}

impl SocketTable {
    fn kind(&mut self, pid: i32, inode: u64) -> Resource {
        if !self.loaded {
            self.loaded = true;
            for t in ["tcp", "tcp6", "udp", "udp6"] {
                if let Some(text) = read_text(&format!("/proc/{pid}/net/{t}")) {
                    self.inet.extend(parse::parse_inet_sockets(&text));
                }
            }
            if let Some(text) = read_text(&format!("/proc/{pid}/net/unix")) {
                self.unix.extend(parse::parse_unix_inodes(&text));
            }
        }
        if self.inet.contains_key(&inode) {
            Resource::InetSocket
        } else if self.unix.contains(&inode) {
            Resource::UnixSocket
        } else {
            Resource::Socket
        }
    }
}

fn read_maps(pid: i32) -> Vec<Mapping> {
    read_text(&format!("/proc/{pid}/maps"))
        .map(|t| parse::parse_maps(&t))
        .unwrap_or_default()
}
