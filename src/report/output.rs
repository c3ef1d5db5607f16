//! Where bytes go. The output directory is created and checked writable
//! before the target is launched, so a bad path fails fast instead of after a
//! long run; the files are replaced atomically as results arrive.

use crate::error::Error;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const REPORT_FILE: &str = "report.json";
pub const TIMELINE_FILE: &str = "timeline.json";

/// Numbered siblings tried before giving up (`DIR-2` … `DIR-999`).
const MAX_NUMBERED: u32 = 999;

/// The report directory, checked writable.
#[derive(Debug, Clone)]
pub struct OutputDir {
    dir: PathBuf,
    /// This run created the directory (so it may remove it again, empty).
    created: bool,
}

impl OutputDir {
    /// Create the directory and prove we can write there, without touching
    /// the files of an earlier run: a run that fails to start loses nothing.
    pub fn prepare(dir: &Path) -> Result<OutputDir, Error> {
        let fail = |e: std::io::Error| Error::OutputNotWritable {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let created = !dir.is_dir();
        std::fs::create_dir_all(dir).map_err(fail)?;
        let probe = dir.join(format!(".boundcheck-probe-{}", std::process::id()));
        File::create(&probe).map_err(fail)?;
        let _ = std::fs::remove_file(&probe);
        Ok(OutputDir {
            dir: dir.to_path_buf(),
            created,
        })
    }

    /// Remove the directory when this run created it and wrote nothing
    /// there: a launch that fails leaves no empty (numbered) directory behind.
    pub fn remove_if_unused(&self) {
        if self.created {
            // `remove_dir` refuses a directory that holds anything.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }

    /// Like [`OutputDir::prepare`], but never over an earlier run: when `dir`
    /// already holds `marker` (e.g. `report.json`) and `force` is off, the
    /// first of `DIR-2`, `DIR-3`, … that does not is used instead. Scripts
    /// that re-use one `--out` get every run kept; `--force` restores
    /// "replace it". Returns the directory and whether it is not `dir`.
    pub fn prepare_fresh(
        dir: &Path,
        force: bool,
        marker: &str,
    ) -> Result<(OutputDir, bool), Error> {
        if force || !dir.join(marker).exists() {
            return Ok((OutputDir::prepare(dir)?, false));
        }
        let base = match dir.file_name() {
            Some(name) => dir.with_file_name(name),
            // `--out .` or `--out /`: number the directory by its real name.
            None => std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        };
        let name = base.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_else(|| "boundcheck-report".into());
        for n in 2..=MAX_NUMBERED {
            let candidate = base.with_file_name(format!("{name}-{n}"));
            // A directory we create now is ours even if another boundcheck
            // races us for the next number; an existing one is reused only
            // when it holds no report (e.g. left by a run that failed).
            let fresh = std::fs::create_dir(&candidate).is_ok();
            if fresh || (candidate.is_dir() && !candidate.join(marker).exists()) {
                let mut out = OutputDir::prepare(&candidate)?;
                out.created = fresh;
                return Ok((out, true));
            }
        }
        Err(Error::OutputNotWritable {
            path: dir.to_path_buf(),
            reason: format!(
                "it and {name}-2 … {name}-{MAX_NUMBERED} all hold earlier reports; pass --force to replace the one in {}",
                dir.display()
            ),
        })
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write one file whole: into a temporary file beside it, then renamed
    /// over it, so a reader never sees half a report and a full disk leaves
    /// the previous file intact. A full disk or lost permission becomes a
    /// clear error.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        self.write_with(name, |w| w.write_all(bytes))
    }

    /// [`OutputDir::write`] for a file too large to hold in memory a second
    /// time (the timeline of a long run: its JSON is as large as the samples
    /// themselves): `fill` streams it through a buffer into the temporary file.
    pub fn write_with(
        &self,
        name: &str,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<PathBuf, Error> {
        let path = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp-{}", std::process::id()));
        let result = File::create(&tmp)
            .and_then(|f| {
                let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
                fill(&mut w)?;
                w.into_inner().map_err(|e| e.into_error())?.sync_data()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::WriteFailed {
                path: path.clone(),
                reason: e.to_string(),
            });
        }
        Ok(path)
    }
}

/// Write one file the user named (`--output FILE`), atomically like
/// [`OutputDir::write`], creating its directory when missing.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<PathBuf, Error> {
    let name =
        path.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::OutputNotWritable {
                path: path.to_path_buf(),
                reason: "not a file name".into(),
            })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    OutputDir::prepare(dir)?.write(name, bytes)
}

/// Write bytes to stdout; a closed pipe (`| head`) is not an error worth dying for.
pub fn to_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// Write bytes to stderr.
pub fn to_stderr(bytes: &[u8]) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(bytes);
    let _ = err.flush();
}

/// Append markdown to the file `$GITHUB_STEP_SUMMARY` names, as GitHub
/// Actions expects (each step appends; the page shows them in order). Unset,
/// nothing happens; a failure to write is a warning, never fatal.
pub fn append_step_summary(markdown: &[u8]) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(markdown));
    if let Err(e) = result {
        to_stderr(
            format!(
                "boundcheck: warning: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}\n",
                std::path::Path::new(&path).display()
            )
            .as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_holding_the_marker_gets_a_numbered_sibling_unless_forced() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("bench-out");
        let (first, moved) = OutputDir::prepare_fresh(&dir, false, "bench.json").unwrap();
        assert!(!moved);
        first.write("bench.json", b"1").unwrap();
        // A trailing slash names the same directory.
        let slashed = PathBuf::from(format!("{}/", dir.display()));
        let (second, moved) = OutputDir::prepare_fresh(&slashed, false, "bench.json").unwrap();
        assert!(moved);
        assert_eq!(second.dir(), parent.path().join("bench-out-2"));
        // Other files (a timeline given to replay) do not count as a run.
        std::fs::write(parent.path().join("bench-out-2/timeline.json"), "").unwrap();
        let (third, _) = OutputDir::prepare_fresh(&dir, false, "bench.json").unwrap();
        assert_eq!(third.dir(), parent.path().join("bench-out-2"));
        let (forced, moved) = OutputDir::prepare_fresh(&dir, true, "bench.json").unwrap();
        assert!(!moved);
        assert_eq!(forced.dir(), dir.as_path());
    }
}
