//! The filesystem entry: one member of the image's filesystem as the
//! assembler yields it, in archive order. Mirrors a tar header closely (the
//! stored mode field is kept raw) plus LinuxKit's provenance records.

use crate::Shared;
use std::sync::Arc;

/// The fixed timestamp upstream LinuxKit gives generated entries
/// (2017-04-18T16:30:00Z); `SOURCE_DATE_EPOCH` may replace it.
pub const DEFAULT_MTIME: i64 = 1_492_533_000;

/// Type of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Regular file with contents.
    File,
    /// Directory.
    Dir,
    /// Symbolic link (`link` is the target).
    Symlink,
    /// Hard link to an earlier entry (`link` is that entry's path).
    Hardlink,
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
}

/// One filesystem entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the image, relative, as it will be stored.
    pub path: String,
    /// What the entry is.
    pub kind: Kind,
    /// The stored tar mode field (permission bits, possibly with type bits).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, unix seconds.
    pub mtime: i64,
    /// Link target for symlinks and hard links, empty otherwise.
    pub link: String,
    /// Device major number (devices only).
    pub devmajor: u32,
    /// Device minor number (devices only).
    pub devminor: u32,
    /// Owner name as stored (not significant).
    pub uname: String,
    /// Group name as stored (not significant).
    pub gname: String,
    /// File contents (regular files only).
    pub data: Shared,
    /// Extra PAX records to carry (e.g. `SCHILY.xattr.*`), in order.
    pub pax: Vec<(String, String)>,
    /// `LINUXKIT.source` record; empty means none is written.
    pub source: Arc<str>,
    /// `LINUXKIT.location` record; empty means none is written.
    pub location: Arc<str>,
}

impl Entry {
    fn base(path: impl Into<String>, kind: Kind, mode: u32, mtime: i64) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            link: String::new(),
            devmajor: 0,
            devminor: 0,
            uname: String::new(),
            gname: String::new(),
            data: Shared::new(),
            pax: Vec::new(),
            source: Arc::from(""),
            location: Arc::from(""),
        }
    }

    /// A directory owned by root.
    pub fn dir(path: impl Into<String>, mode: u32, mtime: i64) -> Entry {
        Entry::base(path, Kind::Dir, mode, mtime)
    }

    /// A regular file owned by root.
    pub fn file(path: impl Into<String>, mode: u32, mtime: i64, data: impl Into<Shared>) -> Entry {
        let mut e = Entry::base(path, Kind::File, mode, mtime);
        e.data = data.into();
        e
    }

    /// A symbolic link owned by root.
    pub fn symlink(
        path: impl Into<String>,
        target: impl Into<String>,
        mode: u32,
        mtime: i64,
    ) -> Entry {
        let mut e = Entry::base(path, Kind::Symlink, mode, mtime);
        e.link = target.into();
        e
    }

    /// Set the provenance records.
    pub fn with_origin(mut self, source: &Arc<str>, location: &Arc<str>) -> Entry {
        self.source = source.clone();
        self.location = location.clone();
        self
    }

    /// Size of the stored contents.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }
}
