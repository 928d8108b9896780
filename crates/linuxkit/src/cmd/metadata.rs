//! `linuxkit metadata create FILE.iso "DATA"`: the metadata ISO (one file,
//! `config`, holding DATA) that `pkg/metadata`'s CD-ROM provider reads; the
//! same image `run qemu --data` attaches (see `linuxkit_run::metadata`).

use anyhow::Result;
use std::path::Path;

/// Write the metadata ISO `file` holding `data`.
pub fn create(file: &Path, data: &str) -> Result<()> {
    linuxkit_run::metadata::write_metadata_iso(file, data.as_bytes())?;
    Ok(())
}
