//! VHD (Microsoft Virtual Hard Disk, the format qemu calls `vpc`) writers:
//! fixed (the raw disk followed by a 512-byte footer), fixed for Azure (the
//! virtual size rounded up to a whole MiB, as Azure requires), and dynamic
//! (sparse: footer copy, dynamic-disk header, block allocation table, 2 MiB
//! blocks each preceded by its sector bitmap, footer). Differencing disks
//! are not written.
//!
//! # Size and geometry
//!
//! A VHD footer records the size twice: as `current_size` and as a CHS
//! geometry, which can only express some sizes. Readers disagree on which
//! to trust: qemu's `block/vpc.c` uses the CHS product for images whose
//! creator application is `vpc ` or `qemu` (Virtual PC style) and
//! `current_size` for `qem2`, `win ` (Hyper-V), `d2v `, `tap\0`, `CTXS` — and
//! also, whatever the creator, when the geometry is the maximum
//! 65535/16/255. Hyper-V, Azure and VirtualBox use `current_size`. We write
//! exactly what `qemu-img convert -O vpc -o force_size=on` writes (the
//! conversion Azure documents): creator `qem2` version 5.3 on `Wi2k`, the
//! maximum CHS geometry, and `current_size` = original size = the disk size
//! rounded up to 512 bytes. Every reader therefore sees the exact size, with
//! no rounding to a CHS multiple. Sizes above 2040 GiB (qemu's limit) are
//! refused. (qemu only probes offset 0 for the `conectix` cookie, so a fixed
//! VHD must be opened with `-f vpc`; unprobed, it is taken for raw.)
//!
//! # Determinism
//!
//! The footer timestamp is a parameter (unix seconds, stored relative to
//! 2000-01-01); the unique id is derived from a SHA-256 of the disk type,
//! size, timestamp and contents. Dynamic disks set every bit of an
//! allocated block's sector bitmap (as qemu does); blocks with no non-zero
//! 64 KiB cluster are left unallocated (BAT entry `0xFFFFFFFF`).

use crate::disk::{self, CLUSTER, ContentHash, DiskSource};
use std::io::{self, Write};

/// Failure writing a VHD image.
#[derive(Debug, thiserror::Error)]
pub enum VhdError {
    /// Reading the disk or writing the image failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The disk is larger than a VHD can hold (2040 GiB).
    #[error("disk of {0} bytes is larger than a VHD can hold (2040 GiB)")]
    TooLarge(u64),
}

/// Options shared by the VHD writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhdOptions {
    /// Creation time for the footer, seconds since the unix epoch (clamped
    /// to the VHD range 2000-01-01 .. 2136-02-07).
    pub timestamp: i64,
}

/// Seconds from the unix epoch to the VHD epoch (2000-01-01T00:00:00Z).
const VHD_EPOCH: i64 = 946_684_800;
/// qemu's `VHD_MAX_SECTORS`: the largest disk it opens.
const MAX_SECTORS: u64 = 0xff00_0000;
/// Dynamic disk block size.
const BLOCK: u64 = 2 << 20;
/// Sector bitmap preceding each block (one bit per sector, padded to 512).
const BITMAP: u64 = 512;
const DISK_FIXED: u32 = 2;
const DISK_DYNAMIC: u32 = 3;
/// Offset of the block allocation table in a dynamic disk.
const BAT_OFFSET: u64 = 3 * 512;

fn vhd_timestamp(unix: i64) -> u32 {
    unix.saturating_sub(VHD_EPOCH).clamp(0, i64::from(u32::MAX)) as u32
}

fn checksum(bytes: &[u8]) -> u32 {
    !bytes
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)))
}

fn check_size(size: u64) -> Result<(), VhdError> {
    if size / 512 > MAX_SECTORS {
        return Err(VhdError::TooLarge(size));
    }
    Ok(())
}

/// The 512-byte hard disk footer.
fn footer(
    disk_type: u32,
    size: u64,
    data_offset: u64,
    opts: &VhdOptions,
    digest: &[u8],
) -> [u8; 512] {
    let ts = vhd_timestamp(opts.timestamp);
    let id = disk::derived_uuid(&[
        b"linuxkit-vhd-v1",
        &disk_type.to_be_bytes(),
        &size.to_be_bytes(),
        &ts.to_be_bytes(),
        digest,
    ]);
    let mut f = [0u8; 512];
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // format version 1.0
    f[16..24].copy_from_slice(&data_offset.to_be_bytes());
    f[24..28].copy_from_slice(&ts.to_be_bytes());
    f[28..32].copy_from_slice(b"qem2"); // readers use current_size
    f[32..36].copy_from_slice(&0x0005_0003u32.to_be_bytes()); // creator version
    f[36..40].copy_from_slice(b"Wi2k"); // creator host OS
    f[40..48].copy_from_slice(&size.to_be_bytes()); // original size
    f[48..56].copy_from_slice(&size.to_be_bytes()); // current size
    // Maximum CHS geometry: "the size is current_size" to every reader.
    f[56..58].copy_from_slice(&65535u16.to_be_bytes());
    f[58] = 16;
    f[59] = 255;
    f[60..64].copy_from_slice(&disk_type.to_be_bytes());
    f[68..84].copy_from_slice(&id);
    // 84: saved state 0; the rest is reserved zeros.
    let sum = checksum(&f);
    f[64..68].copy_from_slice(&sum.to_be_bytes());
    f
}

/// Stream `size` bytes of `src` (zero beyond its end) to `out`, hashing the
/// non-zero clusters.
fn write_raw_data<W: Write>(
    src: &dyn DiskSource,
    out: &mut W,
    size: u64,
) -> Result<ContentHash, VhdError> {
    let mut hash = ContentHash::new(src.len());
    let mut pos = 0u64;
    disk::for_each_nonzero_cluster::<VhdError>(src, |index, data| {
        let off = index * CLUSTER;
        disk::write_zeros(out, off - pos)?;
        let n = (size - off).min(CLUSTER) as usize;
        out.write_all(&data[..n])?;
        hash.cluster(index, data);
        pos = off + n as u64;
        Ok(())
    })?;
    disk::write_zeros(out, size - pos)?;
    Ok(hash)
}

fn write_fixed<W: Write>(
    src: &dyn DiskSource,
    mut out: W,
    size: u64,
    opts: &VhdOptions,
) -> Result<u64, VhdError> {
    check_size(size)?;
    let hash = write_raw_data(src, &mut out, size)?;
    let f = footer(DISK_FIXED, size, u64::MAX, opts, &hash.finish());
    out.write_all(&f)?;
    out.flush()?;
    Ok(size + 512)
}

/// Write `src` as a fixed VHD: the raw disk (rounded up to 512 bytes)
/// followed by the footer. Returns the number of bytes written.
pub fn write_vhd_fixed<W: Write>(
    src: &dyn DiskSource,
    out: W,
    opts: &VhdOptions,
) -> Result<u64, VhdError> {
    write_fixed(src, out, disk::sector_len(src), opts)
}

/// Write `src` as a fixed VHD for Azure, whose virtual size must be a whole
/// number of MiB: the disk is padded with zeros up to the next MiB.
pub fn write_vhd_azure<W: Write>(
    src: &dyn DiskSource,
    out: W,
    opts: &VhdOptions,
) -> Result<u64, VhdError> {
    write_fixed(src, out, src.len().div_ceil(1 << 20) << 20, opts)
}

/// Write `src` as a dynamic (sparse) VHD with 2 MiB blocks; only blocks
/// holding non-zero data are stored. Returns the number of bytes written.
pub fn write_vhd_dynamic<W: Write>(
    src: &dyn DiskSource,
    mut out: W,
    opts: &VhdOptions,
) -> Result<u64, VhdError> {
    let size = disk::sector_len(src);
    check_size(size)?;
    let scan = disk::scan(src)?;
    let per_block = BLOCK / CLUSTER;
    let mut blocks: Vec<u64> = scan.clusters.iter().map(|c| c / per_block).collect();
    blocks.dedup();

    let entries = size.div_ceil(BLOCK);
    let bat_bytes = (entries * 4).div_ceil(512) * 512;
    let first_block = BAT_OFFSET + bat_bytes;
    let block_bytes = BITMAP + BLOCK;
    let end = first_block + blocks.len() as u64 * block_bytes;
    if end / 512 > u64::from(u32::MAX) {
        return Err(VhdError::TooLarge(size));
    }

    let f = footer(DISK_DYNAMIC, size, 512, opts, &scan.digest);
    out.write_all(&f)?;

    // Dynamic disk header.
    let mut h = [0u8; 1024];
    h[0..8].copy_from_slice(b"cxsparse");
    h[8..16].copy_from_slice(&u64::MAX.to_be_bytes()); // no next structure
    h[16..24].copy_from_slice(&BAT_OFFSET.to_be_bytes());
    h[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // header version
    h[28..32].copy_from_slice(&(entries as u32).to_be_bytes());
    h[32..36].copy_from_slice(&(BLOCK as u32).to_be_bytes());
    // 40..: no parent (uuid, timestamp, name, locators all zero).
    let sum = checksum(&h);
    h[36..40].copy_from_slice(&sum.to_be_bytes());
    out.write_all(&h)?;

    // Block allocation table, padded with 0xFF like qemu.
    let mut bat = vec![0xFFu8; bat_bytes as usize];
    for (k, &b) in blocks.iter().enumerate() {
        let sector = (first_block + k as u64 * block_bytes) / 512;
        bat[b as usize * 4..b as usize * 4 + 4].copy_from_slice(&(sector as u32).to_be_bytes());
    }
    out.write_all(&bat)?;
    drop(bat);

    // Blocks: bitmap (every sector present), then the block's clusters,
    // each run of data clusters in one write.
    let mut rest = &scan.clusters[..];
    for &b in &blocks {
        out.write_all(&[0xFFu8; BITMAP as usize])?;
        let end = (b + 1) * per_block;
        let mut at = b * per_block;
        while at < end {
            let present = rest.iter().take_while(|&&c| c < end).count();
            let run = rest[..present]
                .iter()
                .enumerate()
                .take_while(|&(k, &c)| c == at + k as u64)
                .count();
            if run > 0 {
                disk::write_clusters(src, &rest[..run], &mut out)?;
                rest = &rest[run..];
                at += run as u64;
            } else {
                let next = rest.first().copied().filter(|&c| c < end).unwrap_or(end);
                disk::write_zeros(&mut out, (next - at) * CLUSTER)?;
                at = next;
            }
        }
    }
    out.write_all(&f)?;
    out.flush()?;
    Ok(end + 512)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shared;
    use crate::disk::SparseImage;
    use crate::disk::tests::{assert_same, info, json_u64, noise, qemu_img, sample, write_raw};
    use std::path::Path;

    const OPTS: VhdOptions = VhdOptions {
        timestamp: 1_700_000_000,
    };

    type Writer = fn(&dyn DiskSource, &mut Vec<u8>, &VhdOptions) -> Result<u64, VhdError>;

    fn fixed(s: &dyn DiskSource, o: &mut Vec<u8>, p: &VhdOptions) -> Result<u64, VhdError> {
        write_vhd_fixed(s, o, p)
    }
    fn azure(s: &dyn DiskSource, o: &mut Vec<u8>, p: &VhdOptions) -> Result<u64, VhdError> {
        write_vhd_azure(s, o, p)
    }
    fn dynamic(s: &dyn DiskSource, o: &mut Vec<u8>, p: &VhdOptions) -> Result<u64, VhdError> {
        write_vhd_dynamic(s, o, p)
    }
    const WRITERS: [(&str, Writer); 3] = [("fixed", fixed), ("azure", azure), ("dynamic", dynamic)];

    fn write_file(w: Writer, src: &dyn DiskSource, path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        let n = w(src, &mut out, &OPTS).unwrap();
        assert_eq!(n, out.len() as u64);
        std::fs::write(path, &out).unwrap();
        out
    }

    /// vpc has no consistency check in qemu: `qemu-img check` must still
    /// open the image and then say checks are unsupported (exit 63), not
    /// fail to open it (exit 1).
    fn check(path: &Path) {
        let out = qemu_img(&["check", "-f", "vpc", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success()
                || (out.status.code() == Some(63) && err.contains("does not support checks")),
            "qemu-img check: {out:?}"
        );
    }

    fn assert_footer(f: &[u8], disk_type: u32, size: u64) {
        assert_eq!(&f[0..8], b"conectix");
        let mut zeroed = f.to_vec();
        zeroed[64..68].fill(0);
        assert_eq!(
            u32::from_be_bytes(f[64..68].try_into().unwrap()),
            checksum(&zeroed)
        );
        assert_eq!(u32::from_be_bytes(f[60..64].try_into().unwrap()), disk_type);
        assert_eq!(u64::from_be_bytes(f[48..56].try_into().unwrap()), size);
        assert_eq!(
            u32::from_be_bytes(f[24..28].try_into().unwrap()),
            (1_700_000_000 - VHD_EPOCH) as u32
        );
    }

    #[test]
    fn qemu_reads_exact_size_and_content() {
        let dir = tempfile::tempdir().unwrap();
        // 64 MiB plus an odd tail: not a CHS multiple, not MiB-aligned.
        let mut segs: Vec<(u64, Shared)> = sample().segments().to_vec();
        let len = (64 << 20) + 3 * 512 + 100;
        segs.push((64 << 20, Shared::from(noise(7, 3 * 512 + 100))));
        let img = SparseImage::new(len, segs).unwrap();
        let raw = dir.path().join("d.raw");
        write_raw(&img, &raw);
        for (name, w) in WRITERS {
            let p = dir.path().join(format!("{name}.vhd"));
            let out = write_file(w, &img, &p);
            check(&p);
            let json = info("vpc", &p);
            assert_eq!(json["format"], "vpc", "{json}");
            let want = match name {
                "azure" => 65 << 20,
                _ => len.div_ceil(512) * 512,
            };
            assert_eq!(json_u64(&json, "virtual-size"), want, "{name}");
            // compare treats the zero padding as equal (sizes differ for azure).
            assert_same("vpc", &p, &raw);
            let kind = if name == "dynamic" {
                DISK_DYNAMIC
            } else {
                DISK_FIXED
            };
            assert_footer(&out[out.len() - 512..], kind, want);
            if name == "dynamic" {
                assert_eq!(out[..512], out[out.len() - 512..]);
                let h = &out[512..1536];
                let mut zeroed = h.to_vec();
                zeroed[36..40].fill(0);
                assert_eq!(
                    u32::from_be_bytes(h[36..40].try_into().unwrap()),
                    checksum(&zeroed)
                );
            } else {
                assert_eq!(out.len() as u64, want + 512);
            }
        }
    }

    #[test]
    fn output_is_deterministic_and_ids_differ() {
        let img = sample();
        let mut ids = Vec::new();
        for (name, w) in WRITERS {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            w(&img, &mut a, &OPTS).unwrap();
            w(&img, &mut b, &OPTS).unwrap();
            assert!(a == b, "{name} differs between runs");
            ids.push(a[a.len() - 512 + 68..a.len() - 512 + 84].to_vec());
        }
        // Fixed and Azure of a MiB-aligned disk share size and type, so id.
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        let mut other = Vec::new();
        let later = VhdOptions {
            timestamp: OPTS.timestamp + 1,
        };
        write_vhd_dynamic(&img, &mut other, &later).unwrap();
        assert_ne!(other[68..84], ids[2][..]);
    }

    #[test]
    fn dynamic_stores_only_data_blocks() {
        let img = sample();
        let mut out = Vec::new();
        write_vhd_dynamic(&img, &mut out, &OPTS).unwrap();
        // Blocks with data: 0 (0..70k), 1 (2 MiB - 1000 .. straddles 0/1),
        // 4 (9 MiB text), 15..16 (around 32 MiB), 31 (last sector). The
        // all-zero segment in block 2 is not stored.
        let blocks = 6u64;
        let bat = 512; // 32 entries, padded to a sector
        assert_eq!(out.len() as u64, 1536 + bat + blocks * (512 + BLOCK) + 512);
        let entry =
            |i: usize| u32::from_be_bytes(out[1536 + i * 4..1540 + i * 4].try_into().unwrap());
        assert_eq!(entry(2), u32::MAX);
        assert_eq!(entry(3), u32::MAX);
        assert_ne!(entry(4), u32::MAX);
    }

    #[test]
    fn large_sparse_dynamic_is_small() {
        let dir = tempfile::tempdir().unwrap();
        let gib = 1u64 << 30;
        let payload: Shared = Shared::from(noise(11, 4 << 20));
        let img = SparseImage::new(25 * gib, vec![(3 * gib + 777, payload)]).unwrap();
        let p = dir.path().join("big.vhd");
        let f = std::fs::File::create(&p).unwrap();
        let n = write_vhd_dynamic(&img, std::io::BufWriter::new(f), &OPTS).unwrap();
        assert!(n < 12 << 20, "{n} bytes");
        assert_eq!(std::fs::metadata(&p).unwrap().len(), n);
        check(&p);
        assert_eq!(json_u64(&info("vpc", &p), "virtual-size"), 25 * gib);
        let raw = dir.path().join("big.raw");
        write_raw(&img, &raw);
        assert_same("vpc", &p, &raw);
    }

    #[test]
    fn too_large_is_refused() {
        let img = SparseImage::new(2041 << 30, Vec::new()).unwrap();
        assert!(matches!(
            write_vhd_dynamic(&img, io::sink(), &OPTS),
            Err(VhdError::TooLarge(_))
        ));
        assert!(matches!(
            write_vhd_fixed(&img, io::sink(), &OPTS),
            Err(VhdError::TooLarge(_))
        ));
    }

    #[test]
    fn timestamp_clamps() {
        assert_eq!(vhd_timestamp(0), 0);
        assert_eq!(vhd_timestamp(VHD_EPOCH + 5), 5);
        assert_eq!(vhd_timestamp(i64::MAX), u32::MAX);
    }
}
