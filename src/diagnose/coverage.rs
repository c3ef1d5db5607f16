//! How much of the CPU time the Python stacks explain.
//!
//! The stack reader (py-spy) walks the thread list of a process's *main*
//! interpreter only. A thread that runs code in a subinterpreter
//! (`InterpreterPoolExecutor`, `concurrent.interpreters`) still shows its
//! main-interpreter frames, which end at the call into the other interpreter
//! (`Interpreter._call`), and it does not hold the main GIL: without this
//! figure its CPU would read as native code (`native-nogil`) in that one
//! frame. A thread the main interpreter does not list at all (a native
//! thread, a thread started inside a subinterpreter) has no stack.
//!
//! On each tick only the processes whose stacks that tick read count (not a
//! process still being opened, nor a failed read); each thread-moment weighs
//! the CPU the thread used over the tick, so the shares estimate shares of
//! CPU time.

use crate::timeline::{Frame, Timeline};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where the stacks leave CPU time unexplained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StackCoverage {
    /// CPU time of the processes whose stacks were read, on the ticks that
    /// read them, seconds: the denominator of the shares below.
    pub cpu_s: f64,
    /// Of it, time of threads running a subinterpreter: their visible stack
    /// ends at the call into another interpreter, whose frames the stack
    /// reader cannot see. Seconds.
    pub subinterpreter_s: f64,
    /// Of it, time of threads with no Python stack at all (threads the main
    /// interpreter does not list: native threads, threads of a
    /// subinterpreter). Seconds.
    pub no_stack_s: f64,
    /// `(subinterpreter_s + no_stack_s) / cpu_s`: the share of the CPU time
    /// that no Python stack covers (0 when nothing was measured).
    pub uncovered_share: f64,
    /// `subinterpreter_s / cpu_s`.
    pub subinterpreter_share: f64,
}

impl StackCoverage {
    /// `None` when no stacks were read.
    pub fn from_timeline(tl: &Timeline) -> Option<StackCoverage> {
        if tl.stacks.is_empty() {
            return None;
        }
        let mut c = StackCoverage::default();
        for s in &tl.samples {
            let read: BTreeSet<i32> = s
                .threads
                .iter()
                .filter(|t| t.stack.is_some())
                .map(|t| t.pid)
                .collect();
            for t in s.threads.iter().filter(|t| read.contains(&t.pid)) {
                c.cpu_s += t.cpu_s;
                match t.stack {
                    None => c.no_stack_s += t.cpu_s,
                    Some(id) => {
                        if tl
                            .stacks
                            .frames_of(id)
                            .last()
                            .is_some_and(|f| enters_interpreter(f))
                        {
                            c.subinterpreter_s += t.cpu_s;
                        }
                    }
                }
            }
        }
        if c.cpu_s > 0.0 {
            c.uncovered_share = (c.subinterpreter_s + c.no_stack_s) / c.cpu_s;
            c.subinterpreter_share = c.subinterpreter_s / c.cpu_s;
        }
        Some(c)
    }

    /// Seconds no stack covers.
    pub fn uncovered_s(&self) -> f64 {
        self.subinterpreter_s + self.no_stack_s
    }
}

/// A frame of the standard library's `concurrent.interpreters` (3.14; the
/// `interpreters` module of the 3.13 test suite looks the same) as the
/// innermost one: the thread has passed control to another interpreter.
fn enters_interpreter(f: &Frame) -> bool {
    f.is_stdlib() && f.file.contains("/interpreters/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::tests::{Pattern, thread, timeline};
    use crate::timeline::ThreadState;

    /// Process 100: a waiting main thread with a stack and two busy pool
    /// threads whose stacks end in the call into a subinterpreter, read on
    /// every other tick; process 200: busy, never read (not Python, or not
    /// yet opened). Only process 100 on its read ticks counts.
    #[test]
    fn pool_threads_in_a_subinterpreter_are_uncovered_cpu() {
        let busy = thread(ThreadState::OnCpu, 1.0);
        let other = Pattern {
            pid: 200,
            ..busy.clone()
        };
        let mut tl = timeline(2, |_| {
            vec![
                thread(ThreadState::Sleep, 0.0),
                busy.clone(),
                busy.clone(),
                other.clone(),
            ]
        });
        let own = tl.stacks.intern([frame("/app/main.py", "<module>")]);
        let pool = tl.stacks.intern([
            frame("/app/main.py", "<module>"),
            frame(
                "/usr/lib/python3.14/concurrent/interpreters/__init__.py",
                "Interpreter._call",
            ),
        ]);
        for s in tl.samples.iter_mut().step_by(2) {
            s.threads[0].stack = Some(own);
            s.threads[1].stack = Some(pool);
            s.threads[2].stack = Some(pool);
        }
        let c = StackCoverage::from_timeline(&tl).unwrap();
        // 100 read ticks × 2 threads × 10 ms.
        assert!((c.cpu_s - 2.0).abs() < 1e-9, "{c:?}");
        assert!((c.subinterpreter_share - 1.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.no_stack_s, 0.0);
        assert!((c.uncovered_share - 1.0).abs() < 1e-9);
    }

    fn frame(file: &str, name: &str) -> Frame {
        Frame {
            name: name.into(),
            file: file.into(),
            line: 1,
        }
    }

    #[test]
    fn the_call_into_a_subinterpreter_is_recognised_by_its_module() {
        let call = frame(
            "/p/3.14/usr/lib/python3.14/concurrent/interpreters/__init__.py",
            "Interpreter._call",
        );
        assert!(enters_interpreter(&call));
        let own = frame("/home/me/interpreters/work.py", "burn");
        assert!(
            !enters_interpreter(&own),
            "the program's own folder of that name"
        );
        let pool = frame(
            "/usr/lib/python3.14/concurrent/futures/interpreter.py",
            "run",
        );
        assert!(
            !enters_interpreter(&pool),
            "the executor's own Python code runs here"
        );
    }
}
