//! Writing a flattened image into the filesystem stream under a prefix, with
//! upstream's special files: entries dropped (`.dockerenv`, `Dockerfile`,
//! `dev/console`, `dev/pts`, `dev/shm`, `etc/hostname`), `etc/hosts` and
//! `etc/resolv.conf` replaced, and the directories and files every root
//! needs appended after the image (image-layout.md §3).

use crate::Sink;
use crate::error::BuildError;
use linuxkit_formats::Shared;
use linuxkit_formats::{Entry, Kind};
use std::sync::Arc;

/// The `etc/hosts` upstream writes.
pub const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";
/// `etc/resolv.conf` of a container root.
pub const RESOLV_CONTAINER: &str = "\n# no resolv.conf configured\n";
/// Where init images and filesystem volumes point `etc/resolv.conf`.
pub const RESOLV_LINK: &str = "/run/resolvconf/resolv.conf";

/// How an image is used, which decides the `resolv.conf` treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `init:` image or `filesystem` volume: resolv.conf becomes a symlink.
    Root,
    /// A container root filesystem: resolv.conf gets placeholder contents.
    Container,
}

/// Provenance and timestamp shared by generated entries.
#[derive(Clone)]
pub struct Origin {
    /// `LINUXKIT.source`.
    pub source: Arc<str>,
    /// `LINUXKIT.location`.
    pub location: Arc<str>,
    /// mtime of generated entries.
    pub mtime: i64,
}

impl Origin {
    /// A generated directory.
    pub fn dir(&self, path: impl Into<String>) -> Entry {
        Entry::dir(path, 0o755, self.mtime).with_origin(&self.source, &self.location)
    }
    /// A generated file.
    pub fn file(&self, path: impl Into<String>, mode: u32, data: impl Into<Shared>) -> Entry {
        Entry::file(path, mode, self.mtime, data).with_origin(&self.source, &self.location)
    }
    /// A generated symlink.
    pub fn symlink(&self, path: impl Into<String>, target: &str, mode: u32) -> Entry {
        Entry::symlink(path, target, mode, self.mtime).with_origin(&self.source, &self.location)
    }
}

/// Emit one directory entry per component of `prefix` (which ends in `/`).
pub fn prefix_dirs(prefix: &str, origin: &Origin, sink: &mut dyn Sink) -> Result<(), BuildError> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(());
    }
    let mut at = 0;
    loop {
        let end = trimmed[at..]
            .find('/')
            .map(|i| at + i)
            .unwrap_or(trimmed.len());
        sink.put(origin.dir(&trimmed[..end]))?;
        if end == trimmed.len() {
            return Ok(());
        }
        at = end + 1;
    }
}

const DROPPED: [&str; 6] = [
    ".dockerenv",
    "Dockerfile",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
];

/// Write `entries` under `prefix`. Calls `seen` with each (unprefixed) name
/// and entry written, e.g. to collect apk databases.
pub fn write_image(
    entries: &[Entry],
    prefix: &str,
    role: Role,
    origin: &Origin,
    sink: &mut dyn Sink,
    seen: &mut dyn FnMut(&str, &Entry),
) -> Result<(), BuildError> {
    prefix_dirs(prefix, origin, sink)?;
    let mut has_mtab = false;
    for e in entries {
        let name = e.path.as_str();
        if DROPPED.contains(&name) {
            continue;
        }
        let mut out = e.clone();
        out.source = origin.source.clone();
        out.location = origin.location.clone();
        match name {
            "etc/hosts" => {
                out.kind = Kind::File;
                out.link.clear();
                out.data = Shared::from(HOSTS.as_bytes());
                out.mtime = origin.mtime;
            }
            "etc/resolv.conf" => {
                out.mtime = origin.mtime;
                match role {
                    Role::Root => {
                        out.kind = Kind::Symlink;
                        out.link = RESOLV_LINK.to_string();
                        out.data = Shared::new();
                    }
                    Role::Container => {
                        out.kind = Kind::File;
                        out.link.clear();
                        out.data = Shared::from(RESOLV_CONTAINER.as_bytes());
                    }
                }
            }
            "etc/mtab" => {
                has_mtab = true;
                out.mtime = origin.mtime;
            }
            _ => {}
        }
        if out.kind == Kind::Hardlink {
            out.link = format!("{prefix}{}", out.link);
        }
        out.path = format!("{prefix}{name}");
        seen(name, &out);
        sink.put(out)?;
    }
    let p = |s: &str| format!("{prefix}{s}");
    for d in ["dev", "dev/pts", "dev/shm", "etc"] {
        sink.put(origin.dir(p(d)))?;
    }
    sink.put(origin.file(p("etc/hosts"), 0o644, HOSTS.as_bytes()))?;
    if !has_mtab {
        sink.put(origin.symlink(p("etc/mtab"), "/proc/mounts", 0o755))?;
    }
    match role {
        Role::Root => sink.put(origin.symlink(p("etc/resolv.conf"), RESOLV_LINK, 0o644))?,
        Role::Container => {
            sink.put(origin.file(p("etc/resolv.conf"), 0o644, RESOLV_CONTAINER.as_bytes()))?
        }
    }
    for d in ["proc", "sys"] {
        sink.put(origin.dir(p(d)))?;
    }
    Ok(())
}
