//! One state per thread-moment, from what /proc showed of it.
//!
//! The method (also in `docs/thread-states.md`):
//! 1. `R` is `on-cpu`, unless the thread spent more of the last interval
//!    waiting for a CPU (`schedstat` run delay) than on one: then `runnable`.
//! 2. `D` (uninterruptible) is `disk-wait`: on Linux that is overwhelmingly
//!    block I/O (page cache misses, fsync, writeback throttling).
//! 3. `S` is decided by the system call the thread is blocked in
//!    (`/proc/PID/task/TID/syscall`) and, when its argument is a descriptor,
//!    by what that descriptor is: futex → `lock-wait`; nanosleep → `sleep`;
//!    wait4 → `child-wait`; fsync → `disk-wait`; recv/poll/epoll/accept on an
//!    inet socket → `net-wait`; on a regular file → `disk-wait`; a poll with
//!    no descriptors at all → `sleep` (a pure timeout); pipes, unix sockets and
//!    terminals → `other` (local IPC or a human, neither disk nor network).
//! 4. When the syscall is unknown, the kernel's `wchan` decides.
//!
//! Pure: the live sampler gathers [`Observation`]s, this file only decides.

use super::parse::InetSocket;
use crate::timeline::{FutexSite, PyState, Resource, ThreadState};

/// What the sampler saw of one thread at one tick.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    pub os_state: char,
    /// Name of the syscall it is blocked in; `None` when running or unknown.
    pub syscall: Option<&'a str>,
    /// What that syscall's descriptor(s) point at, when resolved.
    pub waits_on: Option<Resource>,
    pub wchan: Option<&'a str>,
    pub cpu_s: f64,
    pub run_delay_s: f64,
    pub interval_s: f64,
}

/// Which syscalls take a descriptor (or a set of them) whose kind decides the state.
pub fn syscall_uses_fd(name: &str) -> bool {
    matches!(
        name,
        "read"
            | "readv"
            | "pread64"
            | "preadv"
            | "preadv2"
            | "recvfrom"
            | "recvmsg"
            | "recvmmsg"
            | "accept"
            | "accept4"
            | "connect"
            | "write"
            | "writev"
            | "pwrite64"
            | "sendto"
            | "sendmsg"
            | "sendfile"
            | "splice"
            | "poll"
            | "ppoll"
            | "select"
            | "pselect6"
            | "epoll_wait"
            | "epoll_pwait"
            | "epoll_pwait2"
    )
}

/// Classify one thread-moment.
pub fn classify(o: &Observation) -> ThreadState {
    match o.os_state {
        'R' => {
            if o.run_delay_s > o.cpu_s && o.run_delay_s > 0.5 * o.interval_s {
                ThreadState::Runnable
            } else {
                ThreadState::OnCpu
            }
        }
        'D' => ThreadState::DiskWait,
        'S' | 'I' => o
            .syscall
            .and_then(|s| by_syscall(s, o.waits_on))
            .or_else(|| o.wchan.and_then(by_wchan))
            .unwrap_or(ThreadState::Other),
        _ => ThreadState::Other,
    }
}

/// Whether a blocked thread's `wchan` must be read: when the call does not
/// decide its state (step 4 of [`classify`]), and for every disk wait,
/// where the kernel function tells a flush (a journal commit, a cache
/// flush) from a plain read or write for the `batch` prediction
/// (`predict::formulas::flush_wait`). Elsewhere it adds nothing, and not
/// reading it saves one of the two reads per wait.
pub fn wchan_needed(os_state: char, syscall: Option<&str>, waits_on: Option<Resource>) -> bool {
    match os_state {
        'S' | 'I' => syscall
            .and_then(|s| by_syscall(s, waits_on))
            .is_none_or(|state| state == ThreadState::DiskWait),
        'D' => true,
        _ => false,
    }
}

fn by_syscall(name: &str, waits_on: Option<Resource>) -> Option<ThreadState> {
    let state = match name {
        "futex" | "futex_wait" | "futex_waitv" | "flock" | "semop" | "semtimedop" => {
            ThreadState::LockWait
        }
        "nanosleep" | "clock_nanosleep" | "pause" | "rt_sigsuspend" | "rt_sigtimedwait"
        | "alarm" => ThreadState::Sleep,
        "wait4" | "waitid" => ThreadState::ChildWait,
        "fsync" | "fdatasync" | "sync" | "syncfs" | "sync_file_range" | "msync" => {
            ThreadState::DiskWait
        }
        name if syscall_uses_fd(name) => by_resource(waits_on?),
        _ => return None,
    };
    Some(state)
}

fn by_resource(r: Resource) -> ThreadState {
    match r {
        Resource::InetSocket | Resource::Socket => ThreadState::NetWait,
        Resource::File => ThreadState::DiskWait,
        Resource::Nothing => ThreadState::Sleep,
        Resource::UnixSocket
        | Resource::Pipe
        | Resource::Device
        | Resource::Event
        | Resource::Unknown => ThreadState::Other,
    }
}

fn by_wchan(w: &str) -> Option<ThreadState> {
    let has = |p: &str| w.contains(p);
    Some(if has("futex") {
        ThreadState::LockWait
    } else if has("nanosleep") || has("hrtimer") {
        ThreadState::Sleep
    } else if has("do_wait") || w == "kernel_wait4" {
        ThreadState::ChildWait
    } else if has("io_schedule")
        || has("folio_wait")
        || has("wait_on_page")
        || has("bit_wait_io")
        || has("wait_for_completion_io")
        || has("jbd2")
        || has("blkdev")
    {
        ThreadState::DiskWait
    } else if has("sk_wait") || has("inet_csk_accept") || has("tcp_") {
        ThreadState::NetWait
    } else {
        return None;
    })
}

/// Join a thread-moment's OS state with its Python stack into a finer state.
///
/// On a CPU: holding the GIL is `gil-held`, not holding it is C code that
/// released it (`native-nogil`; the stack read follows the OS read by well
/// under a millisecond, so a thread seen running is still running). Blocked on
/// a futex: a futex word in the interpreter's static data is the GIL; one in
/// the heap or shared memory, or a wait inside `threading`/`queue`, is an
/// application lock. Everything else keeps its OS state only (`None`).
pub fn py_state(
    state: ThreadState,
    futex: Option<FutexSite>,
    owns_gil: bool,
    in_sync_call: bool,
) -> Option<PyState> {
    match state {
        ThreadState::OnCpu | ThreadState::Runnable if owns_gil => Some(PyState::GilHeld),
        ThreadState::OnCpu => Some(PyState::NativeNogil),
        ThreadState::LockWait => match futex {
            Some(FutexSite::Interpreter) => Some(PyState::GilWait),
            Some(FutexSite::Heap | FutexSite::Shared | FutexSite::Library) => {
                Some(PyState::LockWait)
            }
            Some(FutexSite::Unknown) | None => in_sync_call.then_some(PyState::LockWait),
        },
        _ => None,
    }
}

/// Several descriptors → one resource: the network wins (a poll on a socket
/// plus a wake-up pipe is a network wait), then storage, then local IPC.
pub fn combine(kinds: impl IntoIterator<Item = Resource>) -> Resource {
    let rank = |r: &Resource| match r {
        Resource::InetSocket => 0,
        Resource::Socket => 1,
        Resource::File => 2,
        Resource::UnixSocket => 3,
        Resource::Pipe => 4,
        Resource::Device => 5,
        Resource::Event => 6,
        Resource::Unknown => 7,
        Resource::Nothing => 8,
    };
    kinds
        .into_iter()
        .min_by_key(rank)
        .unwrap_or(Resource::Nothing)
}

/// How many requests a `poll`/`select`/`epoll` wait over these network
/// sockets has in flight. A listening socket carries none (it waits for
/// clients). A connection whose both ends this same wait watches is the
/// program talking to itself (an in-process client of an in-process
/// server): counted once, and only as a hop, because a request that crosses
/// it usually goes on to the outside (a proxy's upstream call) and is
/// counted there. So: at least the sockets facing the outside, at least the
/// connections to itself, not their sum. An asyncio proxy with 3 in-process
/// clients and 3 upstream calls watches 10 sockets and has 3 requests in
/// flight; 20 gathered requests to another process are 20.
pub fn requests_in_flight(watched: &[&InetSocket]) -> u32 {
    let open: Vec<&&InetSocket> = watched.iter().filter(|s| !s.listening).collect();
    let to_itself = |s: &InetSocket| open.iter().any(|o| o.local == s.remote);
    let inner = open.iter().filter(|s| to_itself(s)).count();
    let outside = open.len() - inner;
    outside.max(inner / 2) as u32
}

/// What a thread blocked in `syscall` (with these argument registers) waits
/// for, given what its watched descriptors are. An event loop (asyncio)
/// always watches its own wake-up socketpair: with no network or file
/// descriptor in the set and a finite timeout, it is waiting for a timer,
/// i.e. sleeping. `epoll_wait`/`epoll_pwait` take an int timeout (-1 =
/// forever); `epoll_pwait2` takes a pointer to a timespec (NULL = forever).
pub fn waited_resource(syscall: &str, args: &[u64; 6], watched: Resource) -> Resource {
    let finite = match syscall {
        "epoll_wait" | "epoll_pwait" => args[3] as i32 >= 0,
        "epoll_pwait2" => args[3] != 0,
        _ => false,
    };
    if finite
        && !matches!(
            watched,
            Resource::InetSocket | Resource::Socket | Resource::File
        )
    {
        return Resource::Nothing;
    }
    watched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(local: &str, remote: &str, listening: bool) -> InetSocket {
        InetSocket {
            local: local.into(),
            remote: remote.into(),
            listening,
        }
    }

    #[test]
    fn requests_in_flight_count_a_chain_once_and_no_listener() {
        // An asyncio proxy: its listener, 3 in-process client connections
        // (both ends watched) and 3 upstream calls.
        let listener = sock("0100007F:1F90", "00000000:0000", true);
        let mut pairs = vec![];
        for i in 0..3 {
            let client = format!("0100007F:C00{i}");
            pairs.push(sock(&client, "0100007F:1F90", false));
            pairs.push(sock("0100007F:1F90", &client, false));
        }
        let upstream = |n: usize| -> Vec<InetSocket> {
            (0..n)
                .map(|i| sock(&format!("0100007F:E0{i:02}"), "0100007F:2000", false))
                .collect()
        };
        let (three, twelve) = (upstream(3), upstream(12));
        let watch = |up: &[InetSocket]| -> u32 {
            let all: Vec<&InetSocket> = [&listener].into_iter().chain(&pairs).chain(up).collect();
            requests_in_flight(&all)
        };
        assert_eq!(watch(&three), 3);
        // The same proxy fanning each request out to 4 upstreams: 12.
        assert_eq!(watch(&twelve), 12);
        // Clients and server in one loop, nothing outside: 3 connections.
        assert_eq!(watch(&[]), 3);
        // A server idle on its listener alone: none.
        assert_eq!(requests_in_flight(&[&listener]), 0);
    }

    fn obs(
        state: char,
        syscall: Option<&'static str>,
        on: Option<Resource>,
    ) -> Observation<'static> {
        Observation {
            os_state: state,
            syscall,
            waits_on: on,
            interval_s: 0.01,
            ..Observation::default()
        }
    }

    #[test]
    fn running_is_on_cpu_unless_it_mostly_waited_for_a_cpu() {
        let mut o = obs('R', None, None);
        o.cpu_s = 0.009;
        o.run_delay_s = 0.001;
        assert_eq!(classify(&o), ThreadState::OnCpu);
        o.cpu_s = 0.002;
        o.run_delay_s = 0.008;
        assert_eq!(classify(&o), ThreadState::Runnable);
    }

    #[test]
    fn d_state_is_disk() {
        assert_eq!(
            classify(&obs('D', Some("read"), Some(Resource::File))),
            ThreadState::DiskWait
        );
    }

    #[test]
    fn blocked_syscalls_map_to_states() {
        let cases = [
            (Some("futex"), None, ThreadState::LockWait),
            (Some("clock_nanosleep"), None, ThreadState::Sleep),
            (Some("wait4"), None, ThreadState::ChildWait),
            (Some("fsync"), None, ThreadState::DiskWait),
            (
                Some("recvfrom"),
                Some(Resource::InetSocket),
                ThreadState::NetWait,
            ),
            (
                Some("poll"),
                Some(Resource::InetSocket),
                ThreadState::NetWait,
            ),
            (Some("poll"), Some(Resource::Nothing), ThreadState::Sleep),
            (
                Some("epoll_wait"),
                Some(Resource::Nothing),
                ThreadState::Sleep,
            ),
            (Some("read"), Some(Resource::Pipe), ThreadState::Other),
            (Some("read"), Some(Resource::UnixSocket), ThreadState::Other),
            (Some("read"), Some(Resource::File), ThreadState::DiskWait),
            (Some("read"), Some(Resource::Device), ThreadState::Other),
        ];
        for (sc, on, want) in cases {
            assert_eq!(classify(&obs('S', sc, on)), want, "{sc:?} on {on:?}");
        }
    }

    #[test]
    fn unknown_syscall_falls_back_to_wchan() {
        let mut o = obs('S', Some("restart_syscall"), None);
        o.wchan = Some("hrtimer_nanosleep");
        assert_eq!(classify(&o), ThreadState::Sleep);
        o.wchan = Some("futex_do_wait");
        assert_eq!(classify(&o), ThreadState::LockWait);
        o.wchan = Some("something_else");
        assert_eq!(classify(&o), ThreadState::Other);
    }

    #[test]
    fn wchan_is_skipped_only_where_it_cannot_change_the_state() {
        // The sampler skips `wchan` when wchan_needed() says no: over every
        // state, call and resource, such a wait must classify the same
        // whatever its wchan, and never be a disk wait (whose wchan tells
        // a flush from plain I/O).
        let calls = [
            None,
            Some("futex"),
            Some("clock_nanosleep"),
            Some("wait4"),
            Some("fsync"),
            Some("read"),
            Some("epoll_wait"),
            Some("restart_syscall"),
            Some("ioctl"),
        ];
        let resources = [
            None,
            Some(Resource::InetSocket),
            Some(Resource::File),
            Some(Resource::Pipe),
            Some(Resource::Nothing),
        ];
        let wchans = [
            "futex_do_wait",
            "hrtimer_nanosleep",
            "io_schedule",
            "sk_wait_data",
        ];
        for state in ['R', 'S', 'D', 'I', 'Z'] {
            for call in calls {
                for res in resources {
                    if wchan_needed(state, call, res) {
                        continue;
                    }
                    let mut o = obs(state, call, res);
                    let without = classify(&o);
                    assert_ne!(without, ThreadState::DiskWait, "{state} {call:?} {res:?}");
                    for w in wchans {
                        o.wchan = Some(w);
                        assert_eq!(classify(&o), without, "{state} {call:?} {res:?} {w}");
                    }
                }
            }
        }
        assert!(wchan_needed('S', Some("restart_syscall"), None));
        assert!(wchan_needed('S', Some("read"), None));
        assert!(wchan_needed('S', None, None));
        assert!(wchan_needed('D', Some("write"), Some(Resource::File)));
        assert!(wchan_needed('S', Some("fsync"), None));
        assert!(!wchan_needed('S', Some("futex"), None));
        assert!(!wchan_needed('R', None, None));
    }

    #[test]
    fn zombies_and_stopped_threads_are_other() {
        assert_eq!(classify(&obs('Z', None, None)), ThreadState::Other);
        assert_eq!(classify(&obs('T', None, None)), ThreadState::Other);
    }

    #[test]
    fn python_states_join_os_state_and_gil_ownership() {
        use FutexSite::*;
        let on = ThreadState::OnCpu;
        let lw = ThreadState::LockWait;
        assert_eq!(py_state(on, None, true, false), Some(PyState::GilHeld));
        assert_eq!(py_state(on, None, false, false), Some(PyState::NativeNogil));
        assert_eq!(
            py_state(lw, Some(Interpreter), false, false),
            Some(PyState::GilWait)
        );
        assert_eq!(
            py_state(lw, Some(Heap), false, true),
            Some(PyState::LockWait)
        );
        assert_eq!(
            py_state(lw, Some(Shared), false, false),
            Some(PyState::LockWait)
        );
        assert_eq!(py_state(lw, None, false, true), Some(PyState::LockWait));
        assert_eq!(py_state(lw, Some(Unknown), false, false), None);
        assert_eq!(py_state(ThreadState::Sleep, None, false, false), None);
        assert_eq!(py_state(ThreadState::Runnable, None, false, false), None);
    }

    #[test]
    fn the_network_wins_over_a_wake_up_pipe_and_nothing_is_last() {
        use Resource::*;
        assert_eq!(combine([Pipe, InetSocket, File]), InetSocket);
        assert_eq!(combine([Pipe, File]), File);
        assert_eq!(combine([Unknown, Event]), Event);
        assert_eq!(combine([]), Nothing);
    }

    #[test]
    fn an_event_loop_with_a_finite_timeout_and_only_its_wake_up_pipe_sleeps() {
        use Resource::*;
        let timeout = |ms: i32| [5, 0, 8, ms as u32 as u64, 0, 0];
        assert_eq!(
            waited_resource("epoll_wait", &timeout(100), UnixSocket),
            Nothing
        );
        assert_eq!(
            waited_resource("epoll_wait", &timeout(-1), UnixSocket),
            UnixSocket
        );
        assert_eq!(
            waited_resource("epoll_wait", &timeout(100), InetSocket),
            InetSocket
        );
        assert_eq!(
            waited_resource("epoll_pwait2", &[5, 0, 8, 0x7ff0, 0, 0], Pipe),
            Nothing
        );
        assert_eq!(
            waited_resource("epoll_pwait2", &[5, 0, 8, 0, 0, 0], Pipe),
            Pipe
        );
        assert_eq!(waited_resource("poll", &timeout(100), Pipe), Pipe);
    }
}
