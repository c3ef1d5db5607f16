//! SIGINT / SIGTERM: forward them to the target and remember them.
//!
//! A Ctrl-C typed at a terminal is delivered by the kernel to the whole
//! foreground process group, so the target already has it: forwarding it
//! again would interrupt the target's own handler (Python would raise a
//! second `KeyboardInterrupt`). So a signal is forwarded only when it was sent
//! to boundcheck alone (`si_code <= 0`: `kill`, `sigqueue`, `tgkill`), e.g. by
//! a CI runner's timeout. Either way boundcheck keeps sampling until the
//! target exits, then writes its report marked `interrupted`. A third signal
//! kills the target (SIGKILL) for a target that ignores the first two.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

static CHILD: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicU32 = AtomicU32::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);

/// The pid signals are forwarded to; 0 forwards nowhere (attach mode, or after exit).
pub fn set_child(pid: i32) {
    CHILD.store(pid, Ordering::SeqCst);
}

/// The last SIGINT/SIGTERM received, if any.
pub fn received() -> Option<i32> {
    match LAST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    LAST.store(sig, Ordering::SeqCst);
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    let child = CHILD.load(Ordering::SeqCst);
    if child <= 0 {
        return;
    }
    // SAFETY: `info` is provided by the kernel for SA_SIGINFO handlers; kill is
    // async-signal-safe.
    unsafe {
        let code = if info.is_null() { 0 } else { (*info).si_code };
        if n >= 3 {
            libc::kill(child, libc::SIGKILL);
        } else if code <= 0 {
            libc::kill(child, sig);
        }
    }
}

/// Install the handlers (idempotent).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a valid handler and flags.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}
