//! The facts around a run, last on the page: the process tree, the machine,
//! the interpreter, and how well sampling went (what a reader checks before
//! trusting the numbers above, or comparing with another report).

use super::sections::shell_join;
use super::{esc, esc_code_spans, shorten};
use crate::report::Report;
use std::fmt::Write;

/// Processes listed; a pool of hundreds would bury the rest of the page.
const MAX_PROCESSES: usize = 20;

/// Every process of the tree (the first [`MAX_PROCESSES`]).
pub fn processes(s: &mut String, r: &Report) {
    if r.processes.is_empty() {
        return;
    }
    s.push_str("<section id=\"processes\">\n<h2>Processes</h2>\n<table>\n<thead><tr><th class=\"n\">pid</th><th class=\"n\">parent</th><th>command line</th><th class=\"n\">seen</th><th class=\"n\">peak memory</th><th class=\"n\">disk read / written</th></tr></thead>\n<tbody>\n");
    for p in r.processes.iter().take(MAX_PROCESSES) {
        let cmd = if p.cmdline.is_empty() {
            p.name.clone()
        } else {
            shell_join(&p.cmdline)
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{:.2}–{:.2} s</td><td class=\"n\">{}</td><td class=\"n\">{} / {}</td></tr>",
            p.pid,
            p.ppid,
            esc(&shorten(&cmd, 200)),
            p.first_seen_s,
            p.last_seen_s,
            bytes(p.peak_rss_bytes),
            bytes(p.read_bytes),
            bytes(p.write_bytes)
        );
    }
    s.push_str("</tbody>\n</table>\n");
    if r.processes.len() > MAX_PROCESSES {
        let _ = writeln!(
            s,
            "<p class=\"note\">{} more processes in <code>report.json</code>.</p>",
            r.processes.len() - MAX_PROCESSES
        );
    }
    s.push_str("</section>\n");
}

/// The machine, the interpreter and how sampling went.
pub fn run_facts(s: &mut String, r: &Report) {
    let h = &r.host;
    let mut facts: Vec<(&str, String)> = vec![
        (
            "command",
            format!("<code>{}</code>", esc(&shell_join(&r.command))),
        ),
        ("mode", esc(r.mode.as_str())),
    ];
    if let Some(w) = &r.workload {
        facts.push(("workload", esc(w)));
    }
    facts.push(("started", esc(&r.started_at)));
    facts.push(("duration", format!("{:.3} s", r.duration_s)));
    if let Some(st) = r.exit_status {
        facts.push(("exit status", st.to_string()));
    }
    facts.push(("CPU", esc(&h.cpu_model)));
    facts.push((
        "CPUs",
        match h.physical_cores {
            Some(p) => format!(
                "{} logical, {p} physical; {} usable by the program",
                h.logical_cpus, r.diagnosis.cores_available
            ),
            None => format!(
                "{} logical; {} usable by the program",
                h.logical_cpus, r.diagnosis.cores_available
            ),
        },
    ));
    facts.push(("memory", bytes(h.memory_bytes)));
    facts.push(("OS", esc(&h.os)));
    facts.push(("kernel", esc(&h.kernel)));
    if let Some(v) = &r.python_version {
        facts.push(("Python", esc(v)));
    }
    facts.push(("boundcheck", esc(&h.boundcheck_version)));
    let sm = &r.sampling;
    facts.push((
        "sampling",
        format!(
            "{} samples at {:.1} Hz (asked {:.0} Hz), {} lost; late {:.1} ms on average, {:.1} ms at worst; boundcheck's own CPU {:.2} s",
            sm.samples,
            sm.achieved_rate_hz,
            sm.requested_rate_hz,
            sm.lost_samples,
            sm.mean_late_s * 1e3,
            sm.max_late_s * 1e3,
            sm.sampler_cpu_s
        ),
    ));
    if let Some(st) = &r.stack_sampling {
        let mut v = format!(
            "{}: {} reads ({} failed), {} ticks with stacks, {:.1} reads/s",
            esc(&st.method),
            st.reads,
            st.failed_reads,
            st.ticks_with_stacks,
            st.rate_hz
        );
        if st.own_reads > 0 {
            let _ = write!(v, "; {} by boundcheck's own reader", st.own_reads);
        }
        for (pid, why) in &st.own_reader_fallbacks {
            let _ = write!(
                v,
                "; pid {pid} went back to py-spy after failed reads: {}",
                esc_code_spans(why)
            );
        }
        for (pid, why) in &st.unavailable {
            let _ = write!(v, "; pid {pid} unreadable: {}", esc_code_spans(why));
        }
        facts.push(("Python stacks", v));
    }
    if let Some(c) = &r.counters {
        let mut parts = Vec::new();
        if let Some(v) = c.task_clock_s {
            parts.push(format!("task clock {v:.3} s"));
        }
        for (name, v) in [
            ("context switches", c.context_switches),
            ("migrations", c.cpu_migrations),
            ("page faults", c.page_faults),
            ("cycles", c.cycles),
            ("instructions", c.instructions),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name} {v}"));
            }
        }
        for (name, why) in &c.unavailable {
            parts.push(format!("{} unavailable ({})", esc(name), esc(why)));
        }
        facts.push(("perf counters", parts.join(", ")));
    }
    if let Some(o) = &r.off_cpu {
        let v = match &o.unavailable {
            Some(why) => format!("unavailable: {}", esc_code_spans(why)),
            None => o
                .by_reason_s
                .iter()
                .map(|(k, v)| format!("{} {v:.3} s", esc(k)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        facts.push(("off-CPU time", v));
    }
    if let Some(n) = &r.native_stacks {
        let v = match &n.unavailable {
            Some(why) => format!("unavailable: {}", esc_code_spans(why)),
            None => format!("{}: {} samples, {} lost", esc(&n.method), n.samples, n.lost),
        };
        facts.push(("native stacks", v));
    }
    if let Some(dir) = &r.output_dir {
        facts.push(("written to", format!("<code>{}</code>", esc(dir))));
    }
    s.push_str("<section id=\"run\">\n<h2>Run and host</h2>\n<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(s, "<dt>{k}</dt><dd>{v}</dd>");
    }
    s.push_str("</dl>\n</section>\n");
}

/// Bytes in binary units, e.g. `23.5 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_use_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(25_274_793_984), "23.5 GiB");
    }
}
