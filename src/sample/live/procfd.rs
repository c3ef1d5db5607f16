//! `/proc` files kept open between ticks and re-read with `pread`.
//!
//! Opening and closing a thread's `stat` and `schedstat` every tick was the
//! largest share of the sampler's kernel time (path walk, a `proc` inode and
//! a file per open; `std::fs::read_to_string` adds a `statx` that is wasted on
//! `/proc`, whose files all say size 0). A descriptor of a `/proc` file stays
//! bound to the thread it was opened for: `pread` at offset 0 regenerates the
//! file's text for that thread, and once the thread is gone it fails (`ESRCH`)
//! instead of showing someone else. A tid the kernel hands to a new thread is
//! therefore never read through the dead thread's descriptor: the read fails,
//! the descriptor is dropped and the path opened again, which finds the new
//! thread (its `starttime` then tells the caller it is new).
//!
//! Descriptors are limited ([`MAX_OPEN`]): the target inherits none of them,
//! but boundcheck shares its own descriptor limit with py-spy and perf; past
//! the limit a file is read by path (open, read, close) as before.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Most `/proc` descriptors kept open at once (the usual soft limit is 1 024).
pub const MAX_OPEN: usize = 512;

/// Size of the first read: every per-thread file but `status` fits.
const FIRST_READ: usize = 1024;

/// Read the whole of a one-record `/proc` file (a thread's `stat`,
/// `status`…, `/proc/stat`: the kernel formats it whole for each read) from
/// `file` at offset 0 into `buf`, returning its length. A read that fills the buffer may have been cut: the
/// buffer grows and the file is read again (the text is regenerated from the
/// start each time).
pub fn pread_all(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < FIRST_READ {
        buf.resize(FIRST_READ, 0);
    }
    loop {
        let n = file.read_at(buf, 0)?;
        if n < buf.len() {
            return Ok(n);
        }
        let len = buf.len() * 2;
        buf.resize(len, 0);
    }
}

/// Read a `/proc` file by path into `buf`: `open` and reads to the end, no
/// `statx` (`std::fs::read` asks the size first, which `/proc` does not
/// know). Unlike [`pread_all`] this suits files of many records (`maps`,
/// `net/tcp`), which the kernel hands out a page at a time.
pub fn read_path<'a>(path: &Path, buf: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
    buf.clear();
    File::open(path)?.read_to_end(buf)?;
    Ok(buf)
}

/// One `/proc` file of one thread, open while the budget allows.
#[derive(Debug, Default)]
pub struct Cached(Option<File>);

/// Counts the descriptors [`Cached`] files hold, against [`MAX_OPEN`].
#[derive(Debug, Default)]
pub struct Budget {
    pub open: usize,
}

impl Cached {
    /// The file's text now; `path` is built only when the file must be
    /// opened. A failed read through a kept descriptor (the
    /// thread it was opened for has exited) drops it and tries the path once:
    /// the tid may belong to a new thread by now.
    pub fn read<'a>(
        &mut self,
        path: impl FnOnce() -> String,
        budget: &mut Budget,
        buf: &'a mut Vec<u8>,
    ) -> io::Result<&'a [u8]> {
        if let Some(file) = &self.0 {
            match pread_all(file, buf) {
                Ok(n) => return Ok(&buf[..n]),
                Err(_) => self.close(budget),
            }
        }
        let file = File::open(path())?;
        let n = pread_all(&file, buf)?;
        if budget.open < MAX_OPEN {
            budget.open += 1;
            self.0 = Some(file);
        }
        Ok(&buf[..n])
    }

    /// Let the descriptor go (the thread is gone, or its file is not needed).
    pub fn close(&mut self, budget: &mut Budget) {
        if self.0.take().is_some() {
            budget.open -= 1;
        }
    }
}

/// The files of one thread the sampler reads, each opened on first need.
#[derive(Debug, Default)]
pub struct ThreadFiles {
    pub stat: Cached,
    pub schedstat: Cached,
    pub status: Cached,
    pub wchan: Cached,
    pub syscall: Cached,
}

impl ThreadFiles {
    pub fn close(&mut self, budget: &mut Budget) {
        for f in [
            &mut self.stat,
            &mut self.schedstat,
            &mut self.status,
            &mut self.wchan,
            &mut self.syscall,
        ] {
            f.close(budget);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A real thread of this test process, named, that lives until told.
    fn thread(name: &str) -> (i32, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (tid_tx, tid_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tid_tx.send(crate::sample::gettid());
                let _ = stop_rx.recv();
            })
            .expect("spawn");
        (tid_rx.recv().expect("tid"), stop_tx, handle)
    }

    fn stat_path(tid: i32) -> String {
        format!("/proc/{}/task/{tid}/stat", std::process::id())
    }

    #[test]
    fn kept_descriptor_is_reread_and_counted() {
        let (tid, stop, handle) = thread("kept-a");
        let (mut file, mut budget, mut buf) = (Cached::default(), Budget::default(), Vec::new());
        let first = file
            .read(|| stat_path(tid), &mut budget, &mut buf)
            .expect("read");
        assert!(String::from_utf8_lossy(first).contains("(kept-a)"));
        assert_eq!(budget.open, 1);
        // The second read goes through the kept descriptor: no path needed.
        let again = file
            .read(|| unreachable!("reopened"), &mut budget, &mut buf)
            .expect("pread");
        assert!(String::from_utf8_lossy(again).contains("(kept-a)"));
        let _ = stop.send(());
        handle.join().expect("join");
        file.close(&mut budget);
        assert_eq!(budget.open, 0);
    }

    #[test]
    fn descriptor_of_an_exited_thread_never_reads_as_the_new_one() {
        // Thread A's file is kept open under A's tid; A exits and its tid is
        // (as the kernel may do) given to thread B: simulated by asking the
        // same cache entry for B's path. The dead descriptor must fail, not
        // show A again, and the entry must then read B.
        let (tid_a, stop_a, handle_a) = thread("old-thread");
        let (mut file, mut budget, mut buf) = (Cached::default(), Budget::default(), Vec::new());
        file.read(|| stat_path(tid_a), &mut budget, &mut buf)
            .expect("read A");
        let _ = stop_a.send(());
        handle_a.join().expect("join A");
        // The joined thread may take a moment to leave the kernel's lists.
        let mut gone = false;
        for _ in 0..200 {
            if File::open(stat_path(tid_a)).is_err() {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(gone, "thread {tid_a} still listed after join");
        let (tid_b, stop_b, handle_b) = thread("new-thread");
        let text = file
            .read(|| stat_path(tid_b), &mut budget, &mut buf)
            .expect("reopened for the new thread");
        let text = String::from_utf8_lossy(text).into_owned();
        assert!(text.contains("(new-thread)"), "{text}");
        assert_eq!(budget.open, 1, "the dead descriptor was released");
        // And with no new thread behind the tid, the read fails (vanished).
        let _ = stop_b.send(());
        handle_b.join().expect("join B");
        for _ in 0..200 {
            if File::open(stat_path(tid_b)).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            file.read(|| stat_path(tid_b), &mut budget, &mut buf)
                .is_err()
        );
        assert_eq!(budget.open, 0);
    }

    #[test]
    fn budget_caps_kept_descriptors() {
        let mut budget = Budget { open: MAX_OPEN };
        let (mut file, mut buf) = (Cached::default(), Vec::new());
        let path = || "/proc/thread-self/stat".to_string();
        assert!(file.read(path, &mut budget, &mut buf).is_ok());
        assert_eq!(budget.open, MAX_OPEN, "read by path, not kept");
    }

    #[test]
    fn long_files_are_read_whole() {
        let mut buf = vec![0; 8];
        let file = File::open("/proc/self/status").expect("status");
        let n = pread_all(&file, &mut buf).expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("Name:") && text.contains("voluntary_ctxt_switches"));
    }

    #[test]
    fn files_of_many_records_are_read_to_the_end() {
        // `kallsyms` is many pages long and does not change while the test
        // runs; this process's own `maps` would (the other tests of this
        // binary map thread stacks concurrently: a CI run saw 53 lines against
        // std's count).
        let path = Path::new("/proc/kallsyms");
        let mut buf = Vec::new();
        let ours = read_path(path, &mut buf).expect("kallsyms").to_vec();
        let std = std::fs::read(path).expect("kallsyms");
        assert!(ours.len() > 64 * 1024, "{} bytes", ours.len());
        assert!(ours == std, "{} bytes against {}", ours.len(), std.len());
    }
}
