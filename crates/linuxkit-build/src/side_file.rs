//! The side file of a cached initrd segment: the parts of the segment
//! that do not go into the initrd (`boot/kernel`, `boot/cmdline`,
//! `boot/ucode.cpio`), each absent or present.
//!
//! Format, for each of the three parts in that order: one byte `0`
//! (absent) or `1` (present) followed, when present, by the length as a
//! little-endian `u64` and that many bytes. A file that ends early or
//! declares more bytes than it holds reads as `None`, and the segment is
//! rebuilt. The format is versioned by the segment key
//! ([`crate::SEGMENT_VERSION`]): change both together.

use linuxkit_formats::Shared;
use std::path::Path;

/// Parts from this size on are mapped rather than read (the kernel).
const MAP_MIN: usize = 1 << 20;

/// A segment's side data.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// `boot/kernel`.
    pub kernel: Option<Shared>,
    /// `boot/cmdline`.
    pub cmdline: Option<Vec<u8>>,
    /// `boot/ucode.cpio`.
    pub ucode: Option<Vec<u8>>,
}

impl Side {
    /// The side file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let parts: [Option<&[u8]>; 3] = [
            self.kernel.as_deref(),
            self.cmdline.as_deref(),
            self.ucode.as_deref(),
        ];
        for part in parts {
            match part {
                None => out.push(0u8),
                Some(p) => {
                    out.push(1u8);
                    out.extend_from_slice(&(p.len() as u64).to_le_bytes());
                    out.extend_from_slice(p);
                }
            }
        }
        out
    }

    /// Read a side file written from [`Side::encode`]: small parts are
    /// read, a large one (the kernel, 14 MB) is mapped. `None` if it
    /// cannot be read or is damaged.
    pub fn read(path: &Path) -> Option<Side> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path).ok()?;
        let total = file.metadata().ok()?.len();
        let mut parts: Vec<Option<Shared>> = Vec::new();
        let mut at = 0u64;
        for _ in 0..3 {
            let mut flag = [0u8; 1];
            file.read_exact_at(&mut flag, at).ok()?;
            at += 1;
            match flag[0] {
                0 => {
                    parts.push(None);
                    continue;
                }
                1 => {}
                _ => return None, // not a side file: rebuild the segment
            }
            let mut len = [0u8; 8];
            file.read_exact_at(&mut len, at).ok()?;
            at += 8;
            let len = u64::from_le_bytes(len);
            if len > total.saturating_sub(at) {
                return None; // truncated or corrupt: rebuild the segment
            }
            let n = usize::try_from(len).ok()?;
            let data = if n >= MAP_MIN {
                Shared::map_file(&file, at, n).ok()?
            } else {
                let mut v = vec![0u8; n];
                file.read_exact_at(&mut v, at).ok()?;
                Shared::from(v)
            };
            at += len;
            parts.push(Some(data));
        }
        let mut it = parts.into_iter();
        let (kernel, cmdline, ucode) = (it.next()?, it.next()?, it.next()?);
        Some(Side {
            kernel,
            cmdline: cmdline.map(|c| c.to_vec()),
            ucode: ucode.map(|u| u.to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.side");
        let side = Side {
            kernel: Some(Shared::from(vec![7u8; 2 << 20])),
            cmdline: None,
            ucode: Some(b"ucode".to_vec()),
        };
        let bytes = side.encode();
        std::fs::write(&p, &bytes).unwrap();
        let back = Side::read(&p).unwrap();
        assert_eq!(back.kernel.as_deref(), side.kernel.as_deref());
        assert_eq!(back.cmdline, None);
        assert_eq!(back.ucode.as_deref(), Some(&b"ucode"[..]));
        // Truncated anywhere: not a side file.
        for cut in [0, 1, 5, bytes.len() - 1] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(Side::read(&p).is_none(), "cut at {cut}");
        }
        // A flag that is neither 0 nor 1.
        std::fs::write(&p, [2u8, 0, 0]).unwrap();
        assert!(Side::read(&p).is_none());
    }
}
