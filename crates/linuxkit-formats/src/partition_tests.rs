//! Tests of the partition tables against util-linux `sfdisk`, gdisk's
//! `sgdisk` and mtools.

use super::*;
use crate::Shared;
use crate::fat::{FatBuilder, FatOptions};
use linuxkit_test_support::Run;
use std::path::Path;
use std::process::Command;

const DISK: u64 = 200 << 20;

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    linuxkit_test_support::tools::run_text(Command::new(cmd).args(args))
}

fn sparse_disk(path: &Path, size: u64) -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.set_len(size).unwrap();
    f
}

#[test]
fn crc_guid_chs() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(
        GUID_ESP.0,
        [
            0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
            0xC9, 0x3B
        ]
    );
    let s = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
    assert_eq!(s.parse::<Guid>().unwrap(), GUID_ESP);
    assert_eq!(format!("{{{s}}}").parse::<Guid>().unwrap(), GUID_ESP);
    assert_eq!(GUID_ESP.to_string(), s.to_uppercase());
    assert_eq!(
        GUID_LINUX_FS.to_string(),
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
    );
    for bad in [
        "",
        "c12a7328f81f11d2ba4b00a0c93ec93b",
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93g",
        "+12a7328-f81f-11d2-ba4b-00a0c93ec93b",
    ] {
        assert!(bad.parse::<Guid>().is_err(), "{bad}");
    }
    let g = Guid::from_seed(b"disk");
    assert_eq!(g, Guid::from_seed(b"disk"));
    assert_ne!(g, Guid::from_seed(b"disk2"));
    let t = g.to_string();
    assert_eq!(&t[14..15], "4");
    assert!("89AB".contains(&t[19..20]));
    assert_eq!(chs(0), [0, 1, 0]);
    assert_eq!(chs(2048), [32, 33, 0]);
    assert_eq!(chs(409_599), [0x7E, 0x25, 0x19]);
    assert_eq!(chs(16_450_560), [0xFE, 0xFF, 0xFF]);
}

#[test]
fn mbr_disk_with_sfdisk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbr.img");
    let mut f = sparse_disk(&path, DISK);
    let place = place_aligned(DISK, &[None], false).unwrap();
    assert_eq!(place, vec![(2048, DISK / 512 - 1)]);
    let part = MbrPartition {
        bootable: true,
        part_type: MBR_LINUX,
        first_lba: place[0].0,
        sectors: place[0].1 - place[0].0 + 1,
    };
    let code = [0xFAu8; 440];
    let s = mbr(DISK, &[part], Some(&code), 0x1234_5678).unwrap();
    assert_eq!(s, mbr(DISK, &[part], Some(&code), 0x1234_5678).unwrap());
    assert_eq!(&s[..440], &code[..]);
    f.write_all(&s).unwrap();
    drop(f);
    let img = path.to_str().unwrap();
    let (ok, out) = run("sfdisk", &["--verify", img]);
    assert!(ok, "{out}");
    assert!(!out.to_lowercase().contains("warn"), "{out}");
    let (ok, out) = run("sfdisk", &["--json", img]);
    assert!(ok, "{out}");
    for want in [
        "\"label\": \"dos\"",
        "\"id\": \"0x12345678\"",
        "\"start\": 2048",
        "\"size\": 407552",
        "\"type\": \"83\"",
        "\"bootable\": true",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
    // byte-identical to the table sfdisk itself writes
    let theirs = dir.path().join("sfdisk.img");
    sparse_disk(&theirs, DISK);
    let mut child = Command::new("sfdisk")
        .args(["-q", theirs.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .run_spawn();
    let script = "label: dos\nlabel-id: 0x12345678\nstart=2048, type=83, bootable\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let theirs = std::fs::read(&theirs).unwrap();
    assert_eq!(&theirs[440..512], &s[440..]);
}

#[test]
fn gpt_disk_with_esp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpt.img");
    let mut f = sparse_disk(&path, DISK);
    let place = place_aligned(DISK, &[Some(64 << 20), None], true).unwrap();
    assert_eq!(place[0], (2048, 2048 + 131_072 - 1));
    assert_eq!(place[1], (133_120, DISK / 512 - 34));
    let disk_guid = Guid::from_seed(b"disk");
    let esp_guid = Guid::from_seed(b"esp");
    let root_guid = Guid::from_seed(b"root");
    let parts = [
        GptPartition {
            type_guid: GUID_ESP,
            part_guid: esp_guid,
            name: "EFI System".into(),
            first_lba: place[0].0,
            last_lba: place[0].1,
            attributes: GPT_ATTR_LEGACY_BIOS_BOOTABLE,
        },
        GptPartition {
            type_guid: GUID_LINUX_FS,
            part_guid: root_guid,
            name: "root ü".into(),
            first_lba: place[1].0,
            last_lba: place[1].1,
            attributes: 0,
        },
    ];
    let mut layout = gpt(DISK, &parts, disk_guid).unwrap();
    assert_eq!(layout, gpt(DISK, &parts, disk_guid).unwrap());
    layout.set_boot_code(&[0x90; 100]).unwrap();
    layout.write_at(&mut f).unwrap();
    // a FAT filesystem in the ESP
    let mut b = FatBuilder::new();
    b.add_file("EFI/BOOT/BOOTX64.EFI", Shared::from(vec![7u8; 70_000]))
        .unwrap();
    let fat = b
        .build(&FatOptions {
            size_bytes: Some(64 << 20),
            hidden_sectors: 2048,
            ..FatOptions::default()
        })
        .unwrap();
    fat.write_at(&mut f, 2048 * 512).unwrap();
    drop(f);
    let img = path.to_str().unwrap();
    let (ok, out) = run("sgdisk", &["-v", img]);
    assert!(ok && out.contains("No problems found"), "{out}");
    let (ok, out) = run("sfdisk", &["--json", img]);
    assert!(ok, "{out}");
    for want in [
        "\"label\": \"gpt\"".to_string(),
        format!("\"id\": \"{disk_guid}\""),
        "\"firstlba\": 34".into(),
        format!("\"lastlba\": {}", DISK / 512 - 34),
        "\"start\": 2048".into(),
        "\"size\": 131072".into(),
        format!("\"type\": \"{GUID_ESP}\""),
        format!("\"uuid\": \"{esp_guid}\""),
        "\"name\": \"EFI System\"".into(),
        "\"attrs\": \"LegacyBIOSBootable\"".into(),
        format!("\"type\": \"{GUID_LINUX_FS}\""),
        format!("\"uuid\": \"{root_guid}\""),
        "\"name\": \"root ü\"".into(),
    ] {
        assert!(out.contains(&want), "{want} not in {out}");
    }
    // byte-identical to the tables sgdisk writes for the same layout
    let theirs = dir.path().join("sgdisk.img");
    sparse_disk(&theirs, DISK);
    let (ok, out) = run(
        "sgdisk",
        &[
            &format!("-n1:{}:{}", place[0].0, place[0].1),
            "-t1:ef00",
            "-c1:EFI System",
            "-A1:set:2",
            &format!("-u1:{esp_guid}"),
            &format!("-n2:{}:{}", place[1].0, place[1].1),
            "-t2:8300",
            "-c2:root ü",
            &format!("-u2:{root_guid}"),
            &format!("-U{disk_guid}"),
            theirs.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let theirs = std::fs::read(&theirs).unwrap();
    let ours = std::fs::read(&path).unwrap();
    assert_eq!(&theirs[446..512], &ours[446..512], "protective MBR");
    assert!(theirs[512..34 * 512] == ours[512..34 * 512], "primary GPT");
    let tail = (DISK - 33 * 512) as usize;
    assert!(theirs[tail..] == ours[tail..], "backup GPT");
    let (ok, out) = run("mdir", &["-/", "-b", "-i", &format!("{img}@@1M"), "::"]);
    assert!(ok && out.contains("::/EFI/BOOT/BOOTX64.EFI"), "{out}");
}

#[test]
fn errors_and_sizes() {
    let p = |first, sectors| MbrPartition {
        bootable: false,
        part_type: MBR_LINUX,
        first_lba: first,
        sectors,
    };
    assert!(matches!(
        mbr(DISK, &[p(2048, 100), p(2100, 10)], None, 0),
        Err(PartitionError::Overlap(1, 2))
    ));
    assert!(matches!(
        mbr(DISK, &[p(2048, DISK / 512)], None, 0),
        Err(PartitionError::OutOfRange { index: 1, .. })
    ));
    assert!(matches!(
        mbr(DISK, &[p(2048, 0)], None, 0),
        Err(PartitionError::OutOfRange { .. })
    ));
    assert!(matches!(
        mbr(DISK, &[p(0, 10)], None, 0),
        Err(PartitionError::OutOfRange { .. })
    ));
    assert!(matches!(
        mbr(DISK, &[p(1, 1); 5], None, 0),
        Err(PartitionError::TooMany { .. })
    ));
    assert!(matches!(
        mbr(DISK, &[], Some(&[0; 441]), 0),
        Err(PartitionError::BootCode(441))
    ));
    assert!(matches!(
        mbr(1000, &[], None, 0),
        Err(PartitionError::DiskSize(1000))
    ));
    let g = |name: &str, first, last| GptPartition {
        type_guid: GUID_LINUX_FS,
        part_guid: Guid::NIL,
        name: name.into(),
        first_lba: first,
        last_lba: last,
        attributes: 0,
    };
    assert!(matches!(
        gpt(DISK, &[g("x", 33, 100)], Guid::NIL),
        Err(PartitionError::OutOfRange { .. })
    ));
    assert!(matches!(
        gpt(DISK, &[g("x", 2048, DISK / 512 - 33)], Guid::NIL),
        Err(PartitionError::OutOfRange { .. })
    ));
    assert!(matches!(
        gpt(DISK, &[g(&"n".repeat(37), 2048, 4095)], Guid::NIL),
        Err(PartitionError::NameTooLong(_))
    ));
    let mut nil = g("x", 2048, 4095);
    nil.type_guid = Guid::NIL;
    assert!(matches!(
        gpt(DISK, &[nil], Guid::NIL),
        Err(PartitionError::NilType(1))
    ));
    assert!(matches!(
        gpt(60 * 512, &[], Guid::NIL),
        Err(PartitionError::DiskSize(_))
    ));
    assert!(matches!(
        place_aligned(DISK, &[None, Some(1)], true),
        Err(PartitionError::FillNotLast)
    ));
    assert!(place_aligned(DISK, &[Some(DISK)], false).is_err());
    // upstream raw-bios: partition of the ESP size, disk rounded to MiB
    assert_eq!(aligned_disk_size(&[10 << 20], false), 11 << 20);
    assert_eq!(aligned_disk_size(&[10 << 20], true), 12 << 20);
    assert_eq!(aligned_disk_size(&[1, 1 << 20], true), 4 << 20);
    assert_eq!(aligned_disk_size(&[u64::MAX], true), u64::MAX);
    assert!(place_aligned(DISK, &[Some(u64::MAX)], false).is_err());
    assert!(mbr(DISK, &[p(2048, u64::MAX)], None, 0).is_err());
    let size = aligned_disk_size(&[10 << 20, 5 << 20], true);
    let pl = place_aligned(size, &[Some(10 << 20), Some(5 << 20)], true).unwrap();
    assert!(
        gpt(
            size,
            &[g("a", pl[0].0, pl[0].1), g("b", pl[1].0, pl[1].1)],
            Guid::NIL
        )
        .is_ok()
    );
}
