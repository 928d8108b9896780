//! Output files written under a temporary name beside their destination
//! and renamed into place only by [`PendingFile::commit`]: a build commits
//! every file once every requested format succeeded, so a failed build
//! leaves nothing half-written.

use crate::error::BuildError;
use crate::outfile::OutputFile;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written under a temporary name.
pub struct PendingFile {
    tmp: tempfile::NamedTempFile<OutputFile>,
    dest: PathBuf,
}

impl PendingFile {
    /// Create a temporary file beside `dest`.
    pub fn create(dest: &Path) -> Result<PendingFile, BuildError> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                BuildError::io(
                    format!("cannot create a file in output directory {}", dir.display()),
                    e,
                )
            })?;
        let (file, path) = tmp.into_parts();
        Ok(PendingFile {
            tmp: tempfile::NamedTempFile::from_parts(OutputFile::new(file), path),
            dest: dest.to_path_buf(),
        })
    }

    /// The open file (it starts writing its data to the disk as it goes).
    pub fn file(&mut self) -> &mut OutputFile {
        self.tmp.as_file_mut()
    }

    /// fsync, set mode 0644 and rename into place.
    pub fn commit(self) -> Result<PathBuf, BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let ctx = format!("cannot write {}", self.dest.display());
        self.tmp
            .as_file()
            .get_ref()
            .sync_all()
            .map_err(|e| BuildError::io(&ctx, e))?;
        std::fs::set_permissions(self.tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| BuildError::io(&ctx, e))?;
        self.tmp
            .persist(&self.dest)
            .map_err(|e| BuildError::io(&ctx, e.error))?;
        Ok(self.dest)
    }
}

/// Write a whole file under its temporary name, to be committed later.
pub fn write_pending(dest: &Path, data: &[u8]) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    f.file()
        .write_all(data)
        .map_err(|e| BuildError::io(format!("cannot write {}", dest.display()), e))?;
    Ok(f)
}

/// Commit every file, in order; returns their paths, each once (formats
/// such as `kernel+initrd` and `kernel+squashfs` share `<name>-kernel`).
pub fn commit_all(pending: Vec<PendingFile>) -> Result<Vec<PathBuf>, BuildError> {
    let mut written: Vec<PathBuf> = Vec::new();
    for p in pending {
        let path = p.commit()?;
        if !written.contains(&path) {
            written.push(path);
        }
    }
    Ok(written)
}
