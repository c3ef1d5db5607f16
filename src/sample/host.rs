//! Facts about the machine and the target's interpreter, for the report header.

use crate::timeline::Host;
use std::process::{Command, Stdio};
use std::time::Duration;

/// CPU model, cores, memory, kernel and OS, via `sysinfo`.
pub fn host_facts() -> Host {
    let mut host = Host {
        boundcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        kernel: sysinfo::System::kernel_version().unwrap_or_default(),
        os: sysinfo::System::long_os_version().unwrap_or_default(),
        physical_cores: sysinfo::System::physical_core_count().ok(),
        ..Host::default()
    };
    if let Ok(mut sys) = sysinfo::System::new() {
        sys.refresh_cpu_all();
        sys.refresh_memory();
        host.logical_cpus = sys.cpus().len();
        host.cpu_model = sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default();
        host.memory_bytes = sys.total_memory();
    }
    if host.logical_cpus == 0 {
        host.logical_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    host
}

/// CPUs a process may run on (its affinity mask), which bounds its parallelism
/// more truthfully than the machine's core count (containers, `taskset`).
pub fn cores_available(pid: i32) -> usize {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a properly sized, zeroed cpu_set_t owned by us.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
                let n = libc::CPU_COUNT(&set) as usize;
                if n > 0 {
                    return n;
                }
            }
        }
    }
    let _ = pid;
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `X.Y.Z` of a Python interpreter, asked of the interpreter itself (bounded to 3 s).
pub fn python_version(exe: &str) -> Option<String> {
    let mut child = Command::new(exe)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .nth(1)
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}
