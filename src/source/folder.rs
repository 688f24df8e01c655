//! A local folder of mail: `.eml` files, or a Maildir (`cur/`, `new/`).
//! Handled mail is not touched: the store remembers what it has seen.

use super::{Fetched, SourceError};
use std::path::{Path, PathBuf};

pub struct FolderSource {
    dir: PathBuf,
}

impl FolderSource {
    pub fn new(dir: PathBuf) -> FolderSource {
        FolderSource { dir }
    }

    /// Every mail file, in name order (so runs are repeatable).
    pub fn list(&self) -> Result<Vec<PathBuf>, SourceError> {
        let mut files = Vec::new();
        let maildir = self.dir.join("cur").is_dir() || self.dir.join("new").is_dir();
        if maildir {
            for sub in ["new", "cur"] {
                collect(&self.dir.join(sub), &mut files, |_| true)?;
            }
        } else {
            collect(&self.dir, &mut files, |p| {
                p.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml"))
            })?;
        }
        files.sort();
        Ok(files)
    }

    pub fn read(&self, path: &Path) -> Result<Fetched, SourceError> {
        let raw = std::fs::read(path).map_err(|source| SourceError::Folder {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Fetched {
            source_ref: path.display().to_string(),
            raw,
            // A folder is read whole by `run --once`: nothing there is "live".
            backlog: false,
        })
    }
}

fn collect(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    keep: impl Fn(&Path) -> bool,
) -> Result<(), SourceError> {
    if !dir.is_dir() {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| SourceError::Folder {
        path: dir.display().to_string(),
        source,
    })?;
    for entry in entries.flatten() {
        let p = entry.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if p.is_file() && !hidden && keep(&p) {
            out.push(p);
        }
    }
    Ok(())
}
