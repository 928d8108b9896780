//! A write-once FAT12/16/32 image builder (the filesystem of EFI system
//! partitions and of the raw-bios boot partition).
//!
//! Our own code rather than the `fatfs` crate (a read-write driver over a
//! block device): the whole tree is known up front, so every directory and
//! file is laid out contiguously in one deterministic pass (depth-first,
//! children sorted by name), file contents are shared rather than copied,
//! and the result is a sparse list of byte segments instead of a mostly-zero
//! buffer. Boot loaders that need the sectors of a file (syslinux's
//! `ldlinux.sys`) get them from [`FatImage::file_extent`].
//!
//! Submodules: `fat_dir.rs` (names, long-name and short entries, DOS times)
//! and `fat_layout.rs` (geometry, allocation, rendering).
//!
//! Written: 512-byte sectors, two FATs, media 0xF8, VFAT long names with
//! deterministic `~N` short names, NT lowercase flags
//! for plain lowercase 8.3 names, one timestamp (`mtime`) on every entry, a
//! volume label entry, FSInfo and backup boot sectors on FAT32, the data
//! region cluster-aligned. Not written: sector sizes other than 512, file
//! attributes beyond the read-only/hidden/system/archive bits, files of
//! 4 GiB or more (FAT cannot hold them).

use crate::Shared;
use crate::entry::{Entry, Kind};
use dir::validate_name;
use std::collections::BTreeMap;
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;

pub use dir::{ATTR_ARCHIVE, ATTR_HIDDEN, ATTR_READ_ONLY, ATTR_SYSTEM};

#[path = "fat_dir.rs"]
mod dir;
#[path = "fat_layout.rs"]
mod layout;

/// Failure to build a FAT image.
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    /// A path is empty, contains `..`, or names the root as a file.
    #[error("invalid FAT path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A path component cannot be stored as a FAT name.
    #[error("invalid FAT name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Two entries share a name (FAT names ignore case).
    #[error("duplicate FAT path {0:?} (names are case-insensitive)")]
    Duplicate(String),
    /// A path goes through a file, or a file would replace a directory.
    #[error("{0:?} is a file and a directory")]
    NotADirectory(String),
    /// FAT files are limited to 4 GiB - 1.
    #[error("{path:?} is {size} bytes, FAT files must be smaller than 4 GiB")]
    FileTooLarge {
        /// File path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// An entry kind FAT cannot store (symlinks, devices, ...).
    #[error("{path:?}: FAT cannot store a {kind:?}")]
    Unsupported {
        /// Entry path.
        path: String,
        /// Its kind.
        kind: Kind,
    },
    /// The volume label is not up to 11 short-name characters.
    #[error("invalid FAT volume label {0:?}")]
    InvalidLabel(String),
    /// No valid FAT geometry for the requested size and options.
    #[error("no valid FAT geometry: {0}")]
    Geometry(String),
    /// The contents do not fit the requested size.
    #[error("FAT image of {size} bytes too small: needs {needed} more bytes of clusters")]
    TooSmall {
        /// Requested size.
        size: u64,
        /// Missing bytes.
        needed: u64,
    },
    /// No such file in the image.
    #[error("no file {0:?} in the FAT image")]
    NoSuchFile(String),
    /// Replacement data must keep the file's size.
    #[error("{path:?}: replacement is {got} bytes, file is {want}")]
    SizeMismatch {
        /// File path.
        path: String,
        /// Size of the file.
        want: u64,
        /// Size offered.
        got: u64,
    },
    /// A boot sector template shorter than 512 bytes.
    #[error("boot sector template is {0} bytes, need 512")]
    BadBootSector(usize),
}

/// The FAT variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FatType {
    /// 12-bit FAT (up to 4084 clusters).
    Fat12,
    /// 16-bit FAT (4085 to 65524 clusters).
    Fat16,
    /// 32-bit FAT.
    Fat32,
}

impl FatType {
    fn bits(self) -> u64 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }
    /// Valid cluster counts (FAT32 below 65525 is accepted as mkfs.fat does:
    /// Linux and EDK2 go by the BPB, but mtools refuses such volumes).
    fn clusters(self) -> Range<u64> {
        match self {
            FatType::Fat12 => 1..4085,
            FatType::Fat16 => 4085..65525,
            FatType::Fat32 => 1..0x0FFF_FFF5,
        }
    }
    fn eoc(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFFF,
            FatType::Fat16 => 0xFFFF,
            FatType::Fat32 => 0x0FFF_FFFF,
        }
    }
}

/// How to build the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatOptions {
    /// Volume serial number.
    pub volume_id: u32,
    /// Volume label (up to 11 short-name characters, stored uppercase);
    /// empty for none.
    pub label: String,
    /// Timestamp of every entry, unix seconds.
    pub mtime: i64,
    /// FAT variant; `None` picks by size (FAT12 up to 4.1 MB, FAT16 up to
    /// 512 MiB, FAT32 above).
    pub fat_type: Option<FatType>,
    /// Sectors per cluster (power of two up to 128); `None` for the
    /// Microsoft defaults by size.
    pub sectors_per_cluster: Option<u8>,
    /// Reserved sectors; `None` for 1 (FAT12/16) or 32 (FAT32), possibly
    /// raised to align the data region to a cluster.
    pub reserved_sectors: Option<u16>,
    /// Total size (a multiple of 512); `None` for the smallest whole number
    /// of MiB that holds the contents plus about 5% and 256 KiB of slack.
    pub size_bytes: Option<u64>,
    /// BPB hidden sectors: the partition's first LBA (boot loaders use it).
    pub hidden_sectors: u32,
}

impl Default for FatOptions {
    fn default() -> FatOptions {
        FatOptions {
            volume_id: 0,
            label: String::new(),
            mtime: crate::entry::DEFAULT_MTIME,
            fat_type: None,
            sectors_per_cluster: None,
            reserved_sectors: None,
            size_bytes: None,
            hidden_sectors: 0,
        }
    }
}

impl FatOptions {
    /// Upstream raw-efi's ESP: FAT32, 8 sectors per cluster, 32 reserved
    /// sectors (`mkfs.vfat -F 32 -S 512 -s 8 -R 32`). Below ~256 MiB this
    /// has fewer than 65525 clusters: firmware and Linux accept it, mtools
    /// does not.
    pub fn esp() -> FatOptions {
        FatOptions {
            fat_type: Some(FatType::Fat32),
            sectors_per_cluster: Some(8),
            reserved_sectors: Some(32),
            ..FatOptions::default()
        }
    }
}

/// One node of the tree being built.
#[derive(Debug, Clone)]
enum Node {
    File { data: FileData, attr: u8 },
    Dir(BTreeMap<String, Node>),
}

/// A file's contents: `len` bytes made of pieces at offsets, zeros between
/// them (a file given whole is one piece). Pieces are shared, never copied:
/// a UKI goes in as its headers plus the kernel's and initrd's own buffers.
#[derive(Debug, Clone)]
struct FileData {
    len: usize,
    pieces: Vec<(u64, Shared)>,
}

impl FileData {
    fn whole(data: Shared) -> FileData {
        FileData {
            len: data.len(),
            pieces: if data.is_empty() {
                Vec::new()
            } else {
                vec![(0, data)]
            },
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The contents as one buffer: the piece itself when one covers it all.
    fn to_shared(&self) -> Shared {
        if let [(0, a)] = self.pieces.as_slice()
            && a.len() == self.len
        {
            return a.clone();
        }
        crate::buf::assemble_shared(self.len, self.pieces.iter().map(|(o, p)| (*o, &p[..])))
    }
}

/// Collects files and directories, then lays out a [`FatImage`].
#[derive(Debug, Clone, Default)]
pub struct FatBuilder {
    root: BTreeMap<String, Node>,
}

fn components(path: &str) -> Result<Vec<&str>, FatError> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(FatError::InvalidPath {
                    path: path.into(),
                    reason: "'..' is not allowed",
                });
            }
            c => {
                validate_name(c).map_err(|reason| FatError::InvalidName {
                    name: c.into(),
                    reason,
                })?;
                out.push(c);
            }
        }
    }
    Ok(out)
}

impl FatBuilder {
    /// An empty tree.
    pub fn new() -> FatBuilder {
        FatBuilder::default()
    }

    fn dir_mut(
        &mut self,
        path: &str,
        comps: &[&str],
    ) -> Result<&mut BTreeMap<String, Node>, FatError> {
        let mut dir = &mut self.root;
        for c in comps {
            let node = dir
                .entry((*c).to_string())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match node {
                Node::Dir(d) => d,
                Node::File { .. } => return Err(FatError::NotADirectory(path.into())),
            };
        }
        Ok(dir)
    }

    /// Add a directory (and its parents); adding an existing one is a no-op.
    pub fn add_dir(&mut self, path: &str) -> Result<(), FatError> {
        let comps = components(path)?;
        self.dir_mut(path, &comps).map(|_| ())
    }

    /// Add a regular file (parents implied) with the archive attribute.
    pub fn add_file(&mut self, path: &str, data: Shared) -> Result<(), FatError> {
        self.add_file_with_attributes(path, data, ATTR_ARCHIVE)
    }

    /// Add a regular file with explicit attribute bits (`ATTR_READ_ONLY`,
    /// `ATTR_HIDDEN`, `ATTR_SYSTEM`, archive; others are dropped).
    pub fn add_file_with_attributes(
        &mut self,
        path: &str,
        data: Shared,
        attr: u8,
    ) -> Result<(), FatError> {
        self.add_file_data(path, FileData::whole(data), attr)
    }

    /// Add a regular file of `len` bytes made of `pieces` at their offsets
    /// (sorted, not overlapping, inside the file), zeros elsewhere. The
    /// pieces end up in the image as they are (shared, not copied).
    pub fn add_file_pieces(
        &mut self,
        path: &str,
        len: u64,
        pieces: Vec<(u64, Shared)>,
    ) -> Result<(), FatError> {
        let mut end = 0u64;
        for (off, p) in &pieces {
            if *off < end || off + p.len() as u64 > len {
                return Err(FatError::InvalidPath {
                    path: path.into(),
                    reason: "file pieces overlap or run past the file's length",
                });
            }
            end = off + p.len() as u64;
        }
        let len = usize::try_from(len).map_err(|_| FatError::FileTooLarge {
            path: path.into(),
            size: len,
        })?;
        let pieces = pieces.into_iter().filter(|(_, p)| !p.is_empty()).collect();
        self.add_file_data(path, FileData { len, pieces }, ATTR_ARCHIVE)
    }

    fn add_file_data(&mut self, path: &str, data: FileData, attr: u8) -> Result<(), FatError> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Err(FatError::InvalidPath {
                path: path.into(),
                reason: "a file needs a name",
            });
        };
        if u32::try_from(data.len()).is_err() {
            return Err(FatError::FileTooLarge {
                path: path.into(),
                size: data.len() as u64,
            });
        }
        let dir = self.dir_mut(path, parents)?;
        match dir.get(*name) {
            Some(Node::Dir(_)) => Err(FatError::NotADirectory(path.into())),
            Some(Node::File { .. }) => Err(FatError::Duplicate(path.into())),
            None => {
                let attr = attr & (ATTR_READ_ONLY | ATTR_HIDDEN | ATTR_SYSTEM | ATTR_ARCHIVE);
                dir.insert((*name).to_string(), Node::File { data, attr });
                Ok(())
            }
        }
    }

    fn file_data(&self, path: &str) -> Option<Shared> {
        let comps = components(path).ok()?;
        let (name, parents) = comps.split_last()?;
        let mut dir = &self.root;
        for c in parents {
            match dir.get(*c)? {
                Node::Dir(d) => dir = d,
                Node::File { .. } => return None,
            }
        }
        match dir.get(*name)? {
            Node::File { data, .. } => Some(data.to_shared()),
            Node::Dir(_) => None,
        }
    }

    /// Add a filesystem entry: files and directories as such, hard links as
    /// a copy of their (already added) target; other kinds are refused.
    pub fn add_entry(&mut self, e: &Entry) -> Result<(), FatError> {
        match e.kind {
            Kind::File => self.add_file(&e.path, e.data.clone()),
            Kind::Dir => self.add_dir(&e.path),
            Kind::Hardlink => match self.file_data(&e.link) {
                Some(data) => self.add_file(&e.path, data),
                None => Err(FatError::NoSuchFile(e.link.clone())),
            },
            kind => Err(FatError::Unsupported {
                path: e.path.clone(),
                kind,
            }),
        }
    }

    /// Lay out the image.
    pub fn build(&self, opts: &FatOptions) -> Result<FatImage, FatError> {
        layout::layout(self, opts)
    }
}

/// Build a FAT image from `(path, data)` pairs; directories are implied by
/// the paths, and a path ending in `/` adds an (empty) directory.
pub fn fat_image(files: &[(String, Shared)], opts: &FatOptions) -> Result<FatImage, FatError> {
    let mut b = FatBuilder::new();
    for (path, data) in files {
        if path.ends_with('/') {
            if !data.is_empty() {
                return Err(FatError::InvalidPath {
                    path: path.clone(),
                    reason: "a directory path with data",
                });
            }
            b.add_dir(path)?;
        } else {
            b.add_file(path, data.clone())?;
        }
    }
    b.build(opts)
}

/// Bytes of one segment: our own metadata or shared file contents.
#[derive(Debug, Clone)]
enum Bytes {
    Owned(Vec<u8>),
    Shared(Shared),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Shared(a) => a,
        }
    }
}

/// A laid-out FAT image: a sorted list of non-overlapping byte segments,
/// everything else zero.
#[derive(Debug, Clone)]
pub struct FatImage {
    size: u64,
    fat_type: FatType,
    cluster_bytes: u64,
    segments: Vec<(u64, Bytes)>,
    extents: BTreeMap<String, (u64, u64)>,
}

impl FatImage {
    /// Total size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The FAT variant used.
    pub fn fat_type(&self) -> FatType {
        self.fat_type
    }

    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        self.cluster_bytes
    }

    /// The non-zero parts as `(offset, bytes)`, in offset order.
    pub fn segments(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.segments.iter().map(|(o, b)| (*o, b.as_slice()))
    }

    /// The segments as shared buffers: file contents are handed out
    /// without a copy (only the metadata segments are copied).
    pub fn shared_segments(&self) -> impl Iterator<Item = (u64, Shared)> + '_ {
        self.segments.iter().map(|(o, b)| {
            let bytes: Shared = match b {
                Bytes::Owned(v) => Shared::from(v.as_slice()),
                Bytes::Shared(a) => a.clone(),
            };
            (*o, bytes)
        })
    }

    /// Where a file's contents live: `(byte offset in the image, length)`;
    /// contiguous by construction. Empty files have no data: `(0, 0)`.
    pub fn file_extent(&self, path: &str) -> Option<(u64, u64)> {
        let key = components(path).ok()?.join("/");
        self.extents.get(&key).copied()
    }

    /// Replace a file's contents by bytes of the same length (e.g. a boot
    /// loader patched with its own sector list).
    pub fn replace_file_data(&mut self, path: &str, data: Shared) -> Result<(), FatError> {
        let (off, len) = self
            .file_extent(path)
            .ok_or_else(|| FatError::NoSuchFile(path.into()))?;
        if len != data.len() as u64 {
            return Err(FatError::SizeMismatch {
                path: path.into(),
                want: len,
                got: data.len() as u64,
            });
        }
        if len > 0 {
            // The file's segments (one, or its pieces) become the new bytes.
            let start = self.segments.partition_point(|s| s.0 < off);
            let end = self.segments.partition_point(|s| s.0 < off + len);
            self.segments
                .splice(start..end, [(off, Bytes::Shared(data))]);
        }
        Ok(())
    }

    /// The boot sector (the first 512 bytes).
    pub fn boot_sector(&self) -> &[u8] {
        &self.segments[0].1.as_slice()[..512]
    }

    /// Boot code area of the boot sector after the BPB: `62..510` on
    /// FAT12/16, `90..510` on FAT32 (bytes `0..3` hold the jump).
    pub fn boot_code_range(&self) -> Range<usize> {
        match self.fat_type {
            FatType::Fat32 => 90..510,
            _ => 62..510,
        }
    }

    /// Merge a boot loader's boot sector: its jump (bytes 0..3) and boot
    /// code ([`FatImage::boot_code_range`]) replace ours, the BPB stays; the
    /// FAT32 backup boot sector gets the same.
    pub fn overlay_boot_code(&mut self, template: &[u8]) -> Result<(), FatError> {
        if template.len() < 512 {
            return Err(FatError::BadBootSector(template.len()));
        }
        let code = self.boot_code_range();
        let backup = self.fat_type == FatType::Fat32;
        let Bytes::Owned(head) = &mut self.segments[0].1 else {
            return Ok(());
        };
        for base in [Some(0), backup.then_some(6 * 512)].into_iter().flatten() {
            head[base..base + 3].copy_from_slice(&template[..3]);
            head[base + code.start..base + code.end].copy_from_slice(&template[code.clone()]);
        }
        Ok(())
    }

    /// Write the whole image (zeros included) sequentially.
    pub fn write_to<W: Write>(&self, w: &mut W) -> io::Result<()> {
        let zeros = vec![0u8; 1 << 16];
        let mut pos = 0u64;
        let fill = |w: &mut W, from: u64, to: u64| -> io::Result<()> {
            let mut n = to - from;
            while n > 0 {
                let k = n.min(zeros.len() as u64) as usize;
                w.write_all(&zeros[..k])?;
                n -= k as u64;
            }
            Ok(())
        };
        for (off, bytes) in self.segments() {
            fill(w, pos, off)?;
            w.write_all(bytes)?;
            pos = off + bytes.len() as u64;
        }
        fill(w, pos, self.size)
    }

    /// Write only the non-zero segments at `base + offset` (for a file or
    /// disk already sized and zeroed, e.g. a sparse partition image).
    pub fn write_at<W: Write + Seek>(&self, w: &mut W, base: u64) -> io::Result<()> {
        for (off, bytes) in self.segments() {
            w.seek(SeekFrom::Start(base + off))?;
            w.write_all(bytes)?;
        }
        Ok(())
    }

    /// The image as segments sharing the file contents (nothing large is
    /// copied).
    pub fn to_sparse(&self) -> crate::disk::SparseImage {
        crate::disk::SparseImage::new(self.size, self.shared_segments().collect())
            .expect("FAT segments are sorted, disjoint and inside the image")
    }

    /// The whole image as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.size as usize);
        self.write_to(&mut v).expect("writing to a Vec cannot fail");
        v
    }
}

#[cfg(test)]
#[path = "fat_tests.rs"]
mod tests;
