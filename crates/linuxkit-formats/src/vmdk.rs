//! VMDK stream-optimized writer: a single hosted sparse extent with an
//! embedded descriptor (`createType="streamOptimized"`), the format OVF/OVA
//! packages and cloud importers take.
//!
//! Layout, written strictly sequentially as VMware's own stream writer does:
//!
//! 1. the sparse extent header (version 3, flags: newline detection,
//!    compressed grains, markers; `gdOffset` = "at end"), the descriptor
//!    in the next 20 sectors, zero padding to the first grain (64 KiB);
//! 2. one compressed grain per non-zero 64 KiB cluster, in disk order: a
//!    12-byte marker (LBA, compressed size) then a zlib stream at a fixed
//!    level, padded to a sector;
//! 3. for every grain table that maps at least one grain, a grain-table
//!    marker and the 512-entry table (tables without grains are omitted and
//!    their directory entry is 0, as VMware does);
//! 4. a grain-directory marker and the grain directory;
//! 5. a footer marker and the footer (the header with the real
//!    `gdOffset`), then the end-of-stream marker.
//!
//! The descriptor follows what `qemu-img create -o subformat=streamOptimized`
//! writes; its CID is derived from a hash of the disk's contents, so the
//! same disk always gives the same bytes.

use crate::disk::{self, CLUSTER, DiskSource};
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::{self, Write};

/// Failure writing a VMDK image.
#[derive(Debug, thiserror::Error)]
pub enum VmdkError {
    /// Reading the disk or writing the image failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The image would need sector offsets beyond 32 bits (2 TiB).
    #[error("disk of {0} bytes is too large for a stream-optimized VMDK")]
    TooLarge(u64),
    /// A zero-sized disk: readers take a sparse extent of capacity 0 for a
    /// descriptor file.
    #[error("cannot write an empty disk as a VMDK")]
    Empty,
    /// The extent file name cannot be put in the descriptor.
    #[error("invalid VMDK extent file name {0:?}")]
    InvalidName(String),
}

/// Virtual disk controller recorded in the descriptor (`ddb.adapterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VmdkAdapter {
    /// IDE (geometry with 16 heads).
    Ide,
    /// LSI Logic SCSI, what cloud importers expect.
    #[default]
    LsiLogic,
    /// BusLogic SCSI.
    BusLogic,
    /// Legacy ESX.
    LegacyEsx,
}

impl VmdkAdapter {
    fn name(self) -> &'static str {
        match self {
            VmdkAdapter::Ide => "ide",
            VmdkAdapter::LsiLogic => "lsilogic",
            VmdkAdapter::BusLogic => "buslogic",
            VmdkAdapter::LegacyEsx => "legacyESX",
        }
    }

    /// Heads of the descriptor geometry, as qemu chooses them.
    fn heads(self) -> u64 {
        match self {
            VmdkAdapter::Ide => 16,
            _ => 255,
        }
    }
}

/// Options for [`write_vmdk_stream_optimized_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmdkOptions {
    /// File name in the descriptor's extent line (the image's own name;
    /// readers of single-file stream-optimized disks do not open it).
    pub extent_name: String,
    /// `ddb.adapterType`.
    pub adapter: VmdkAdapter,
    /// `ddb.virtualHWVersion` (qemu's default is 4).
    pub hw_version: u32,
    /// zlib level for the grains, 0-9.
    pub level: u32,
}

impl Default for VmdkOptions {
    fn default() -> VmdkOptions {
        VmdkOptions {
            extent_name: "disk.vmdk".into(),
            adapter: VmdkAdapter::LsiLogic,
            hw_version: 4,
            level: 6,
        }
    }
}

const SECTOR: u64 = 512;
/// Sectors per grain (64 KiB grains, one per disk cluster).
const GRAIN_SECTORS: u64 = CLUSTER / SECTOR;
/// Entries per grain table.
const GT_ENTRIES: u64 = 512;
/// Sectors of one grain table.
const GT_SECTORS: u64 = GT_ENTRIES * 4 / SECTOR;
const DESC_OFFSET: u64 = 1;
const DESC_SECTORS: u64 = 20;
/// First grain: the header and descriptor rounded up to a grain.
const OVERHEAD: u64 = GRAIN_SECTORS;
const GD_AT_END: u64 = u64::MAX;
const FLAG_NL_DETECT: u32 = 1;
const FLAG_COMPRESSED: u32 = 1 << 16;
const FLAG_MARKERS: u32 = 1 << 17;
const MARKER_EOS: u32 = 0;
const MARKER_GT: u32 = 1;
const MARKER_GD: u32 = 2;
const MARKER_FOOTER: u32 = 3;

/// The sparse extent header (also the footer, with the real `gd_offset`).
fn header(capacity: u64, gd_offset: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[0..4].copy_from_slice(b"KDMV");
    h[4..8].copy_from_slice(&3u32.to_le_bytes());
    let flags = FLAG_NL_DETECT | FLAG_COMPRESSED | FLAG_MARKERS;
    h[8..12].copy_from_slice(&flags.to_le_bytes());
    h[12..20].copy_from_slice(&capacity.to_le_bytes());
    h[20..28].copy_from_slice(&GRAIN_SECTORS.to_le_bytes());
    h[28..36].copy_from_slice(&DESC_OFFSET.to_le_bytes());
    h[36..44].copy_from_slice(&DESC_SECTORS.to_le_bytes());
    h[44..48].copy_from_slice(&(GT_ENTRIES as u32).to_le_bytes());
    // 48: redundant grain directory offset: none in stream-optimized files.
    h[56..64].copy_from_slice(&gd_offset.to_le_bytes());
    h[64..72].copy_from_slice(&OVERHEAD.to_le_bytes());
    // 72: unclean shutdown = 0, then the newline-corruption detector.
    h[73..77].copy_from_slice(b"\n \r\n");
    h[77..79].copy_from_slice(&1u16.to_le_bytes()); // deflate
    h
}

/// A metadata marker sector: `sectors` of metadata of `kind` follow.
fn marker(sectors: u64, kind: u32) -> [u8; 512] {
    let mut m = [0u8; 512];
    m[0..8].copy_from_slice(&sectors.to_le_bytes());
    // 8: size 0 says "metadata marker, not a grain".
    m[12..16].copy_from_slice(&kind.to_le_bytes());
    m
}

fn descriptor(capacity: u64, cid: u32, opts: &VmdkOptions) -> Result<Vec<u8>, VmdkError> {
    let name = &opts.extent_name;
    if name.is_empty() || name.chars().any(|c| c == '"' || c.is_control()) {
        return Err(VmdkError::InvalidName(name.clone()));
    }
    let heads = opts.adapter.heads();
    let cylinders = (capacity / (63 * heads)).max(1);
    let text = format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         CID={cid:08x}\n\
         parentCID=ffffffff\n\
         createType=\"streamOptimized\"\n\
         \n\
         # Extent description\n\
         RW {capacity} SPARSE \"{name}\"\n\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.virtualHWVersion = \"{hw}\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"{heads}\"\n\
         ddb.geometry.sectors = \"63\"\n\
         ddb.adapterType = \"{adapter}\"\n\
         ddb.toolsVersion = \"2147483647\"\n",
        hw = opts.hw_version,
        adapter = opts.adapter.name(),
    );
    let mut bytes = text.into_bytes();
    if bytes.len() as u64 >= DESC_SECTORS * SECTOR {
        return Err(VmdkError::InvalidName(name.clone()));
    }
    bytes.resize((DESC_SECTORS * SECTOR) as usize, 0);
    Ok(bytes)
}

/// Grains compressed per batch (4 MiB of input).
const BATCH: usize = 64;

/// One grain as stored, but for its size field: LBA, 4 zero bytes, zlib.
fn compress_grain(grain: u64, data: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(data.len() / 2 + 64);
    v.extend_from_slice(&(grain * GRAIN_SECTORS).to_le_bytes());
    v.extend_from_slice(&[0u8; 4]);
    let mut z = ZlibEncoder::new(v, level);
    z.write_all(data)?;
    z.finish()
}

/// Compress the grains of a batch (`raw` holds them back to back) on all
/// cores; the result is in batch order and does not depend on the threads.
fn compress_grains(batch: &[u64], raw: &[u8], level: Compression) -> Vec<io::Result<Vec<u8>>> {
    let n = batch.len();
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, n.max(1));
    let grain = |i: usize| {
        compress_grain(
            batch[i],
            &raw[i * CLUSTER as usize..][..CLUSTER as usize],
            level,
        )
    };
    if threads == 1 {
        return (0..n).map(grain).collect();
    }
    let mut out: Vec<Option<io::Result<Vec<u8>>>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let grain = &grain;
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, grain(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, r) in done {
                    out[i] = Some(r);
                }
            }
        }
    });
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("grain compression thread panicked"))))
        .collect()
}

/// Counts the bytes written through it.
struct Counter<W> {
    w: W,
    pos: u64,
}

impl<W: Write> Counter<W> {
    fn put(&mut self, buf: &[u8]) -> io::Result<()> {
        self.w.write_all(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, align: u64) -> io::Result<()> {
        let pad = self.pos.next_multiple_of(align) - self.pos;
        disk::write_zeros(&mut self.w, pad)?;
        self.pos += pad;
        Ok(())
    }

    /// The current position in sectors, as a 32-bit table entry.
    fn sector(&self, size: u64) -> Result<u32, VmdkError> {
        u32::try_from(self.pos / SECTOR).map_err(|_| VmdkError::TooLarge(size))
    }
}

/// Write `src` as a stream-optimized VMDK with the default options
/// (lsilogic adapter, zlib level 6). Returns the number of bytes written.
pub fn write_vmdk_stream_optimized<W: Write>(
    src: &dyn DiskSource,
    out: W,
) -> Result<u64, VmdkError> {
    write_vmdk_stream_optimized_with(src, out, &VmdkOptions::default())
}

/// Write `src` as a stream-optimized VMDK. The capacity is `src.len()`
/// rounded up to 512 bytes; only non-zero 64 KiB grains are stored.
pub fn write_vmdk_stream_optimized_with<W: Write>(
    src: &dyn DiskSource,
    out: W,
    opts: &VmdkOptions,
) -> Result<u64, VmdkError> {
    let size = disk::sector_len(src);
    let capacity = size / SECTOR;
    if capacity == 0 {
        return Err(VmdkError::Empty);
    }
    let grains = capacity.div_ceil(GRAIN_SECTORS);
    let gt_count = grains.div_ceil(GT_ENTRIES);
    let scan = disk::scan(src)?;
    let cid = {
        let id = disk::derived_uuid(&[b"linuxkit-vmdk-cid-v1", &scan.digest]);
        match u32::from_le_bytes([id[0], id[1], id[2], id[3]]) {
            // 0xffffffff means "no parent"; 0xfffffffe is reserved too.
            c @ 0xffff_fffe.. => c & 0x7fff_ffff,
            c => c,
        }
    };
    let desc = descriptor(capacity, cid, opts)?;

    let mut out = Counter { w: out, pos: 0 };
    out.put(&header(capacity, GD_AT_END))?;
    out.put(&desc)?;
    out.pad_to(OVERHEAD * SECTOR)?;

    // Grains: (grain index, sector of its marker). Read on this thread,
    // compressed in parallel a batch at a time, written in disk order.
    let mut placed: Vec<(u64, u32)> = Vec::with_capacity(scan.clusters.len());
    let level = Compression::new(opts.level.min(9));
    let mut raw = Vec::new();
    for batch in scan.clusters.chunks(BATCH) {
        raw.resize(batch.len() * CLUSTER as usize, 0);
        for (&grain, buf) in batch.iter().zip(raw.chunks_exact_mut(CLUSTER as usize)) {
            disk::read_cluster(src, grain, buf)?;
        }
        for (&grain, comp) in batch.iter().zip(compress_grains(batch, &raw, level)) {
            let mut comp = comp?;
            let n = u32::try_from(comp.len() - 12).map_err(|_| VmdkError::TooLarge(size))?;
            comp[8..12].copy_from_slice(&n.to_le_bytes());
            placed.push((grain, out.sector(size)?));
            out.put(&comp)?;
            out.pad_to(SECTOR)?;
        }
    }

    // Grain tables that map something.
    let mut gd = vec![0u8; (gt_count * 4).next_multiple_of(SECTOR) as usize];
    let mut gt = vec![0u8; (GT_ENTRIES * 4) as usize];
    let mut i = 0;
    while i < placed.len() {
        let table = placed[i].0 / GT_ENTRIES;
        gt.fill(0);
        while let Some(&(grain, sector)) = placed.get(i).filter(|(g, _)| g / GT_ENTRIES == table) {
            let e = (grain % GT_ENTRIES) as usize * 4;
            gt[e..e + 4].copy_from_slice(&sector.to_le_bytes());
            i += 1;
        }
        out.put(&marker(GT_SECTORS, MARKER_GT))?;
        let at = out.sector(size)?;
        gd[table as usize * 4..table as usize * 4 + 4].copy_from_slice(&at.to_le_bytes());
        out.put(&gt)?;
    }

    // Grain directory, footer, end of stream.
    out.put(&marker(gd.len() as u64 / SECTOR, MARKER_GD))?;
    let gd_offset = u64::from(out.sector(size)?);
    out.put(&gd)?;
    out.put(&marker(1, MARKER_FOOTER))?;
    out.put(&header(capacity, gd_offset))?;
    out.put(&marker(0, MARKER_EOS))?;
    out.w.flush()?;
    Ok(out.pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shared;
    use crate::disk::SparseImage;
    use crate::disk::tests::{assert_same, info, json_u64, noise, qemu_img, sample, write_raw};
    use std::io::Read;
    use std::path::Path;

    fn write_file(src: &dyn DiskSource, path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_vmdk_stream_optimized(src, &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        std::fs::write(path, &out).unwrap();
        out
    }

    fn check(path: &Path) {
        let out = qemu_img(&["check", "-f", "vmdk", path.to_str().unwrap()]);
        assert!(out.status.success(), "qemu-img check: {out:?}");
    }

    #[test]
    fn qemu_accepts_and_matches_raw() {
        let dir = tempfile::tempdir().unwrap();
        let img = sample();
        let (p, raw) = (dir.path().join("d.vmdk"), dir.path().join("d.raw"));
        let out = write_file(&img, &p);
        write_raw(&img, &raw);
        check(&p);
        let json = info("vmdk", &p);
        assert_eq!(json["format"], "vmdk", "{json}");
        let data = &json["format-specific"]["data"];
        assert_eq!(data["create-type"], "streamOptimized", "{json}");
        assert_eq!(data["extents"][0]["compressed"], true, "{json}");
        assert_eq!(json_u64(&json, "virtual-size"), img.len());
        assert_same("vmdk", &p, &raw);
        // Stream trailer: footer marker, footer, end-of-stream marker.
        let tail = &out[out.len() - 1536..];
        assert_eq!(tail[..512], marker(1, MARKER_FOOTER));
        assert_eq!(&tail[512..516], b"KDMV");
        assert_eq!(tail[1024..], [0u8; 512]);
        assert_eq!(
            u64::from_le_bytes(out[56..64].try_into().unwrap()),
            GD_AT_END
        );
    }

    /// Read the file the way a streaming consumer (VMware's stream reader,
    /// an importer) does: header, descriptor, then markers in order,
    /// inflating each grain; rebuild the disk and compare.
    #[test]
    fn stream_walk_rebuilds_the_disk() {
        let img = sample();
        let mut out = Vec::new();
        write_vmdk_stream_optimized(&img, &mut out).unwrap();
        let desc = String::from_utf8_lossy(&out[512..512 * 21]);
        assert!(desc.contains("createType=\"streamOptimized\""));
        assert!(desc.contains("ddb.adapterType = \"lsilogic\""));
        assert!(desc.contains(&format!("RW {} SPARSE \"disk.vmdk\"", img.len() / 512)));
        let overhead = u64::from_le_bytes(out[64..72].try_into().unwrap());
        let mut pos = (overhead * 512) as usize;
        let mut rebuilt = vec![0u8; img.len() as usize];
        let (mut grains, mut tables, mut seen_gd) = (0, 0, false);
        loop {
            let lba = u64::from_le_bytes(out[pos..pos + 8].try_into().unwrap());
            let size = u32::from_le_bytes(out[pos + 8..pos + 12].try_into().unwrap()) as usize;
            if size > 0 {
                let mut g = Vec::new();
                flate2::read::ZlibDecoder::new(&out[pos + 12..pos + 12 + size])
                    .read_to_end(&mut g)
                    .unwrap();
                assert_eq!(g.len() as u64, CLUSTER);
                let at = (lba * 512) as usize;
                let n = (rebuilt.len() - at).min(g.len());
                rebuilt[at..at + n].copy_from_slice(&g[..n]);
                grains += 1;
                pos += (12 + size).next_multiple_of(512);
                continue;
            }
            let kind = u32::from_le_bytes(out[pos + 12..pos + 16].try_into().unwrap());
            pos += 512 + lba as usize * 512;
            match kind {
                MARKER_GT => tables += 1,
                MARKER_GD => seen_gd = true,
                MARKER_FOOTER => {}
                MARKER_EOS => break,
                k => panic!("unknown marker {k}"),
            }
        }
        assert_eq!(pos, out.len());
        assert!(seen_gd);
        // 64 MiB = 2 grain tables of 32 MiB, both used by the sample.
        assert_eq!(tables, 2);
        assert_eq!(grains, disk::scan(&img).unwrap().clusters.len());
        let mut want = vec![0u8; img.len() as usize];
        img.read_at(0, &mut want).unwrap();
        assert!(rebuilt == want, "stream content differs");
    }

    #[test]
    fn output_is_deterministic() {
        let img = sample();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_vmdk_stream_optimized(&img, &mut a).unwrap();
        write_vmdk_stream_optimized(&img, &mut b).unwrap();
        assert!(a == b, "outputs differ");
        // The CID follows the content.
        let other = SparseImage::new(img.len(), vec![(0, Shared::from(noise(42, 100)))]).unwrap();
        let mut c = Vec::new();
        write_vmdk_stream_optimized(&other, &mut c).unwrap();
        assert_ne!(a[512..600], c[512..600]);
    }

    #[test]
    fn large_sparse_disk_is_small() {
        let dir = tempfile::tempdir().unwrap();
        let gib = 1u64 << 30;
        let payload: Shared = Shared::from(noise(13, 2 << 20));
        let img = SparseImage::new(25 * gib, vec![(7 * gib + 100, payload)]).unwrap();
        let p = dir.path().join("big.vmdk");
        let f = std::fs::File::create(&p).unwrap();
        let n = write_vmdk_stream_optimized(&img, std::io::BufWriter::new(f)).unwrap();
        assert!(n < 4 << 20, "{n} bytes");
        check(&p);
        let json = info("vmdk", &p);
        assert_eq!(json_u64(&json, "virtual-size"), 25 * gib);
        let raw = dir.path().join("big.raw");
        write_raw(&img, &raw);
        assert_same("vmdk", &p, &raw);
    }

    #[test]
    fn odd_sizes_and_options() {
        let dir = tempfile::tempdir().unwrap();
        for (i, len) in [700u64, CLUSTER * 40 + 4096].into_iter().enumerate() {
            let data = noise(i as u64 + 20, len as usize);
            let p = dir.path().join(format!("t{i}.vmdk"));
            let opts = VmdkOptions {
                extent_name: format!("t{i}.vmdk"),
                adapter: VmdkAdapter::Ide,
                level: 9,
                ..VmdkOptions::default()
            };
            let f = std::fs::File::create(&p).unwrap();
            write_vmdk_stream_optimized_with(&data, f, &opts).unwrap();
            check(&p);
            let json = info("vmdk", &p);
            assert_eq!(json_u64(&json, "virtual-size"), len.div_ceil(512) * 512);
            let raw = dir.path().join(format!("t{i}.raw"));
            let mut padded = data.clone();
            padded.resize(len.div_ceil(512) as usize * 512, 0);
            std::fs::write(&raw, &padded).unwrap();
            assert_same("vmdk", &p, &raw);
        }
        let bad = VmdkOptions {
            extent_name: "a\"b".into(),
            ..VmdkOptions::default()
        };
        assert!(matches!(
            write_vmdk_stream_optimized_with(&vec![0u8; 512], io::sink(), &bad),
            Err(VmdkError::InvalidName(_))
        ));
        assert!(matches!(
            write_vmdk_stream_optimized(&Vec::new(), io::sink()),
            Err(VmdkError::Empty)
        ));
    }
}
