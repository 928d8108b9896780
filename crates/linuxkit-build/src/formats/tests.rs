use super::*;
use linuxkit_formats::Shared;
use linuxkit_formats::disk::DiskSource;

fn kit() -> Kit {
    Kit {
        kernel: vec![0x11u8; 1_200_000].into(),
        initrd: vec![0x22u8; 500_000].into(),
        cmdline: "console=ttyS0 quiet".into(),
    }
}

/// Stand-ins for the boot loader files (the writers only copy them).
fn boot() -> BootFiles {
    let mut isolinux = vec![0u8; 4096];
    isolinux[0] = 0xfa;
    let entries = vec![
        Entry::file("isolinux/isolinux.bin", 0o644, 0, isolinux),
        Entry::file("isolinux/isohdpfx.bin", 0o644, 0, vec![0x33u8; 432]),
        Entry::file("isolinux/ldlinux.c32", 0o644, 0, vec![0x44u8; 1000]),
    ];
    BootFiles::from_entries("test/bootloaders", &entries)
}

fn opts(size_mib: u64) -> FormatOptions {
    FormatOptions {
        size: crate::size::DiskSize::from_mib(size_mib).unwrap(),
        mtime: 1_492_533_000,
        cache_dir: None,
    }
}

fn read_all(mut f: PendingFile) -> Vec<u8> {
    use std::io::{Read, Seek};
    let file = f.file();
    file.rewind().unwrap();
    let mut v = Vec::new();
    file.read_to_end(&mut v).unwrap();
    v
}

#[test]
fn rootfs_drops_boot() {
    assert!(!is_rootfs_entry("boot"));
    assert!(!is_rootfs_entry("boot/"));
    assert!(!is_rootfs_entry("boot/kernel"));
    assert!(!is_rootfs_entry("./boot/cmdline"));
    assert!(is_rootfs_entry("bootstrap"));
    assert!(is_rootfs_entry("etc/boot"));
}

#[test]
fn format_classes() {
    assert!(Format::IsoBios.needs_boot_files() && Format::Uki.needs_boot_files());
    assert!(!Format::KernelSquashfs.needs_boot_files() && Format::KernelErofs.needs_rootfs());
}

/// Every image format writes its own image under the name `Format`
/// gives, and only files `Format` lists.
#[test]
fn files_are_the_ones_format_names() {
    let k = kit();
    let b = boot();
    let o = opts(1024);
    let t = tempfile::tempdir().unwrap();
    let rootfs = vec![Entry::file("etc/motd", 0o644, 0, b"hi\n".to_vec())];
    let w = Writer::new(
        Inputs {
            kit: &k,
            boot: Some(&b),
            rootfs: &rootfs,
            opts: &o,
        },
        t.path(),
        "n",
    );
    let mut checked = Vec::new();
    for f in Format::ALL {
        if !matches!(
            f.input(),
            crate::format::Input::Bootable | crate::format::Input::Rootfs
        ) {
            continue;
        }
        // The EFI formats need the systemd-boot stub these stand-ins lack.
        let Ok(files) = w.write(f) else { continue };
        checked.push(f);
        let names: Vec<String> = files
            .into_iter()
            .map(|p| {
                p.commit()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert!(names.contains(&f.main_file("n")), "{f}: {names:?}");
        let listed = f.files("n");
        assert!(names.iter().all(|n| listed.contains(n)), "{f}: {names:?}");
    }
    for f in [
        Format::IsoBios,
        Format::RawBios,
        Format::Vhd,
        Format::Vmdk,
        Format::Gcp,
        Format::KernelSquashfs,
        Format::KernelIso,
    ] {
        assert!(checked.contains(&f), "{f} not checked: {checked:?}");
    }
}

#[test]
fn isolinux_config_is_upstreams_with_the_initrd() {
    assert_eq!(
        bios::isolinux_cfg("console=ttyS0 \n"),
        "DEFAULT linux\nLABEL linux\n  KERNEL /boot/kernel\n  INITRD /boot/initrd.img\n  APPEND console=ttyS0\n"
    );
}

#[test]
fn missing_boot_file_names_the_image_and_the_file() {
    let e = BootFiles::default()
        .get("efi/linuxx64.efi.stub")
        .unwrap_err();
    assert!(e.to_string().contains("/efi/linuxx64.efi.stub"), "{e}");
}

#[test]
fn hybrid_disk_is_the_iso_and_shares_the_kit() {
    let k = kit();
    let iso = bios::hybrid_iso(&k, &boot(), 0).unwrap();
    let d = bios::hybrid_disk(&k, &boot(), 0).unwrap();
    let mut bytes = vec![0u8; d.len() as usize];
    d.read_at(0, &mut bytes).unwrap();
    assert!(
        bytes == iso,
        "the segmented ISO differs from the written one"
    );
    for (what, buf) in [("kernel", &k.kernel), ("initrd", &k.initrd)] {
        assert!(
            d.segments().iter().any(|(_, s)| Shared::ptr_eq(s, buf)),
            "the {what} was copied, not shared"
        );
    }
}

#[test]
fn hybrid_iso_carries_the_mbr_and_is_whole_mib() {
    let iso = bios::hybrid_iso(&kit(), &boot(), 0).unwrap();
    assert_eq!(iso.len() % (1 << 20), 0);
    assert_eq!(&iso[510..512], &[0x55, 0xaa]);
    assert_eq!(&iso[0x8001..0x8006], b"CD001");
    assert_eq!(iso, bios::hybrid_iso(&kit(), &boot(), 0).unwrap());
}

#[test]
fn esp_is_a_real_fat32_and_the_disk_a_gpt() {
    let uki: Shared = vec![0x55u8; 2_000_000].into();
    let fat = efi::esp_fat(uki.clone(), 0, 2048).unwrap();
    assert_eq!(fat.fat_type(), linuxkit_formats::fat::FatType::Fat32);
    assert!(fat.size() >= 34 << 20, "grown to hold 65525 clusters");
    let d = efi::esp_disk(uki.clone(), 0).unwrap();
    assert_eq!(d.len() % (1 << 20), 0);
    let mut sector = [0u8; 512];
    d.read_at(512, &mut sector).unwrap();
    assert_eq!(&sector[..8], b"EFI PART");
    d.read_at(1 << 20, &mut sector).unwrap();
    assert_eq!(&sector[82..90], b"FAT32   ");
    assert_eq!(d, efi::esp_disk(uki, 0).unwrap(), "deterministic");
}

#[test]
fn too_small_names_format_and_sizes() {
    let k = kit();
    let b = boot();
    let o = opts(1);
    let t = tempfile::tempdir().unwrap();
    let w = Writer::new(
        Inputs {
            kit: &k,
            boot: Some(&b),
            rootfs: &[],
            opts: &o,
        },
        t.path(),
        "x",
    );
    // the hybrid ISO is 2 MiB here
    let e = w.write(Format::Qcow2Bios).err().unwrap().to_string();
    assert!(
        e.contains("qcow2-bios") && e.contains("2 MiB") && e.contains("--size is 1 MiB"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    // a big enough size works and the file is not committed yet
    let o = opts(4);
    let w = Writer::new(
        Inputs {
            kit: &k,
            boot: Some(&b),
            rootfs: &[],
            opts: &o,
        },
        t.path(),
        "x",
    );
    let files = w.write(Format::Aws).unwrap();
    assert_eq!(files.len(), 1);
    let raw = read_all(files.into_iter().next().unwrap());
    assert_eq!(raw.len(), 4 << 20);
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
}

#[test]
fn rootfs_formats_write_kernel_cmdline_and_image() {
    let k = kit();
    let o = opts(1024);
    let t = tempfile::tempdir().unwrap();
    let rootfs = vec![
        Entry::dir("etc", 0o755, 0),
        Entry::file("etc/motd", 0o644, 0, b"hi\n".to_vec()),
    ];
    let w = Writer::new(
        Inputs {
            kit: &k,
            boot: None,
            rootfs: &rootfs,
            opts: &o,
        },
        t.path(),
        "r",
    );
    for f in [
        Format::KernelSquashfs,
        Format::KernelErofs,
        Format::KernelIso,
    ] {
        let files = w.write(f).unwrap();
        assert_eq!(files.len(), 3, "{f}");
        let paths: Vec<_> = files
            .into_iter()
            .map(|p| p.commit().unwrap().file_name().unwrap().to_owned())
            .collect();
        assert_eq!(paths[0], "r-kernel");
        assert_eq!(paths[1], "r-cmdline");
    }
    for n in ["r-squashfs.img", "r-erofs.img", "r.iso"] {
        assert!(t.path().join(n).exists(), "{n}");
    }
}
