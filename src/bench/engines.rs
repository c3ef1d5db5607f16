//! Which interpreter runs a bench cell that needs a module outside the
//! standard library: the cpu workload's `numba` cell (a JIT-compiled loop)
//! and the `array` workload (numpy arrays handed to a process pool, pickled
//! or in shared memory).
//!
//! The project's own engines venv (`scripts/install-engines.sh`, which
//! prints `export BOUNDCHECK_ENGINES_PYTHON=…`) is tried first, then the
//! bench's `--python`. A cell whose module neither can import is reported as
//! not available, with the script that provides it: a clear cell, not an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the engines venv's interpreter.
pub const ENGINES_PYTHON_ENV: &str = "BOUNDCHECK_ENGINES_PYTHON";

/// The module a cell needs beyond the standard library, if any.
pub fn needs(workload: &str, strategy: &str) -> Option<&'static str> {
    match (workload, strategy) {
        ("cpu", "numba") => Some("numba"),
        ("cpu", "ray") => Some("ray"),
        ("cpu", "dask") => Some("distributed"),
        ("array", "sequential" | "threads" | "processes" | "shared-memory") => Some("numpy"),
        _ => None,
    }
}

/// Interpreters found per needed module (`None`: none can import it).
#[derive(Debug, Default)]
pub struct ModulePythons {
    found: BTreeMap<&'static str, Option<PathBuf>>,
}

impl ModulePythons {
    /// Probe, once per module, the interpreters that may have it.
    pub fn probe(modules: &[&'static str], python: &Path) -> ModulePythons {
        let mut candidates: Vec<PathBuf> = std::env::var_os(ENGINES_PYTHON_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.push(python.to_path_buf());
        let mut found = BTreeMap::new();
        for &m in modules {
            found
                .entry(m)
                .or_insert_with(|| candidates.iter().find(|p| imports(p, m)).cloned());
        }
        ModulePythons { found }
    }

    /// The interpreter for `module`, or why there is none.
    pub fn python_for(&self, module: &str) -> Result<&Path, String> {
        match self.found.get(module) {
            Some(Some(p)) => Ok(p),
            _ => Err(format!(
                "needs {module}, which no interpreter here can import (${ENGINES_PYTHON_ENV}, then --python): run scripts/install-engines.sh and export the {ENGINES_PYTHON_ENV} it prints"
            )),
        }
    }

    /// The interpreters found, by module, for the bench's list.
    pub fn used(&self) -> impl Iterator<Item = (&'static str, &Path)> {
        self.found
            .iter()
            .filter_map(|(m, p)| p.as_deref().map(|p| (*m, p)))
    }
}

fn imports(python: &Path, module: &str) -> bool {
    std::process::Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_numba_cell_and_the_array_workload_need_a_module() {
        assert_eq!(needs("cpu", "numba"), Some("numba"));
        assert_eq!(needs("array", "shared-memory"), Some("numpy"));
        assert_eq!(needs("array", "processes"), Some("numpy"));
        assert_eq!(needs("cpu", "processes"), None);
        assert_eq!(
            needs("memory", "numba"),
            None,
            "the runner says not-applicable"
        );
        assert_eq!(needs("array", "native-serial"), None);
    }

    #[test]
    fn a_module_nothing_imports_is_not_available_naming_the_script() {
        let m = ModulePythons::probe(&["boundcheck_no_such_module"], Path::new("python3"));
        let why = m.python_for("boundcheck_no_such_module").unwrap_err();
        assert!(why.contains("scripts/install-engines.sh"), "{why}");
    }
}
