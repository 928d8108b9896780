//! qcow2 (QEMU copy-on-write v2 format, header version 3) writer.
//!
//! The subset written: 64 KiB clusters, 16-bit refcounts
//! (`refcount_order` 4), no compression, encryption, backing file,
//! snapshots, header extensions or feature bits. Only clusters holding
//! non-zero data are stored; the rest stay unallocated and read as zeros.
//!
//! The layout is computed up front from a first pass over the disk's data
//! (see [`crate::disk`]), so the file is written strictly sequentially:
//!
//! | clusters | contents |
//! | --- | --- |
//! | 1 | header |
//! | L1 | L1 table (one entry per 512 MiB of disk) |
//! | RT | refcount table |
//! | RB | refcount blocks (every cluster of the file has refcount 1) |
//! | L2 | one L2 table per L1 entry that maps data |
//! | data | the non-zero clusters, in disk order |
//!
//! All L1/L2 entries carry `QCOW_OFLAG_COPIED`, as their refcount is 1.

use crate::disk::{self, CLUSTER, DiskSource};
use std::io::{self, Write};

/// Failure writing a qcow2 image.
#[derive(Debug, thiserror::Error)]
pub enum Qcow2Error {
    /// Reading the disk or writing the image failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The disk needs a larger L1 table than qemu accepts (32 MiB).
    #[error("disk of {0} bytes is too large for a qcow2 image")]
    TooLarge(u64),
}

const CLUSTER_BITS: u32 = 16;
/// Entries in one L2 table (8-byte entries).
const L2_ENTRIES: u64 = CLUSTER / 8;
/// Refcounts in one refcount block (16-bit entries).
const REFCOUNTS_PER_BLOCK: u64 = CLUSTER / 2;
/// qemu's limit on the L1 table size in bytes.
const MAX_L1_BYTES: u64 = 32 << 20;
/// "Refcount is exactly one": set on every L1 and L2 entry we write.
const OFLAG_COPIED: u64 = 1 << 63;
/// Length of a version 3 header without optional fields.
const HEADER_LEN: u32 = 104;

/// Where everything goes, in clusters.
struct Layout {
    size: u64,
    l1_entries: u64,
    l1_clusters: u64,
    rt_clusters: u64,
    rb_clusters: u64,
    /// L1 indices that get an L2 table, increasing.
    l2_tables: Vec<u64>,
    /// Guest clusters stored, increasing.
    data: Vec<u64>,
}

impl Layout {
    fn new(size: u64, data: Vec<u64>) -> Result<Layout, Qcow2Error> {
        let clusters = size.div_ceil(CLUSTER);
        let l1_entries = clusters.div_ceil(L2_ENTRIES);
        if l1_entries * 8 > MAX_L1_BYTES {
            return Err(Qcow2Error::TooLarge(size));
        }
        let l1_clusters = (l1_entries * 8).div_ceil(CLUSTER);
        let mut l2_tables: Vec<u64> = data.iter().map(|c| c / L2_ENTRIES).collect();
        l2_tables.dedup();
        let fixed = 1 + l1_clusters + l2_tables.len() as u64 + data.len() as u64;
        // The refcount structures count themselves: iterate to a fixed point.
        let (mut rt, mut rb) = (1u64, 1u64);
        loop {
            let total = fixed + rt + rb;
            let rb2 = total.div_ceil(REFCOUNTS_PER_BLOCK);
            let rt2 = (rb2 * 8).div_ceil(CLUSTER).max(1);
            if (rt2, rb2) == (rt, rb) {
                break;
            }
            (rt, rb) = (rt2, rb2);
        }
        Ok(Layout {
            size,
            l1_entries,
            l1_clusters,
            rt_clusters: rt,
            rb_clusters: rb,
            l2_tables,
            data,
        })
    }

    fn l1_start(&self) -> u64 {
        1
    }
    fn rt_start(&self) -> u64 {
        self.l1_start() + self.l1_clusters
    }
    fn rb_start(&self) -> u64 {
        self.rt_start() + self.rt_clusters
    }
    fn l2_start(&self) -> u64 {
        self.rb_start() + self.rb_clusters
    }
    fn data_start(&self) -> u64 {
        self.l2_start() + self.l2_tables.len() as u64
    }
    fn total(&self) -> u64 {
        self.data_start() + self.data.len() as u64
    }

    fn header(&self) -> Vec<u8> {
        let mut h = vec![0u8; CLUSTER as usize];
        let put32 =
            |h: &mut [u8], at: usize, v: u32| h[at..at + 4].copy_from_slice(&v.to_be_bytes());
        let put64 =
            |h: &mut [u8], at: usize, v: u64| h[at..at + 8].copy_from_slice(&v.to_be_bytes());
        h[0..4].copy_from_slice(b"QFI\xfb");
        put32(&mut h, 4, 3); // version
        // 8: backing file offset, 16: backing file size (none)
        put32(&mut h, 20, CLUSTER_BITS);
        put64(&mut h, 24, self.size);
        // 32: crypt method (none)
        put32(&mut h, 36, self.l1_entries as u32);
        put64(&mut h, 40, self.l1_start() * CLUSTER);
        put64(&mut h, 48, self.rt_start() * CLUSTER);
        put32(&mut h, 56, self.rt_clusters as u32);
        // 60: nb_snapshots, 64: snapshots offset, 72..96: feature bits (none)
        put32(&mut h, 96, 4); // refcount_order: 16-bit refcounts
        put32(&mut h, 100, HEADER_LEN);
        // Header extensions follow: the zero bytes are the end marker.
        h
    }
}

fn put_entry(buf: &mut [u8], index: usize, value: u64) {
    buf[index * 8..index * 8 + 8].copy_from_slice(&value.to_be_bytes());
}

/// Write `src` as a qcow2 image to `out`, sequentially; returns the number
/// of bytes written. The virtual size is `src.len()` rounded up to 512.
pub fn write_qcow2<W: Write>(src: &dyn DiskSource, mut out: W) -> Result<u64, Qcow2Error> {
    let size = disk::sector_len(src);
    let layout = Layout::new(size, disk::nonzero_clusters(src)?)?;
    let mut buf = vec![0u8; CLUSTER as usize];

    out.write_all(&layout.header())?;

    // L1 table.
    let mut l2_iter = layout.l2_tables.iter().enumerate().peekable();
    for c in 0..layout.l1_clusters {
        buf.fill(0);
        for i in 0..L2_ENTRIES {
            let l1_index = c * L2_ENTRIES + i;
            if let Some((k, _)) = l2_iter.next_if(|(_, idx)| **idx == l1_index) {
                let off = (layout.l2_start() + k as u64) * CLUSTER;
                put_entry(&mut buf, i as usize, off | OFLAG_COPIED);
            }
        }
        out.write_all(&buf)?;
    }

    // Refcount table.
    for c in 0..layout.rt_clusters {
        buf.fill(0);
        for i in 0..L2_ENTRIES {
            let block = c * L2_ENTRIES + i;
            if block < layout.rb_clusters {
                put_entry(&mut buf, i as usize, (layout.rb_start() + block) * CLUSTER);
            }
        }
        out.write_all(&buf)?;
    }

    // Refcount blocks: clusters 0..total are in use once each.
    let total = layout.total();
    for b in 0..layout.rb_clusters {
        buf.fill(0);
        let first = b * REFCOUNTS_PER_BLOCK;
        let used = total.saturating_sub(first).min(REFCOUNTS_PER_BLOCK) as usize;
        for e in buf.chunks_exact_mut(2).take(used) {
            e.copy_from_slice(&1u16.to_be_bytes());
        }
        out.write_all(&buf)?;
    }

    // L2 tables.
    let mut rank = 0usize;
    for &l1_index in &layout.l2_tables {
        buf.fill(0);
        while let Some(&guest) = layout.data.get(rank) {
            if guest / L2_ENTRIES != l1_index {
                break;
            }
            let off = (layout.data_start() + rank as u64) * CLUSTER;
            put_entry(&mut buf, (guest % L2_ENTRIES) as usize, off | OFLAG_COPIED);
            rank += 1;
        }
        out.write_all(&buf)?;
    }

    // Data clusters.
    disk::write_clusters(src, &layout.data, &mut out)?;
    out.flush()?;
    Ok(total * CLUSTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shared;
    use crate::disk::SparseImage;
    use crate::disk::tests::{assert_same, info, json_u64, noise, qemu_img, sample, write_raw};

    fn write_file(src: &dyn DiskSource, path: &std::path::Path) -> u64 {
        let f = std::fs::File::create(path).unwrap();
        let n = write_qcow2(src, std::io::BufWriter::new(f)).unwrap();
        assert_eq!(std::fs::metadata(path).unwrap().len(), n);
        n
    }

    #[test]
    fn qemu_accepts_and_matches_raw() {
        let dir = tempfile::tempdir().unwrap();
        let img = sample();
        let (q, raw) = (dir.path().join("d.qcow2"), dir.path().join("d.raw"));
        write_file(&img, &q);
        write_raw(&img, &raw);
        let check = qemu_img(&["check", "-f", "qcow2", q.to_str().unwrap()]);
        assert!(check.status.success(), "qemu-img check: {check:?}");
        let json = info("qcow2", &q);
        assert_eq!(json["format"], "qcow2", "{json}");
        assert_eq!(json["format-specific"]["data"]["compat"], "1.1", "{json}");
        assert_eq!(json_u64(&json, "virtual-size"), img.len());
        assert_eq!(json_u64(&json, "cluster-size"), CLUSTER);
        assert_same("qcow2", &q, &raw);
    }

    #[test]
    fn only_nonzero_clusters_are_stored() {
        let img = sample();
        let scan = disk::scan(&img).unwrap();
        let mut out = Vec::new();
        let n = write_qcow2(&img, &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        // header + L1 + RT + RB + one L2 (64 MiB < 512 MiB) + data
        assert_eq!(out.len() as u64, (5 + scan.clusters.len() as u64) * CLUSTER);
        // The all-zero segment at 5 MiB is not stored.
        assert!(!scan.clusters.contains(&81));
    }

    #[test]
    fn output_is_deterministic() {
        let img = sample();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_qcow2(&img, &mut a).unwrap();
        write_qcow2(&img, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn large_sparse_disk_is_small() {
        let dir = tempfile::tempdir().unwrap();
        let gib = 1u64 << 30;
        let payload: Shared = Shared::from(noise(9, 4 << 20));
        let img = SparseImage::new(
            25 * gib,
            vec![(gib, payload.clone()), (20 * gib + 4097, payload)],
        )
        .unwrap();
        let q = dir.path().join("big.qcow2");
        let n = write_file(&img, &q);
        assert!(n < 10 << 20, "{n} bytes");
        let check = qemu_img(&["check", "-f", "qcow2", q.to_str().unwrap()]);
        assert!(check.status.success(), "qemu-img check: {check:?}");
        let json = info("qcow2", &q);
        assert_eq!(json_u64(&json, "virtual-size"), 25 * gib);
        // qemu reads it back as the same disk (a sparse raw file compares fast).
        let raw = dir.path().join("big.raw");
        write_raw(&img, &raw);
        assert_same("qcow2", &q, &raw);
    }

    #[test]
    fn tiny_and_odd_sized_disks() {
        let dir = tempfile::tempdir().unwrap();
        for (i, len) in [0u64, 1000, CLUSTER * 3 + 7].into_iter().enumerate() {
            let data = noise(i as u64, len as usize);
            let q = dir.path().join(format!("t{i}.qcow2"));
            write_file(&data, &q);
            let check = qemu_img(&["check", "-f", "qcow2", q.to_str().unwrap()]);
            assert!(check.status.success(), "len {len}: {check:?}");
            let json = info("qcow2", &q);
            assert_eq!(json_u64(&json, "virtual-size"), len.div_ceil(512) * 512);
            let raw = dir.path().join(format!("t{i}.raw"));
            let mut padded = data.clone();
            padded.resize(len.div_ceil(512) as usize * 512, 0);
            std::fs::write(&raw, &padded).unwrap();
            assert_same("qcow2", &q, &raw);
        }
    }
}
