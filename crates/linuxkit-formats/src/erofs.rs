//! An EROFS filesystem image writer (the uncompressed subset of
//! `mkfs.erofs`), from the on-disk format of Linux `fs/erofs/erofs_fs.h`.
//!
//! What we write: 4 KiB blocks; the superblock at byte 1024 with a crc32c
//! checksum (`feature_compat` `SB_CHKSUM`) and no incompatible features; the
//! metadata area starting in block 0 right after the superblock (root nid
//! 36, as `mkfs.erofs` does); 32-byte compact inodes where the owner, link
//! count, size and mtime fit (the mtime of a compact inode is the
//! superblock's build time) and 64-byte extended inodes otherwise. Data is
//! `FLAT_PLAIN` (contiguous blocks) or `FLAT_INLINE`, where the tail that
//! does not fill a block is packed right after the inode in the metadata
//! area. Directories are blocks of 12-byte dirents followed by their names,
//! sorted bytewise across the whole directory, `.` and `..` included;
//! symlink targets are the symlink's data; devices keep their number in the
//! inode. `SCHILY.xattr.*` PAX records become inline xattrs for the
//! `user.`, `trusted.`, `security.`, `lustre.` and `system.posix_acl_*`
//! namespaces (no shared xattrs, no long prefixes; other names are an
//! error). No compression, chunked files, extra devices or fragments.
//!
//! The image is built from the entries in memory, laid out first and then
//! written sequentially; the same entries and options give the same bytes
//! (the UUID, unless given, is derived from a SHA-256 of the metadata and
//! the CRC-32 of the data).

use crate::Shared;
use crate::entry::{Entry, Kind};
use std::collections::BTreeMap;
use std::io;
use std::io::Write;

#[path = "erofs_layout.rs"]
mod layout;

/// Options for [`write_erofs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErofsOptions {
    /// Build time in the superblock (unix seconds); also the time of
    /// directories created implicitly and of a root not listed.
    pub mtime: i64,
    /// Volume UUID; `None` derives one from a hash of the image.
    pub uuid: Option<[u8; 16]>,
    /// Volume name, at most 16 bytes.
    pub volume_name: String,
}

impl Default for ErofsOptions {
    fn default() -> ErofsOptions {
        ErofsOptions {
            mtime: crate::entry::DEFAULT_MTIME,
            uuid: None,
            volume_name: String::new(),
        }
    }
}

/// Failure to build an EROFS image.
#[derive(Debug, thiserror::Error)]
pub enum ErofsError {
    /// Write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A path that leaves the root or holds a NUL byte.
    #[error("erofs: invalid path {path:?}")]
    InvalidPath {
        /// Entry path.
        path: String,
    },
    /// A path component longer than 255 bytes.
    #[error("erofs: {path}: file name longer than 255 bytes")]
    NameTooLong {
        /// Entry path.
        path: String,
    },
    /// A path goes through something that is not a directory.
    #[error("erofs: {path}: a parent is not a directory")]
    NotADirectory {
        /// Entry path.
        path: String,
    },
    /// The root entry is not a directory.
    #[error("erofs: {path}: the root must be a directory")]
    RootNotDirectory {
        /// Entry path.
        path: String,
    },
    /// A hard link whose target does not exist (yet) or is a directory.
    #[error("erofs: {path}: bad hard link target {target:?}")]
    BadHardlink {
        /// Entry path.
        path: String,
        /// Link target.
        target: String,
    },
    /// An extended attribute EROFS cannot store.
    #[error("erofs: {path}: unsupported extended attribute {name:?}")]
    UnsupportedXattr {
        /// Entry path.
        path: String,
        /// Attribute name.
        name: String,
    },
    /// A value does not fit its on-disk field.
    #[error("erofs: {path}: {what} too large")]
    TooLarge {
        /// Entry path (empty for the image as a whole).
        path: String,
        /// Which field.
        what: &'static str,
    },
    /// The volume name is longer than 16 bytes.
    #[error("erofs: volume name {0:?} longer than 16 bytes")]
    VolumeName(String),
}

/// Write an EROFS image of `entries` (in archive order) to `out`; returns
/// the number of bytes written (a whole number of 4 KiB blocks).
///
/// Paths are normalised (`./`, leading `/` and trailing `/` dropped);
/// missing parent directories are created with mode 0755, owner root and
/// the build time; a later entry for an existing path replaces it (a
/// directory over a directory only updates its attributes).
pub fn write_erofs<W: Write>(
    entries: &[Entry],
    opts: &ErofsOptions,
    out: W,
) -> Result<u64, ErofsError> {
    if opts.volume_name.len() > 16 {
        return Err(ErofsError::VolumeName(opts.volume_name.clone()));
    }
    let mut tree = Tree::new(opts.mtime);
    for e in entries {
        tree.insert(e)?;
    }
    layout::write(&tree.nodes, opts, out)
}

/// File type bits of `st_mode`.
const S_IFDIR: u16 = 0o040_000;
const S_IFREG: u16 = 0o100_000;
const S_IFLNK: u16 = 0o120_000;
const S_IFCHR: u16 = 0o020_000;
const S_IFBLK: u16 = 0o060_000;
const S_IFIFO: u16 = 0o010_000;

/// What an inode holds.
#[derive(Debug)]
enum Body {
    /// Children by name (node indexes), sorted bytewise.
    Dir(BTreeMap<Vec<u8>, usize>),
    File(Shared),
    Symlink(Vec<u8>),
    /// Character or block device (type bits in `mode`) with its rdev.
    Device(u32),
    Fifo,
}

/// One inline extended attribute: name index, name without the prefix the
/// index stands for, value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Xattr {
    index: u8,
    name: Vec<u8>,
    value: Vec<u8>,
}

/// One inode of the tree being built.
#[derive(Debug)]
struct Node {
    body: Body,
    /// Full `st_mode`: type bits and permission bits.
    mode: u16,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<Xattr>,
}

impl Node {
    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    /// Directory children; empty for anything else.
    fn children(&self) -> impl Iterator<Item = (&Vec<u8>, &usize)> {
        let map = match &self.body {
            Body::Dir(c) => Some(c),
            _ => None,
        };
        map.into_iter().flatten()
    }
}

/// Linux `new_encode_dev`: 12-bit major, 20-bit minor.
fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

/// Map a full xattr name to an EROFS name index and the remaining name.
fn xattr_index(name: &str) -> Option<(u8, &str)> {
    match name {
        "system.posix_acl_access" => return Some((2, "")),
        "system.posix_acl_default" => return Some((3, "")),
        _ => {}
    }
    const PREFIXES: [(&str, u8); 4] = [
        ("user.", 1),
        ("trusted.", 4),
        ("lustre.", 5),
        ("security.", 6),
    ];
    PREFIXES.iter().find_map(|&(p, i)| {
        name.strip_prefix(p)
            .filter(|rest| !rest.is_empty())
            .map(|rest| (i, rest))
    })
}

/// The entry's `SCHILY.xattr.*` records as EROFS xattrs (a later record of
/// the same name wins; the first occurrence keeps its place).
fn xattrs_of(e: &Entry) -> Result<Vec<Xattr>, ErofsError> {
    let mut out: Vec<Xattr> = Vec::new();
    for (k, v) in &e.pax {
        let Some(name) = k.strip_prefix("SCHILY.xattr.") else {
            continue;
        };
        let unsupported = || ErofsError::UnsupportedXattr {
            path: e.path.clone(),
            name: name.to_string(),
        };
        let (index, rest) = xattr_index(name).ok_or_else(unsupported)?;
        if rest.len() > 255 {
            return Err(unsupported());
        }
        if v.len() > usize::from(u16::MAX) {
            return Err(ErofsError::TooLarge {
                path: e.path.clone(),
                what: "extended attribute value",
            });
        }
        let x = Xattr {
            index,
            name: rest.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        };
        match out
            .iter_mut()
            .find(|o| o.index == x.index && o.name == x.name)
        {
            Some(o) => *o = x,
            None => out.push(x),
        }
    }
    Ok(out)
}

/// Split a path into its normalised components (empty for the root).
fn components(path: &str) -> Result<Vec<&str>, ErofsError> {
    let invalid = || ErofsError::InvalidPath {
        path: path.to_string(),
    };
    if path.contains('\0') {
        return Err(invalid());
    }
    // Go's path.Clean applied below the root: "." and empty components
    // vanish, ".." pops (and may not leave the root).
    let mut comps = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if comps.pop().is_none() {
                    return Err(invalid());
                }
            }
            c => {
                if c.len() > 255 {
                    return Err(ErofsError::NameTooLong {
                        path: path.to_string(),
                    });
                }
                comps.push(c);
            }
        }
    }
    Ok(comps)
}

/// The filesystem tree as the entries describe it.
struct Tree {
    /// Node 0 is the root; nodes no longer linked are skipped at layout.
    nodes: Vec<Node>,
    mtime: i64,
}

impl Tree {
    fn new(mtime: i64) -> Tree {
        Tree {
            nodes: vec![Tree::implicit_dir(mtime)],
            mtime,
        }
    }

    fn implicit_dir(mtime: i64) -> Node {
        Node {
            body: Body::Dir(BTreeMap::new()),
            mode: S_IFDIR | 0o755,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
        }
    }

    /// Find or (with `create`) make the directory at `comps`.
    fn dir(&mut self, path: &str, comps: &[&str], create: bool) -> Result<usize, ErofsError> {
        let mut cur = 0;
        for c in comps {
            cur = match self.lookup(cur, c) {
                Some(i) if self.nodes[i].is_dir() => i,
                Some(_) => {
                    return Err(ErofsError::NotADirectory {
                        path: path.to_string(),
                    });
                }
                None if create => {
                    let i = self.nodes.len();
                    self.nodes.push(Tree::implicit_dir(self.mtime));
                    self.link(cur, c, i);
                    i
                }
                None => {
                    return Err(ErofsError::NotADirectory {
                        path: path.to_string(),
                    });
                }
            };
        }
        Ok(cur)
    }

    /// Point `parent/name` at node `child`.
    fn link(&mut self, parent: usize, name: &str, child: usize) {
        if let Body::Dir(c) = &mut self.nodes[parent].body {
            c.insert(name.as_bytes().to_vec(), child);
        }
    }

    fn lookup(&self, parent: usize, name: &str) -> Option<usize> {
        match &self.nodes[parent].body {
            Body::Dir(c) => c.get(name.as_bytes()).copied(),
            _ => None,
        }
    }

    /// The node a hard link entry points at (not a directory).
    fn hardlink_target(&mut self, e: &Entry) -> Result<usize, ErofsError> {
        let bad = || ErofsError::BadHardlink {
            path: e.path.clone(),
            target: e.link.clone(),
        };
        let comps = components(&e.link).map_err(|_| bad())?;
        let (name, parents) = comps.split_last().ok_or_else(bad)?;
        let dir = self.dir(&e.link, parents, false).map_err(|_| bad())?;
        match self.lookup(dir, name) {
            Some(t) if !self.nodes[t].is_dir() => Ok(t),
            _ => Err(bad()),
        }
    }

    fn insert(&mut self, e: &Entry) -> Result<(), ErofsError> {
        let comps = components(&e.path)?;
        let too_large = |what| ErofsError::TooLarge {
            path: e.path.clone(),
            what,
        };
        let uid = u32::try_from(e.uid).map_err(|_| too_large("uid"))?;
        let gid = u32::try_from(e.gid).map_err(|_| too_large("gid"))?;
        let perm = (e.mode & 0o7777) as u16;
        let Some((name, parents)) = comps.split_last() else {
            // The root itself.
            if e.kind != Kind::Dir {
                return Err(ErofsError::RootNotDirectory {
                    path: e.path.clone(),
                });
            }
            let xattrs = xattrs_of(e)?;
            let root = &mut self.nodes[0];
            (root.mode, root.uid, root.gid, root.mtime) = (S_IFDIR | perm, uid, gid, e.mtime);
            root.xattrs = xattrs;
            return Ok(());
        };
        let parent = self.dir(&e.path, parents, true)?;
        let (body, typ) = match e.kind {
            Kind::Dir => (Body::Dir(BTreeMap::new()), S_IFDIR),
            Kind::File => (Body::File(e.data.clone()), S_IFREG),
            Kind::Symlink => (Body::Symlink(e.link.as_bytes().to_vec()), S_IFLNK),
            Kind::Char => (Body::Device(encode_dev(e.devmajor, e.devminor)), S_IFCHR),
            Kind::Block => (Body::Device(encode_dev(e.devmajor, e.devminor)), S_IFBLK),
            Kind::Fifo => (Body::Fifo, S_IFIFO),
            Kind::Hardlink => {
                // Another name for an existing inode; the link entry's own
                // attributes are ignored, as tar does.
                let target = self.hardlink_target(e)?;
                self.link(parent, name, target);
                return Ok(());
            }
        };
        if matches!(e.kind, Kind::Char | Kind::Block)
            && (e.devmajor > 0xfff || e.devminor > 0xf_ffff)
        {
            return Err(too_large("device number"));
        }
        let node = Node {
            body,
            xattrs: xattrs_of(e)?,
            mode: typ | perm,
            uid,
            gid,
            mtime: e.mtime,
        };
        if let Some(old) = self.lookup(parent, name)
            && self.nodes[old].is_dir()
            && e.kind == Kind::Dir
        {
            // A directory over a directory keeps its contents.
            let o = &mut self.nodes[old];
            (o.mode, o.uid, o.gid, o.mtime, o.xattrs) =
                (node.mode, node.uid, node.gid, node.mtime, node.xattrs);
            return Ok(());
        }
        let i = self.nodes.len();
        self.nodes.push(node);
        self.link(parent, name, i);
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::Path;
    use std::process::Command;

    const T: i64 = 1_700_000_000;

    pub(super) fn opts() -> ErofsOptions {
        ErofsOptions {
            mtime: T,
            uuid: None,
            volume_name: "linuxkit".into(),
        }
    }

    fn build(entries: &[Entry], o: &ErofsOptions) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_erofs(entries, o, &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        assert_eq!(n % 4096, 0);
        out
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .map(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")))
            .unwrap_or(false)
    }

    /// Deterministic pseudo-random bytes.
    fn bytes(n: usize, seed: u32) -> Vec<u8> {
        linuxkit_test_support::noise(n, seed.into())
    }

    fn with(mut e: Entry, f: impl FnOnce(&mut Entry)) -> Entry {
        f(&mut e);
        e
    }

    fn dev(path: &str, kind: Kind, major: u32, minor: u32) -> Entry {
        with(Entry::dir(path, 0o620, T), |e| {
            (e.kind, e.devmajor, e.devminor) = (kind, major, minor);
        })
    }

    /// Capability xattr value: v2, cap_net_raw permitted.
    const CAP: &str = "\u{1}\0\0\u{2}\0\u{20}\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

    pub(super) fn sample(devices: bool) -> Vec<Entry> {
        let mut v = vec![
            Entry::dir("etc", 0o755, T),
            Entry::file(
                "etc/passwd",
                0o644,
                T,
                b"root:x:0:0::/root:/bin/sh\n".to_vec(),
            ),
            with(Entry::file("./etc/hl", 0, 0, Vec::new()), |e| {
                e.kind = Kind::Hardlink;
                e.link = "./etc/passwd".into();
            }),
            Entry::file("etc/dup", 0o600, T, b"first".to_vec()),
            Entry::file("etc/dup", 0o640, T, b"second".to_vec()),
            with(Entry::dir("a/", 0o750, T - 5), |e| {
                (e.uid, e.gid) = (1000, 1000)
            }),
            with(Entry::dir("a/b/c/d", 0o700, T + 5), |e| {
                (e.uid, e.gid) = (70_000, 2)
            }),
            Entry::dir("./opt/", 0o755, T),
            Entry::symlink("bin", "usr/bin", 0o777, T),
            Entry::symlink("etc/abs", "/etc/passwd", 0o777, 12_345),
            Entry::symlink("etc/long-target", "t".repeat(4095), 0o777, T),
            Entry::symlink(format!("a/{}", "s".repeat(255)), "x".repeat(1000), 0o777, T),
            with(
                Entry::file("usr/bin/tool", 0o755, 99, b"#!/bin/sh\n".to_vec()),
                |e| {
                    e.pax
                        .push(("SCHILY.xattr.security.capability".into(), CAP.into()));
                    e.pax
                        .push(("SCHILY.xattr.user.note".into(), "hello".into()));
                },
            ),
            Entry::file("usr/bin/suid", 0o4755, T, b"x".to_vec()),
            with(Entry::dir("run/fifo", 0o600, T), |e| e.kind = Kind::Fifo),
        ];
        for (i, n) in [0usize, 1, 4095, 4096, 4097, 5 * 1024 * 1024 + 123]
            .iter()
            .enumerate()
        {
            v.push(with(
                Entry::file(
                    format!("data/f{n}"),
                    0o640,
                    T + i as i64,
                    bytes(*n, i as u32),
                ),
                |e| (e.uid, e.gid) = (1234, 5678),
            ));
        }
        for i in 0..300 {
            v.push(Entry::file(
                format!("many/entry-{i:03}-{}", "p".repeat(i % 40)),
                0o644,
                T,
                bytes(i, 7),
            ));
        }
        v.push(Entry::file(
            format!("many/{}", "L".repeat(255)),
            0o644,
            T,
            b"long".to_vec(),
        ));
        // names sorting before "." and non-ASCII ones
        for n in ["!bang", "-dash", "été", "日本"] {
            v.push(Entry::file(
                format!("many/{n}"),
                0o644,
                T,
                n.as_bytes().to_vec(),
            ));
        }
        if devices {
            v.push(dev("dev/null", Kind::Char, 1, 3));
            v.push(dev("dev/sda", Kind::Block, 8, 0));
            v.push(dev("dev/odd", Kind::Char, 300, 70_000));
        }
        v
    }

    pub(super) fn run(cmd: &str, args: &[&str]) -> (bool, String) {
        linuxkit_test_support::tools::run_text(
            Command::new(cmd)
                .args(args)
                .stdin(std::process::Stdio::piped()),
        )
    }

    pub(super) fn field<'a>(dump: &'a str, key: &str) -> &'a str {
        dump.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} in {dump}"))
            .trim()
    }

    pub(super) fn write_image(dir: &Path, entries: &[Entry], o: &ErofsOptions) -> String {
        let img = dir.join("img.erofs");
        std::fs::write(&img, build(entries, o)).unwrap();
        img.to_str().unwrap().to_string()
    }

    #[test]
    fn fsck_extracts_what_went_in() {
        let root = is_root();
        let entries = sample(root);
        let tmp = tempfile::tempdir().unwrap();
        let img = write_image(tmp.path(), &entries, &opts());
        let (ok, text) = run("fsck.erofs", &[&img]);
        assert!(ok, "fsck.erofs: {text}");
        let outdir = tmp.path().join("x");
        let (ok, text) = run(
            "fsck.erofs",
            &[&format!("--extract={}", outdir.display()), &img],
        );
        assert!(ok, "fsck.erofs --extract: {text}");

        let mut latest: BTreeMap<String, &Entry> = BTreeMap::new();
        for e in &entries {
            latest.insert(components(&e.path).unwrap().join("/"), e);
        }
        for (path, e) in &latest {
            let p = outdir.join(path);
            let m = std::fs::symlink_metadata(&p).unwrap_or_else(|err| panic!("{path}: {err}"));
            if e.kind == Kind::Hardlink {
                assert_eq!(
                    std::fs::read(&p).unwrap(),
                    std::fs::read(outdir.join("etc/passwd")).unwrap()
                );
                continue;
            }
            // fsck.erofs drops set-id bits when it chowns; checked below.
            assert_eq!(m.mode() & 0o777, e.mode & 0o777, "{path} mode");
            assert_eq!(m.mtime(), e.mtime, "{path} mtime");
            if root {
                assert_eq!(
                    (u64::from(m.uid()), u64::from(m.gid())),
                    (e.uid, e.gid),
                    "{path} owner"
                );
            }
            let ft = m.file_type();
            match e.kind {
                Kind::File => {
                    assert!(ft.is_file(), "{path}");
                    assert!(std::fs::read(&p).unwrap() == *e.data, "{path} contents");
                }
                Kind::Dir => assert!(ft.is_dir(), "{path}"),
                Kind::Symlink => {
                    assert!(ft.is_symlink(), "{path}");
                    assert_eq!(std::fs::read_link(&p).unwrap().to_str().unwrap(), e.link);
                }
                Kind::Char | Kind::Block => {
                    assert!(if e.kind == Kind::Char {
                        ft.is_char_device()
                    } else {
                        ft.is_block_device()
                    });
                    let r = m.rdev();
                    let major = ((r >> 8) & 0xfff) | ((r >> 32) & !0xfff);
                    let minor = (r & 0xff) | ((r >> 12) & !0xff);
                    assert_eq!(
                        (major, minor),
                        (u64::from(e.devmajor), u64::from(e.devminor)),
                        "{path}"
                    );
                }
                Kind::Fifo => assert!(ft.is_fifo(), "{path}"),
                Kind::Hardlink => {}
            }
        }
        assert_eq!(std::fs::read(outdir.join("etc/dup")).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(outdir.join("many")).unwrap().count(), 305);
        // implicit parents
        let m = std::fs::metadata(outdir.join("a/b")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o755, T));
    }

    #[test]
    fn same_input_same_bytes() {
        let entries = sample(true);
        let a = build(&entries, &opts());
        assert!(a == build(&entries, &opts()));
        let mut other = entries.clone();
        other.push(Entry::file("extra", 0o644, T, b"x".to_vec()));
        let b = build(&other, &opts());
        // content-derived UUID at 1024 + 48
        assert_ne!(a[1072..1088], b[1072..1088]);
        assert_eq!(&a[1088..1096], b"linuxkit");
    }

    #[test]
    fn minimal_image_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let img = write_image(tmp.path(), &[], &ErofsOptions::default());
        let (ok, text) = run("fsck.erofs", &[&img]);
        assert!(ok, "{text}");
        assert_eq!(std::fs::metadata(&img).unwrap().len(), 4096);
        // a root entry sets the root's attributes
        let img = write_image(
            tmp.path(),
            &[with(Entry::dir("./", 0o700, 7), |e| e.uid = 5)],
            &ErofsOptions::default(),
        );
        let (ok, text) = run("dump.erofs", &["--path=/", &img]);
        assert!(
            ok && text.contains("Uid: 5") && text.contains("0700"),
            "{text}"
        );
    }

    #[test]
    fn rejects_what_erofs_cannot_hold() {
        let err = |entries: Vec<Entry>, o: ErofsOptions| {
            write_erofs(&entries, &o, Vec::new()).unwrap_err()
        };
        let f = |p: &str| Entry::file(p, 0o644, T, Vec::new());
        let hl = with(f("b"), |e| {
            e.kind = Kind::Hardlink;
            e.link = "missing".into();
        });
        assert!(matches!(
            err(vec![hl], opts()),
            ErofsError::BadHardlink { .. }
        ));
        let hl_dir = with(f("b"), |e| {
            e.kind = Kind::Hardlink;
            e.link = "d".into();
        });
        let e = err(vec![Entry::dir("d", 0o755, T), hl_dir], opts());
        assert!(matches!(e, ErofsError::BadHardlink { .. }));
        let e = err(vec![f(&"n".repeat(256))], opts());
        assert!(matches!(e, ErofsError::NameTooLong { .. }));
        assert!(matches!(
            err(vec![f("../x")], opts()),
            ErofsError::InvalidPath { .. }
        ));
        let e = err(vec![f("file"), f("file/below")], opts());
        assert!(matches!(e, ErofsError::NotADirectory { .. }));
        assert!(matches!(
            err(vec![f(".")], opts()),
            ErofsError::RootNotDirectory { .. }
        ));
        let x = with(f("x"), |e| {
            e.pax.push(("SCHILY.xattr.os2.x".into(), "v".into()))
        });
        assert!(matches!(
            err(vec![x], opts()),
            ErofsError::UnsupportedXattr { .. }
        ));
        let big = with(f("x"), |e| e.uid = 1 << 32);
        assert!(matches!(
            err(vec![big], opts()),
            ErofsError::TooLarge { .. }
        ));
        let name = ErofsOptions {
            volume_name: "v".repeat(17),
            ..opts()
        };
        assert!(matches!(err(vec![], name), ErofsError::VolumeName(_)));
    }

    #[test]
    fn device_numbers_encode_like_linux() {
        assert_eq!(encode_dev(8, 1), 0x801);
        assert_eq!(
            encode_dev(300, 70_000),
            (70_000 & 0xff) | (300 << 8) | ((70_000 & !0xff) << 12)
        );
    }
}
