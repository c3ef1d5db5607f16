//! Reads of another process's memory (`process_vm_readv`): the small
//! argument arrays of `poll` and `select`, which `/proc` does not show, to
//! learn which descriptors a thread waits on. Nothing else is read.

/// Copy `len` bytes from another process. Used only for the small argument
/// arrays of poll/select, which /proc does not show.
fn read_remote(pid: i32, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` points at `buf`, which is `len` bytes long and outlives
    // the call; the remote range is only read by the kernel on our behalf.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    (n == len as isize).then_some(buf)
}

/// The descriptors of a `struct pollfd[nfds]` array (at most 64 looked at);
/// `None` when the memory could not be read (then the wait is unknown, not
/// a pure timeout).
pub(super) fn read_pollfds(pid: i32, addr: u64, nfds: u64) -> Option<Vec<i32>> {
    let n = nfds.min(64) as usize;
    if n == 0 {
        return Some(Vec::new());
    }
    let buf = read_remote(pid, addr, n * 8)?;
    Some(
        buf.chunks_exact(8)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .filter(|&fd| fd >= 0)
            .collect(),
    )
}

/// The descriptors set in select's read/write/except `fd_set`s.
pub(super) fn read_fdsets(pid: i32, nfds: u64, sets: &[u64]) -> Option<Vec<i32>> {
    let bytes = (nfds.min(1024) as usize).div_ceil(8);
    let mut fds = Vec::new();
    for &addr in sets {
        if addr == 0 || bytes == 0 {
            continue;
        }
        let buf = read_remote(pid, addr, bytes)?;
        {
            for (i, b) in buf.iter().enumerate() {
                for bit in 0..8 {
                    if b & (1 << bit) != 0 {
                        fds.push((i * 8 + bit) as i32);
                    }
                }
            }
        }
    }
    fds.sort_unstable();
    fds.dedup();
    Some(fds)
}
