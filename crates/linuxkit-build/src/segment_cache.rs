//! The segment cache: runs of the filesystem stream that a [`crate::Sink`]
//! stored once written, found again by their [`SegmentKey`], so that a
//! rebuild from the same images concatenates stored bytes instead of
//! reading layers and compressing again.
//!
//! Layout under the cache's directory (`<image cache>/linuxkit-rs/tar` or
//! `.../initrd`), every name the SHA-256 of the key and the options that
//! shape the bytes:
//!
//! | file | holds |
//! |---|---|
//! | `xx/<hex>.tar` | a tar segment (its entries' tar bytes, PAX records included) |
//! | `xx/<hex>.gz` | an initrd segment: one gzip member holding a newc cpio |
//! | `xx/<hex>.side` | that segment's kernel, command line and microcode ([`Side`]) |
//! | `whole/xx/<hex>.gz` | a whole initrd, named by the segments it is made of |
//!
//! Every file is written atomically ([`atomic_write`]); for an initrd
//! segment the side file is written first and the `.gz` last, so the
//! `.gz` marks a complete entry. A file that cannot be read or a damaged
//! side file is a miss: the segment is built again and stored over it.
//! This module never decides what a segment holds; it only names, stores
//! and finds bytes.

use crate::SegmentKey;
use crate::atomic::{atomic_write, temp_beside};
use crate::side_file::Side;
use linuxkit_formats::Shared;
use std::io::Write;
use std::path::{Path, PathBuf};

/// SHA-256 of `key`, in hex.
fn key_hex(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A cached initrd segment, kept open (so a concurrent cache clean-up
/// cannot take it away).
#[derive(Debug)]
pub struct CachedSegment {
    /// The `.gz` file.
    pub file: std::fs::File,
    /// Its length.
    pub len: usize,
    /// The side data.
    pub side: Side,
}

/// One directory of stored segments.
#[derive(Debug, Clone)]
pub struct SegmentCache {
    dir: PathBuf,
}

impl SegmentCache {
    /// Segments stored under `dir` (created when the first is stored).
    pub fn new(dir: PathBuf) -> SegmentCache {
        SegmentCache { dir }
    }

    fn path(&self, hex: &str, ext: &str) -> PathBuf {
        self.dir.join(&hex[..2]).join(format!("{hex}.{ext}"))
    }

    /// Where the tar segment of `key` is stored (tar segments carry the
    /// `LINUXKIT.location` provenance record, so the location is part of
    /// the name).
    pub fn tar_path(&self, key: SegmentKey<'_>) -> PathBuf {
        let hex = key_hex(&format!("{}|{}|tar", key.content, key.location));
        self.path(&hex, "tar")
    }

    /// The tar segment at `path`, mapped (it goes from the page cache to
    /// the output without a copy in between); `None` on a miss.
    pub fn load_tar(&self, path: &Path) -> Option<Shared> {
        let file = std::fs::File::open(path).ok()?;
        Shared::map_whole(&file).ok()
    }

    /// Store a tar segment (failing only costs time later: logged).
    pub fn store_tar(&self, path: &Path, bytes: &[u8]) {
        if let Err(e) = atomic_write(path, bytes) {
            tracing::debug!("cannot store a tar segment in the cache: {e}");
        }
    }

    /// The cache name of the initrd segment of `key` compressed at gzip
    /// `level` (the initrd carries no provenance: the location is not part of it).
    pub fn initrd_name(key: &str, level: u32) -> String {
        key_hex(&format!("{key}|gzip-{level}"))
    }

    /// The initrd segment named `name`, if stored and intact enough to use.
    pub fn load_initrd(&self, name: &str) -> Option<CachedSegment> {
        let file = std::fs::File::open(self.path(name, "gz")).ok()?;
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        let side = Side::read(&self.path(name, "side"))?;
        Some(CachedSegment { file, len, side })
    }

    /// Store an initrd segment: side data first, the `.gz` last.
    pub fn store_initrd(&self, name: &str, side: &Side, gz: &[u8]) {
        let stored = atomic_write(&self.path(name, "side"), &side.encode())
            .and_then(|_| atomic_write(&self.path(name, "gz"), gz));
        if let Err(e) = stored {
            tracing::debug!("cannot store an initrd segment in the cache: {e}");
        }
    }

    /// Where the whole initrd made of pieces with these `(id, length)`
    /// is stored: named by the pieces in order (a keyed segment's cache
    /// name, or the SHA-256 of bytes compressed by the build), so the
    /// name says what the content is.
    pub fn whole_path<'a>(&self, pieces: impl IntoIterator<Item = (&'a str, usize)>) -> PathBuf {
        let mut names = String::from("initrd-whole-v1");
        for (id, len) in pieces {
            names.push('|');
            names.push_str(id);
            names.push_str(&format!(":{len}"));
        }
        let hex = key_hex(&names);
        self.dir
            .join("whole")
            .join(&hex[..2])
            .join(format!("{hex}.gz"))
    }

    /// The whole initrd at `path`, mapped, if it is stored with `total` bytes.
    pub fn load_whole(&self, path: &Path, total: usize) -> Option<Shared> {
        let file = std::fs::File::open(path).ok()?;
        if file.metadata().ok()?.len() != total as u64 {
            return None;
        }
        Shared::map_file(&file, 0, total).ok()
    }

    /// Store the whole initrd that `write` writes (`total` bytes) at
    /// `path` and map it.
    pub fn store_whole(
        &self,
        path: &Path,
        total: usize,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<Shared> {
        let file = temp_beside(path, write)?
            .persist(path)
            .map_err(|e| e.error)?;
        Shared::map_file(&file, 0, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(content: &str) -> SegmentKey<'_> {
        SegmentKey {
            content,
            location: "init[0]",
        }
    }

    #[test]
    fn initrd_hit_miss_damage_and_key_change() {
        let d = tempfile::tempdir().unwrap();
        let cache = SegmentCache::new(d.path().to_path_buf());
        let name = SegmentCache::initrd_name("k1", 6);
        assert!(cache.load_initrd(&name).is_none(), "empty cache: miss");
        let side = Side {
            kernel: Some(Shared::from(&b"KERNEL"[..])),
            cmdline: Some(b"console=ttyS0".to_vec()),
            ucode: None,
        };
        cache.store_initrd(&name, &side, b"gzip bytes");
        let hit = cache.load_initrd(&name).expect("stored: hit");
        assert_eq!(hit.len, 10);
        assert_eq!(hit.side.kernel.as_deref(), Some(&b"KERNEL"[..]));
        assert_eq!(hit.side.cmdline.as_deref(), Some(&b"console=ttyS0"[..]));
        // Another key, or the same key at another level: a miss.
        assert!(
            cache
                .load_initrd(&SegmentCache::initrd_name("k2", 6))
                .is_none()
        );
        let other_level = SegmentCache::initrd_name("k1", 9);
        assert_ne!(other_level, name);
        assert!(cache.load_initrd(&other_level).is_none());
        // A damaged side file: a miss, then storing again repairs it.
        let side_path = cache.path(&name, "side");
        let bytes = std::fs::read(&side_path).unwrap();
        std::fs::write(&side_path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(cache.load_initrd(&name).is_none(), "damaged side: miss");
        cache.store_initrd(&name, &side, b"gzip bytes");
        assert!(cache.load_initrd(&name).is_some(), "rebuilt: hit");
        // No side file at all: a miss.
        std::fs::remove_file(&side_path).unwrap();
        assert!(cache.load_initrd(&name).is_none());
    }

    #[test]
    fn tar_segments_are_keyed_by_content_and_location() {
        let d = tempfile::tempdir().unwrap();
        let cache = SegmentCache::new(d.path().to_path_buf());
        let p = cache.tar_path(key("c1"));
        assert!(cache.load_tar(&p).is_none());
        cache.store_tar(&p, b"tar bytes");
        assert_eq!(cache.load_tar(&p).as_deref(), Some(&b"tar bytes"[..]));
        assert_ne!(p, cache.tar_path(key("c2")));
        let moved = SegmentKey {
            content: "c1",
            location: "init[1]",
        };
        assert_ne!(p, cache.tar_path(moved), "the location is in the tar bytes");
    }

    #[test]
    fn whole_initrd_named_by_its_pieces() {
        let d = tempfile::tempdir().unwrap();
        let cache = SegmentCache::new(d.path().to_path_buf());
        let p = cache.whole_path([("a", 3), ("b", 2)]);
        assert_ne!(p, cache.whole_path([("b", 2), ("a", 3)]), "order matters");
        assert_ne!(p, cache.whole_path([("a", 3), ("b", 3)]), "length matters");
        assert!(cache.load_whole(&p, 5).is_none());
        let m = cache.store_whole(&p, 5, |w| w.write_all(b"abcde")).unwrap();
        assert_eq!(&m[..], b"abcde");
        assert_eq!(cache.load_whole(&p, 5).as_deref(), Some(&b"abcde"[..]));
        assert!(cache.load_whole(&p, 6).is_none(), "wrong length: miss");
    }
}
