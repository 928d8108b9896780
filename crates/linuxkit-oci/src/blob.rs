//! Content-addressed blobs: digest parsing, hashing, the verified streaming
//! reader and atomic writes (temporary file in the target directory, fsync,
//! rename). Nothing here knows about images or names; the cache builds on it.
//!
//! Invariant: a file appears under its final name only after its bytes have
//! been hashed and match; a failed or interrupted write leaves at most a
//! `.tmp-*` file that no reader ever looks at.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use crate::error::OciError;

/// Prefix of temporary files in the cache; never a valid blob name.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

pub use linuxkit_oci_spec::digest::sha256_digest;

/// Split `sha256:<hex>` and return the hex part, checking its form (which
/// also guarantees it is a safe single path component).
pub fn digest_hex(digest: &str) -> Result<&str, OciError> {
    linuxkit_oci_spec::digest::sha256_hex(digest).ok_or_else(|| OciError::InvalidDigest {
        digest: digest.to_string(),
        image: None,
    })
}

/// Describe what a check found, for [`OciError::DigestMismatch`].
fn found(expected_size: Option<u64>, size: u64, actual: &str) -> String {
    match expected_size {
        Some(want) if want != size => {
            format!("expected {want} bytes, found {size} bytes with digest {actual}")
        }
        _ => format!("its content hashes to {actual} ({size} bytes)"),
    }
}

/// A reader over a blob file that hashes what passes through it and fails at
/// end of file (with [`io::ErrorKind::InvalidData`], wrapping an
/// [`OciError::DigestMismatch`]) when the bytes are not the ones named by the
/// digest or the size differs from the descriptor's. Reading more than the
/// expected size fails at once, so a swollen blob is never read whole.
pub struct BlobReader {
    file: File,
    hasher: Sha256,
    digest: String,
    expected_size: Option<u64>,
    read: u64,
    path: PathBuf,
    checked: bool,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("path", &self.path)
            .field("read", &self.read)
            .finish()
    }
}

impl BlobReader {
    pub(crate) fn new(
        file: File,
        digest: &str,
        expected_size: Option<u64>,
        path: PathBuf,
    ) -> BlobReader {
        BlobReader {
            file,
            hasher: Sha256::new(),
            digest: digest.to_string(),
            expected_size,
            read: 0,
            path,
            checked: false,
        }
    }

    /// The digest this reader checks against.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The path of the blob file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mismatch(&self, found: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            OciError::DigestMismatch {
                image: None,
                digest: self.digest.clone(),
                path: self.path.clone(),
                found,
            },
        )
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.checked {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        if n == 0 {
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            let size_ok = self.expected_size.is_none_or(|s| s == self.read);
            if actual != self.digest || !size_ok {
                return Err(self.mismatch(found(self.expected_size, self.read, &actual)));
            }
            self.checked = true;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if let Some(want) = self.expected_size
            && self.read > want
        {
            return Err(self.mismatch(format!(
                "it is larger than the {want} bytes its descriptor gives"
            )));
        }
        Ok(n)
    }
}

/// Turn a read error into an [`OciError`], unwrapping the
/// [`OciError::DigestMismatch`] a [`BlobReader`] reports.
pub(crate) fn read_error(e: io::Error, path: &Path) -> OciError {
    if e.get_ref().is_none() {
        return OciError::io("cannot read", path, e);
    }
    let kind = e.kind();
    match e.into_inner().map(|inner| inner.downcast::<OciError>()) {
        Some(Ok(oci)) => *oci,
        Some(Err(other)) => OciError::io("cannot read", path, io::Error::new(kind, other)),
        None => OciError::io("cannot read", path, io::Error::from(kind)),
    }
}

/// Check bytes against a digest and optional size.
pub(crate) fn verify_bytes(
    data: &[u8],
    digest: &str,
    size: Option<u64>,
    path: &Path,
) -> Result<(), OciError> {
    let actual = sha256_digest(data);
    let len = data.len() as u64;
    if actual != digest || size.is_some_and(|s| s != len) {
        return Err(OciError::DigestMismatch {
            image: None,
            digest: digest.to_string(),
            path: path.to_path_buf(),
            found: found(size, len, &actual),
        });
    }
    Ok(())
}

/// A writer that hashes and counts what it forwards.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A temporary file in `dir` holding verified content, not yet visible.
pub(crate) struct Staged {
    pub tmp: NamedTempFile,
    pub digest: String,
    pub size: u64,
}

/// Copy `r` into a new temporary file in `dir`, hashing on the way, and fsync
/// it. With `expected`, a digest mismatch deletes the temporary file and
/// returns [`OciError::DigestMismatch`] naming `source` (where the bytes came
/// from). Memory use is one copy buffer, whatever the size.
pub(crate) fn stage(
    dir: &Path,
    r: &mut dyn Read,
    expected: Option<&str>,
    source: &Path,
) -> Result<Staged, OciError> {
    if let Some(d) = expected {
        digest_hex(d)?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| OciError::io("cannot create a temporary file in", dir, e))?;
    let (hasher, len) = {
        let mut w = HashingWriter {
            inner: io::BufWriter::with_capacity(256 * 1024, tmp.as_file()),
            hasher: Sha256::new(),
            len: 0,
        };
        io::copy(r, &mut w).map_err(|e| match e.kind() {
            // A failing source (a verified reader, a truncated archive) names itself.
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => read_error(e, source),
            _ => OciError::io("cannot write", tmp.path(), e),
        })?;
        w.flush()
            .map_err(|e| OciError::io("cannot write", tmp.path(), e))?;
        (w.hasher.clone(), w.len)
    };
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    if let Some(want) = expected
        && want != digest
    {
        return Err(OciError::DigestMismatch {
            image: None,
            digest: want.to_string(),
            path: source.to_path_buf(),
            found: found(None, len, &digest),
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| OciError::io("cannot sync", tmp.path(), e))?;
    Ok(Staged {
        tmp,
        digest,
        size: len,
    })
}

/// Atomically make a staged file visible as `dest` (rename over any existing
/// file, which for a blob has the same content) and sync the directory.
pub(crate) fn commit(staged: NamedTempFile, dest: &Path) -> Result<(), OciError> {
    staged
        .persist(dest)
        .map_err(|e| OciError::io("cannot rename a temporary file to", dest, e.error))?;
    sync_parent(dest);
    Ok(())
}

/// Write `data` to `dest` atomically (temporary file in the same directory,
/// fsync, rename).
pub(crate) fn write_atomic(dest: &Path, data: &[u8]) -> Result<(), OciError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| OciError::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| OciError::io("cannot write", tmp.path(), e))?;
    commit(tmp, dest)
}

/// fsync a file's directory so a rename survives a crash (best effort: some
/// file systems refuse to sync directories).
pub(crate) fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
}

/// fsync a directory (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_forms() {
        let d = sha256_digest(b"hello");
        assert_eq!(
            d,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(digest_hex(&d).is_ok());
        assert!(digest_hex("sha256:../../etc/passwd").is_err());
        assert!(digest_hex("sha512:ab").is_err());
        assert!(digest_hex(&d.to_uppercase()).is_err());
    }

    #[test]
    fn verified_reader_detects_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b");
        std::fs::write(&p, b"hello").unwrap();
        let d = sha256_digest(b"hello");
        let mut out = Vec::new();
        BlobReader::new(File::open(&p).unwrap(), &d, Some(5), p.clone())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
        std::fs::write(&p, b"hellO").unwrap();
        let e = BlobReader::new(File::open(&p).unwrap(), &d, Some(5), p.clone())
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains(&d), "{e}");
        std::fs::write(&p, b"hello, world").unwrap();
        let e = BlobReader::new(File::open(&p).unwrap(), &d, Some(5), p.clone())
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(e.to_string().contains("larger"), "{e}");
    }

    #[test]
    fn stage_rejects_wrong_digest_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wrong = sha256_digest(b"other");
        let e = stage(
            dir.path(),
            &mut &b"data"[..],
            Some(&wrong),
            Path::new("input"),
        )
        .err();
        assert!(matches!(e, Some(OciError::DigestMismatch { .. })));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
