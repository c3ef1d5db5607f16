//! Where bytes go. The output directory and its files are created before the
//! target is launched, so a bad path fails fast instead of after a long run;
//! they are rewritten with the results at the end.

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
    /// Create the directory and the (empty) files named, proving we can write there.
    pub fn prepare(dir: &Path, files: &[&str]) -> Result<OutputDir, Error> {
        let fail = |e: std::io::Error| Error::OutputNotWritable {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        for name in files {
            File::create(dir.join(name)).map_err(fail)?;
        }
        Ok(OutputDir {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write one file whole; a full disk or lost permission becomes a clear error.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        let path = self.path(name);
        let result = File::create(&path).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_data()
        });
        result.map_err(|e| Error::WriteFailed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(path)
    }

    /// Remove the empty placeholder files (when the run never started).
    pub fn discard_placeholders(&self) {
        for name in [REPORT_FILE, TIMELINE_FILE] {
            let p = self.path(name);
            if p.metadata().is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(p);
            }
        }
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
