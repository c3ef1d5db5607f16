//! Syscall numbers → names for the calls the classifier cares about.
//!
//! The numbers differ per architecture, so the table is built from `libc`'s
//! `SYS_*` constants for the architecture we were compiled for; calls that an
//! architecture lacks (aarch64 has no `poll`, `select`, `epoll_wait`) are
//! simply absent there. Storing names, not numbers, in the timeline keeps
//! recorded files portable between machines.

/// The name of syscall `nr` if it is one we classify, else `None`.
pub fn name(nr: i64) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(n, _)| *n == nr)
        .map(|(_, name)| name.trim_start_matches("SYS_"))
}

#[cfg(target_os = "linux")]
macro_rules! table {
    ($($name:ident),* $(,)?) => {
        &[$((libc::$name as i64, stringify!($name))),*]
    };
}

#[cfg(target_os = "linux")]
const COMMON: &[(i64, &str)] = table!(
    SYS_futex,
    SYS_nanosleep,
    SYS_clock_nanosleep,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_wait4,
    SYS_waitid,
    SYS_fsync,
    SYS_fdatasync,
    SYS_sync,
    SYS_syncfs,
    SYS_sync_file_range,
    SYS_msync,
    SYS_read,
    SYS_readv,
    SYS_pread64,
    SYS_preadv,
    SYS_recvfrom,
    SYS_recvmsg,
    SYS_recvmmsg,
    SYS_accept,
    SYS_accept4,
    SYS_connect,
    SYS_write,
    SYS_writev,
    SYS_pwrite64,
    SYS_sendto,
    SYS_sendmsg,
    SYS_splice,
    SYS_ppoll,
    SYS_pselect6,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_flock,
    SYS_semop,
    SYS_semtimedop,
    SYS_restart_syscall,
    SYS_openat,
    SYS_futex_waitv,
);

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const LEGACY: &[(i64, &str)] = table!(
    SYS_poll,
    SYS_select,
    SYS_epoll_wait,
    SYS_pause,
    SYS_sendfile
);

#[cfg(all(target_os = "linux", not(target_arch = "x86_64")))]
const LEGACY: &[(i64, &str)] = &[];

#[cfg(target_os = "linux")]
static TABLE: std::sync::LazyLock<Vec<(i64, &'static str)>> =
    std::sync::LazyLock::new(|| COMMON.iter().chain(LEGACY).copied().collect());

#[cfg(not(target_os = "linux"))]
static TABLE: &[(i64, &str)] = &[];

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    #[test]
    fn x86_64_numbers_resolve() {
        assert_eq!(super::name(202), Some("futex"));
        assert_eq!(super::name(7), Some("poll"));
        assert_eq!(super::name(230), Some("clock_nanosleep"));
        assert_eq!(super::name(61), Some("wait4"));
        assert_eq!(super::name(-1), None);
    }
}
