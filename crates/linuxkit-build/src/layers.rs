//! Reading one image layer: the blob is verified by digest while it streams
//! (the cache's reader), decompressed by sniffing its magic (gzip, zstd or
//! plain tar), hashed again to check the config's `diff_id`, and parsed into
//! raw [`Entry`] values with names exactly as stored. No policy lives here:
//! path cleaning and hostile-entry checks are in `flatten`.

use crate::error::BuildError;
use linuxkit_formats::Entry;
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
    if head.starts_with(&[0x1f, 0x8b]) {
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
    let layer_err = |message: String| BuildError::Layer {
        image: image.to_string(),
        digest: digest.to_string(),
        message,
    };
    let blob = cache
        .open_blob(digest, Some(size))
        .map_err(|e| BuildError::Image {
            image: image.to_string(),
            source: Box::new(e),
        })?;
    let buffered: Box<dyn BufRead> = Box::new(BufReader::with_capacity(256 * 1024, blob));
    let decoded =
        decompressor(buffered).map_err(|e| layer_err(format!("cannot read layer: {e}")))?;
    let mut hashing = Hashing {
        inner: decoded,
        hasher: Sha256::new(),
    };
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
    if let Some(expected) = diff_id {
        let actual = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
        if expected != actual {
            return Err(layer_err(format!(
                "uncompressed content has digest {actual} but the image config's diff_id is {expected}; the image is corrupt or was tampered with"
            )));
        }
    }
    Ok(entries)
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
}
