//! The two formats made of the kit as it is: `kernel+initrd`
//! (`<name>-kernel`, `<name>-initrd.img` = microcode ++ gzip(cpio),
//! `<name>-cmdline`) and `tar-kernel-initrd` (`<name>-initrd.tar`, a tar
//! of `kernel`, `initrd.img`, `cmdline` and `ucode.cpio`). Files are
//! returned uncommitted ([`PendingFile`]).

use crate::error::BuildError;
use crate::format::Format;
use crate::pending::{PendingFile, write_pending};
use linuxkit_formats::tar::TarWriter;
use linuxkit_formats::{Entry, Kind, Shared};
use std::path::Path;

/// The kernel, initrd (without microcode), command line and microcode.
pub struct KitParts<'a> {
    /// `boot/kernel` (empty: the configuration has no kernel).
    pub kernel: &'a Shared,
    /// gzip(cpio), without the microcode.
    pub initrd_gz: &'a Shared,
    /// `boot/cmdline`.
    pub cmdline: &'a [u8],
    /// `boot/ucode.cpio` (may be empty).
    pub ucode: &'a [u8],
}

/// The files of `kernel+initrd`: the kernel and command line only when
/// not empty, the initrd always.
pub fn kernel_initrd(
    dir: &Path,
    name: &str,
    kit: &KitParts<'_>,
) -> Result<Vec<PendingFile>, BuildError> {
    let files = Format::KernelInitrd.files(name);
    let [initrd_name, kernel_name, cmdline_name] = &files[..] else {
        return Err(BuildError::Other(
            "internal error: kernel+initrd has three files".into(),
        ));
    };
    let mut out = Vec::new();
    if !kit.kernel.is_empty() {
        out.push(write_pending(&dir.join(kernel_name), kit.kernel)?);
    }
    let mut initrd = write_pending(&dir.join(initrd_name), kit.ucode)?;
    std::io::Write::write_all(initrd.file(), kit.initrd_gz)
        .map_err(|e| BuildError::io(format!("cannot write {initrd_name}"), e))?;
    out.push(initrd);
    if !kit.cmdline.is_empty() {
        out.push(write_pending(&dir.join(cmdline_name), kit.cmdline)?);
    }
    Ok(out)
}

/// The file of `tar-kernel-initrd`.
pub fn tar_kernel_initrd(
    dir: &Path,
    name: &str,
    kit: &KitParts<'_>,
    mtime: i64,
) -> Result<PendingFile, BuildError> {
    let tar = kernel_initrd_tar(kit.kernel, kit.initrd_gz, kit.cmdline, kit.ucode, mtime)?;
    write_pending(&dir.join(Format::TarKernelInitrd.main_file(name)), &tar)
}

/// The `tar-kernel-initrd` archive: `kernel`, `initrd.img`, `cmdline`,
/// `ucode.cpio`, each only if non-empty.
pub fn kernel_initrd_tar(
    kernel: &Shared,
    initrd_gz: &Shared,
    cmdline: &[u8],
    ucode: &[u8],
    mtime: i64,
) -> Result<Vec<u8>, BuildError> {
    let mut w = TarWriter::without_provenance(Vec::new());
    for (name, data) in [
        ("kernel", kernel.clone()),
        ("initrd.img", initrd_gz.clone()),
        ("cmdline", Shared::from(cmdline)),
        ("ucode.cpio", Shared::from(ucode)),
    ] {
        if !data.is_empty() {
            let mut e = Entry::file(name, 0o644, mtime, data);
            e.kind = Kind::File;
            w.write_entry(&e)
                .map_err(|x| BuildError::io("tar-kernel-initrd", x))?;
        }
    }
    w.finish()
        .map_err(|x| BuildError::io("tar-kernel-initrd", x))
}
