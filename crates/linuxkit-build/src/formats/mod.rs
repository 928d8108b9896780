//! The bootable and filesystem image formats of `linuxkit build`, written
//! natively from the "kit" (kernel, initrd, command line) and the boot
//! loader files of the `bootloaders` package, with the pure writers of
//! `linuxkit-formats`:
//!
//! | formats | made of | module |
//! |---|---|---|
//! | `iso-bios`, `raw-bios` | an isohybrid ISO booted by ISOLINUX (CD or disk) | [`bios`] |
//! | `qcow2-bios`, `aws`, `vhd`, `dynamic-vhd`, `vmdk`, `azure`, `gcp` | that hybrid disk, padded, in a container | [`disk`] |
//! | `uki`, `raw-efi`, `qcow2-efi`, `iso-efi`, `iso-efi-initrd` | a unified kernel image as `EFI/BOOT/BOOTX64.EFI` | [`efi`] |
//! | `kernel+squashfs`, `kernel+erofs`, `kernel+iso` | the root filesystem (everything but `boot/`) | [`rootfs`] |
//!
//! Every output is written under a temporary name ([`PendingFile`]) and
//! handed back uncommitted: the caller renames them all into place once
//! every format succeeded, so a failed build leaves no file behind.
//! Intermediate products (the hybrid ISO, the UKI, the EFI disk) are built
//! once per build and shared by the formats that need them. Nothing reads
//! a clock or a random source: the same inputs give the same bytes.

pub mod bios;
pub mod disk;
pub mod efi;
pub mod rootfs;

use crate::error::BuildError;
use crate::format::Format;
use crate::pending::PendingFile;
use crate::size::DiskSize;
use linuxkit_formats::Shared;
use linuxkit_formats::{Entry, Kind};
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The kernel, initrd (gzip cpio, without microcode) and command line.
#[derive(Debug, Clone)]
pub struct Kit {
    /// `boot/kernel`.
    pub kernel: Shared,
    /// The initrd as `kernel+initrd` writes it, minus the microcode.
    pub initrd: Shared,
    /// `boot/cmdline`.
    pub cmdline: String,
}

/// Files of the boot loader image, by path (`isolinux/isolinux.bin`, ...).
#[derive(Debug, Clone, Default)]
pub struct BootFiles {
    source: String,
    files: BTreeMap<String, Shared>,
}

impl BootFiles {
    /// Collect the regular files (and hard links to them) of a flattened
    /// image; `source` names the image in error messages.
    pub fn from_entries(source: &str, entries: &[Entry]) -> BootFiles {
        let clean = |p: &str| {
            p.trim_start_matches("./")
                .trim_start_matches('/')
                .to_string()
        };
        let mut files = BTreeMap::new();
        for e in entries {
            match e.kind {
                Kind::File => {
                    files.insert(clean(&e.path), e.data.clone());
                }
                Kind::Hardlink => {
                    if let Some(d) = files.get(&clean(&e.link)).cloned() {
                        files.insert(clean(&e.path), d);
                    }
                }
                _ => {}
            }
        }
        BootFiles {
            source: source.to_string(),
            files,
        }
    }

    /// A file of the image, or an error naming the image and the file.
    pub fn get(&self, path: &str) -> Result<Shared, BuildError> {
        self.files.get(path).cloned().ok_or_else(|| {
            BuildError::Other(format!(
                "boot loader image {} has no /{path} (see pkg/bootloaders/README.md for the files it must hold)",
                self.source
            ))
        })
    }
}

/// Build-wide settings of the formats.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// `--size` (`qcow2-bios`, `aws`).
    pub size: DiskSize,
    /// Timestamp of every generated file and volume.
    pub mtime: i64,
    /// Where derived products are cached (the compressed root initrd of
    /// `kernel+*`, by the digest of its cpio); `None`: not cached.
    pub cache_dir: Option<PathBuf>,
}

/// Everything the formats are made from.
pub struct Inputs<'a> {
    /// The kit.
    pub kit: &'a Kit,
    /// Boot loader files (needed by the bootable formats).
    pub boot: Option<&'a BootFiles>,
    /// The root filesystem (needed by `kernel+squashfs|erofs|iso`).
    pub rootfs: &'a [Entry],
    /// Options.
    pub opts: &'a FormatOptions,
}

/// Writes the formats of one build, sharing intermediate products.
pub struct Writer<'a> {
    inputs: Inputs<'a>,
    dir: PathBuf,
    name: String,
    hybrid: OnceCell<linuxkit_formats::disk::SparseImage>,
    uki: OnceCell<linuxkit_formats::disk::SparseImage>,
    efi_disk: OnceCell<linuxkit_formats::disk::SparseImage>,
}

/// A size check: `--size` or a fixed size too small for the content.
pub(crate) fn too_small(format: &str, needed: u64, given: u64, what: &str) -> BuildError {
    BuildError::Other(format!(
        "format {format}: the image needs {} MiB but {what} is {} MiB; nothing was written{}",
        needed.div_ceil(MIB),
        given / MIB,
        if what == "--size" {
            format!(" (use --size {}M or more)", needed.div_ceil(MIB))
        } else {
            String::new()
        }
    ))
}

impl<'a> Writer<'a> {
    /// Outputs go to `dir/<name><suffix>`.
    pub fn new(inputs: Inputs<'a>, dir: &Path, name: &str) -> Writer<'a> {
        Writer {
            inputs,
            dir: dir.to_path_buf(),
            name: name.to_string(),
            hybrid: OnceCell::new(),
            uki: OnceCell::new(),
            efi_disk: OnceCell::new(),
        }
    }

    fn boot(&self) -> Result<&BootFiles, BuildError> {
        self.inputs.boot.ok_or_else(|| {
            BuildError::Other("internal error: boot loader files were not loaded".into())
        })
    }

    /// The isohybrid ISO of `iso-bios` and of every BIOS disk.
    fn hybrid(&self) -> Result<&linuxkit_formats::disk::SparseImage, BuildError> {
        if self.hybrid.get().is_none() {
            let d = bios::hybrid_disk(self.inputs.kit, self.boot()?, self.inputs.opts.mtime)?;
            let _ = self.hybrid.set(d);
        }
        self.hybrid
            .get()
            .ok_or_else(|| BuildError::Other("internal error: no BIOS image".into()))
    }

    /// The hybrid ISO as a file: copied if another format built it already,
    /// else written straight to the file.
    fn hybrid_file(&self, dest: &Path) -> Result<PendingFile, BuildError> {
        if let Some(h) = self.hybrid.get() {
            return disk::streamed(dest, |w| {
                for (_, bytes) in h.segments() {
                    w.write_all(bytes).map_err(|e| {
                        BuildError::io(format!("cannot write {}", dest.display()), e)
                    })?;
                }
                Ok(())
            });
        }
        let (kit, boot, mtime) = (self.inputs.kit, self.boot()?, self.inputs.opts.mtime);
        disk::streamed(dest, |w| bios::write_hybrid_iso(kit, boot, mtime, w))
    }

    /// The unified kernel image of every EFI format.
    fn uki(&self) -> Result<&linuxkit_formats::disk::SparseImage, BuildError> {
        if self.uki.get().is_none() {
            let uki = efi::uki(self.inputs.kit, self.boot()?)?;
            let _ = self.uki.set(uki);
        }
        self.uki
            .get()
            .ok_or_else(|| BuildError::Other("internal error: no UKI".into()))
    }

    /// The GPT disk with one ESP of `raw-efi` and `qcow2-efi`.
    fn efi_disk(&self) -> Result<&linuxkit_formats::disk::SparseImage, BuildError> {
        if self.efi_disk.get().is_none() {
            let d = efi::esp_disk_of(self.uki()?, self.inputs.opts.mtime)?;
            let _ = self.efi_disk.set(d);
        }
        self.efi_disk
            .get()
            .ok_or_else(|| BuildError::Other("internal error: no EFI disk".into()))
    }

    fn dest(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", self.name))
    }

    /// Write one format; returns its files, not yet committed.
    pub fn write(&self, format: Format) -> Result<Vec<PendingFile>, BuildError> {
        let opts = self.inputs.opts;
        let kit = self.inputs.kit;
        let one = |f: PendingFile| Ok(vec![f]);
        // The format's own image.
        let main = self.dest(format.suffix());
        let name = format.name();
        match format {
            Format::IsoBios => one(self.hybrid_file(&main)?),
            Format::RawBios => one(self.hybrid_file(&main)?),
            Format::Qcow2Bios => {
                let src = disk::padded(name, self.hybrid()?, opts.size.bytes(), "--size")?;
                one(disk::qcow2(&main, &src)?)
            }
            Format::Aws => {
                let src = disk::padded(name, self.hybrid()?, opts.size.bytes(), "--size")?;
                one(disk::raw_sparse(&main, &src)?)
            }
            Format::Vhd => {
                let src = disk::padded(name, self.hybrid()?, GIB, "the fixed VHD size")?;
                one(disk::vhd_fixed(&main, &src, opts.mtime)?)
            }
            Format::Azure => {
                let src = disk::padded(name, self.hybrid()?, GIB, "the Azure VHD size")?;
                one(disk::vhd_azure(&main, &src, opts.mtime)?)
            }
            Format::DynamicVhd => {
                let src = disk::padded(name, self.hybrid()?, 25 * GIB, "the dynamic VHD size")?;
                one(disk::vhd_dynamic(&main, &src, opts.mtime)?)
            }
            Format::Vmdk => {
                let src = disk::padded(name, self.hybrid()?, GIB, "the VMDK size")?;
                let file = format.main_file(&self.name);
                one(disk::vmdk(&main, &src, &file)?)
            }
            Format::Gcp => {
                let src = disk::padded(name, self.hybrid()?, GIB, "the GCE disk size")?;
                one(disk::gcp(&main, &src, opts.mtime)?)
            }
            Format::Uki => one(disk::raw_sparse(&main, self.uki()?)?),
            Format::RawEfi => one(disk::raw_sparse(&main, self.efi_disk()?)?),
            Format::Qcow2Efi => one(disk::qcow2(&main, self.efi_disk()?)?),
            Format::IsoEfi => {
                let uki = self.uki()?;
                one(disk::streamed(&main, |w| {
                    efi::write_efi_iso(uki, None, opts.mtime, w)
                })?)
            }
            Format::IsoEfiInitrd => {
                let uki = self.uki()?;
                one(disk::streamed(&main, |w| {
                    efi::write_efi_iso(uki, Some(kit), opts.mtime, w)
                })?)
            }
            Format::KernelSquashfs | Format::KernelErofs | Format::KernelIso => {
                let mut files = rootfs::kernel_files(kit, &self.dir, &self.name)?;
                match rootfs::root_initrd(
                    &self.dest("-root-initrd.img"),
                    self.inputs.rootfs,
                    opts.mtime,
                    opts.cache_dir.as_deref(),
                )? {
                    Ok(f) => files.push(f),
                    Err(why) => tracing::warn!(
                        "format {format}: no {}-root-initrd.img ({why}): the image boots only with a kernel that has its disk driver and file system built in",
                        self.name
                    ),
                }
                let image = match format {
                    Format::KernelSquashfs => {
                        rootfs::squashfs(&main, self.inputs.rootfs, opts.mtime)?
                    }
                    Format::KernelErofs => rootfs::erofs(&main, self.inputs.rootfs, opts.mtime)?,
                    _ => rootfs::iso(&main, self.inputs.rootfs, opts.mtime)?,
                };
                files.push(image);
                Ok(files)
            }
            Format::Tar
            | Format::Docker
            | Format::KernelInitrd
            | Format::TarKernelInitrd
            | Format::Rpi3 => Err(BuildError::Other(format!(
                "internal error: format {format} is not an image format"
            ))),
        }
    }
}

/// The root filesystem of `kernel+squashfs|erofs|iso`: every entry but
/// `boot/` and what is under it (upstream's "rootfs" input).
pub fn is_rootfs_entry(path: &str) -> bool {
    let p = path.trim_start_matches("./").trim_end_matches('/');
    !(p == "boot" || p.starts_with("boot/"))
}

#[cfg(test)]
mod tests;
