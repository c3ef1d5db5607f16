//! What the native-sampling tests and the cost benchmark share: compiling
//! the C fixtures, and launching a program with the perf samplers attached
//! the way the record loop drives them, with the samplers' own CPU cost.
#![allow(dead_code)]

use crate::common;
use boundcheck::sample::native::NativeSampler;
use boundcheck::sample::offcpu::OffCpuSampler;
use boundcheck::target::{self, LaunchOptions};
use boundcheck::timeline::{NativeProfile, OffCpuProfile};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn common_skip_or_fail(what: &str, skip_var: &str) {
    common::skip_or_fail(what, skip_var, "scripts/install-test-tools.sh");
}

/// Compile `fixtures/native/NAME.c` once per test process. Without a C
/// compiler the test fails naming `scripts/install-test-tools.sh`, unless
/// `BOUNDCHECK_SKIP_CC=1` opts out (then `None`: the test returns). Tests run in parallel: compiling over a
/// binary another test is executing fails with ETXTBSY, hence the cache.
pub fn compile(name: &str) -> Option<PathBuf> {
    static BUILT: Mutex<BTreeMap<String, Option<PathBuf>>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = built.get(name) {
        return done.clone();
    }
    let src = common::fixture(&format!("native/{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("native-{name}"));
    let status = std::process::Command::new("cc")
        .args(["-O1", "-g", "-fno-omit-frame-pointer", "-fno-inline"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("-lpthread")
        .status();
    let done = match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("cc failed on {}: {s}", src.display()),
        Err(e) => {
            common_skip_or_fail(&format!("a C compiler, `cc` ({e})"), "BOUNDCHECK_SKIP_CC");
            None
        }
    };
    built.insert(name.to_string(), done.clone());
    done
}

/// What a run of one program produced.
pub struct Run {
    pub native: Option<NativeProfile>,
    pub offcpu: Option<OffCpuProfile>,
    pub stdout: String,
    pub pid: i32,
    /// CPU seconds of the target tree (rusage of the reaped child).
    pub target_cpu_s: f64,
    /// Wall seconds from launch to exit.
    pub wall_s: f64,
    /// CPU seconds this thread spent in `drain()` calls, and in `finish()`.
    pub drain_cpu_s: f64,
    pub finish_cpu_s: f64,
}

/// CPU time of the calling thread, seconds.
pub fn thread_cpu_s() -> f64 {
    // SAFETY: `ts` is a valid out-pointer.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    }
}

/// Launch `argv` held before exec, open the requested samplers on it, drain
/// them every 10 ms like the record loop does, and finish after it exits.
pub fn run(argv: &[OsString], env: &[(OsString, OsString)], native: bool, offcpu: bool) -> Run {
    let out_path = tempfile::NamedTempFile::new().expect("temp file");
    let opts = LaunchOptions {
        stdout: Some(out_path.reopen().expect("reopen")),
        ..LaunchOptions::default()
    };
    let start = Instant::now();
    let mut samplers = (None, None);
    let child = target::launch_with(argv, env, &opts, |pid| {
        if native {
            samplers.0 = Some(NativeSampler::open(pid, true, start).expect("cpu-clock sampling"));
        }
        if offcpu {
            samplers.1 = Some(OffCpuSampler::open(pid, true, start).expect("context switches"));
        }
    })
    .expect("launch");
    let pid = child.pid();
    let (mut n, mut o) = samplers;
    let mut drain_cpu_s = 0.0;
    while !child.has_exited() {
        std::thread::sleep(Duration::from_millis(10));
        let t = thread_cpu_s();
        n.iter_mut().for_each(NativeSampler::drain);
        o.iter_mut().for_each(OffCpuSampler::drain);
        drain_cpu_s += thread_cpu_s() - t;
    }
    let wall_s = start.elapsed().as_secs_f64();
    let (exit, target_cpu_s) = child.wait_rusage();
    assert_eq!(exit.code, Some(0), "fixture failed: {exit:?}");
    let t = thread_cpu_s();
    let native = n.map(NativeSampler::finish);
    let offcpu = o.map(OffCpuSampler::finish);
    Run {
        native,
        offcpu,
        stdout: std::fs::read_to_string(out_path.path()).unwrap_or_default(),
        pid,
        target_cpu_s,
        wall_s,
        drain_cpu_s,
        finish_cpu_s: thread_cpu_s() - t,
    }
}
