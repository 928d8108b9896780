//! Tests of the ISO writer, mostly against xorriso/osirrox, fdisk and
//! sfdisk as independent readers.

use super::*;
use crate::Shared;
use crate::entry::Kind;
use linuxkit_test_support::tools::check as run;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const T: i64 = 1_492_533_000;

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

fn special(path: &str, kind: Kind, mode: u32, dev: (u32, u32)) -> Entry {
    let mut e = Entry::dir(path, mode, T);
    e.kind = kind;
    (e.devmajor, e.devminor) = dev;
    e
}

fn hardlink(path: &str, target: &str) -> Entry {
    let mut e = Entry::file(path, 0o644, T, Vec::new());
    e.kind = Kind::Hardlink;
    e.link = target.into();
    e
}

fn long_name(n: usize) -> String {
    (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect()
}

/// A tree exercising every kind and the awkward sizes and names.
fn sample() -> Vec<Entry> {
    let mut v = vec![
        Entry::file(
            "./etc/passwd",
            0o644,
            T + 1,
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
        ),
        Entry::dir("etc/", 0o750, T + 2),
        Entry::file("empty", 0o600, T, Vec::new()),
        Entry::file("one", 0o644, T, b"1".to_vec()),
        Entry::file("sizes/s2048", 0o644, T, pattern(2048, 1)),
        Entry::file("sizes/s2049", 0o644, T, pattern(2049, 2)),
        Entry::file("boot/kernel", 0o755, T - 86_400, pattern(3_000_001, 3)),
        Entry::file("usr/bin/su", 0o4755, T, b"#!/bin/sh\n".to_vec()),
        Entry::symlink("bin/sh", "/usr/bin/busybox", 0o777, T),
        Entry::symlink("lib/rel", "../usr/./bin/su", 0o777, T),
        Entry::symlink(
            "lib/long",
            format!("/{}/{}", long_name(300), long_name(280)),
            0o777,
            T,
        ),
        Entry::file(
            format!("names/{}", long_name(255)),
            0o644,
            T,
            b"long".to_vec(),
        ),
        Entry::file("names/Mixed Case.tar.gz", 0o644, T, b"mc".to_vec()),
        Entry::file("names/mixed-case.tar.gz", 0o644, T, b"mc2".to_vec()),
        Entry::file("names/.hidden", 0o644, T, b"h".to_vec()),
        Entry::file("a/b/c/d/e/f/g/h/i/j/deep", 0o644, T, b"deep".to_vec()),
        hardlink("etc/passwd-", "etc/passwd"),
        special("dev/null", Kind::Char, 0o666, (1, 3)),
        special("dev/sda", Kind::Block, 0o660, (8, 0)),
        special("run/fifo", Kind::Fifo, 0o600, (0, 0)),
    ];
    let mut owned = Entry::file("home/user/file", 0o640, T, b"mine".to_vec());
    (owned.uid, owned.gid) = (1000, 1001);
    v.push(owned);
    // a directory spanning several sectors
    for i in 0..150 {
        v.push(Entry::file(
            format!("many/file-number-{i:04}.txt"),
            0o644,
            T,
            vec![i as u8],
        ));
    }
    v
}

fn bios() -> BiosBoot {
    BiosBoot {
        image_path: "isolinux/isolinux.bin".into(),
        catalog_path: "isolinux/boot.cat".into(),
        load_size: 4,
        boot_info_table: true,
    }
}

fn boot_opts(hybrid: bool, efi_hidden: bool) -> IsoOptions {
    let mut o = IsoOptions::new("LinuxKit", T);
    o.bios_boot = Some(bios());
    o.efi_boot = Some(EfiBoot {
        image: SparseImage::whole(Shared::from(pattern(1_474_560, 9))),
        path: (!efi_hidden).then(|| "boot.img".to_string()),
    });
    if hybrid {
        o.hybrid_mbr = Some(vec![0xEB; 432]);
    }
    o
}

fn boot_entries() -> Vec<Entry> {
    let mut v = sample();
    v.push(Entry::file(
        "isolinux/isolinux.bin",
        0o644,
        T,
        pattern(24_576, 7),
    ));
    v
}

fn build(entries: &[Entry], opts: &IsoOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let n = write_iso(entries, opts, &mut out).expect("write_iso");
    assert_eq!(n, out.len() as u64);
    assert_eq!(out.len() % SECTOR, 0);
    out
}

fn write_tmp(dir: &Path, img: &[u8]) -> String {
    let p = dir.join("img.iso");
    std::fs::write(&p, img).unwrap();
    p.to_str().unwrap().to_string()
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn osirrox_extracts_the_tree() {
    let entries = sample();
    let img = build(&entries, &IsoOptions::new("LinuxKit", T));
    let tmp = tempfile::tempdir().unwrap();
    let iso = write_tmp(tmp.path(), &img);
    let out = tmp.path().join("out");
    let outs = out.to_str().unwrap();
    run(
        "osirrox",
        &["-hardlinks", "on", "-indev", &iso, "-extract", "/", outs],
    );

    for e in &entries {
        let rel = crate::path::clean(&e.path);
        let p = out.join(&rel);
        match e.kind {
            Kind::File => {
                let md = std::fs::symlink_metadata(&p).unwrap_or_else(|_| panic!("{rel}"));
                assert_eq!(std::fs::read(&p).unwrap(), &e.data[..], "{rel}");
                assert_eq!(md.permissions().mode() & 0o7777, e.mode, "{rel}");
                assert_eq!(md.mtime(), e.mtime, "{rel}");
                if e.uid != 0 && is_root() {
                    assert_eq!((u64::from(md.uid()), u64::from(md.gid())), (e.uid, e.gid));
                }
            }
            Kind::Dir => {
                let md = std::fs::metadata(&p).unwrap();
                assert!(md.is_dir());
                assert_eq!(md.permissions().mode() & 0o7777, e.mode, "{rel}");
            }
            Kind::Symlink => {
                assert_eq!(std::fs::read_link(&p).unwrap().to_str().unwrap(), e.link);
            }
            Kind::Hardlink => {
                let a = std::fs::metadata(&p).unwrap();
                let b = std::fs::metadata(out.join(&e.link)).unwrap();
                assert_eq!(a.ino(), b.ino(), "hard link {rel} restored as a link");
                assert_eq!(a.nlink(), 2);
            }
            Kind::Char | Kind::Block | Kind::Fifo => {}
        }
    }
    // parents created for paths without their own entries
    let md = std::fs::metadata(out.join("a/b/c/d/e/f/g/h/i/j")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o755);
    // nothing extra
    let names: Vec<String> = std::fs::read_dir(out.join("names"))
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 4);
    assert_eq!(std::fs::read_dir(out.join("many")).unwrap().count(), 150);

    // special files as libisofs reads them (restoring them needs root)
    let ls = run(
        "xorriso",
        &[
            "-indev",
            &iso,
            "-lsdl",
            "/dev/null",
            "/dev/sda",
            "/run/fifo",
        ],
    );
    assert!(ls.contains("crw-rw-rw-") && ls.contains("1,3"), "{ls}");
    assert!(ls.contains("brw-rw----") && ls.contains("8,0"), "{ls}");
    assert!(ls.contains("prw-------"), "{ls}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn devices_restore_as_root() {
    if !is_root() {
        return;
    }
    let img = build(&sample(), &IsoOptions::new("x", T));
    let tmp = tempfile::tempdir().unwrap();
    let iso = write_tmp(tmp.path(), &img);
    let out = tmp.path().join("out");
    run(
        "osirrox",
        &[
            "-osirrox",
            "device_files",
            "-indev",
            &iso,
            "-extract",
            "/dev",
            out.to_str().unwrap(),
        ],
    );
    let null = std::fs::symlink_metadata(out.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), 0x103);
    let sda = std::fs::symlink_metadata(out.join("sda")).unwrap();
    assert!(sda.file_type().is_block_device());
    assert_eq!(sda.rdev(), 0x800);
}

#[test]
fn el_torito_bios_and_efi() {
    let entries = boot_entries();
    let opts = boot_opts(false, true);
    let img = build(&entries, &opts);
    let tmp = tempfile::tempdir().unwrap();
    let iso = write_tmp(tmp.path(), &img);
    let rep = run("xorriso", &["-indev", &iso, "-report_el_torito", "plain"]);

    // boot record -> catalog -> entries, read from the image
    assert_eq!(&img[17 * SECTOR + 1..17 * SECTOR + 6], b"CD001");
    let cat_lba = u32le(&img, 17 * SECTOR + 0x47) as usize;
    let cat = &img[cat_lba * SECTOR..cat_lba * SECTOR + 128];
    let bios_lba = u32le(cat, 40);
    let efi_lba = u32le(cat, 104);
    assert!(
        rep.contains(&format!("El Torito catalog  : {cat_lba}  1")),
        "{rep}"
    );
    assert!(
        rep.contains("El Torito cat path : /isolinux/boot.cat"),
        "{rep}"
    );
    let line = |n: &str| {
        rep.lines()
            .find(|l| l.starts_with(&format!("El Torito boot img :   {n}")))
            .unwrap_or_else(|| panic!("{rep}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let b = line("1");
    assert_eq!(
        b[6..],
        [
            "BIOS",
            "y",
            "none",
            "0x0000",
            "0x00",
            "4",
            &bios_lba.to_string()
        ]
    );
    let e = line("2");
    assert_eq!(
        e[6..],
        [
            "UEFI",
            "y",
            "none",
            "0x0000",
            "0x00",
            "2880",
            &efi_lba.to_string()
        ]
    );
    assert!(
        rep.contains("El Torito img path :   1  /isolinux/isolinux.bin"),
        "{rep}"
    );
    assert!(
        rep.contains("El Torito img opts :   1  boot-info-table"),
        "{rep}"
    );
    assert!(rep.contains("El Torito img blks :   2  720"), "{rep}");

    // the hidden EFI image is where the catalog says, and not in the tree
    let efi = opts.efi_boot.as_ref().unwrap().image.to_vec();
    let at = efi_lba as usize * SECTOR;
    assert_eq!(&img[at..at + efi.len()], &efi[..]);
    let ls = run("xorriso", &["-indev", &iso, "-ls", "/"]);
    assert!(!ls.contains("boot.img"), "{ls}");

    // boot-info table in the BIOS image's copy
    let orig = &entries.last().unwrap().data;
    let at = bios_lba as usize * SECTOR;
    let im = &img[at..at + orig.len()];
    assert_eq!(u32le(im, 8), 16);
    assert_eq!(u32le(im, 12), bios_lba);
    assert_eq!(u32le(im, 16), orig.len() as u32);
    let sum = orig[64..]
        .chunks(4)
        .fold(0u32, |a, w| a.wrapping_add(u32le(w, 0)));
    assert_eq!(u32le(im, 20), sum);
    assert!(im[24..64].iter().all(|&b| b == 0));
    assert_eq!(&im[..8], &orig[..8]);
    assert_eq!(&im[64..], &orig[64..]);
}

#[test]
fn el_torito_efi_only_and_visible_image() {
    let mut opts = boot_opts(false, false);
    opts.bios_boot = None;
    let img = build(&sample(), &opts);
    let tmp = tempfile::tempdir().unwrap();
    let iso = write_tmp(tmp.path(), &img);
    let rep = run("xorriso", &["-indev", &iso, "-report_el_torito", "plain"]);
    assert!(
        rep.contains("El Torito boot img :   1  UEFI  y   none"),
        "{rep}"
    );
    assert!(!rep.contains("BIOS"), "{rep}");
    let out = tmp.path().join("out");
    run(
        "osirrox",
        &[
            "-boot_image",
            "any",
            "keep",
            "-indev",
            &iso,
            "-extract",
            "/boot.img",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        &opts.efi_boot.unwrap().image.to_vec()[..]
    );
}

#[test]
fn isohybrid_mbr() {
    let opts = boot_opts(true, true);
    let img = build(&boot_entries(), &opts);
    assert_eq!(img.len() % (1 << 20), 0, "padded to whole MiB");
    let tmp = tempfile::tempdir().unwrap();
    let iso = write_tmp(tmp.path(), &img);
    let cat = u32le(&img, 17 * SECTOR + 0x47) as usize * SECTOR;
    let (bios_lba, efi_lba) = (u32le(&img, cat + 40), u32le(&img, cat + 104));
    let sectors = img.len() / 512;

    assert!(img[..432].iter().all(|&b| b == 0xEB), "template kept");
    assert_eq!(u32le(&img, 432), bios_lba * 4);
    assert_eq!(u32le(&img, 436), 0);
    assert_eq!(&img[510..512], &[0x55, 0xAA]);

    let rep = run("xorriso", &["-indev", &iso, "-report_system_area", "plain"]);
    assert!(rep.contains("System area summary: MBR"), "{rep}");
    assert!(
        rep.contains(&format!("ISO image size/512 : {sectors}")),
        "{rep}"
    );
    let p1 = format!("MBR partition      :   1   0x80  0x00            0 {sectors:>12}");
    assert!(rep.contains(&p1), "{rep}");
    let efi_sectors = opts
        .efi_boot
        .as_ref()
        .unwrap()
        .image
        .to_vec()
        .len()
        .div_ceil(512);
    let p2 = format!(
        "MBR partition      :   2   0x00  0xef {:>12} {efi_sectors:>12}",
        efi_lba * 4
    );
    assert!(rep.contains(&p2), "{rep}");

    let fd = run("fdisk", &["-l", &iso]);
    assert!(fd.contains("Disklabel type: dos"), "{fd}");
    assert!(
        fd.contains(&format!(
            "img.iso1 *        0 {:>5} {sectors:>7}",
            sectors - 1
        )),
        "{fd}"
    );
    assert!(fd.contains("ef EFI (FAT-12/16/32)"), "{fd}");
    // partition 1 covers the whole image, as xorriso's does: the only
    // complaint sfdisk has is the overlap with the EFI partition
    let v = run("sfdisk", &["--verify", &iso]);
    assert!(
        v.contains("Partition 1: overlaps partition 2") && v.contains("1 error"),
        "{v}"
    );

    // BIOS only: a single 0x17 partition and nothing for sfdisk to report
    let mut opts = boot_opts(true, true);
    opts.efi_boot = None;
    let img = build(&boot_entries(), &opts);
    let iso = write_tmp(tmp.path(), &img);
    let rep = run("xorriso", &["-indev", &iso, "-report_system_area", "plain"]);
    let sectors = img.len() / 512;
    let p1 = format!("MBR partition      :   1   0x80  0x17            0 {sectors:>12}");
    assert!(rep.contains(&p1), "{rep}");
    assert!(!rep.contains("MBR partition      :   2"), "{rep}");
    let v = run("sfdisk", &["--verify", &iso]);
    assert!(v.contains("No errors detected"), "{v}");
    let fd = run("fdisk", &["-l", &iso]);
    assert!(fd.contains("17 Hidden HPFS/NTFS"), "{fd}");
}

#[test]
fn deterministic() {
    let opts = boot_opts(true, true);
    let a = build(&boot_entries(), &opts);
    let b = build(&boot_entries(), &opts);
    assert!(a == b, "same input, same bytes");
    let plain = IsoOptions::new("LinuxKit", T);
    assert!(build(&sample(), &plain) == build(&sample(), &plain));
    // the volume time is the one given
    assert_eq!(
        &a[16 * SECTOR + 813..16 * SECTOR + 829],
        b"2017041816300000"
    );
}

#[test]
fn rejects_bad_input() {
    let e = boot_entries();
    let mut o = IsoOptions::new("x", T);
    o.hybrid_mbr = Some(vec![0; 432]);
    assert!(matches!(
        write_iso(&e, &o, Vec::new()),
        Err(IsoError::HybridNeedsBios)
    ));
    o.bios_boot = Some(bios());
    o.hybrid_mbr = Some(vec![0; 100]);
    assert!(matches!(
        write_iso(&e, &o, Vec::new()),
        Err(IsoError::BadMbrTemplate(100))
    ));
    o.hybrid_mbr = None;
    o.bios_boot.as_mut().unwrap().image_path = "nope".into();
    assert!(matches!(
        write_iso(&e, &o, Vec::new()),
        Err(IsoError::BootImageMissing(_))
    ));
    o.bios_boot.as_mut().unwrap().image_path = "one".into();
    assert!(matches!(
        write_iso(&e, &o, Vec::new()),
        Err(IsoError::BootImageTooSmall(_))
    ));
    let bad = [Entry::file("../escape", 0o644, T, Vec::new())];
    let plain = IsoOptions::new("x", T);
    assert!(matches!(
        write_iso(&bad, &plain, Vec::new()),
        Err(IsoError::BadPath(_))
    ));
    let through = [
        Entry::file("f", 0o644, T, Vec::new()),
        Entry::file("f/g", 0o644, T, Vec::new()),
    ];
    assert!(matches!(
        write_iso(&through, &plain, Vec::new()),
        Err(IsoError::NotADirectory(_))
    ));
    let mut big_uid = Entry::file("u", 0o644, T, Vec::new());
    big_uid.uid = 1 << 40;
    assert!(matches!(
        write_iso(&[big_uid], &plain, Vec::new()),
        Err(IsoError::TooLarge { what: "uid", .. })
    ));
}

#[test]
fn empty_tree_is_a_valid_image() {
    let img = build(&[], &IsoOptions::new("EMPTY", T));
    let tmp = tempfile::tempdir().unwrap();
    let iso = write_tmp(tmp.path(), &img);
    let rep = run("xorriso", &["-indev", &iso, "-pvd_info"]);
    assert!(rep.contains("Volume Id    : EMPTY"), "{rep}");
}
