//! Where bytes go. The output directory is created and checked writable
//! before the target is launched, so a bad path fails fast instead of after a
//! long run; the files are replaced atomically as results arrive.

use crate::error::Error;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const REPORT_FILE: &str = "report.json";
pub const TIMELINE_FILE: &str = "timeline.json";

/// The report directory, checked writable.
#[derive(Debug, Clone)]
pub struct OutputDir {
    dir: PathBuf,
}

impl OutputDir {
    /// Create the directory and prove we can write there, without touching
    /// the files of an earlier run: a run that fails to start loses nothing.
    pub fn prepare(dir: &Path) -> Result<OutputDir, Error> {
        let fail = |e: std::io::Error| Error::OutputNotWritable {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let probe = dir.join(format!(".boundcheck-probe-{}", std::process::id()));
        File::create(&probe).map_err(fail)?;
        let _ = std::fs::remove_file(&probe);
        Ok(OutputDir {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write one file whole: into a temporary file beside it, then renamed
    /// over it, so a reader never sees half a report and a full disk leaves
    /// the previous file intact. A full disk or lost permission becomes a
    /// clear error.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        let path = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp-{}", std::process::id()));
        let result = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_data()
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
