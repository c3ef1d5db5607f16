//! The target's lifecycle: launch it (or attach to it), forward signals, and
//! keep its exit status.
//!
//! Launching is a hand-rolled fork + execve rather than `std::process::Command`
//! because the counters must be attached to the child *before* its first
//! instruction: the child blocks on a pipe after fork, the caller opens perf
//! counters on its pid (`enable_on_exec`), then releases it. `Command` with a
//! blocking `pre_exec` deadlocks, since `spawn` waits for the exec. As in
//! `Command`, everything the child needs (paths, argv, env) is prepared before
//! the fork, so the child only calls async-signal-safe functions.

pub mod cluster;
pub mod signals;
pub mod timeout;
pub mod tree;

use crate::error::Error;
use crate::timeline::ExitInfo;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A launched child that we will reap.
#[derive(Debug)]
pub struct Child {
    pid: i32,
}

/// How a launched child differs from its parent, beyond argv and env.
#[derive(Debug, Default)]
pub struct LaunchOptions {
    /// Send the child's stdout / stderr here instead of inheriting ours
    /// (re-runs keep the terminal quiet and keep stderr to explain failures).
    pub stdout: Option<std::fs::File>,
    pub stderr: Option<std::fs::File>,
    /// Pin the child to these CPUs (the core-count experiment).
    pub cpus: Option<Vec<usize>>,
    /// Give the child stdin from /dev/null and a process group of its own,
    /// so a hung re-run can be killed with all its descendants.
    pub detached: bool,
}

/// Launch `argv` with extra environment variables. `before_exec` runs in the
/// parent while the child waits just before its exec.
pub fn launch(
    argv: &[OsString],
    extra_env: &[(OsString, OsString)],
    before_exec: impl FnOnce(i32),
) -> Result<Child, Error> {
    launch_with(argv, extra_env, &LaunchOptions::default(), before_exec)
}

/// [`launch`] with [`LaunchOptions`].
pub fn launch_with(
    argv: &[OsString],
    extra_env: &[(OsString, OsString)],
    opts: &LaunchOptions,
    before_exec: impl FnOnce(i32),
) -> Result<Child, Error> {
    use std::os::fd::AsRawFd;
    let out_fd = opts.stdout.as_ref().map(|f| f.as_raw_fd());
    let null_in = if opts.detached {
        std::fs::File::open("/dev/null").ok()
    } else {
        None
    };
    let in_fd = null_in.as_ref().map(|f| f.as_raw_fd());
    let detached = opts.detached;
    let err_fd = opts.stderr.as_ref().map(|f| f.as_raw_fd());
    // SAFETY: a zeroed cpu_set_t filled with CPU_SET before the fork.
    let cpu_set = opts.cpus.as_ref().map(|cpus| unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    });
    let program = argv.first().ok_or(Error::NoCommand)?;
    let path = resolve_program(program).ok_or_else(|| Error::CommandNotFound {
        command: program.to_string_lossy().into_owned(),
    })?;
    let c_path = cstring(path.as_os_str())?;
    let c_args: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !extra_env.iter().any(|(ek, _)| ek == k))
        .collect();
    env.extend(extra_env.iter().cloned());
    let c_env: Vec<CString> = env
        .into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).map_err(|_| Error::Launch("environment holds a NUL byte".into()))
        })
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = c_args.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|c| c.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe().inspect_err(|_| close_all(&[go_r, go_w]))?;
    // SAFETY: after fork the child only calls async-signal-safe functions
    // (read, write, close, dup2, setpgid, sched_setaffinity, signal, sigprocmask,
    // execve, _exit) on memory
    // prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let err = std::io::Error::last_os_error();
        close_all(&[go_r, go_w, err_r, err_w]);
        return Err(Error::Launch(format!("fork failed: {err}")));
    }
    if pid == 0 {
        unsafe {
            libc::close(go_w);
            libc::close(err_r);
            // Rust ignores SIGPIPE and exec keeps ignored signals ignored:
            // give the target the default, as a shell would (and as
            // `std::process::Command` does), and an empty signal mask.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if let Some(fd) = in_fd {
                libc::dup2(fd, 0);
            }
            if detached {
                libc::setpgid(0, 0);
            }
            if let Some(fd) = out_fd {
                libc::dup2(fd, 1);
            }
            if let Some(fd) = err_fd {
                libc::dup2(fd, 2);
            }
            if let Some(set) = &cpu_set {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
            }
            let mut byte = 0u8;
            while libc::read(go_r, (&mut byte as *mut u8).cast(), 1) < 0 {}
            libc::execve(c_path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr());
            let errno = *libc::__errno_location();
            libc::write(err_w, (&errno as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copies of the child's pipe ends.
    unsafe {
        libc::close(go_r);
        libc::close(err_w);
    }
    before_exec(pid);
    signals::set_child(pid);
    // SAFETY: plain writes/reads/close on descriptors we own.
    let errno = unsafe {
        libc::write(go_w, [1u8].as_ptr().cast(), 1);
        libc::close(go_w);
        let mut errno = 0i32;
        let n = loop {
            let n = libc::read(err_r, (&mut errno as *mut i32).cast(), 4);
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break n;
            }
        };
        libc::close(err_r);
        (n == 4).then_some(errno)
    };
    let child = Child { pid };
    if let Some(errno) = errno {
        signals::set_child(0);
        let _ = child.wait();
        let command = program.to_string_lossy().into_owned();
        let err = std::io::Error::from_raw_os_error(errno);
        return Err(match errno {
            libc::ENOENT => Error::CommandNotFound { command },
            libc::EACCES | libc::EPERM | libc::ENOEXEC => Error::CommandNotExecutable {
                command,
                reason: err.to_string(),
            },
            _ => Error::Launch(format!("cannot run {command}: {err}")),
        });
    }
    Ok(child)
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether the child has exited, without reaping it: its /proc entry
    /// stays readable until [`Child::wait`].
    pub fn has_exited(&self) -> bool {
        // SAFETY: `info` is zeroed and owned; WNOWAIT leaves the child reapable.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            r != 0 || info.si_pid() != 0
        }
    }

    /// Block until the child has exited, without reaping it.
    pub fn wait_exited(&self) {
        loop {
            // SAFETY: as in `has_exited`, but blocking.
            let r = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::waitid(
                    libc::P_PID,
                    self.pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return;
            }
        }
    }

    /// Reap the child; return how it ended and the CPU time (user + system,
    /// seconds) of it and every descendant it reaped.
    pub fn wait_rusage(self) -> (ExitInfo, f64) {
        signals::set_child(0);
        let mut status = 0;
        // SAFETY: zeroed rusage out-parameter, waiting for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            let r = unsafe { libc::wait4(self.pid, &mut status, 0, &mut usage) };
            if r == self.pid {
                break;
            }
            if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return (
                    ExitInfo {
                        code: None,
                        signal: None,
                    },
                    0.0,
                );
            }
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
        (exit_info(status), cpu)
    }

    /// Reap the child and return how it ended.
    pub fn wait(self) -> ExitInfo {
        signals::set_child(0);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return ExitInfo {
                    code: None,
                    signal: None,
                };
            }
        }
        exit_info(status)
    }
}

fn exit_info(status: i32) -> ExitInfo {
    if libc::WIFSIGNALED(status) {
        ExitInfo {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    } else {
        ExitInfo {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    }
}

/// Make this process the reaper of orphans in its tree: children of the
/// target that outlive their parent (`cmd &` in a shell, daemons) are
/// re-parented to us instead of init, so the tree scan still sees them.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Reap a process of the tree that we adopted as its subreaper (its parent
/// died first) once it has exited, so it does not linger as a zombie.
pub fn reap_adopted_orphan(pid: i32, state: char, ppid: i32) {
    if state == 'Z' && ppid == std::process::id() as i32 {
        // SAFETY: waiting, without blocking, for a child of ours by pid.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
}

/// A second handle on our stderr, to hand to the target as its stdout.
pub fn stderr_file() -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
}

/// Whether a process is gone: no longer listed, or a zombie (exited but not
/// yet reaped by its parent, so `/proc/PID` stays). A main thread that
/// called `pthread_exit` also shows as a zombie while the other threads run
/// on: the process has ended only when its task list holds no other thread.
pub fn has_ended(pid: i32) -> bool {
    match procfs::process::Process::new(pid).and_then(|p| p.stat()) {
        Ok(stat) if stat.state == 'Z' => std::fs::read_dir(format!("/proc/{pid}/task"))
            .map_or(true, |tasks| tasks.flatten().nth(1).is_none()),
        Ok(stat) => matches!(stat.state, 'X' | 'x'),
        Err(_) => true,
    }
}

/// Check that `pid` exists and that we may read it before attaching.
pub fn check_attachable(pid: i32) -> Result<(), Error> {
    if pid <= 0 {
        return Err(Error::NoSuchProcess { pid });
    }
    // SAFETY: signal 0 only checks existence and permission.
    if unsafe { libc::kill(pid, 0) } != 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ESRCH) => Error::NoSuchProcess { pid },
            _ => Error::AttachDenied {
                pid,
                reason: err.to_string(),
            },
        });
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|_| ())
        .map_err(|e| Error::AttachDenied {
            pid,
            reason: e.to_string(),
        })
}

/// Where `execvp` would find `program`: as given when it holds a slash, else
/// the first executable file of that name on `PATH`.
pub fn resolve_program(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable_file(p))
}

fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn cstring(s: &OsStr) -> Result<CString, Error> {
    CString::new(s.as_bytes()).map_err(|_| Error::Launch("argument holds a NUL byte".into()))
}

fn close_all(fds: &[i32]) {
    for &fd in fds {
        // SAFETY: closing descriptors we created and still own.
        unsafe { libc::close(fd) };
    }
}

fn pipe() -> Result<(i32, i32), Error> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Launch(format!(
            "pipe failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok((fds[0], fds[1]))
}
