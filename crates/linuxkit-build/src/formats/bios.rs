//! The BIOS image: an isohybrid ISO 9660 image booted by ISOLINUX, used
//! as is for `iso-bios` and, through its hybrid MBR, as the disk of
//! `raw-bios` and of every BIOS disk container.
//!
//! Upstream boots its BIOS disks with SYSLINUX or EXTLINUX installed in a
//! FAT or ext4 partition. Installing SYSLINUX needs its installer (it
//! patches `ldlinux.sys` with its own sector list and writes a boot
//! sector), which Debian ships only as a program, not as files. ISOLINUX
//! needs nothing of the kind: `isolinux.bin` is the El Torito boot image
//! (with a boot-info table), and `isohdpfx.bin`, as the MBR, loads it from
//! a disk too. The kernel and the initrd sit in the ISO's `boot/`, the
//! root filesystem is the initrd (upstream's `iso-bios` puts the root
//! filesystem on the ISO itself instead).

use super::{BootFiles, Kit};
use crate::error::BuildError;
use linuxkit_formats::Entry;
use linuxkit_formats::disk::{SegmentRecorder, SparseImage};
use linuxkit_formats::iso9660::{BiosBoot, IsoOptions, write_iso};

/// ISOLINUX's configuration: upstream's `DEFAULT linux` entry, with the
/// initrd.
pub fn isolinux_cfg(cmdline: &str) -> String {
    format!(
        "DEFAULT linux\nLABEL linux\n  KERNEL /boot/kernel\n  INITRD /boot/initrd.img\n  APPEND {}\n",
        cmdline.trim()
    )
}

/// The isohybrid ISO: `isolinux/{isolinux.bin,ldlinux.c32,isolinux.cfg}`,
/// `isolinux/boot.cat`, `boot/kernel`, `boot/initrd.img`; the MBR from
/// `isohdpfx.bin`; volume `LinuxKit`; padded to a whole MiB.
pub fn hybrid_iso(kit: &Kit, boot: &BootFiles, mtime: i64) -> Result<Vec<u8>, BuildError> {
    let mut out = Vec::with_capacity(kit.kernel.len() + kit.initrd.len() + (4 << 20));
    write_hybrid_iso(kit, boot, mtime, &mut out)?;
    Ok(out)
}

/// [`hybrid_iso`] as a disk whose kernel and initrd segments share the
/// kit's buffers (no 50 MB copy for the disk formats built from it).
pub fn hybrid_disk(kit: &Kit, boot: &BootFiles, mtime: i64) -> Result<SparseImage, BuildError> {
    let mut rec = SegmentRecorder::new(vec![kit.kernel.clone(), kit.initrd.clone()]);
    write_hybrid_iso(kit, boot, mtime, &mut rec)?;
    Ok(rec.finish())
}

/// [`hybrid_iso`] written straight to `out` (an output file: no copy of
/// the image in memory).
pub fn write_hybrid_iso(
    kit: &Kit,
    boot: &BootFiles,
    mtime: i64,
    out: &mut dyn std::io::Write,
) -> Result<(), BuildError> {
    let entries = vec![
        Entry::dir("boot", 0o755, mtime),
        Entry::file("boot/kernel", 0o644, mtime, kit.kernel.clone()),
        Entry::file("boot/initrd.img", 0o644, mtime, kit.initrd.clone()),
        Entry::dir("isolinux", 0o755, mtime),
        Entry::file(
            "isolinux/isolinux.bin",
            0o644,
            mtime,
            boot.get("isolinux/isolinux.bin")?,
        ),
        Entry::file(
            "isolinux/ldlinux.c32",
            0o644,
            mtime,
            boot.get("isolinux/ldlinux.c32")?,
        ),
        Entry::file(
            "isolinux/isolinux.cfg",
            0o644,
            mtime,
            isolinux_cfg(&kit.cmdline).into_bytes(),
        ),
    ];
    let mut opts = IsoOptions::new("LinuxKit", mtime);
    opts.bios_boot = Some(BiosBoot {
        image_path: "isolinux/isolinux.bin".into(),
        catalog_path: "isolinux/boot.cat".into(),
        load_size: 4,
        boot_info_table: true,
    });
    opts.hybrid_mbr = Some(boot.get("isolinux/isohdpfx.bin")?.to_vec());
    write_iso(&entries, &opts, out)
        .map_err(|e| BuildError::Other(format!("cannot write the BIOS ISO image: {e}")))?;
    Ok(())
}
