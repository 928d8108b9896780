//! [`Shared`]: immutable bytes shared without copying between the
//! assembler and the writers: file contents, the kernel and initrd, disk
//! segments. Either in memory (a `Vec` taken over without a copy) or a
//! read-only mapping of a file in the cache, so that a warm build writes the
//! cached kernel and initrd into its outputs straight from the page cache:
//! no anonymous buffer to zero and fill first (that read was a quarter of a
//! warm `raw-bios` build).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Cheaply cloneable, immutable bytes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shared(bytes::Bytes);

impl Shared {
    /// No bytes.
    pub const fn new() -> Shared {
        Shared(bytes::Bytes::new())
    }

    /// A copy of `data`.
    pub fn copy_from_slice(data: &[u8]) -> Shared {
        Shared(bytes::Bytes::copy_from_slice(data))
    }

    /// Whether `a` and `b` are the same bytes in memory (not merely equal):
    /// how writers recognise a buffer they were given to share.
    pub fn ptr_eq(a: &Shared, b: &Shared) -> bool {
        a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())
    }

    /// The bytes of `range`, sharing this buffer.
    ///
    /// # Panics
    /// If `range` is not inside the buffer.
    pub fn slice(&self, range: Range<usize>) -> Shared {
        Shared(self.0.slice(range))
    }

    /// `len` bytes of `file` from `offset`, mapped read-only and populated
    /// up front (one call instead of a page fault per 4 KiB).
    ///
    /// Only for files that are never modified in place: every file of the
    /// cache is written under a temporary name and renamed, and removing a
    /// file keeps a mapping of it valid. (If another program truncated a
    /// mapped file, reading past its new end would raise SIGBUS: that is
    /// what the rule avoids.)
    pub fn map_file(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Shared> {
        if len == 0 {
            return Ok(Shared::new());
        }
        let size = file.metadata()?.len();
        if offset.checked_add(len as u64).is_none_or(|end| end > size) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{len} bytes at {offset} are past the end of a {size}-byte file"),
            ));
        }
        // SAFETY: the mapping is read-only and private; the files mapped
        // are only ever replaced by rename, never written or truncated in
        // place (see above), so the bytes behind it do not change.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .populate()
                .map(file)?
        };
        Ok(Shared(bytes::Bytes::from_owner(map)))
    }

    /// The whole of `file`, mapped as by [`Shared::map_file`].
    pub fn map_whole(file: &std::fs::File) -> std::io::Result<Shared> {
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        Shared::map_file(file, 0, len)
    }
}

impl Deref for Shared {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for Shared {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<Vec<u8>> for Shared {
    /// Takes the vector over: no copy.
    fn from(v: Vec<u8>) -> Shared {
        Shared(bytes::Bytes::from(v))
    }
}

impl From<Box<[u8]>> for Shared {
    fn from(v: Box<[u8]>) -> Shared {
        Shared(bytes::Bytes::from(v))
    }
}

impl From<&[u8]> for Shared {
    fn from(v: &[u8]) -> Shared {
        Shared::copy_from_slice(v)
    }
}

impl<const N: usize> From<&[u8; N]> for Shared {
    fn from(v: &[u8; N]) -> Shared {
        Shared::copy_from_slice(v)
    }
}

impl From<&Vec<u8>> for Shared {
    fn from(v: &Vec<u8>) -> Shared {
        Shared::copy_from_slice(v)
    }
}

impl From<&str> for Shared {
    fn from(v: &str) -> Shared {
        Shared::copy_from_slice(v.as_bytes())
    }
}

impl From<String> for Shared {
    fn from(v: String) -> Shared {
        Shared::from(v.into_bytes())
    }
}

impl FromIterator<u8> for Shared {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Shared {
        Shared::from(iter.into_iter().collect::<Vec<u8>>())
    }
}

impl From<Arc<[u8]>> for Shared {
    /// Shares the allocation: no copy.
    fn from(v: Arc<[u8]>) -> Shared {
        Shared(bytes::Bytes::from_owner(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn conversions_share_or_copy_as_documented() {
        let v = vec![1u8, 2, 3];
        let p = v.as_ptr();
        let s = Shared::from(v);
        assert_eq!(s.as_ptr(), p, "a Vec is taken over");
        let t = s.clone();
        assert!(Shared::ptr_eq(&s, &t));
        let c = Shared::copy_from_slice(&s);
        assert_eq!(c, s);
        assert!(!Shared::ptr_eq(&s, &c));
        assert_eq!(&s.slice(1..3)[..], &[2, 3]);
        assert!(Shared::new().is_empty());
    }

    #[test]
    fn a_mapped_range_reads_the_file_and_checks_bounds() {
        let mut f = tempfile::tempfile().expect("tempfile");
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        f.write_all(&data).expect("write");
        let m = Shared::map_file(&f, 4097, 10_000).expect("map");
        assert_eq!(&m[..], &data[4097..14_097]);
        assert!(Shared::map_file(&f, 15_000, 5_001).is_err());
        assert!(Shared::map_file(&f, u64::MAX, 1).is_err());
        assert!(Shared::map_file(&f, 0, 0).expect("empty").is_empty());
    }
}
