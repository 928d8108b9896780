//! The metadata ISO that `linuxkit metadata create` writes and `run qemu
//! --data/--data-file` attaches as a CD-ROM: an ISO 9660 image holding one
//! file, `config`, with the data (what `pkg/metadata`'s CD-ROM provider
//! reads), as upstream's `WriteMetadataISO` makes it. The volume identifier
//! is upstream's too (`config`: its writer names the volume after the
//! file). Written by the project's own ISO writer with a fixed time, so the
//! same data gives the same bytes.

use linuxkit_formats::Entry;
use linuxkit_formats::entry::DEFAULT_MTIME;
use linuxkit_formats::iso9660::{IsoError, IsoOptions, write_iso};
use std::path::Path;

/// Name of the one file in the image (and of the volume).
pub const METADATA_FILE: &str = "config";

/// Why the metadata ISO could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The ISO writer refused the data (over 4 GiB - 1).
    #[error("cannot make the metadata ISO: {0}")]
    Iso(#[from] IsoError),
    /// Writing the file failed.
    #[error("cannot write the metadata ISO {path}: {source}")]
    Write {
        /// The output.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// The metadata ISO for `data`, in memory.
pub fn metadata_iso(data: &[u8]) -> Result<Vec<u8>, IsoError> {
    let entries = [Entry::file(
        METADATA_FILE,
        0o644,
        DEFAULT_MTIME,
        data.to_vec(),
    )];
    let mut out = Vec::new();
    write_iso(
        &entries,
        &IsoOptions::new(METADATA_FILE, DEFAULT_MTIME),
        &mut out,
    )?;
    Ok(out)
}

/// Write the metadata ISO for `data` to `path` (replacing the file).
pub fn write_metadata_iso(path: &Path, data: &[u8]) -> Result<(), MetadataError> {
    let iso = metadata_iso(data)?;
    std::fs::write(path, iso).map_err(|source| MetadataError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_data_same_bytes_and_the_file_is_in_it() {
        let a = metadata_iso(b"{\"x\":1}").unwrap();
        assert_eq!(a, metadata_iso(b"{\"x\":1}").unwrap());
        assert_ne!(a, metadata_iso(b"{\"x\":2}").unwrap());
        assert_eq!(a.len() % 2048, 0);
        assert_eq!(&a[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
        // volume identifier, padded with spaces
        assert_eq!(&a[16 * 2048 + 40..16 * 2048 + 46], b"config");
    }
}
