//! Waking the sampler as soon as the process it follows ends.
//!
//! The sampler sleeps until its next tick, so a target that exited between
//! two ticks was noticed at the next one: up to a period late (10 ms at
//! 100 Hz, 50 ms at the re-runs' 20 Hz), time the whole command spent
//! waiting after the work, once per profiled run and once per re-run. A
//! pidfd (Linux 5.3+) turns readable when its process exits, so the sleep
//! is a poll on it; without one (an older kernel) it is a plain sleep.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// After the process ended, naps are at most this long: whoever decides that
/// sampling is over (a waiter thread, `waitid`) may see the exit a moment
/// after the pidfd did, and a readable pidfd must not make the loop spin.
const AFTER_END_NAP: Duration = Duration::from_millis(1);

pub struct ExitWatch {
    fd: Option<OwnedFd>,
    ended: bool,
}

impl ExitWatch {
    pub fn new(pid: i32) -> ExitWatch {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        ExitWatch {
            // SAFETY: a fresh descriptor that nothing else owns.
            fd: (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) }),
            ended: false,
        }
    }

    /// Sleep for `d`, or until the process ends if that is sooner.
    pub fn nap(&mut self, d: Duration) {
        let fd = match &self.fd {
            Some(fd) if !self.ended => fd.as_raw_fd(),
            _ => {
                std::thread::sleep(if self.ended { d.min(AFTER_END_NAP) } else { d });
                return;
            }
        };
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        };
        // SAFETY: one valid pollfd, a valid timeout, no signal mask change.
        let ready = unsafe { libc::ppoll(&mut poll, 1, &ts, std::ptr::null()) };
        // EINTR (a SIGCHLD, a Ctrl-C) is an early return like any other.
        self.ended = ready > 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_nap_ends_when_the_process_does() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let mut watch = ExitWatch::new(child.id() as i32);
        let t = Instant::now();
        watch.nap(Duration::from_secs(5));
        let waited = t.elapsed();
        child.wait().unwrap();
        assert!(
            waited < Duration::from_secs(3),
            "woke at the exit: {waited:?}"
        );
        // Ended: later naps are short, not a spin and not the whole period.
        let t = Instant::now();
        watch.nap(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
