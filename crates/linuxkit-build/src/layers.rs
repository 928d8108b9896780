//! Reading one image layer: the blob is verified by digest while it streams
//! (the cache's reader), decompressed by sniffing its magic (gzip, zstd or
//! plain tar), hashed again to check the config's `diff_id`, and parsed into
//! raw [`Entry`] values with names exactly as stored. No policy lives here:
//! path cleaning and hostile-entry checks are in `flatten`. A gzip layer
//! that passed both checks is remembered with its file's stamp (size,
//! inode, mtime, ctime) under `linuxkit-rs/verified/`; while the stamp
//! holds, later reads skip the two SHA-256 passes (gzip's CRC-32 remains),
//! and a large layer read that way is kept uncompressed under
//! `linuxkit-rs/plain/` for the reads after.

use crate::error::BuildError;
use linuxkit_formats::{Entry, Shared};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read};

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Decompress by magic number.
fn decompressor<'a>(r: Box<dyn BufRead + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = r;
    let head = r.fill_buf()?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = ruzstd::decoding::StreamingDecoder::new(r)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(r))
    }
}

/// Read every entry of a tar stream (uncompressed); see
/// [`linuxkit_formats::tar::read_entries`].
pub use linuxkit_formats::tar::read_entries as read_tar_entries;

/// Read one layer blob from the cache: verify its digest, decompress, check
/// the uncompressed digest against `diff_id` (when known), parse the tar.
pub fn read_layer(
    cache: &linuxkit_oci::Cache,
    image: &str,
    digest: &str,
    size: u64,
    diff_id: Option<&str>,
) -> Result<Vec<Entry>, BuildError> {
    read_layer_with(cache, image, digest, size, diff_id, true)
}

/// [`read_layer`]; `spool`: whether a first read may stream a large layer
/// into its plain copy (false to read it in memory, the fallback when the
/// copy cannot be written).
fn read_layer_with(
    cache: &linuxkit_oci::Cache,
    image: &str,
    digest: &str,
    size: u64,
    diff_id: Option<&str>,
    spool_plain: bool,
) -> Result<Vec<Entry>, BuildError> {
    let layer_err = |message: String| BuildError::Layer {
        image: image.to_string(),
        digest: digest.to_string(),
        message,
    };
    // A gzip layer verified before, whose file has not changed since (same
    // size, inode, mtime and ctime), is only decompressed: gzip's own CRC-32
    // still catches damaged bytes, and any rewrite of the file changes its
    // ctime, which brings both digest checks back.
    let blob_path = cache.blob_path(digest);
    let [verified, plain] = cache
        .derived_blob_files(digest)
        .map_or([None, None], |p| p.map(Some));
    let record = verified
        .zip(stamp(&blob_path, size))
        .map(|(path, st)| (path, format!("{st}|{}\n", diff_id.unwrap_or(""))));
    if let Some((path, want)) = &record
        && std::fs::read(path).is_ok_and(|have| have == want.as_bytes())
        && let Ok(file) = std::fs::File::open(&blob_path)
    {
        // A large layer is kept uncompressed beside the record (written by
        // a verified read, so as trusted as the record) and mapped: reading
        // it costs a tenth of inflating the blob, and file contents are
        // slices of the page cache, not copies.
        let plain = plain.as_ref().filter(|_| size >= PLAIN_MIN_BLOB);
        if let Some(p) = plain
            && let Ok(f) = std::fs::File::open(p)
            && let Ok(entries) = map_entries(&f)
        {
            return Ok(entries);
        }
        let mut buffered = BufReader::with_capacity(256 * 1024, file);
        if buffered
            .fill_buf()
            .is_ok_and(|h| h.starts_with(&GZIP_MAGIC))
        {
            let mut decoded = flate2::bufread::MultiGzDecoder::new(buffered);
            let entries = match plain {
                Some(p) => spool(p, &mut decoded).and_then(|tmp| keep_plain(tmp, p)),
                None => read_tar_entries(&mut decoded)
                    .and_then(|e| io::copy(&mut decoded, &mut io::sink()).map(|_| e)),
            };
            if let Ok(entries) = entries {
                return Ok(entries);
            }
            // fall through: the full check below names what is wrong
        }
    }
    let blob = cache
        .open_blob(digest, Some(size))
        .map_err(|e| BuildError::Image {
            image: image.to_string(),
            source: Box::new(e),
        })?;
    let mut buffered = BufReader::with_capacity(256 * 1024, blob);
    let is_gzip = buffered
        .fill_buf()
        .is_ok_and(|h| h.starts_with(&GZIP_MAGIC));
    let buffered: Box<dyn BufRead> = Box::new(buffered);
    let decoded =
        decompressor(buffered).map_err(|e| layer_err(format!("cannot read layer: {e}")))?;
    let mut hashing = Hashing {
        inner: decoded,
        hasher: Sha256::new(),
    };
    // A large gzip layer goes to its plain copy as it is checked, and is
    // then read from there, mapped: nothing of it is held in memory.
    let large = spool_plain && is_gzip && size >= PLAIN_MIN_BLOB && record.is_some();
    if large && let Some(p) = &plain {
        // Whatever fails here (a damaged blob, a full disk, a tar that does
        // not parse) is read again in memory, which names what is wrong.
        let again = || read_layer_with(cache, image, digest, size, diff_id, false);
        let Ok(tmp) = spool(p, &mut hashing) else {
            return again();
        };
        check_diff_id(diff_id, hashing.hasher.finalize().into()).map_err(layer_err)?;
        return match keep_plain(tmp, p) {
            Ok(entries) => {
                remember(record);
                Ok(entries)
            }
            Err(_) => again(),
        };
    }
    let entries = read_tar_entries(&mut hashing).map_err(|e| {
        layer_err(format!(
            "cannot read layer: {e}; the blob is damaged or truncated: remove the image with `linuxkit cache rm` and import it again"
        ))
    })?;
    // Drain to the end so both digests cover the whole stream.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| {
        layer_err(format!(
            "cannot read layer: {e}; the blob is damaged or truncated: remove the image with `linuxkit cache rm` and import it again"
        ))
    })?;
    check_diff_id(diff_id, hashing.hasher.finalize().into()).map_err(layer_err)?;
    if is_gzip {
        remember(record);
    }
    Ok(entries)
}

/// Compare the uncompressed stream's SHA-256 with the config's `diff_id`.
fn check_diff_id(diff_id: Option<&str>, actual: [u8; 32]) -> Result<(), String> {
    let Some(expected) = diff_id else {
        return Ok(());
    };
    let actual = format!("sha256:{}", hex::encode(actual));
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "uncompressed content has digest {actual} but the image config's diff_id is {expected}; the image is corrupt or was tampered with"
    ))
}

/// Record that the blob passed both checks (only saves time later:
/// failing to is fine).
fn remember(record: Option<(std::path::PathBuf, String)>) {
    if let Some((path, want)) = record {
        let _ = crate::atomic::atomic_write(&path, want.as_bytes());
    }
}

/// Copy the uncompressed layer from `r` into a temporary file beside the
/// plain copy's `path`, synced; kept under `path` by [`keep_plain`] once
/// it has been checked.
fn spool(path: &std::path::Path, r: &mut dyn Read) -> io::Result<tempfile::NamedTempFile> {
    crate::atomic::temp_beside(path, |w| io::copy(r, w).map(|_| ()))
}

/// Rename a spooled plain copy into place and read its entries, mapped.
fn keep_plain(tmp: tempfile::NamedTempFile, path: &std::path::Path) -> io::Result<Vec<Entry>> {
    let file = tmp.persist(path).map_err(|e| e.error)?;
    map_entries(&file)
}

/// The entries of an uncompressed tar file, mapped (contents are slices).
fn map_entries(file: &std::fs::File) -> io::Result<Vec<Entry>> {
    linuxkit_formats::tar::read_entries_shared(&Shared::map_whole(file)?)
}

/// Compressed size from which a layer read a second time is kept
/// uncompressed in the cache (`linuxkit-rs/plain/`).
const PLAIN_MIN_BLOB: u64 = 256 << 10;

/// The first bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What identifies the blob file's current bytes without reading them:
/// size, inode, modification and change times (`None` if it cannot be
/// read or is not `size` bytes long).
fn stamp(path: &std::path::Path, size: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    (m.len() == size).then(|| {
        format!(
            "v1 {} {} {}.{} {}.{}",
            m.len(),
            m.ino(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `layer_tar` fuzzer: a header claiming a huge size used to
    /// make the reader reserve that much memory and abort.
    #[test]
    fn huge_size_in_a_header_is_an_error_not_an_abort() {
        let mut h = tar::Header::new_ustar();
        h.set_path("big").unwrap();
        h.set_size(1 << 50);
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[0u8; 1024]);
        assert!(read_tar_entries(&mut &data[..]).is_err());
        let seed = include_bytes!("../../../fuzz/regressions/layer_tar/huge-size-header");
        let _ = read_tar_entries(&mut &seed[..]);
    }

    /// A gzip layer of one file, stored (not compressed), so that two
    /// contents of one length give blobs of one size.
    fn stored_gzip_layer(content: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_path("etc/motd").unwrap();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, content).unwrap();
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        (gz.finish().unwrap(), tar)
    }

    #[test]
    fn a_remembered_layer_is_verified_again_once_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = linuxkit_oci::Cache::open(dir.path()).unwrap();
        let (gz, tar) = stored_gzip_layer(b"hello");
        let digest = cache.write_blob(&gz).unwrap();
        let diff = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
        let size = gz.len() as u64;
        let first = read_layer(&cache, "img", &digest, size, Some(&diff)).unwrap();
        let hex = digest.trim_start_matches("sha256:");
        let record = crate::derived_dir(&cache).join("verified").join(hex);
        assert!(record.exists(), "a verified gzip layer is remembered");
        let again = read_layer(&cache, "img", &digest, size, Some(&diff)).unwrap();
        assert_eq!(first.len(), again.len());
        assert_eq!(
            first[0].data, again[0].data,
            "the remembered read gives the same files"
        );

        // Another valid gzip layer of the same size written over the blob, its
        // mtime put back: only the ctime tells, and it must be enough.
        let (evil, _) = stored_gzip_layer(b"HELLO");
        assert_eq!(evil.len(), gz.len());
        let path = cache.blob_path(&digest);
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, &evil).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let e = read_layer(&cache, "img", &digest, size, Some(&diff)).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
    }

    /// A large layer's first read streams it into its plain copy while both
    /// digests are checked, then reads the copy; a wrong `diff_id` leaves no
    /// copy (and no temporary file) behind.
    #[test]
    fn a_large_layer_is_spooled_to_its_plain_copy_only_when_it_checks_out() {
        let dir = tempfile::tempdir().unwrap();
        let cache = linuxkit_oci::Cache::open(dir.path()).unwrap();
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (gz, tar) = stored_gzip_layer(&content);
        assert!(gz.len() as u64 >= PLAIN_MIN_BLOB);
        let digest = cache.write_blob(&gz).unwrap();
        let size = gz.len() as u64;
        let [_, plain] = cache.derived_blob_files(&digest).unwrap();

        let wrong = format!("sha256:{}", hex::encode(Sha256::digest(b"other")));
        let e = read_layer(&cache, "img", &digest, size, Some(&wrong)).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
        assert!(!plain.exists(), "no copy of a layer that failed its check");
        let left: Vec<_> = std::fs::read_dir(plain.parent().unwrap())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "temporary files left: {left:?}");

        let diff = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
        let first = read_layer(&cache, "img", &digest, size, Some(&diff)).unwrap();
        assert_eq!(
            std::fs::read(&plain).unwrap(),
            tar,
            "the plain copy is the tar"
        );
        assert_eq!(first.len(), 1);
        assert_eq!(&first[0].data[..], &content[..]);
        let again = read_layer(&cache, "img", &digest, size, Some(&diff)).unwrap();
        assert_eq!(&again[0].data[..], &content[..], "read back from the copy");
    }
}
