//! ISO 9660 (ECMA-119) image writer with Rock Ridge, El Torito and an
//! isohybrid MBR, for the `iso-bios` and `iso-efi` outputs.
//!
//! What is written:
//! - the primary volume descriptor and one directory hierarchy with
//!   ISO 9660 names as `mkisofs -l` makes them (uppercase d-characters, up
//!   to 31, `NAME.EXT;1`, made unique per directory), L and M path tables;
//!   no Joliet, no deep-directory relocation (Linux and libisofs read
//!   deeper trees), no multi-extent files (a file over 4 GiB - 1 is an
//!   error);
//! - Rock Ridge (SUSP 1.12 `SP`/`CE`/`ER`, RRIP 1991A `PX` with inode
//!   numbers, `PN`, `SL`, `NM`, `TF`) carrying the real names, modes,
//!   owners, symlink targets, device numbers and times; hard links are
//!   further records for the same extent with a shared `PX` inode and
//!   link count;
//! - El Torito: a no-emulation x86 BIOS entry (optionally with the
//!   `-boot-info-table` patch) and/or an EFI (platform 0xEF) entry, a boot
//!   catalog at a path of the tree (hidden when there is no BIOS entry);
//! - isohybrid: a 512-byte MBR from a syslinux `isohdpfx.bin` template,
//!   patched as xorriso's `-isohybrid-mbr` does, the image padded to a
//!   whole 1 MiB cylinder.
//!
//! The whole layout is computed first and the image is then written
//! sequentially; nothing reads a clock, so the same input gives the same
//! bytes (the MBR disk signature is a hash of the metadata).

mod boot;
mod rr;
#[cfg(test)]
mod tests;
mod tree;

use crate::disk::{DiskSource, SparseImage};
use crate::entry::Entry;
use boot::BootEntry;
use rr::{CePool, Sua, both16, both32};
use std::collections::BTreeMap;
use std::io::{self, Write};
use tree::{Body, Node, Tree};

/// Logical block (sector) size.
pub const SECTOR: usize = 2048;
/// LBA of the primary volume descriptor.
const PVD_LBA: u32 = 16;

/// How to build the image.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume identifier (at most 32 ASCII characters are kept).
    pub volume_id: String,
    /// Volume timestamps, and the time of directories the writer creates.
    pub mtime: i64,
    /// El Torito no-emulation BIOS entry.
    pub bios_boot: Option<BiosBoot>,
    /// El Torito EFI entry (platform 0xEF).
    pub efi_boot: Option<EfiBoot>,
    /// isohybrid MBR template (syslinux `isohdpfx.bin`, at least 432
    /// bytes, only the first 432 are used); needs `bios_boot`.
    pub hybrid_mbr: Option<Vec<u8>>,
}

impl IsoOptions {
    /// Options for a plain (non-bootable) image.
    pub fn new(volume_id: impl Into<String>, mtime: i64) -> IsoOptions {
        IsoOptions {
            volume_id: volume_id.into(),
            mtime,
            bios_boot: None,
            efi_boot: None,
            hybrid_mbr: None,
        }
    }
}

/// The BIOS boot image: `mkisofs -b IMAGE -c CATALOG -no-emul-boot
/// -boot-load-size N [-boot-info-table]`.
#[derive(Debug, Clone)]
pub struct BiosBoot {
    /// A regular file of the tree, e.g. `isolinux/isolinux.bin`.
    pub image_path: String,
    /// Where the writer puts the boot catalog, e.g. `isolinux/boot.cat`.
    pub catalog_path: String,
    /// Virtual 512-byte sectors the BIOS loads (4 for isolinux).
    pub load_size: u16,
    /// Patch a boot-info table into the image's copy at offset 8.
    pub boot_info_table: bool,
}

/// The EFI boot image (a FAT file system): `mkisofs -e IMAGE
/// -no-emul-boot`.
#[derive(Debug, Clone)]
pub struct EfiBoot {
    /// The FAT image (in segments: see [`crate::fat::FatImage::to_sparse`]).
    pub image: SparseImage,
    /// Where it appears in the tree; `None` hides it (like `-hide`).
    pub path: Option<String>,
}

/// Why an image cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// Write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A path escapes the root or names the root as a non-directory.
    #[error("invalid path in ISO image: {0:?}")]
    BadPath(String),
    /// A path goes through something that is not a directory.
    #[error("cannot add {0:?} to the ISO image: a parent is not a directory")]
    NotADirectory(String),
    /// A hard link's target is missing or a directory.
    #[error("hard link {path:?}: target {target:?} is not a file in the image")]
    HardlinkTarget {
        /// The link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A file does not fit one ISO 9660 extent.
    #[error("{path:?} is {size} bytes: files over 4 GiB - 1 are not supported in ISO images")]
    FileTooLarge {
        /// Entry path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// A field does not fit Rock Ridge's 32-bit fields.
    #[error("{path:?}: {what} does not fit the ISO image")]
    TooLarge {
        /// Entry path.
        path: String,
        /// Which field.
        what: &'static str,
    },
    /// The image, or its directory count, exceeds ISO 9660 limits.
    #[error("ISO image too large: {0}")]
    ImageTooLarge(&'static str),
    /// The BIOS boot image is not a regular file of the tree.
    #[error("BIOS boot image {0:?} is not a regular file in the image")]
    BootImageMissing(String),
    /// The BIOS boot image is too small for a boot-info table.
    #[error("BIOS boot image {0:?} is shorter than 64 bytes")]
    BootImageTooSmall(String),
    /// An isohybrid MBR was asked for without a BIOS boot image.
    #[error("an isohybrid MBR needs a BIOS boot image")]
    HybridNeedsBios,
    /// The isohybrid MBR template has the wrong size.
    #[error("isohybrid MBR template is {0} bytes, expected 432 to 512")]
    BadMbrTemplate(usize),
}

/// What a directory record points at.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A directory, by index in the directory list.
    Dir(usize),
    /// A non-directory node.
    Node(usize),
}

#[derive(Debug)]
struct Record {
    ident: Vec<u8>,
    target: Target,
    /// Node whose time goes into the record.
    node: usize,
    sua: Sua,
}

impl Record {
    fn fixed_len(ident: &[u8]) -> usize {
        33 + ident.len() + usize::from(ident.len().is_multiple_of(2))
    }

    fn len(&self) -> usize {
        let n = Self::fixed_len(&self.ident) + self.sua.len();
        n + n % 2
    }
}

#[derive(Debug)]
struct Dir {
    node: usize,
    parent: usize,
    ident: Vec<u8>,
    records: Vec<Record>,
    sectors: u32,
    lba: u32,
}

/// The computed layout.
struct Layout {
    dirs: Vec<Dir>,
    pool: CePool,
    pool_lba: u32,
    pt_size: u32,
    l_table: u32,
    m_table: u32,
    catalog_lba: u32,
    /// Extents of data nodes, in writing order.
    files: Vec<(usize, u32)>,
    extent: BTreeMap<usize, u32>,
    /// Block of zeros all empty files point at.
    empty_lba: Option<u32>,
    total: u32,
}

fn sectors_for(bytes: u64) -> Result<u32, IsoError> {
    u32::try_from(bytes.div_ceil(SECTOR as u64)).map_err(|_| IsoError::ImageTooLarge("size"))
}

/// The Rock Ridge entries of one record.
fn rr_entries(node: &Node, nlink: u32, ino: u32, name: Option<&str>) -> Vec<Vec<u8>> {
    let mut v = vec![
        rr::px(node.mode(), nlink, node.uid, node.gid, ino),
        rr::tf(node.mtime),
    ];
    if let Body::Dev { major, minor, .. } = node.body {
        v.push(rr::pn(major, minor));
    }
    if let Some(n) = name {
        v.extend(rr::nm(n.as_bytes()));
    }
    if let Body::Symlink(t) = &node.body {
        v.extend(rr::sl(t));
    }
    v
}

/// Link count of a directory: itself, its `.` and its subdirectories' `..`.
fn dir_nlink(tree: &Tree, id: usize) -> u32 {
    let sub = tree
        .children(id)
        .iter()
        .filter(|(_, c)| tree.nodes[*c].is_dir())
        .count();
    2 + sub as u32
}

/// Sectors a directory's records take; records never straddle a sector.
fn dir_sectors(records: &[Record]) -> u32 {
    let mut sectors = 1u32;
    let mut used = 0;
    for r in records {
        if used + r.len() > SECTOR {
            sectors += 1;
            used = 0;
        }
        used += r.len();
    }
    sectors
}

/// All directories in path-table order (breadth first, children in
/// ISO 9660 order) with their records; overflowing System Use entries go
/// to `pool`.
fn directories(tree: &Tree, pool: &mut CePool) -> Result<Vec<Dir>, IsoError> {
    let counts = tree.name_counts();
    let mut inos: BTreeMap<usize, u32> = BTreeMap::new();
    let mut ino = |n: usize| {
        let next = inos.len() as u32 + 1;
        *inos.entry(n).or_insert(next)
    };
    let mut dirs = vec![Dir {
        node: 0,
        parent: 0,
        ident: vec![0],
        records: Vec::new(),
        sectors: 0,
        lba: 0,
    }];
    let mut i = 0;
    while i < dirs.len() {
        let (dnode, pnode) = (dirs[i].node, dirs[dirs[i].parent].node);
        let kids = tree.children(dnode);
        let mut dot = rr_entries(&tree.nodes[dnode], dir_nlink(tree, dnode), ino(dnode), None);
        if i == 0 {
            dot.insert(0, rr::sp());
            dot.push(rr::er());
        }
        let dotdot = rr_entries(&tree.nodes[pnode], dir_nlink(tree, pnode), ino(pnode), None);
        let mut records = vec![
            Record {
                ident: vec![0],
                target: Target::Dir(i),
                node: dnode,
                sua: pool.pack(&dot, rr::MAX_RECORD - Record::fixed_len(&[0])),
            },
            Record {
                ident: vec![1],
                target: Target::Dir(dirs[i].parent),
                node: pnode,
                sua: pool.pack(&dotdot, rr::MAX_RECORD - Record::fixed_len(&[1])),
            },
        ];
        let real: Vec<(&str, bool)> = kids
            .iter()
            .map(|&(n, c)| (n, tree.nodes[c].is_dir()))
            .collect();
        let names = rr::iso_names(&real);
        let mut order: Vec<usize> = (0..kids.len()).collect();
        order.sort_by(|&a, &b| rr::iso_cmp(&names[a], &names[b]));
        for k in order {
            let (name, c) = kids[k];
            let node = &tree.nodes[c];
            let ident = names[k].ident();
            let target = if node.is_dir() {
                if dirs.len() >= 0xffff {
                    return Err(IsoError::ImageTooLarge("more than 65535 directories"));
                }
                dirs.push(Dir {
                    node: c,
                    parent: i,
                    ident: ident.clone(),
                    records: Vec::new(),
                    sectors: 0,
                    lba: 0,
                });
                Target::Dir(dirs.len() - 1)
            } else {
                Target::Node(c)
            };
            let nlink = if node.is_dir() {
                dir_nlink(tree, c)
            } else {
                counts[c]
            };
            let e = rr_entries(node, nlink, ino(c), Some(name));
            let room = rr::MAX_RECORD - Record::fixed_len(&ident);
            records.push(Record {
                sua: pool.pack(&e, room),
                ident,
                target,
                node: c,
            });
        }
        dirs[i].sectors = dir_sectors(&records);
        dirs[i].records = records;
        i += 1;
    }
    Ok(dirs)
}

/// Compute every extent: descriptors, path tables, directories, the
/// Continuation Areas, the catalog, then file data in directory order
/// followed by `extra` nodes not yet placed (hidden boot images).
fn layout(tree: &Tree, extra: &[usize], boot: bool) -> Result<Layout, IsoError> {
    let mut pool = CePool::default();
    let mut dirs = directories(tree, &mut pool)?;
    let pt_size: usize = dirs
        .iter()
        .map(|d| 8 + d.ident.len() + d.ident.len() % 2)
        .sum();
    let pt_size = u32::try_from(pt_size).map_err(|_| IsoError::ImageTooLarge("path table"))?;
    let mut next = PVD_LBA + 2 + u32::from(boot);
    let l_table = next;
    next += sectors_for(u64::from(pt_size))?;
    let m_table = next;
    next += sectors_for(u64::from(pt_size))?;
    let add = |next: u32, n: u32| next.checked_add(n).ok_or(IsoError::ImageTooLarge("size"));
    for d in &mut dirs {
        d.lba = next;
        next = add(next, d.sectors)?;
    }
    let pool_lba = next;
    next = add(next, pool.blocks())?;
    let catalog_lba = next;
    if boot {
        next += 1;
    }
    let mut files = Vec::new();
    let mut extent = BTreeMap::new();
    let mut empty = false;
    let data_nodes = dirs
        .iter()
        .flat_map(|d| d.records.iter())
        .filter_map(|r| match r.target {
            Target::Node(n) => Some(n),
            Target::Dir(_) => None,
        })
        .chain(extra.iter().copied())
        .collect::<Vec<_>>();
    for n in data_nodes {
        if extent.contains_key(&n) {
            continue;
        }
        match &tree.nodes[n].body {
            Body::File(d) if d.is_empty() => empty = true,
            Body::File(_) | Body::Image(_) => {
                let len = tree.nodes[n].body.file_len();
                extent.insert(n, next);
                files.push((n, next));
                next = add(next, sectors_for(len)?)?;
            }
            Body::Catalog => {
                extent.insert(n, catalog_lba);
            }
            _ => {}
        }
    }
    let empty_lba = empty.then_some(next);
    if empty {
        next = add(next, 1)?;
    }
    Ok(Layout {
        dirs,
        pool,
        pool_lba,
        pt_size,
        l_table,
        m_table,
        catalog_lba,
        files,
        extent,
        empty_lba,
        total: next,
    })
}

/// Volume descriptor text field: ASCII kept, the rest `_`, space padded.
fn text(field: &mut [u8], s: &str) {
    field.fill(b' ');
    for (f, c) in field.iter_mut().zip(s.bytes()) {
        *f = if c.is_ascii_graphic() || c == b' ' {
            c
        } else {
            b'_'
        };
    }
}

impl Layout {
    fn dir_record(&self, tree: &Tree, r: &Record) -> Vec<u8> {
        let (lba, size, flags) = match r.target {
            Target::Dir(d) => (self.dirs[d].lba, self.dirs[d].sectors * SECTOR as u32, 2),
            Target::Node(n) => match &tree.nodes[n].body {
                Body::File(d) if d.is_empty() => (self.empty_lba.unwrap_or(0), 0, 0),
                b @ (Body::File(_) | Body::Image(_)) => (self.extent[&n], b.file_len() as u32, 0),
                Body::Catalog => (self.catalog_lba, SECTOR as u32, 0),
                _ => (0, 0, 0),
            },
        };
        let mut v = Vec::with_capacity(r.len());
        v.push(r.len() as u8);
        v.push(0);
        v.extend(both32(lba));
        v.extend(both32(size));
        v.extend(rr::date7(tree.nodes[r.node].mtime));
        v.push(flags);
        v.extend([0, 0]);
        v.extend(both16(1));
        v.push(r.ident.len() as u8);
        v.extend(&r.ident);
        if r.ident.len().is_multiple_of(2) {
            v.push(0);
        }
        v.extend(r.sua.bytes(self.pool_lba));
        v.resize(r.len(), 0);
        v
    }

    fn path_table(&self, big: bool) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.pt_size as usize);
        for d in &self.dirs {
            v.push(d.ident.len() as u8);
            v.push(0);
            let parent = d.parent as u16 + 1;
            if big {
                v.extend(d.lba.to_be_bytes());
                v.extend(parent.to_be_bytes());
            } else {
                v.extend(d.lba.to_le_bytes());
                v.extend(parent.to_le_bytes());
            }
            v.extend(&d.ident);
            if d.ident.len() % 2 == 1 {
                v.push(0);
            }
        }
        v
    }

    fn pvd(&self, tree: &Tree, opts: &IsoOptions) -> Vec<u8> {
        let mut s = vec![0u8; SECTOR];
        s[0] = 1;
        s[1..6].copy_from_slice(b"CD001");
        s[6] = 1;
        text(&mut s[8..40], "LINUX");
        text(&mut s[40..72], &opts.volume_id);
        s[80..88].copy_from_slice(&both32(self.total));
        s[120..124].copy_from_slice(&both16(1));
        s[124..128].copy_from_slice(&both16(1));
        s[128..132].copy_from_slice(&both16(SECTOR as u16));
        s[132..140].copy_from_slice(&both32(self.pt_size));
        s[140..144].copy_from_slice(&self.l_table.to_le_bytes());
        s[148..152].copy_from_slice(&self.m_table.to_be_bytes());
        let root = &self.dirs[0].records[0];
        let rec = self.dir_record(
            tree,
            &Record {
                ident: vec![0],
                target: root.target,
                node: root.node,
                sua: Sua::default(),
            },
        );
        s[156..190].copy_from_slice(&rec[..34]);
        for r in [
            190..318,
            318..446,
            446..574,
            574..702,
            702..739,
            739..776,
            776..813,
        ] {
            text(&mut s[r], "");
        }
        s[813..830].copy_from_slice(&rr::date17(opts.mtime));
        s[830..847].copy_from_slice(&rr::date17(opts.mtime));
        s[847..863].fill(b'0');
        s[864..880].fill(b'0');
        s[881] = 1;
        s
    }

    /// Everything from the PVD up to the first file extent.
    fn metadata(&self, tree: &Tree, opts: &IsoOptions, catalog: Option<&[u8]>) -> Vec<u8> {
        let mut m = self.pvd(tree, opts);
        if catalog.is_some() {
            m.extend(boot::boot_record(self.catalog_lba));
        }
        let mut term = vec![0u8; SECTOR];
        term[0] = 255;
        term[1..6].copy_from_slice(b"CD001");
        term[6] = 1;
        m.extend(term);
        let pad = |m: &mut Vec<u8>| m.resize(m.len().div_ceil(SECTOR) * SECTOR, 0);
        m.extend(self.path_table(false));
        pad(&mut m);
        m.extend(self.path_table(true));
        pad(&mut m);
        for d in &self.dirs {
            let start = m.len();
            for r in &d.records {
                let rec = self.dir_record(tree, r);
                let used = (m.len() - start) % SECTOR;
                if used + rec.len() > SECTOR {
                    m.resize(m.len() + SECTOR - used, 0);
                }
                m.extend(rec);
            }
            m.resize(start + d.sectors as usize * SECTOR, 0);
        }
        m.extend(self.pool.bytes(self.pool_lba));
        if let Some(c) = catalog {
            m.extend(c);
        }
        m
    }
}

/// FNV-1a, for the MBR disk signature.
fn fnv32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Counts bytes written.
struct Out<W: Write> {
    w: W,
    n: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.n += b.len() as u64;
        Ok(())
    }

    fn zeros_to(&mut self, end: u64) -> io::Result<()> {
        let z = &crate::buf::ZEROS[..];
        while self.n < end {
            let k = (end - self.n).min(z.len() as u64) as usize;
            self.put(&z[..k])?;
        }
        Ok(())
    }
}

/// Find the BIOS boot image, add the catalog and the EFI image (visible
/// or not) to the tree; returns the BIOS and EFI image nodes.
fn boot_nodes(
    tree: &mut Tree,
    opts: &IsoOptions,
) -> Result<(Option<usize>, Option<usize>), IsoError> {
    let mut bios_node = None;
    if let Some(b) = &opts.bios_boot {
        let n = tree
            .lookup(&b.image_path)?
            .filter(|&n| matches!(tree.nodes[n].body, Body::File(_)))
            .ok_or_else(|| IsoError::BootImageMissing(b.image_path.clone()))?;
        if let Body::File(d) = &tree.nodes[n].body
            && d.len() < 64
            && b.boot_info_table
        {
            return Err(IsoError::BootImageTooSmall(b.image_path.clone()));
        }
        bios_node = Some(n);
        let cat = Node::new(Body::Catalog, 0o444, opts.mtime);
        tree.insert(&b.catalog_path, cat)?;
    }
    let mut efi_node = None;
    if let Some(e) = &opts.efi_boot {
        if e.image.len() > u64::from(u32::MAX) {
            return Err(IsoError::FileTooLarge {
                path: "EFI boot image".into(),
                size: e.image.len(),
            });
        }
        let node = Node::new(Body::Image(e.image.clone()), 0o644, opts.mtime);
        efi_node = Some(match &e.path {
            Some(p) => tree.insert(p, node)?,
            None => {
                tree.nodes.push(node);
                tree.nodes.len() - 1
            }
        });
    }
    Ok((bios_node, efi_node))
}

/// Write `entries` (archive order) as an ISO 9660 image; returns the
/// number of bytes written.
pub fn write_iso<W: Write>(entries: &[Entry], opts: &IsoOptions, out: W) -> Result<u64, IsoError> {
    let mut tree = Tree::build(entries, opts.mtime)?;
    if opts.hybrid_mbr.is_some() && opts.bios_boot.is_none() {
        return Err(IsoError::HybridNeedsBios);
    }
    if let Some(t) = &opts.hybrid_mbr
        && !(432..=512).contains(&t.len())
    {
        return Err(IsoError::BadMbrTemplate(t.len()));
    }
    let boot = opts.bios_boot.is_some() || opts.efi_boot.is_some();
    let (bios_node, efi_node) = boot_nodes(&mut tree, opts)?;
    let extra: Vec<usize> = bios_node.into_iter().chain(efi_node).collect();
    let mut lay = layout(&tree, &extra, boot)?;
    if opts.hybrid_mbr.is_some() {
        let cyl = (boot::CYLINDER / SECTOR as u64) as u32;
        lay.total = lay
            .total
            .checked_next_multiple_of(cyl)
            .ok_or(IsoError::ImageTooLarge("size"))?;
    }

    let data_len = |n: usize| tree.nodes[n].body.file_len();
    let lba_of = |n: usize| {
        if data_len(n) == 0 {
            lay.empty_lba.unwrap_or(0)
        } else {
            lay.extent.get(&n).copied().unwrap_or(0)
        }
    };
    let mut entries_boot = Vec::new();
    if let (Some(b), Some(n)) = (&opts.bios_boot, bios_node) {
        entries_boot.push(BootEntry {
            platform: 0,
            sectors: b.load_size,
            lba: lba_of(n),
        });
    }
    if let Some(n) = efi_node {
        entries_boot.push(BootEntry {
            platform: 0xEF,
            sectors: data_len(n).div_ceil(512).min(0xffff) as u16,
            lba: lba_of(n),
        });
    }
    let catalog = boot.then(|| boot::catalog(&entries_boot));
    let meta = lay.metadata(&tree, opts, catalog.as_deref());

    let mut o = Out { w: out, n: 0 };
    let mut system_area = vec![0u8; 16 * SECTOR];
    if let (Some(t), Some(n)) = (&opts.hybrid_mbr, bios_node) {
        let efi = efi_node.map(|n| boot::EfiPart {
            lba: lba_of(n),
            bytes: data_len(n),
        });
        let total = u64::from(lay.total) * SECTOR as u64;
        let mbr = boot::hybrid_mbr(t, lba_of(n), fnv32(&meta), total, efi);
        system_area[..512].copy_from_slice(&mbr);
    }
    o.put(&system_area)?;
    o.put(&meta)?;
    for &(n, lba) in &lay.files {
        o.zeros_to(u64::from(lba) * SECTOR as u64)?;
        let d = match &tree.nodes[n].body {
            Body::File(d) => d,
            Body::Image(img) => {
                for (off, bytes) in img.segments() {
                    o.zeros_to(u64::from(lba) * SECTOR as u64 + off)?;
                    o.put(bytes)?;
                }
                o.zeros_to(u64::from(lba) * SECTOR as u64 + img.len())?;
                continue;
            }
            _ => continue,
        };
        match &opts.bios_boot {
            Some(b) if b.boot_info_table && Some(n) == bios_node => {
                o.put(&boot::boot_info_table(d, PVD_LBA, lba))?
            }
            _ => o.put(d)?,
        }
    }
    o.zeros_to(u64::from(lay.total) * SECTOR as u64)?;
    o.w.flush()?;
    Ok(o.n)
}
