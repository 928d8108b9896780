//! Squashfs 4.0 image writer (the `squashfs` output format), our own
//! implementation of what `mksquashfs` produces with its defaults: gzip
//! (zlib level 9) compression, 128 KiB data blocks, files smaller than a
//! block packed into fragment blocks, identical files stored once, an NFS
//! export table, and the image padded to 4 KiB.
//!
//! Written subset: directories, regular files, symlinks, character and
//! block devices, FIFOs, and hard links as real shared inodes (with link
//! counts); uid/gid, permission bits (including setuid/setgid/sticky) and
//! mtimes per inode; `SCHILY.xattr.*` records in the `user.`, `trusted.` and
//! `security.` namespaces (others are dropped, as mksquashfs does). Not
//! written: sparse blocks, directory indexes, compressor options.
//!
//! Entries come in archive order. Paths are cleaned (`./etc/` is `etc`);
//! missing parent directories are created (0755, root, the image mtime); an
//! entry for `.` sets the root directory's metadata; a later entry for a path
//! replaces the earlier one (a directory over a directory only updates its
//! metadata). The output is a pure function of the entries and options:
//! inode numbers follow the sorted tree, nothing reads the clock.
//!
//! backhand (0.25) was tried first: it builds without C with gzip only and
//! is deterministic, but it has no hard links, no xattrs, cannot set the
//! root mtime, and counts directory links per entry; hence this writer.

mod ahead;
mod meta;
mod tree;

use crate::Shared;
use crate::entry::{DEFAULT_MTIME, Entry};
use meta::{
    Bytes, Child, META_SIZE, MetaWriter, NO_FRAGMENT, NO_XATTR, XattrTable, listing, meta_block,
    stored_block,
};
use std::collections::HashMap;
use std::io::{self, Seek, SeekFrom, Write};
use tree::{NodeKind, Tree, secs};

/// Default data block size, as `mksquashfs`.
pub const DEFAULT_BLOCK_SIZE: u32 = 128 * 1024;
const SUPERBLOCK_SIZE: usize = 96;
const MAGIC: u32 = 0x7371_7368;
/// The image is padded to a multiple of this, as mksquashfs does.
const DEVICE_BLOCK: u64 = 4096;
/// The superblock counts ids in 16 bits.
const MAX_IDS: usize = 65535;

// Superblock flags.
const FLAG_DUPLICATES: u16 = 0x0040;
const FLAG_EXPORTABLE: u16 = 0x0080;
const FLAG_NO_XATTRS: u16 = 0x0200;

/// Compression of data and metadata blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// zlib streams (squashfs calls it gzip), level 9, window 15.
    #[default]
    Gzip,
}

/// Image-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SquashfsOptions {
    /// Superblock modification time, unix seconds; also the mtime of
    /// directories the writer creates.
    pub mtime: i64,
    /// Block compression.
    pub compression: Compression,
    /// Data block size: a power of two from 4 KiB to 1 MiB.
    pub block_size: u32,
}

impl Default for SquashfsOptions {
    fn default() -> Self {
        SquashfsOptions {
            mtime: DEFAULT_MTIME,
            compression: Compression::Gzip,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }
}

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SquashfsError {
    /// Write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Block size out of range or not a power of two.
    #[error("squashfs: block size {0} is not a power of two from 4096 to 1048576")]
    BlockSize(u32),
    /// Path that escapes the root, or a name squashfs cannot store.
    #[error("squashfs: {path}: {reason}")]
    BadPath {
        /// Entry path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A path component names something that is not a directory.
    #[error("squashfs: {path}: parent {parent} is not a directory")]
    NotADirectory {
        /// Entry path.
        path: String,
        /// The offending parent.
        parent: String,
    },
    /// Hard link whose target is missing or a directory.
    #[error("squashfs: {path}: hard link target {target} {reason}")]
    HardLink {
        /// Entry path.
        path: String,
        /// Link target.
        target: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A value does not fit squashfs's fields.
    #[error("squashfs: {path}: {what} does not fit a squashfs image")]
    TooLarge {
        /// Entry path (empty for image-wide limits).
        path: String,
        /// Which field.
        what: &'static str,
    },
    /// More distinct uids and gids than the id table holds.
    #[error("squashfs: more than 65535 distinct uids and gids")]
    TooManyIds,
}

/// Where a file's contents live.
#[derive(Clone)]
struct FileLoc {
    start: u64,
    blocks: Vec<u32>,
    fragment: u32,
    offset: u32,
}

/// The image being written: data goes straight to `out`, tables are kept
/// until the end.
struct Image<W> {
    out: W,
    /// Bytes written so far, from the image start.
    pos: u64,
    block_size: usize,
    fragment: Vec<u8>,
    fragments: Bytes,
    fragment_count: u32,
    dedup: HashMap<Shared, FileLoc>,
    ids: Vec<u32>,
    id_index: HashMap<u32, u16>,
    inodes: MetaWriter,
    dirs: MetaWriter,
    xattrs: XattrTable,
    /// Compresses the data and fragment blocks ahead, on both cores.
    ahead: ahead::Ahead,
}

impl<W: Write> Image<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn id(&mut self, v: u32) -> Result<u16, SquashfsError> {
        if let Some(&i) = self.id_index.get(&v) {
            return Ok(i);
        }
        if self.ids.len() >= MAX_IDS {
            return Err(SquashfsError::TooManyIds);
        }
        let i = self.ids.len() as u16;
        self.ids.push(v);
        self.id_index.insert(v, i);
        Ok(i)
    }

    fn flush_fragment(&mut self) -> io::Result<()> {
        if self.fragment.is_empty() {
            return Ok(());
        }
        let frag = std::mem::take(&mut self.fragment);
        let z = self.ahead.zlib(&frag)?;
        let (bytes, size) = stored_block(&frag, z);
        self.fragments.w64(self.pos).w32(size).w32(0);
        self.put(&bytes)?;
        self.fragment_count += 1;
        Ok(())
    }

    /// Store a file's contents (once per distinct contents): whole blocks
    /// for files of at least a block, a fragment tail for smaller ones.
    fn file_data(&mut self, data: &Shared) -> io::Result<FileLoc> {
        if let Some(loc) = self.dedup.get(data) {
            return Ok(loc.clone());
        }
        let mut loc = FileLoc {
            start: 0,
            blocks: Vec::new(),
            fragment: NO_FRAGMENT,
            offset: 0,
        };
        if data.is_empty() {
            return Ok(loc);
        }
        if data.len() < self.block_size {
            if self.fragment.len() + data.len() > self.block_size {
                self.flush_fragment()?;
            }
            loc.fragment = self.fragment_count;
            loc.offset = self.fragment.len() as u32;
            self.fragment.extend_from_slice(data);
        } else {
            loc.start = self.pos;
            for chunk in data.chunks(self.block_size) {
                let z = self.ahead.zlib(chunk)?;
                let (bytes, size) = stored_block(chunk, z);
                self.put(&bytes)?;
                loc.blocks.push(size);
            }
        }
        self.dedup.insert(data.clone(), loc.clone());
        Ok(loc)
    }

    /// Write a lookup table: its metadata blocks, then `header`, then the
    /// block locations. Returns where `header` starts.
    fn table(&mut self, records: &[u8], header: &[u8]) -> io::Result<u64> {
        let mut index = Bytes::default();
        for chunk in records.chunks(META_SIZE) {
            index.w64(self.pos);
            let mut block = Vec::new();
            meta_block(&mut block, chunk)?;
            self.put(&block)?;
        }
        let start = self.pos;
        self.put(header)?;
        self.put(&index.0)?;
        Ok(start)
    }
}

/// Write `entries` as a squashfs image to `out`, starting at its current
/// position (all offsets are relative to it). Returns the image size,
/// padding included; `out` is left at the image end.
pub fn write_squashfs<W: Write + Seek>(
    entries: &[Entry],
    opts: &SquashfsOptions,
    mut out: W,
) -> Result<u64, SquashfsError> {
    let bs = opts.block_size;
    if !bs.is_power_of_two() || !(4096..=1 << 20).contains(&bs) {
        return Err(SquashfsError::BlockSize(bs));
    }
    let Compression::Gzip = opts.compression;
    let tree = Tree::build(entries, secs(opts.mtime))?;
    let plan = tree.plan();
    let inode_count = u32::try_from(plan.order.len()).map_err(|_| SquashfsError::TooLarge {
        path: String::new(),
        what: "inode count",
    })?;

    let base = out.stream_position()?;
    out.write_all(&[0u8; SUPERBLOCK_SIZE])?;
    let mut img = Image {
        out,
        pos: SUPERBLOCK_SIZE as u64,
        block_size: bs as usize,
        fragment: Vec::new(),
        fragments: Bytes::default(),
        fragment_count: 0,
        dedup: HashMap::new(),
        ids: Vec::new(),
        id_index: HashMap::new(),
        inodes: MetaWriter::default(),
        dirs: MetaWriter::default(),
        xattrs: XattrTable::default(),
        ahead: ahead::Ahead::new(
            plan.order
                .iter()
                .map(|&i| &tree.nodes[i])
                .filter(|n| matches!(n.kind, NodeKind::File))
                .map(|n| n.data.clone()),
            bs as usize,
        ),
    };

    let mut refs = vec![0u64; tree.nodes.len()];
    for &i in &plan.order {
        let node = &tree.nodes[i];
        let nlink = plan.nlink[i];
        let xattr = if node.xattrs.is_empty() {
            NO_XATTR
        } else {
            img.xattrs.add(&node.xattrs)?
        };
        let ext = xattr != NO_XATTR;
        let mut b = Bytes::default();
        let head = |img: &mut Image<W>, b: &mut Bytes, t: u16| -> Result<(), SquashfsError> {
            let (uid, gid) = (img.id(node.uid)?, img.id(node.gid)?);
            b.w16(t)
                .w16(node.mode)
                .w16(uid)
                .w16(gid)
                .w32(node.mtime)
                .w32(plan.number[i]);
            Ok(())
        };
        match node.kind {
            NodeKind::File => {
                let loc = img.file_data(&node.data)?;
                let size = node.data.len() as u64;
                match (u32::try_from(loc.start), u32::try_from(size)) {
                    (Ok(start), Ok(size32)) if !ext && nlink == 1 => {
                        head(&mut img, &mut b, 2)?;
                        b.w32(start).w32(loc.fragment).w32(loc.offset).w32(size32);
                    }
                    _ => {
                        head(&mut img, &mut b, 9)?;
                        b.w64(loc.start)
                            .w64(size)
                            .w64(0)
                            .w32(nlink)
                            .w32(loc.fragment)
                            .w32(loc.offset)
                            .w32(xattr);
                    }
                }
                for s in &loc.blocks {
                    b.w32(*s);
                }
            }
            NodeKind::Symlink | NodeKind::Char | NodeKind::Block | NodeKind::Fifo => {
                let t = node.kind.basic_type() + if ext { 7 } else { 0 };
                head(&mut img, &mut b, t)?;
                b.w32(nlink);
                match node.kind {
                    NodeKind::Symlink => {
                        b.w32(node.data.len() as u32).raw(&node.data);
                    }
                    NodeKind::Char | NodeKind::Block => {
                        b.w32(node.rdev);
                    }
                    _ => {}
                }
                if ext {
                    b.w32(xattr);
                }
            }
            NodeKind::Dir => {
                let children: Vec<Child<'_>> = node
                    .children
                    .iter()
                    .map(|(name, &c)| Child {
                        name,
                        inode_ref: refs[c],
                        number: plan.number[c],
                        basic_type: tree.nodes[c].kind.basic_type(),
                    })
                    .collect();
                let list = listing(&children);
                let block =
                    u32::try_from(img.dirs.block()).map_err(|_| SquashfsError::TooLarge {
                        path: String::new(),
                        what: "directory table",
                    })?;
                let offset = img.dirs.offset();
                img.dirs.write(&list)?;
                let size = list.len() + 3;
                let parent = if i == 0 {
                    inode_count + 1
                } else {
                    plan.number[plan.parent[i]]
                };
                match u16::try_from(size) {
                    Ok(size16) if !ext => {
                        head(&mut img, &mut b, 1)?;
                        b.w32(block).w32(nlink).w16(size16).w16(offset).w32(parent);
                    }
                    _ => {
                        let size = u32::try_from(size).map_err(|_| SquashfsError::TooLarge {
                            path: String::new(),
                            what: "directory listing",
                        })?;
                        head(&mut img, &mut b, 8)?;
                        b.w32(nlink)
                            .w32(size)
                            .w32(block)
                            .w32(parent)
                            .w16(0)
                            .w16(offset)
                            .w32(xattr);
                    }
                }
            }
        }
        if img.inodes.block() > u32::MAX as usize {
            return Err(SquashfsError::TooLarge {
                path: String::new(),
                what: "inode table",
            });
        }
        refs[i] = img.inodes.reference();
        img.inodes.write(&b.0)?;
    }
    img.flush_fragment()?;

    let inode_table = img.pos;
    let inodes = std::mem::take(&mut img.inodes).finish()?;
    img.put(&inodes)?;
    let dir_table = img.pos;
    let dirs = std::mem::take(&mut img.dirs).finish()?;
    img.put(&dirs)?;
    let fragments = std::mem::take(&mut img.fragments);
    let fragment_table = img.table(&fragments.0, &[])?;
    let mut export = Bytes::default();
    for &i in &plan.order {
        export.w64(refs[i]);
    }
    let export_table = img.table(&export.0, &[])?;
    let mut ids = Bytes::default();
    for &v in &img.ids {
        ids.w32(v);
    }
    let id_table = img.table(&ids.0, &[])?;
    let mut flags = FLAG_DUPLICATES | FLAG_EXPORTABLE;
    let xattr_table = if img.xattrs.is_empty() {
        flags |= FLAG_NO_XATTRS;
        u64::MAX
    } else {
        let (kv, records, count) = std::mem::take(&mut img.xattrs).finish()?;
        let kv_start = img.pos;
        img.put(&kv)?;
        let mut header = Bytes::default();
        header.w64(kv_start).w32(count).w32(0);
        img.table(&records, &header.0)?
    };

    let bytes_used = img.pos;
    let padded = bytes_used.div_ceil(DEVICE_BLOCK) * DEVICE_BLOCK;
    img.put(&vec![0u8; (padded - bytes_used) as usize])?;

    let mut sb = Bytes::default();
    sb.w32(MAGIC)
        .w32(inode_count)
        .w32(secs(opts.mtime))
        .w32(bs)
        .w32(img.fragment_count)
        .w16(1) // gzip
        .w16(bs.trailing_zeros() as u16)
        .w16(flags)
        .w16(img.ids.len() as u16)
        .w16(4)
        .w16(0)
        .w64(refs[0])
        .w64(bytes_used)
        .w64(id_table)
        .w64(xattr_table)
        .w64(inode_table)
        .w64(dir_table)
        .w64(fragment_table)
        .w64(export_table);
    let mut out = img.out;
    out.seek(SeekFrom::Start(base))?;
    out.write_all(&sb.0)?;
    out.seek(SeekFrom::Start(base + padded))?;
    out.flush()?;
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Kind;
    use crate::path::clean;
    use linuxkit_test_support::tools::check_stdout as run;
    use std::io::Cursor;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::process::Command;

    const T: i64 = 1_700_000_000;

    use linuxkit_test_support::noise;

    fn with(mut e: Entry, f: impl FnOnce(&mut Entry)) -> Entry {
        f(&mut e);
        e
    }

    fn dev(path: &str, kind: Kind, major: u32, minor: u32) -> Entry {
        with(Entry::dir(path, 0o660, T), |e| {
            e.kind = kind;
            e.devmajor = major;
            e.devminor = minor;
        })
    }

    fn hardlink(path: &str, target: &str) -> Entry {
        with(Entry::file(path, 0o644, T, Vec::new()), |e| {
            e.kind = Kind::Hardlink;
            e.link = target.into();
        })
    }

    /// Everything the writer handles, with and without devices.
    fn sample(devices: bool) -> Vec<Entry> {
        let mut v = vec![
            Entry::dir("./", 0o755, T),
            Entry::dir("etc/", 0o755, T),
            Entry::file(
                "./etc/passwd",
                0o644,
                T,
                b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
            ),
            with(
                Entry::file("etc/shadow", 0o640, T, b"root:*::0:::::\n".to_vec()),
                |e| {
                    e.gid = 42;
                },
            ),
            Entry::symlink("etc/mtab", "/proc/mounts", 0o777, T),
            Entry::file("sizes/empty", 0o644, T, Vec::new()),
            Entry::file("sizes/one", 0o600, T, b"x".to_vec()),
            Entry::file("sizes/block", 0o644, T, noise(131_072, 1)),
            Entry::file("sizes/block1", 0o644, T, noise(131_073, 2)),
            Entry::file("sizes/big", 0o644, T, noise(3_000_000, 3)),
            Entry::file("sizes/zeros", 0o644, T, vec![0u8; 1_000_000]),
            Entry::file("sizes/dup", 0o644, T, noise(131_073, 2)),
            with(
                Entry::file("usr/bin/su", 0o4755, T, b"#!/bin/sh\n".to_vec()),
                |e| {
                    e.uid = 1000;
                    e.gid = 1000;
                    e.mode = 0o104_755;
                },
            ),
            hardlink("usr/bin/su2", "usr/bin/su"),
            Entry::dir("tmp", 0o1777, T),
            with(Entry::dir("home/user", 0o700, T), |e| {
                e.uid = 1000;
                e.gid = 1000;
            }),
        ];
        if devices {
            v.push(dev("dev/null", Kind::Char, 1, 3));
            v.push(dev("dev/sda", Kind::Block, 8, 0));
            v.push(dev("dev/big", Kind::Char, 300, 70_000));
            v.push(with(Entry::file("dev/fifo", 0o600, T, Vec::new()), |e| {
                e.kind = Kind::Fifo;
            }));
        }
        for i in 0..400 {
            v.push(Entry::file(
                format!("many/f{i:04}"),
                0o644,
                T,
                format!("{i}\n").into_bytes(),
            ));
        }
        v
    }

    fn build(entries: &[Entry]) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        let n = write_squashfs(entries, &SquashfsOptions::default(), &mut c).unwrap();
        let v = c.into_inner();
        assert_eq!(n, v.len() as u64);
        v
    }

    fn write_img(dir: &Path, img: &[u8]) -> std::path::PathBuf {
        let p = dir.join("img.sqfs");
        std::fs::write(&p, img).unwrap();
        p
    }

    #[test]
    fn deterministic() {
        let a = build(&sample(true));
        let b = build(&sample(true));
        assert_eq!(a, b);
        assert_eq!(a.len() % 4096, 0);
        assert_eq!(&a[..4], b"hsqs");
    }

    #[test]
    fn offsets_relative_to_start() {
        let plain = build(&sample(false));
        let mut c = Cursor::new(vec![0xaa; 512]);
        c.seek(SeekFrom::End(0)).unwrap();
        let n = write_squashfs(&sample(false), &SquashfsOptions::default(), &mut c).unwrap();
        assert_eq!(c.position(), 512 + n);
        assert_eq!(&c.get_ref()[512..], &plain[..]);
    }

    #[test]
    fn unsquashfs_lists_everything() {
        let d = tempfile::tempdir().unwrap();
        let img = write_img(d.path(), &build(&sample(true)));
        let list = run(Command::new("unsquashfs").arg("-lln").arg(&img));
        let line = |p: &str| -> String {
            let want = format!("squashfs-root/{p}");
            list.lines()
                .find(|l| l.ends_with(&format!(" {want}")) || l.contains(&format!(" {want} -> ")))
                .unwrap_or_else(|| panic!("{p} missing from listing:\n{list}"))
                .to_string()
        };
        for e in sample(true) {
            let p = clean(&e.path);
            if p != "." {
                line(&p);
            }
        }
        for p in ["sizes", "usr", "usr/bin", "home", "dev", "many"] {
            assert!(line(p).starts_with("drwxr-xr-x 0/0"), "{}", line(p));
        }
        assert!(line("etc/shadow").starts_with("-rw-r----- 0/42 "));
        assert!(line("usr/bin/su").starts_with("-rwsr-xr-x 1000/1000 "));
        assert!(line("tmp").starts_with("drwxrwxrwt "));
        assert!(line("home/user").starts_with("drwx------ 1000/1000 "));
        assert!(line("etc/mtab").ends_with("etc/mtab -> /proc/mounts"));
        assert!(line("dev/null").starts_with("crw-rw---- 0/0"));
        assert!(line("dev/null").contains(" 1,  3 "));
        assert!(line("dev/sda").starts_with("brw-rw---- "));
        // unsquashfs 4.5 lists the raw device word (major = rdev >> 8), as
        // for mksquashfs images; the kernel decodes 300:70000.
        assert!(line("dev/big").contains(" 1118508,112 "));
        assert!(line("dev/fifo").starts_with("prw------- "));
        assert!(line("sizes/big").contains(" 3000000 2023-11-14 22:13 "));
        assert_eq!(list.lines().filter(|l| l.contains("/many/f")).count(), 400);
    }

    #[test]
    fn unsquashfs_superblock() {
        let d = tempfile::tempdir().unwrap();
        let img = write_img(d.path(), &build(&sample(true)));
        let s = run(Command::new("unsquashfs").arg("-s").arg(&img));
        assert!(s.contains("Compression gzip"), "{s}");
        assert!(s.contains("Block size 131072"), "{s}");
        assert!(s.contains("Tue Apr 18 16:30:00 2017"), "{s}");
        assert!(s.contains("Number of ids 3"), "{s}");
    }

    #[test]
    fn unsquashfs_extracts_contents() {
        let root = run(Command::new("id").arg("-u")).trim() == "0";
        let entries = sample(root);
        let d = tempfile::tempdir().unwrap();
        let img = write_img(d.path(), &build(&entries));
        let out = d.path().join("out");
        run(Command::new("unsquashfs")
            .arg("-no-xattrs")
            .arg("-d")
            .arg(&out)
            .arg(&img));
        for e in &entries {
            let p = out.join(clean(&e.path));
            let m = std::fs::symlink_metadata(&p).unwrap();
            match e.kind {
                Kind::File => assert_eq!(std::fs::read(&p).unwrap(), &e.data[..], "{p:?}"),
                Kind::Symlink => {
                    assert_eq!(std::fs::read_link(&p).unwrap(), Path::new(&e.link))
                }
                Kind::Dir => assert!(m.is_dir()),
                Kind::Hardlink => {
                    let t = std::fs::metadata(out.join(&e.link)).unwrap();
                    assert_eq!((m.ino(), m.nlink()), (t.ino(), 2));
                }
                Kind::Char => {
                    assert!(m.file_type().is_char_device());
                    assert_eq!(
                        m.rdev(),
                        (e.devmajor as u64) << 8
                            | e.devminor as u64 & 0xff
                            | ((e.devminor as u64 & !0xff) << 12)
                    );
                }
                Kind::Block => assert!(m.file_type().is_block_device()),
                Kind::Fifo => assert!(m.file_type().is_fifo()),
            }
            if e.kind != Kind::Symlink && e.kind != Kind::Hardlink {
                assert_eq!(m.permissions().mode() & 0o7777, e.mode & 0o7777, "{p:?}");
                if root {
                    assert_eq!((m.uid() as u64, m.gid() as u64), (e.uid, e.gid), "{p:?}");
                    assert_eq!(m.mtime(), e.mtime, "{p:?}");
                }
            }
        }
    }

    #[test]
    fn xattrs_are_stored() {
        let cap = "\u{1}\0\0\u{2}\u{20}\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        let entries = vec![
            with(Entry::file("bin/ping", 0o755, T, b"ELF".to_vec()), |e| {
                e.pax
                    .push(("SCHILY.xattr.security.capability".into(), cap.into()));
                e.pax
                    .push(("SCHILY.xattr.user.note".into(), "hello".into()));
                e.pax
                    .push(("SCHILY.xattr.system.ignored".into(), "x".into()));
            }),
            with(Entry::dir("data", 0o755, T), |e| {
                e.pax.push(("SCHILY.xattr.user.note".into(), "dir".into()));
            }),
            with(Entry::file("bin/ping2", 0o755, T, b"ELF".to_vec()), |e| {
                e.pax
                    .push(("SCHILY.xattr.security.capability".into(), cap.into()));
                e.pax
                    .push(("SCHILY.xattr.user.note".into(), "hello".into()));
            }),
        ];
        let d = tempfile::tempdir().unwrap();
        let img = write_img(d.path(), &build(&entries));
        let s = run(Command::new("unsquashfs").arg("-s").arg(&img));
        assert!(s.contains("Number of xattr ids 2"), "{s}");
        let list = run(Command::new("unsquashfs").arg("-lln").arg(&img));
        assert!(list.contains("squashfs-root/bin/ping2"), "{list}");
        let out = d.path().join("out");
        // Extract user.* xattrs (tmpfs and ext4 take them): the xattr table
        // must parse, and the value read back where a reader is installed.
        let st = Command::new("unsquashfs")
            .arg("-user-xattrs")
            .arg("-d")
            .arg(&out)
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let got = Command::new("python3")
            .arg("-c")
            .arg("import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], 'user.note').decode())")
            .arg(out.join("data"))
            .output();
        if let Ok(got) = got
            && got.status.success()
        {
            assert_eq!(got.stdout, b"dir");
        }
    }

    #[test]
    fn replacement_and_parents() {
        let entries = vec![
            Entry::file("a/b/c", 0o644, T, b"first".to_vec()),
            Entry::file("a/b/c", 0o600, T, b"second".to_vec()),
            Entry::dir("a", 0o700, T),
            Entry::file("x", 0o644, T, b"file".to_vec()),
            Entry::dir("x", 0o755, T),
            Entry::file("x/y", 0o644, T, b"y".to_vec()),
        ];
        let d = tempfile::tempdir().unwrap();
        let img = write_img(d.path(), &build(&entries));
        let out = d.path().join("out");
        run(Command::new("unsquashfs").arg("-d").arg(&out).arg(&img));
        assert_eq!(std::fs::read(out.join("a/b/c")).unwrap(), b"second");
        let m = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m("a"), 0o700);
        assert_eq!(m("a/b"), 0o755);
        assert_eq!(m("a/b/c"), 0o600);
        assert_eq!(std::fs::read(out.join("x/y")).unwrap(), b"y");
    }

    #[test]
    fn empty_image() {
        let d = tempfile::tempdir().unwrap();
        let img = write_img(d.path(), &build(&[]));
        let list = run(Command::new("unsquashfs").arg("-lln").arg(&img));
        assert_eq!(list.lines().count(), 1, "{list}");
    }

    #[test]
    fn bad_block_size() {
        let bad = SquashfsOptions {
            block_size: 1000,
            ..SquashfsOptions::default()
        };
        assert!(matches!(
            write_squashfs(&[], &bad, Cursor::new(Vec::new())),
            Err(SquashfsError::BlockSize(1000))
        ));
    }
}
