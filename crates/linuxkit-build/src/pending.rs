//! Output files written under a temporary name beside their destination
//! and renamed into place only by [`PendingFile::commit`]: a build commits
//! every file once every requested format succeeded, so a failed build
//! leaves nothing half-written.
//!
//! Only regular files are replaced that way. A destination that is a
//! character device, a FIFO or a socket (`--o /dev/null`, `/dev/stdout`, a
//! named pipe) is written into directly: there is nothing to protect and it
//! must stay what it is. A symbolic link is followed on purpose: the file it
//! names is replaced and the link stays. A directory, a block device or a
//! dangling link is refused.

use crate::error::BuildError;
use crate::outfile::OutputFile;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written under a temporary name, or straight into a
/// destination that is not a regular file.
pub struct PendingFile {
    out: Out,
    dest: PathBuf,
}

/// Where a [`PendingFile`] writes.
enum Out {
    /// A temporary file beside the destination, renamed over it on commit.
    Temp(tempfile::NamedTempFile<OutputFile>),
    /// The destination itself (a character device, FIFO or socket).
    Direct(OutputFile),
}

/// What the destination is now, following symbolic links on purpose.
enum Existing {
    /// Nothing there (or a regular file): write beside it, rename over it.
    Replace(PathBuf),
    /// A character device, FIFO or socket: write into it.
    WriteInto(PathBuf),
}

fn existing(dest: &Path) -> Result<Existing, BuildError> {
    use std::os::unix::fs::FileTypeExt;
    let refuse = |why: &str| {
        Err(BuildError::Other(format!(
            "output {} {why}: give the path of a file to write",
            dest.display()
        )))
    };
    let Ok(lmeta) = std::fs::symlink_metadata(dest) else {
        return Ok(Existing::Replace(dest.to_path_buf()));
    };
    // Through the link (also /proc's magic links: `/dev/stdout` on a pipe).
    let meta = match std::fs::metadata(dest) {
        Ok(m) => m,
        Err(_) if lmeta.file_type().is_symlink() => return refuse("is a symbolic link to nothing"),
        Err(e) => return Err(BuildError::io(format!("cannot read {}", dest.display()), e)),
    };
    let ft = meta.file_type();
    if ft.is_file() {
        // Replace the file the link names; the link stays.
        let target = if lmeta.file_type().is_symlink() {
            std::fs::canonicalize(dest)
                .map_err(|e| BuildError::io(format!("cannot resolve {}", dest.display()), e))?
        } else {
            dest.to_path_buf()
        };
        Ok(Existing::Replace(target))
    } else if ft.is_char_device() || ft.is_fifo() || ft.is_socket() {
        Ok(Existing::WriteInto(dest.to_path_buf()))
    } else if ft.is_dir() {
        refuse("is a directory")
    } else {
        refuse("is a block device (not replaced)")
    }
}

impl PendingFile {
    /// Create a temporary file beside `dest` (beside the file a symbolic
    /// link names), or open `dest` itself when it is a character device,
    /// FIFO or socket.
    pub fn create(dest: &Path) -> Result<PendingFile, BuildError> {
        let dest = match existing(dest)? {
            Existing::Replace(path) => path,
            Existing::WriteInto(path) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| BuildError::io(format!("cannot write {}", path.display()), e))?;
                return Ok(PendingFile {
                    out: Out::Direct(OutputFile::new(file)),
                    dest: path,
                });
            }
        };
        let dest = dest.as_path();
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
            out: Out::Temp(tempfile::NamedTempFile::from_parts(
                OutputFile::new(file),
                path,
            )),
            dest: dest.to_path_buf(),
        })
    }

    /// The open file (it starts writing its data to the disk as it goes).
    pub fn file(&mut self) -> &mut OutputFile {
        match &mut self.out {
            Out::Temp(t) => t.as_file_mut(),
            Out::Direct(f) => f,
        }
    }

    /// fsync, set mode 0644 and rename into place (a destination written
    /// into directly only has its buffered data flushed).
    pub fn commit(self) -> Result<PathBuf, BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let ctx = format!("cannot write {}", self.dest.display());
        let tmp = match self.out {
            Out::Temp(t) => t,
            Out::Direct(mut f) => {
                f.flush().map_err(|e| BuildError::io(&ctx, e))?;
                return Ok(self.dest);
            }
        };
        tmp.as_file()
            .get_ref()
            .sync_all()
            .map_err(|e| BuildError::io(&ctx, e))?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| BuildError::io(&ctx, e))?;
        tmp.persist(&self.dest)
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
