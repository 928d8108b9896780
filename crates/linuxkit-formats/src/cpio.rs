//! The newc ("070701") cpio writer used for initrds, byte-compatible with
//! upstream LinuxKit's: inode numbers counted from a start value (721 for a
//! whole initrd), device 3:1, hard links turned into relative symlinks, the
//! stream padded to 512 bytes after the trailer.

use crate::entry::{Entry, Kind};
use crate::path::clean;
use std::io::{self, Write};

/// First inode number upstream uses.
pub const FIRST_INO: u32 = 721;

/// Error for an entry that cannot be represented.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    /// Write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A field does not fit newc's 32-bit hex fields.
    #[error("cannot convert tar file: {path}: {what} does not fit a newc cpio header")]
    TooLarge {
        /// Entry path.
        path: String,
        /// Which field.
        what: &'static str,
    },
}

/// Streams entries as newc cpio.
pub struct CpioWriter<W: Write> {
    w: W,
    ino: u32,
    written: u64,
}

/// Go's `filepath.Rel(base, target)` for relative, slash-separated paths.
pub fn relative_path(base: &str, target: &str) -> Option<String> {
    if base.starts_with('/') != target.starts_with('/') {
        return None;
    }
    let (b, t) = (clean(base), clean(target));
    let parts = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect()
    };
    let (b, t) = (parts(&b), parts(&t));
    let common = b.iter().zip(t.iter()).take_while(|(x, y)| x == y).count();
    if b[common..].iter().any(|c| c == "..") {
        return None;
    }
    let mut out: Vec<&str> = vec![".."; b.len() - common];
    out.extend(t[common..].iter().map(String::as_str));
    if out.is_empty() {
        Some(".".into())
    } else {
        Some(out.join("/"))
    }
}

fn parent(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) => &p[..i],
        None => ".",
    }
}

impl<W: Write> CpioWriter<W> {
    /// Start a cpio stream whose first inode is `first_ino`.
    pub fn new(w: W, first_ino: u32) -> CpioWriter<W> {
        CpioWriter {
            w,
            ino: first_ino,
            written: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn header(
        &mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        nlink: u32,
        mtime: i64,
        size: u64,
        rdev: (u32, u32),
    ) -> Result<(), CpioError> {
        let fit = |v: u64, what: &'static str| -> Result<u32, CpioError> {
            u32::try_from(v).map_err(|_| CpioError::TooLarge {
                path: name.to_string(),
                what,
            })
        };
        let uid = fit(uid, "uid")?;
        let gid = fit(gid, "gid")?;
        let size = fit(size, "file size")?;
        let mtime = fit(mtime.max(0) as u64, "mtime")?;
        let namesize = name.len() + 1;
        let h = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino, mode, uid, gid, nlink, mtime, size, 3, 1, rdev.0, rdev.1, namesize, 0
        );
        self.ino = self.ino.wrapping_add(1);
        self.put(h.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad4()?;
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad4(&mut self) -> io::Result<()> {
        let rem = (self.written % 4) as usize;
        if rem != 0 {
            self.put(&[0u8; 4][..4 - rem])?;
        }
        Ok(())
    }

    /// Append one entry.
    pub fn write_entry(&mut self, e: &Entry) -> Result<(), CpioError> {
        let perm = e.mode & 0o7777;
        match e.kind {
            Kind::Hardlink | Kind::Symlink => {
                let target = if matches!(e.kind, Kind::Hardlink) {
                    relative_path(parent(&e.path), &e.link)
                        .unwrap_or_else(|| format!("/{}", e.link))
                } else {
                    e.link.clone()
                };
                self.header(
                    &e.path,
                    perm | 0o120_000,
                    e.uid,
                    e.gid,
                    1,
                    e.mtime,
                    target.len() as u64,
                    (0, 0),
                )?;
                self.put(target.as_bytes())?;
            }
            Kind::File => {
                self.header(
                    &e.path,
                    perm | 0o100_000,
                    e.uid,
                    e.gid,
                    1,
                    e.mtime,
                    e.size(),
                    (0, 0),
                )?;
                let data = e.data.clone();
                self.put(&data)?;
            }
            Kind::Dir => self.header(
                &e.path,
                perm | 0o040_000,
                e.uid,
                e.gid,
                2,
                e.mtime,
                0,
                (0, 0),
            )?,
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (typ, rdev) = match e.kind {
                    Kind::Char => (0o020_000, (e.devmajor, e.devminor)),
                    Kind::Block => (0o060_000, (e.devmajor, e.devminor)),
                    _ => (0o010_000, (0, 0)),
                };
                self.header(&e.path, perm | typ, e.uid, e.gid, 1, e.mtime, 0, rdev)?
            }
        }
        self.pad4()?;
        Ok(())
    }

    /// Write the trailer, pad to 512 bytes and return the inner writer.
    pub fn finish(mut self) -> Result<W, CpioError> {
        self.header("TRAILER!!!", 0, 0, 0, 1, 0, 0, (0, 0))?;
        let rem = (self.written % 512) as usize;
        if rem != 0 {
            self.put(&vec![0u8; 512 - rem])?;
        }
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_like_go() {
        assert_eq!(relative_path("a/b", "a/c/d").unwrap(), "../c/d");
        assert_eq!(relative_path(".", "x/y").unwrap(), "x/y");
        assert_eq!(relative_path("a", "a").unwrap(), ".");
        assert_eq!(relative_path("usr/bin", "usr/bin/x").unwrap(), "x");
        assert!(relative_path("a", "/b").is_none());
    }

    #[test]
    fn newc_layout() {
        let mut w = CpioWriter::new(Vec::new(), FIRST_INO);
        w.write_entry(&Entry::dir("etc", 0o755, 5)).unwrap();
        let mut h = Entry::file("etc/b", 0o644, 5, Vec::new());
        h.kind = Kind::Hardlink;
        h.link = "etc/a".into();
        w.write_entry(&h).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 512, 0);
        let s = String::from_utf8_lossy(&out);
        assert!(s.starts_with("070701000002d1000041ed"));
        // hard link became a relative symlink "a"
        assert!(!s.contains("000002d2000081a4"));
        assert!(s.contains("000002d20000a1a4"));
        assert!(s.contains("etc/b\0"));
        assert!(s.contains("TRAILER!!!"));
    }
}
