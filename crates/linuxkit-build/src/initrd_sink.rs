//! The sink of `kernel+initrd` and every format made from the kit: splits
//! the filesystem stream into kernel, command line, microcode and an
//! initrd (a gzip-compressed newc cpio of everything else, compressed in
//! parallel).
//!
//! The initrd is a concatenation of gzip members, one per segment of the
//! stream (see [`Sink::segment`]); each member holds a complete newc
//! archive with its own trailer, which the kernel unpacks in order. Keyed
//! segments are stored in the [`SegmentCache`] once compressed, so a
//! rebuild from the same images concatenates them instead of reading
//! layers and recompressing. Segmentation does not depend on what is
//! cached, so cold and warm builds give the same bytes. This module does
//! not write output files: the build does, from [`InitrdParts`].

use crate::error::BuildError;
use crate::segment_cache::SegmentCache;
use crate::side_file::Side;
use crate::{SegmentKey, Sink};
use linuxkit_formats::cpio::{CpioWriter, FIRST_INO};
use linuxkit_formats::gzip::GzipParallelWriter;
use linuxkit_formats::{Entry, Shared};
use std::io::Write;

/// Splits the stream into kernel, command line, microcode and initrd.
pub struct InitrdSink {
    cache: Option<SegmentCache>,
    level: u32,
    /// Whether the initrd is made at all (see [`InitrdSink::kernel_only`]).
    initrd: bool,
    current: Segment,
    /// The initrd's pieces, in order: compressed here or cached files, read
    /// once into the final buffer by [`InitrdSink::finish`].
    gz: Vec<Piece>,
    /// `boot/kernel`.
    pub kernel: Shared,
    /// `boot/cmdline`.
    pub cmdline: Vec<u8>,
    /// `boot/ucode.cpio`.
    pub ucode: Vec<u8>,
}

/// The segment being collected.
struct Segment {
    key: Option<String>,
    replayed: bool,
    entries: usize,
    /// The segment's cpio, compressed as it is written (parallel gzip,
    /// the same bytes as compressing the whole cpio at once).
    cpio: CpioWriter<GzipParallelWriter<Vec<u8>>>,
    side: Side,
}

impl Segment {
    fn new(key: Option<String>, level: u32) -> Segment {
        Segment {
            key,
            replayed: false,
            entries: 0,
            cpio: CpioWriter::new(GzipParallelWriter::new(Vec::new(), level), FIRST_INO),
            side: Side::default(),
        }
    }
}

/// A piece of the initrd: bytes compressed by this build, or a cached
/// segment file, kept open (so a concurrent cache clean-up cannot take it
/// away). `id` names the piece's content: the cache name of a keyed
/// segment, else a digest of its bytes (see [`SegmentCache::whole_path`]).
enum Piece {
    Bytes {
        gz: Vec<u8>,
        id: String,
    },
    File {
        file: std::fs::File,
        len: usize,
        id: String,
    },
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Bytes { gz, .. } => gz.len(),
            Piece::File { len, .. } => *len,
        }
    }

    fn id(&self) -> &str {
        match self {
            Piece::Bytes { id, .. } | Piece::File { id, .. } => id,
        }
    }
}

/// The parts of a kernel+initrd build.
pub struct InitrdParts {
    /// Kernel binary.
    pub kernel: Shared,
    /// Command line.
    pub cmdline: Vec<u8>,
    /// Microcode cpio (may be empty).
    pub ucode: Vec<u8>,
    /// gzip(cpio), without the microcode.
    pub initrd_gz: Shared,
}

impl InitrdSink {
    /// A sink that caches keyed segments in `cache` (if given),
    /// compressing with gzip `level`.
    pub fn new(cache: Option<SegmentCache>, level: u32) -> InitrdSink {
        InitrdSink {
            cache,
            level,
            initrd: true,
            current: Segment::new(None, level),
            gz: Vec::new(),
            kernel: Shared::new(),
            cmdline: Vec::new(),
            ucode: Vec::new(),
        }
    }

    /// A sink that only collects the kernel, command line and microcode:
    /// for builds whose formats carry the root file system on its own
    /// (`kernel+squashfs|erofs|iso`) and never use the initrd. Cached
    /// segments still give their side data; nothing is compressed or stored.
    pub fn kernel_only(cache: Option<SegmentCache>, level: u32) -> InitrdSink {
        InitrdSink {
            initrd: false,
            ..InitrdSink::new(cache, level)
        }
    }

    /// The initrd as one buffer. A warm build maps it from the cache
    /// (pages the outputs are then written from directly); otherwise the
    /// pieces are copied into one buffer once, which is stored for the next
    /// build. A single cached piece is mapped as it is.
    fn assemble(&self, pieces: Vec<Piece>) -> Result<Shared, BuildError> {
        let total: usize = pieces.iter().map(Piece::len).sum();
        if let [Piece::File { file, len, .. }] = &pieces[..]
            && let Ok(m) = Shared::map_file(file, 0, *len)
        {
            return Ok(m);
        }
        let whole = match &self.cache {
            Some(cache) if pieces.len() > 1 => Some((
                cache,
                cache.whole_path(pieces.iter().map(|p| (p.id(), p.len()))),
            )),
            _ => None,
        };
        if let Some((cache, path)) = &whole {
            if let Some(m) = cache.load_whole(path, total) {
                return Ok(m);
            }
            // Written straight into the whole copy, which is then mapped:
            // no second buffer of the initrd's size.
            match cache.store_whole(path, total, |w| {
                pieces.iter().try_for_each(|p| append_piece(p, w))
            }) {
                Ok(m) => return Ok(m),
                // Only saves time later: concatenate in memory instead.
                Err(e) => tracing::debug!("cannot store the initrd in the cache: {e}"),
            }
        }
        let mut gz = Vec::with_capacity(total);
        for piece in &pieces {
            append_piece(piece, &mut gz).map_err(|e| {
                BuildError::io(
                    "cannot read a cached initrd segment (run `linuxkit cache clean` if this persists)",
                    e,
                )
            })?;
        }
        Ok(gz.into())
    }

    /// Close the current segment: compress it, append it, store it if keyed.
    fn close(&mut self) -> Result<(), BuildError> {
        let seg = std::mem::replace(&mut self.current, Segment::new(None, self.level));
        if seg.replayed {
            return Ok(());
        }
        if !self.initrd {
            self.take_side(seg.side);
            return Ok(());
        }
        let gz = if seg.entries == 0 {
            Vec::new()
        } else {
            seg.cpio
                .finish()
                .map_err(|e| BuildError::Other(format!("cannot write the initrd: {e}")))?
                .finish()
                .map_err(|e| BuildError::io("cannot write the initrd", e))?
        };
        let name = seg
            .key
            .as_deref()
            .map(|k| SegmentCache::initrd_name(k, self.level));
        if let (Some(name), Some(cache)) = (&name, &self.cache) {
            cache.store_initrd(name, &seg.side, &gz);
        }
        if !gz.is_empty() {
            let id = match name {
                Some(name) => name,
                // Only names a cached whole initrd: no digest without a cache.
                None if self.cache.is_none() => String::new(),
                None => {
                    use sha2::Digest;
                    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&gz)))
                }
            };
            self.gz.push(Piece::Bytes { gz, id });
        }
        self.take_side(seg.side);
        Ok(())
    }

    /// Keep a segment's kernel, command line and microcode, if it has them.
    fn take_side(&mut self, side: Side) {
        if let Some(k) = side.kernel {
            self.kernel = k;
        }
        if let Some(c) = side.cmdline {
            self.cmdline = c;
        }
        if let Some(u) = side.ucode {
            self.ucode = u;
        }
    }

    /// Close the cpio and compress it.
    pub fn finish(mut self) -> Result<InitrdParts, BuildError> {
        self.close()?;
        let pieces = std::mem::take(&mut self.gz);
        let gz = self.assemble(pieces)?;
        Ok(InitrdParts {
            kernel: self.kernel,
            cmdline: self.cmdline,
            ucode: self.ucode,
            initrd_gz: gz,
        })
    }
}

/// Append a piece's bytes to `out` (a cached segment is read from its
/// start, whatever its file offset).
fn append_piece(piece: &Piece, out: &mut dyn Write) -> std::io::Result<()> {
    match piece {
        Piece::Bytes { gz, .. } => out.write_all(gz),
        Piece::File { file, len, .. } => {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; (*len).min(1 << 20)];
            let mut at = 0u64;
            while at < *len as u64 {
                let n = buf.len().min(*len - at as usize);
                file.read_exact_at(&mut buf[..n], at)?;
                out.write_all(&buf[..n])?;
                at += n as u64;
            }
            Ok(())
        }
    }
}

impl Sink for InitrdSink {
    fn segment(&mut self, key: Option<SegmentKey<'_>>) -> Result<bool, BuildError> {
        // The initrd carries no provenance records: the location is irrelevant.
        let key = key.map(|k| k.content);
        if key.is_none() && self.current.key.is_none() && !self.current.replayed {
            return Ok(false); // keep collecting generated entries together
        }
        self.close()?;
        let Some(key) = key else {
            return Ok(false);
        };
        let name = SegmentCache::initrd_name(key, self.level);
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.load_initrd(&name)) {
            if hit.len > 0 && self.initrd {
                self.gz.push(Piece::File {
                    file: hit.file,
                    len: hit.len,
                    id: name,
                });
            }
            self.take_side(hit.side);
            self.current.replayed = true;
            return Ok(true);
        }
        self.current = Segment::new(Some(key.to_string()), self.level);
        Ok(false)
    }

    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if self.current.replayed {
            return Ok(());
        }
        match e.path.as_str() {
            // Shared, not copied (a slice of a mapped layer on a warm cache).
            "boot/kernel" => self.current.side.kernel = Some(e.data.clone()),
            "boot/cmdline" => self.current.side.cmdline = Some(e.data.to_vec()),
            "boot/ucode.cpio" => self.current.side.ucode = Some(e.data.to_vec()),
            p if p.starts_with("boot/") => {}
            _ if !self.initrd => {}
            _ => {
                self.current.entries += 1;
                self.current
                    .cpio
                    .write_entry(&e)
                    .map_err(|x| BuildError::Other(format!("cannot write the initrd: {x}")))?
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(content: &str) -> Option<SegmentKey<'_>> {
        Some(SegmentKey {
            content,
            location: "init[0]",
        })
    }

    /// One keyed segment holding a kernel and a file; returns whether it
    /// was replayed from the cache, and the parts.
    fn build(cache: &SegmentCache, k: &str) -> (bool, InitrdParts) {
        let mut sink = InitrdSink::new(Some(cache.clone()), 6);
        let hit = sink.segment(key(k)).unwrap();
        if !hit {
            sink.put(Entry::file("boot/kernel", 0o644, 0, &b"KERNEL"[..]))
                .unwrap();
            sink.put(Entry::file("etc/hostname", 0o644, 0, &b"box\n"[..]))
                .unwrap();
        }
        sink.segment(None).unwrap();
        (hit, sink.finish().unwrap())
    }

    #[test]
    fn segments_replay_and_rebuild_with_the_same_bytes() {
        let d = tempfile::tempdir().unwrap();
        let cache = SegmentCache::new(d.path().to_path_buf());
        let (hit, cold) = build(&cache, "k1");
        assert!(!hit, "cold: built");
        assert_eq!(&cold.kernel[..], b"KERNEL");
        let (hit, warm) = build(&cache, "k1");
        assert!(hit, "warm: replayed");
        assert_eq!(&warm.kernel[..], b"KERNEL");
        assert_eq!(&warm.initrd_gz[..], &cold.initrd_gz[..]);
        // Another key: built again.
        let (hit, _) = build(&cache, "k2");
        assert!(!hit);
        // Damage every side file: built again, same bytes, then a hit.
        for f in walk(d.path()) {
            if f.extension().is_some_and(|e| e == "side") {
                std::fs::write(&f, [1u8, 0xff]).unwrap();
            }
        }
        let (hit, rebuilt) = build(&cache, "k1");
        assert!(!hit, "damaged side file: rebuilt");
        assert_eq!(&rebuilt.initrd_gz[..], &cold.initrd_gz[..]);
        assert!(build(&cache, "k1").0, "stored again");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
