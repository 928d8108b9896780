//! The input of the virtual-disk container writers ([`crate::qcow2`],
//! [`crate::vhd`], [`crate::vmdk`]): a raw disk image seen through
//! [`DiskSource`], which can read any byte range and say which ranges may
//! hold data. Everything outside [`DiskSource::data_ranges`] reads as zeros,
//! so a 25 GiB disk holding 40 MB is converted without reading 25 GiB of
//! zeros. Implementations: a raw image [`std::fs::File`] (holes found with
//! `SEEK_DATA`/`SEEK_HOLE` on Linux), in-memory byte slices, and
//! [`SparseImage`], an in-memory disk made of data segments.
//!
//! The writers walk the disk in 64 KiB clusters ([`CLUSTER`]); a cluster
//! that reads as all zeros is never stored, whatever `data_ranges` said.

use crate::Shared;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::ops::Range;

/// A raw virtual disk to be written into a container format. Shared
/// between threads by the scan for non-zero clusters, which reads with both
/// cores.
pub trait DiskSource: Sync {
    /// Size of the disk in bytes.
    fn len(&self) -> u64;

    /// Whether the disk has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fill `buf` with the disk's bytes at `offset`; reading past
    /// [`DiskSource::len`] is an error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// The `len` bytes at `offset` without a copy, when the source holds
    /// them contiguously in memory; `None` means "use [`DiskSource::read_at`]".
    fn bytes_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let _ = (offset, len);
        None
    }

    /// Sorted, non-overlapping byte ranges that may hold non-zero data;
    /// every byte outside them reads as zero. The default is the whole disk.
    fn data_ranges(&self) -> Vec<Range<u64>> {
        if self.is_empty() {
            Vec::new()
        } else {
            std::iter::once(0..self.len()).collect()
        }
    }
}

/// A raw image file. `len` is the file's size (0 if it cannot be
/// `fstat`ed); `data_ranges` asks the filesystem for the file's data
/// extents with `SEEK_DATA`/`SEEK_HOLE` (Linux; it moves and then restores
/// the file offset) and falls back to the whole file.
impl DiskSource for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    fn data_ranges(&self) -> Vec<Range<u64>> {
        let len = DiskSource::len(self);
        if len == 0 {
            return Vec::new();
        }
        file_extents(self, len).unwrap_or_else(|| std::iter::once(0..len).collect())
    }
}

#[cfg(target_os = "linux")]
fn file_extents(file: &std::fs::File, len: u64) -> Option<Vec<Range<u64>>> {
    use rustix::fs::{SeekFrom, seek};
    let saved = seek(file, SeekFrom::Current(0)).ok()?;
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut ok = true;
    while pos < len {
        let start = match seek(file, SeekFrom::Data(pos)) {
            Ok(s) => s,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => {
                ok = false;
                break;
            }
        };
        if start >= len {
            break;
        }
        let end = match seek(file, SeekFrom::Hole(start)) {
            Ok(e) => e.min(len),
            Err(_) => {
                ok = false;
                break;
            }
        };
        if end <= start {
            ok = false;
            break;
        }
        out.push(start..end);
        pos = end;
    }
    let restored = seek(file, SeekFrom::Start(saved)).is_ok();
    (ok && restored).then_some(out)
}

#[cfg(not(target_os = "linux"))]
fn file_extents(_file: &std::fs::File, _len: u64) -> Option<Vec<Range<u64>>> {
    None
}

fn read_slice(data: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let start = usize::try_from(offset).ok();
    let end = start.and_then(|s| s.checked_add(buf.len()));
    match (start, end) {
        (Some(s), Some(e)) if e <= data.len() => {
            buf.copy_from_slice(&data[s..e]);
            Ok(())
        }
        _ => Err(past_end(offset, buf.len(), data.len() as u64)),
    }
}

fn past_end(offset: u64, n: usize, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("read of {n} bytes at {offset} past the end of a {len}-byte disk"),
    )
}

fn slice_at(data: &[u8], offset: u64, len: usize) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    data.get(start..start.checked_add(len)?)
}

/// An in-memory raw disk image.
impl DiskSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn bytes_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        slice_at(self, offset, len)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_slice(self, offset, buf)
    }
}

/// An in-memory raw disk image.
impl DiskSource for Vec<u8> {
    fn len(&self) -> u64 {
        Vec::len(self) as u64
    }

    fn bytes_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        slice_at(self, offset, len)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_slice(self, offset, buf)
    }
}

/// Invalid [`SparseImage`] layout.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiskError {
    /// A segment reaches past the end of the disk.
    #[error("segment at {offset} of {size} bytes ends past the disk size {len}")]
    SegmentOutOfBounds {
        /// Segment offset.
        offset: u64,
        /// Segment size.
        size: u64,
        /// Disk size.
        len: u64,
    },
    /// A segment starts before the previous one ends (unsorted or overlapping).
    #[error("segment at {offset} starts before the previous segment ends at {prev_end}")]
    SegmentOverlap {
        /// Segment offset.
        offset: u64,
        /// End of the previous segment.
        prev_end: u64,
    },
}

/// An in-memory sparse disk: `len` bytes, zero except for the segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseImage {
    len: u64,
    segments: Vec<(u64, Shared)>,
}

impl SparseImage {
    /// A disk of `len` bytes holding `segments` (offset, bytes), which must
    /// be sorted by offset, non-overlapping and inside the disk.
    pub fn new(len: u64, segments: Vec<(u64, Shared)>) -> Result<SparseImage, DiskError> {
        let mut prev_end = 0u64;
        for (offset, data) in &segments {
            let size = data.len() as u64;
            let end = offset.checked_add(size).filter(|&e| e <= len).ok_or(
                DiskError::SegmentOutOfBounds {
                    offset: *offset,
                    size,
                    len,
                },
            )?;
            if *offset < prev_end {
                return Err(DiskError::SegmentOverlap {
                    offset: *offset,
                    prev_end,
                });
            }
            prev_end = end;
        }
        Ok(SparseImage { len, segments })
    }

    /// The data segments, sorted by offset.
    pub fn segments(&self) -> &[(u64, Shared)] {
        &self.segments
    }

    /// An image that is `data`, in one segment.
    pub fn whole(data: Shared) -> SparseImage {
        SparseImage {
            len: data.len() as u64,
            segments: vec![(0, data)],
        }
    }

    /// The whole image in one buffer (zeros between the segments).
    pub fn to_vec(&self) -> Vec<u8> {
        crate::buf::assemble(
            usize::try_from(self.len).unwrap_or(usize::MAX),
            self.segments.iter().map(|(o, d)| (*o, &d[..])),
        )
    }
}

/// A writer that records an image as segments instead of copying it:
/// a write of exactly one of the `shared` buffers (a kernel, an initrd,
/// passed whole by the image writer) becomes a segment pointing at that
/// buffer; everything else is copied into owned segments. The segments
/// cover the whole stream, in order: the image without a copy of its
/// large files.
#[derive(Debug, Default)]
pub struct SegmentRecorder {
    shared: Vec<Shared>,
    segments: Vec<(u64, Shared)>,
    current: Vec<u8>,
    current_start: u64,
    pos: u64,
}

impl SegmentRecorder {
    /// A recorder that shares (does not copy) writes of these buffers.
    pub fn new(shared: Vec<Shared>) -> SegmentRecorder {
        SegmentRecorder {
            shared,
            ..SegmentRecorder::default()
        }
    }

    fn close_current(&mut self) {
        if !self.current.is_empty() {
            let bytes = std::mem::take(&mut self.current);
            self.segments.push((self.current_start, bytes.into()));
        }
        self.current_start = self.pos;
    }

    /// The image written: its length is what was written, its segments
    /// (sorted and contiguous) what was recorded.
    pub fn finish(mut self) -> SparseImage {
        self.close_current();
        SparseImage {
            len: self.pos,
            segments: self.segments,
        }
    }
}

impl Write for SegmentRecorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let shared = self
            .shared
            .iter()
            .find(|a| {
                !a.is_empty() && std::ptr::eq(a.as_ptr(), buf.as_ptr()) && a.len() == buf.len()
            })
            .cloned();
        match shared {
            Some(a) => {
                self.close_current();
                self.segments.push((self.pos, a));
                self.pos += buf.len() as u64;
                self.current_start = self.pos;
            }
            None => {
                self.current.extend_from_slice(buf);
                self.pos += buf.len() as u64;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DiskSource for SparseImage {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| past_end(offset, buf.len(), self.len))?;
        buf.fill(0);
        // Segments are sorted and disjoint, so their ends are sorted too.
        let first = self
            .segments
            .partition_point(|(o, d)| o + d.len() as u64 <= offset);
        for (seg_off, data) in &self.segments[first..] {
            if *seg_off >= end {
                break;
            }
            let seg_end = seg_off + data.len() as u64;
            let from = offset.max(*seg_off);
            let to = end.min(seg_end);
            if from < to {
                let dst = (from - offset) as usize..(to - offset) as usize;
                let src = (from - seg_off) as usize..(to - seg_off) as usize;
                buf[dst].copy_from_slice(&data[src]);
            }
        }
        Ok(())
    }

    fn bytes_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let i = self
            .segments
            .partition_point(|(o, d)| o + d.len() as u64 <= offset);
        let (seg_off, data) = self.segments.get(i)?;
        let start = offset.checked_sub(*seg_off)?;
        slice_at(data, start, len)
    }

    fn data_ranges(&self) -> Vec<Range<u64>> {
        self.segments
            .iter()
            .filter(|(_, d)| !d.is_empty())
            .map(|(o, d)| *o..o + d.len() as u64)
            .collect()
    }
}

/// The unit in which writers look for data: 64 KiB.
pub const CLUSTER: u64 = 64 * 1024;

/// Write `n` zero bytes, as slices of [`crate::buf::ZEROS`] (which
/// [`crate::buf::is_zero`] recognises without reading them).
pub(crate) fn write_zeros<W: Write + ?Sized>(w: &mut W, mut n: u64) -> io::Result<()> {
    let zeros = &crate::buf::ZEROS[..];
    while n > 0 {
        let k = n.min(zeros.len() as u64);
        w.write_all(&zeros[..k as usize])?;
        n -= k;
    }
    Ok(())
}

/// The disk size rounded up to whole 512-byte sectors: the virtual size
/// every writer records (the padding reads as zeros).
pub(crate) fn sector_len(src: &dyn DiskSource) -> u64 {
    src.len().div_ceil(512) * 512
}

/// Read cluster `index` into `buf` (`CLUSTER` bytes), zero-padded past the
/// end of the disk.
pub(crate) fn read_cluster(src: &dyn DiskSource, index: u64, buf: &mut [u8]) -> io::Result<()> {
    let off = index * CLUSTER;
    let n = src.len().saturating_sub(off).min(CLUSTER) as usize;
    src.read_at(off, &mut buf[..n])?;
    buf[n..].fill(0);
    Ok(())
}

/// Cluster `index` of the disk: borrowed from the source when it holds the
/// whole cluster in memory, else read into `buf` (`CLUSTER` bytes) and
/// zero-padded past the end of the disk.
pub(crate) fn cluster<'a>(
    src: &'a dyn DiskSource,
    index: u64,
    buf: &'a mut [u8],
) -> io::Result<&'a [u8]> {
    if let Some(b) = src.bytes_at(index * CLUSTER, CLUSTER as usize) {
        return Ok(b);
    }
    read_cluster(src, index, buf)?;
    Ok(buf)
}

/// Write the clusters `list` (increasing) back to back: a run of
/// consecutive clusters that the source holds contiguously in memory goes
/// out in one write, straight from the source; others are read one by one.
pub(crate) fn write_clusters<W: Write + ?Sized>(
    src: &dyn DiskSource,
    list: &[u64],
    out: &mut W,
) -> io::Result<()> {
    let mut buf = vec![0u8; CLUSTER as usize];
    let mut i = 0;
    while i < list.len() {
        let mut j = i + 1;
        while j < list.len() && list[j] == list[j - 1] + 1 {
            j += 1;
        }
        let run = ((j - i) as u64 * CLUSTER) as usize;
        if let Some(bytes) = src.bytes_at(list[i] * CLUSTER, run) {
            out.write_all(bytes)?;
            i = j;
        } else {
            out.write_all(cluster(src, list[i], &mut buf)?)?;
            i += 1;
        }
    }
    Ok(())
}

/// The clusters that `data_ranges` touches, as increasing, disjoint runs.
fn candidate_clusters(src: &dyn DiskSource) -> Vec<Range<u64>> {
    let len = src.len();
    let mut out = Vec::new();
    let mut next = 0u64; // first cluster not listed yet
    for r in src.data_ranges() {
        let (start, end) = (r.start.min(len), r.end.min(len));
        if start >= end {
            continue;
        }
        let first = (start / CLUSTER).max(next);
        let last = end.div_ceil(CLUSTER);
        if first < last {
            out.push(first..last);
        }
        next = next.max(last);
    }
    out
}

/// Call `f(index, bytes)` in increasing order for every cluster that
/// `data_ranges` touches and that is not all zeros (`bytes` is a whole
/// cluster, zero-padded past the end of the disk).
pub(crate) fn for_each_nonzero_cluster<E: From<io::Error>>(
    src: &dyn DiskSource,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut buf = vec![0u8; CLUSTER as usize];
    for range in candidate_clusters(src) {
        for c in range {
            let data = cluster(src, c, &mut buf)?;
            if !crate::buf::is_zero(data) {
                f(c, data)?;
            }
        }
    }
    Ok(())
}

/// Hash of a disk's contents, independent of how `data_ranges` cut it: the
/// size and each non-zero cluster's index and CRC-32, through SHA-256.
/// Seeds the writers' ids, which only need to follow the content: CRC-32
/// runs at memory speed, where SHA-256 of the clusters themselves was a
/// sixth of a 50 MB disk's conversion.
pub(crate) struct ContentHash(Sha256);

impl ContentHash {
    pub(crate) fn new(len: u64) -> ContentHash {
        let mut h = Sha256::new();
        h.update(b"linuxkit-disk-content-v2\0");
        h.update(len.to_le_bytes());
        ContentHash(h)
    }

    pub(crate) fn cluster(&mut self, index: u64, data: &[u8]) {
        self.cluster_crc(index, data.len(), crc32(data));
    }

    fn cluster_crc(&mut self, index: u64, len: usize, crc: u32) {
        self.0.update(index.to_le_bytes());
        self.0.update((len as u64).to_le_bytes());
        self.0.update(crc.to_le_bytes());
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The non-zero clusters of a disk, found by reading its data ranges once.
pub(crate) struct Scan {
    /// Indices of the clusters holding data, increasing.
    pub clusters: Vec<u64>,
    /// [`ContentHash`] of the disk.
    pub digest: [u8; 32],
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = crate::buf::Crc32::new();
    crc.update(data);
    crc.sum()
}

/// The non-zero clusters of `src`, increasing, for a writer that needs no
/// content hash (no CRC: a data cluster's zero test stops at its first
/// non-zero byte, so this reads little more than the zero runs).
pub(crate) fn nonzero_clusters(src: &dyn DiskSource) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for_each_nonzero_cluster::<io::Error>(src, |c, _| {
        out.push(c);
        Ok(())
    })?;
    Ok(out)
}

/// Scans with two threads from this many candidate clusters (4 MiB) on.
const PARALLEL_SCAN_MIN: u64 = 64;

/// Find the non-zero clusters of `src` (a first pass, so that writers can
/// lay their metadata out before the data). The candidate clusters are
/// split in two halves tested and CRC'd on two threads (the CRCs go into
/// the [`ContentHash`] in order afterwards, so the digest does not depend
/// on the split).
pub(crate) fn scan(src: &dyn DiskSource) -> io::Result<Scan> {
    let all: Vec<u64> = candidate_clusters(src).into_iter().flatten().collect();
    let check = |part: &[u64]| -> io::Result<Vec<(u64, u32)>> {
        let mut buf = vec![0u8; CLUSTER as usize];
        let mut found = Vec::new();
        for &c in part {
            let data = cluster(src, c, &mut buf)?;
            if !crate::buf::is_zero(data) {
                found.push((c, crc32(data)));
            }
        }
        Ok(found)
    };
    let found = if (all.len() as u64) < PARALLEL_SCAN_MIN {
        check(&all)?
    } else {
        let (a, b) = all.split_at(all.len() / 2);
        std::thread::scope(|s| -> io::Result<Vec<(u64, u32)>> {
            let second = s.spawn(|| check(b));
            let mut found = check(a)?;
            let rest = second
                .join()
                .map_err(|_| io::Error::other("the disk scan thread panicked"))??;
            found.extend(rest);
            Ok(found)
        })?
    };
    let mut hash = ContentHash::new(src.len());
    for &(c, crc) in &found {
        hash.cluster_crc(c, CLUSTER as usize, crc);
    }
    Ok(Scan {
        clusters: found.into_iter().map(|(c, _)| c).collect(),
        digest: hash.finish(),
    })
}

/// A 16-byte id (RFC 9562 version 8 layout) from SHA-256 of `parts`.
pub(crate) fn derived_uuid(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id[6] = (id[6] & 0x0f) | 0x80;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

#[cfg(test)]
pub(crate) mod tests {
    //! Shared test fixtures and qemu-img helpers for the writers' tests.
    use super::*;
    use std::path::Path;
    use std::process::{Command, Output};

    /// Deterministic pseudo-random bytes (xorshift64*).
    pub fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// A 64 MiB disk with a few data regions: unaligned, straddling
    /// cluster and 2 MiB block boundaries, a zero segment, text-like data,
    /// and data in the last sector.
    pub fn sample() -> SparseImage {
        let mib = 1u64 << 20;
        let mut text = Vec::new();
        while text.len() < 300_000 {
            text.extend_from_slice(b"linuxkit builds minimal immutable linux images. ");
        }
        let segs: Vec<(u64, Vec<u8>)> = vec![
            (0, noise(1, 4096)),
            (512 * 9 + 3, noise(2, 70_000)),
            (2 * mib - 1000, noise(3, 5000)),
            (5 * mib, vec![0u8; 3 * 65536]),
            (9 * mib + 12345, text),
            (32 * mib - 300_000, noise(4, mib as usize)),
            (64 * mib - 512, noise(5, 512)),
        ];
        let segs = segs
            .into_iter()
            .map(|(o, d)| (o, Shared::from(d)))
            .collect();
        SparseImage::new(64 * mib, segs).expect("valid sample")
    }

    /// A raw file with the same bytes as `src`.
    pub fn write_raw(src: &dyn DiskSource, path: &Path) {
        let f = std::fs::File::create(path).expect("create raw");
        f.set_len(src.len()).expect("set_len");
        let mut buf = vec![0u8; 1 << 20];
        for r in src.data_ranges() {
            let mut off = r.start;
            while off < r.end {
                let n = (r.end - off).min(buf.len() as u64) as usize;
                src.read_at(off, &mut buf[..n]).expect("read");
                std::os::unix::fs::FileExt::write_all_at(&f, &buf[..n], off).expect("write");
                off += n as u64;
            }
        }
    }

    pub fn qemu_img(args: &[&str]) -> Output {
        Command::new("qemu-img")
            .args(args)
            .output()
            .expect("qemu-img runs (Debian qemu-utils)")
    }

    /// `qemu-img info --output=json`, parsed. Since QEMU 8 the image's
    /// protocol node is nested under `"children"` with a `"virtual-size"` of
    /// its own: read the image's values at the top level, as [`json_u64`] does.
    pub fn info(fmt: &str, path: &Path) -> serde_json::Value {
        let out = qemu_img(&["info", "-f", fmt, "--output=json", path.to_str().unwrap()]);
        assert!(out.status.success(), "qemu-img info: {out:?}");
        serde_json::from_slice(&out.stdout).expect("qemu-img info prints JSON")
    }

    /// The top-level integer `key` of qemu-img's JSON.
    pub fn json_u64(json: &serde_json::Value, key: &str) -> u64 {
        json.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_else(|| panic!("no integer {key} at the top level of {json}"))
    }

    /// `qemu-img compare` of an image with a raw file: identical.
    pub fn assert_same(fmt: &str, img: &Path, raw: &Path) {
        let out = qemu_img(&[
            "compare",
            "-f",
            fmt,
            "-F",
            "raw",
            img.to_str().unwrap(),
            raw.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "qemu-img compare: {out:?}");
    }

    #[test]
    fn sparse_image_reads_and_validates() {
        let img = SparseImage::new(
            100,
            vec![
                (10, Shared::from(&[1u8, 2, 3][..])),
                (20, Shared::from(&[4u8][..])),
            ],
        )
        .unwrap();
        let mut buf = [9u8; 15];
        img.read_at(8, &mut buf).unwrap();
        assert_eq!(buf, [0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]);
        assert!(img.read_at(95, &mut [0u8; 6]).is_err());
        assert_eq!(img.data_ranges(), vec![10..13, 20..21]);
        let a: Shared = Shared::from(&[1u8; 10][..]);
        assert_eq!(
            SparseImage::new(100, vec![(0, a.clone()), (5, a.clone())]),
            Err(DiskError::SegmentOverlap {
                offset: 5,
                prev_end: 10
            })
        );
        assert!(matches!(
            SparseImage::new(100, vec![(95, a)]),
            Err(DiskError::SegmentOutOfBounds { .. })
        ));
    }

    #[test]
    fn file_source_finds_holes_and_matches_content() {
        let dir = tempfile::tempdir().unwrap();
        let img = sample();
        let raw = dir.path().join("raw.img");
        write_raw(&img, &raw);
        let f = std::fs::File::open(&raw).unwrap();
        assert_eq!(DiskSource::len(&f), img.len());
        let ranges = f.data_ranges();
        // Every segment lies inside the reported ranges.
        for r in img.data_ranges() {
            assert!(ranges.iter().any(|x| x.start <= r.start && r.end <= x.end));
        }
        let a = scan(&img).unwrap();
        let b = scan(&f).unwrap();
        assert_eq!(a.clusters, b.clusters);
        assert_eq!(a.digest, b.digest);
        let whole: Vec<u8> = std::fs::read(&raw).unwrap();
        let c = scan(&whole).unwrap();
        assert_eq!(a.digest, c.digest);
        // The all-zero segment is not a data cluster.
        assert!(!a.clusters.contains(&(5 * 16 + 1)));
    }
}
