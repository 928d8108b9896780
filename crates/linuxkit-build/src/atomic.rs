//! Atomic writes of derived cache files: write under a temporary name in
//! the destination's directory, fsync, rename. A killed build leaves at
//! most a stray temporary file, never a half-written file under the real
//! name. Output files of a build use [`crate::pending`] instead (their
//! commit waits for every format to succeed).

use std::io::{BufWriter, Write};
use std::path::Path;

/// Write a file atomically (temporary name, fsync, rename), creating its directory.
pub fn atomic_write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    temp_beside(path, |w| w.write_all(data))?
        .persist(path)
        .map_err(|e| e.error)?;
    Ok(())
}

/// A temporary file in `path`'s directory (created if need be) holding
/// what `write` wrote through a 1 MiB buffer, synced: renamed onto `path`
/// by the caller once its contents are known to be good.
pub fn temp_beside(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    Ok(tmp)
}
