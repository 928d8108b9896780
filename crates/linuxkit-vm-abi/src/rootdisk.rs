//! The root initrd of `kernel+squashfs`, `kernel+erofs` and `kernel+iso`:
//! the build writes it (the image's `/init`, these modules, the marker) and
//! `/init` recognises it by the marker and loads the modules before it
//! looks for the root disk.

/// The marker of an initrd (as systemd's initrds have it). `/init` checks
/// for this file; the build also checks that the image's `/init` mentions
/// it (that it is linuxkit-rs's init, which can boot a root initrd).
pub const MARKER: &str = "/etc/initrd-release";

/// The modules the root initrd carries and loads (with their dependencies)
/// when the kernel has them as modules: the buses and disk drivers of
/// virtual machines, CD-ROMs, and the three root file system types plus
/// overlayfs.
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "ata_piix",
    "ahci",
    "nvme",
    "squashfs",
    "erofs",
    "isofs",
    "overlay",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_normalised() {
        for m in MODULES {
            assert_eq!(crate::kmod::normalize(m), *m);
        }
        assert!(MARKER.starts_with('/'));
    }
}
