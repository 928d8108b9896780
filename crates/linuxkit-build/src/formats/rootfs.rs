//! `kernel+squashfs`, `kernel+erofs` and `kernel+iso`: the kernel and
//! command line as files, and the root filesystem (every entry but
//! `boot/`) as a squashfs (mksquashfs defaults), EROFS (uncompressed) or
//! plain ISO 9660 + Rock Ridge image (no boot loader).
//!
//! Upstream boots these with a kernel that has the disk drivers and the
//! file system built in. A distribution kernel (Debian's) has them as
//! modules, so the build also writes `<name>-root-initrd.img`: the image's
//! own `/init` (the project's, which knows this first stage) with the
//! modules of [`ROOT_DISK_MODULES`] and their dependencies, and the marker
//! `/etc/initrd-release`. Booted with `root=/dev/…`, it mounts the root
//! file system and runs the image's `/init` from it. Without the project's
//! init or without kernel modules in the image, no root initrd is written.

use super::Kit;
use super::disk::bytes;
use crate::error::BuildError;
use crate::outfile::OutputFile;
use crate::pending::PendingFile;
use linuxkit_formats::cpio::{CpioWriter, FIRST_INO};
use linuxkit_formats::erofs::{ErofsOptions, write_erofs};
use linuxkit_formats::iso9660::{IsoOptions, write_iso};
use linuxkit_formats::squashfs::{SquashfsOptions, write_squashfs};
use linuxkit_formats::{Entry, Kind};
use linuxkit_vm_abi::kmod;
use linuxkit_vm_abi::rootdisk::MODULES as ROOT_DISK_MODULES;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::Path;

/// `<name>-kernel` and `<name>-cmdline` (the latter only if not empty).
pub fn kernel_files(kit: &Kit, dir: &Path, name: &str) -> Result<Vec<PendingFile>, BuildError> {
    let mut out = vec![bytes(&dir.join(format!("{name}-kernel")), &kit.kernel)?];
    if !kit.cmdline.is_empty() {
        out.push(bytes(
            &dir.join(format!("{name}-cmdline")),
            kit.cmdline.as_bytes(),
        )?);
    }
    Ok(out)
}

fn write_with(
    dest: &Path,
    what: &str,
    write: impl FnOnce(&mut BufWriter<&mut OutputFile>) -> Result<(), String>,
) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let mut w = BufWriter::with_capacity(1 << 20, f.file());
    write(&mut w).map_err(|e| {
        BuildError::Other(format!("cannot write the {what} {}: {e}", dest.display()))
    })?;
    w.flush()
        .map_err(|e| BuildError::io(format!("cannot write {}", dest.display()), e))?;
    drop(w);
    Ok(f)
}

/// The squashfs image of the root filesystem.
pub fn squashfs(dest: &Path, rootfs: &[Entry], mtime: i64) -> Result<PendingFile, BuildError> {
    let opts = SquashfsOptions {
        mtime,
        ..SquashfsOptions::default()
    };
    write_with(dest, "squashfs image", |w| {
        write_squashfs(rootfs, &opts, w)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// The EROFS image of the root filesystem.
pub fn erofs(dest: &Path, rootfs: &[Entry], mtime: i64) -> Result<PendingFile, BuildError> {
    let opts = ErofsOptions {
        mtime,
        ..ErofsOptions::default()
    };
    write_with(dest, "EROFS image", |w| {
        write_erofs(rootfs, &opts, w)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// The ISO 9660 image of the root filesystem, volume `LinuxKit`.
pub fn iso(dest: &Path, rootfs: &[Entry], mtime: i64) -> Result<PendingFile, BuildError> {
    let opts = IsoOptions::new("LinuxKit", mtime);
    write_with(dest, "ISO image", |w| {
        write_iso(rootfs, &opts, w)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// What the image's `/init` must contain to be able to act as the first
/// stage (the marker it looks for).
const FIRST_STAGE_MARKER: &[u8] = linuxkit_vm_abi::rootdisk::MARKER.as_bytes();

fn clean(p: &str) -> &str {
    p.trim_start_matches("./").trim_start_matches('/')
}

/// The entries of the root initrd, or why there is none: `/init`,
/// `dev/console`, `etc/initrd-release`, and under `lib/modules/<release>/`
/// `modules.order` and the modules of [`ROOT_DISK_MODULES`] with their
/// dependencies (directories as needed, in path order).
pub fn root_initrd_entries(rootfs: &[Entry], mtime: i64) -> Result<Vec<Entry>, String> {
    let init = rootfs
        .iter()
        .find(|e| clean(&e.path) == "init" && e.kind == Kind::File)
        .ok_or("the image has no /init file")?;
    if !init
        .data
        .windows(FIRST_STAGE_MARKER.len())
        .any(|w| w == FIRST_STAGE_MARKER)
    {
        return Err("the image's /init is not linuxkit-rs's init (pkg/init)".into());
    }
    // Modules by name, with their paths (lib/modules/<release>/...).
    let mut by_name: BTreeMap<String, &Entry> = BTreeMap::new();
    let mut order: Option<&Entry> = None;
    for e in rootfs.iter().filter(|e| e.kind == Kind::File) {
        let p = clean(&e.path);
        let Some(rest) = p
            .strip_prefix("lib/modules/")
            .or_else(|| p.strip_prefix("usr/lib/modules/"))
        else {
            continue;
        };
        if rest.ends_with("/modules.order") && rest.matches('/').count() == 1 {
            order = Some(e);
        } else if p.ends_with(".ko")
            && let Some(n) = kmod::module_name(p)
        {
            by_name.entry(n).or_insert(e);
        }
    }
    let mut want: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = ROOT_DISK_MODULES.iter().map(|s| s.to_string()).collect();
    while let Some(n) = todo.pop() {
        let Some(e) = by_name.get(&n) else { continue };
        if want.insert(n) {
            todo.extend(kmod::depends(&e.data));
        }
    }
    let mut files: BTreeMap<String, Entry> = BTreeMap::new();
    fn add(files: &mut BTreeMap<String, Entry>, e: Entry) {
        files.insert(e.path.clone(), e);
    }
    let mut init_e = Entry::file("init", 0o755, mtime, init.data.clone());
    init_e.mode = 0o755;
    add(&mut files, init_e);
    add(
        &mut files,
        Entry::file(
            "etc/initrd-release",
            0o644,
            mtime,
            b"NAME=\"LinuxKit root initrd\"\n".to_vec(),
        ),
    );
    let mut console = Entry::dir("dev/console", 0o600, mtime);
    console.kind = Kind::Char;
    console.devmajor = 5;
    console.devminor = 1;
    add(&mut files, console);
    if let Some(o) = order {
        add(
            &mut files,
            Entry::file(clean(&o.path), 0o644, mtime, o.data.clone()),
        );
    }
    for n in &want {
        if let Some(e) = by_name.get(n) {
            add(
                &mut files,
                Entry::file(clean(&e.path), 0o644, mtime, e.data.clone()),
            );
        }
    }
    // Parent directories.
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for p in files.keys() {
        let mut cur = p.as_str();
        while let Some((parent, _)) = cur.rsplit_once('/') {
            dirs.insert(parent.to_string());
            cur = parent;
        }
    }
    for d in dirs {
        add(&mut files, Entry::dir(d, 0o755, mtime));
    }
    Ok(files.into_values().collect())
}

/// `<name>-root-initrd.img` (gzip newc cpio of [`root_initrd_entries`]),
/// or `None` with the reason when the image cannot have one. With
/// `cache_dir`, the compressed initrd is kept there by the SHA-256 of its
/// cpio, so a rebuild only makes the cpio (a few MB) and hashes it.
pub fn root_initrd(
    dest: &Path,
    rootfs: &[Entry],
    mtime: i64,
    cache_dir: Option<&Path>,
) -> Result<Result<PendingFile, String>, BuildError> {
    let entries = match root_initrd_entries(rootfs, mtime) {
        Ok(e) => e,
        Err(why) => return Ok(Err(why)),
    };
    let err = |e: &dyn std::fmt::Display| {
        BuildError::Other(format!("cannot write {}: {e}", dest.display()))
    };
    let mut w = CpioWriter::new(Vec::new(), FIRST_INO);
    for e in &entries {
        w.write_entry(e).map_err(|e| err(&e))?;
    }
    let cpio = w.finish().map_err(|e| err(&e))?;
    let cached = cache_dir.map(|d| {
        use sha2::{Digest, Sha256};
        d.join(format!("{}.gz", hex::encode(Sha256::digest(&cpio))))
    });
    if let Some(p) = &cached
        && let Ok(gz) = std::fs::read(p)
    {
        return Ok(Ok(bytes(dest, &gz)?));
    }
    let gz = linuxkit_formats::gzip::gzip_parallel(&cpio, 6);
    if let Some(p) = &cached {
        // A derived cache: failing to store it only costs time later.
        let _ = crate::atomic::atomic_write(p, &gz);
    }
    Ok(Ok(bytes(dest, &gz)?))
}

/// Collects the root filesystem (every entry but `boot/`, see
/// [`super::is_rootfs_entry`]) for the `kernel+squashfs|erofs|iso` formats.
#[derive(Default)]
pub struct RootfsSink {
    /// The entries, in stream order.
    pub entries: Vec<Entry>,
}

impl crate::Sink for RootfsSink {
    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if super::is_rootfs_entry(&e.path) {
            self.entries.push(e);
        }
        Ok(())
    }
}
