//! Tests of the FAT writer against dosfstools (`fsck.vfat`) and mtools.

use super::*;
use crate::Shared;
use linuxkit_test_support::Run;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Deterministic pseudo-random bytes.
fn pattern(len: usize, seed: u64) -> Shared {
    Shared::from(linuxkit_test_support::noise(len, seed))
}

fn tree() -> FatBuilder {
    let mut b = FatBuilder::new();
    let files: Vec<(String, Shared)> = vec![
        ("EFI/BOOT/BOOTX64.EFI".into(), pattern(150_000, 1)),
        ("EFI/Linux/linuxkit.efi".into(), pattern(1_300_000, 2)),
        (
            "loader/loader.conf".into(),
            Shared::from(&b"timeout 0\n"[..]),
        ),
        ("empty.txt".into(), Shared::new()),
        ("A Long File Name With Spaces.txt".into(), pattern(5000, 3)),
        ("Mixed/CaseName.Cfg".into(), pattern(4096, 4)),
        ("deep/a/b/c/d/file.bin".into(), pattern(513, 5)),
        ("kernel".into(), pattern(2048, 6)),
        ("initrd.img".into(), pattern(70_001, 7)),
        ("ünïcode €.txt".into(), pattern(10, 8)),
    ];
    for (p, d) in files {
        b.add_file(&p, d).unwrap();
    }
    // a directory spanning several clusters
    for i in 0..60 {
        b.add_file(
            &format!("many/some rather long file name {i:03}.data"),
            pattern(i * 37, 100 + i as u64),
        )
        .unwrap();
    }
    b.add_dir("emptydir").unwrap();
    b.add_dir("EFI/BOOT").unwrap();
    b
}

/// Every file of the tree, with its data.
fn tree_files(b: &FatBuilder) -> Vec<(String, Shared)> {
    fn walk(m: &BTreeMap<String, Node>, prefix: &str, out: &mut Vec<(String, Shared)>) {
        for (k, n) in m {
            match n {
                Node::File { data, .. } => out.push((format!("{prefix}{k}"), data.to_shared())),
                Node::Dir(d) => walk(d, &format!("{prefix}{k}/"), out),
            }
        }
    }
    let mut out = Vec::new();
    walk(&b.root, "", &mut out);
    out
}

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    linuxkit_test_support::tools::run_text(Command::new(cmd).args(args))
}

fn write_img(img: &FatImage, path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(img.size()).unwrap();
    img.write_at(&mut f, 0).unwrap();
}

/// `fsck.vfat -n` passes with nothing but the summary (and, for small
/// FAT32, the cluster-count warning).
fn fsck_clean(path: &Path, few_clusters_ok: bool) {
    let (ok, out) = run("fsck.vfat", &["-n", path.to_str().unwrap()]);
    assert!(ok, "fsck.vfat failed:\n{out}");
    for line in out.lines() {
        let fine = line.starts_with("fsck.fat ")
            || line.contains(" files, ")
            || (few_clusters_ok
                && (line.contains("FAT32 according to fat_length")
                    || line.contains("but has only")
                    || line.contains("This may lead to problems")));
        assert!(fine, "unexpected fsck.vfat output {line:?} in:\n{out}");
    }
}

/// mtools sees exactly our tree and reads back every byte.
fn mtools_check(path: &Path, b: &FatBuilder, label: &str) {
    let img = path.to_str().unwrap();
    let (ok, out) = run("mdir", &["-/", "-b", "-i", img, "::"]);
    assert!(ok, "mdir failed:\n{out}");
    let listed: BTreeSet<String> = out
        .lines()
        .map(|l| {
            l.trim_start_matches("::/")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    let files = tree_files(b);
    for (p, _) in &files {
        assert!(listed.contains(p), "{p} missing from mdir:\n{out}");
    }
    assert!(listed.contains("emptydir"), "{out}");
    assert_eq!(
        listed
            .iter()
            .filter(|l| !l.contains('/') || l.starts_with("many/"))
            .count(),
        // top level: 11 names; many/: 60 files
        11 + 60,
        "{out}"
    );
    let (ok, out) = run("mdir", &["-i", img, "::"]);
    assert!(ok, "{out}");
    if label.is_empty() {
        assert!(out.contains("has no label"), "{out}");
    } else {
        assert!(
            out.contains(&format!("is {}", label.to_uppercase())),
            "{out}"
        );
    }
    for (p, data) in files
        .iter()
        .filter(|(p, _)| !p.starts_with("many/") || p.ends_with("059.data"))
    {
        let out = Command::new("mtype")
            .args(["-i", img, &format!("::/{p}")])
            .run_output();
        assert!(
            out.status.success(),
            "mtype {p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == **data, "mtype {p}: contents differ");
    }
}

fn extents_match(img: &FatImage, b: &FatBuilder) {
    let bytes = img.to_vec();
    for (p, data) in tree_files(b) {
        let (off, len) = img.file_extent(&p).unwrap();
        assert_eq!(len, data.len() as u64);
        if len > 0 {
            assert_eq!(off % img.cluster_size(), 0, "{p} not cluster aligned");
            assert!(bytes[off as usize..][..len as usize] == *data, "{p}");
        }
    }
    assert_eq!(
        img.file_extent("/EFI/BOOT/BOOTX64.EFI"),
        img.file_extent("EFI/BOOT/BOOTX64.EFI")
    );
    assert!(img.file_extent("nope").is_none());
}

fn check(opts: &FatOptions, want: FatType, few_clusters_ok: bool, mtools: bool) -> FatImage {
    let dir = tempfile::tempdir().unwrap();
    let b = tree();
    let img = b.build(opts).unwrap();
    assert_eq!(img.fat_type(), want);
    let path = dir.path().join("fat.img");
    write_img(&img, &path);
    fsck_clean(&path, few_clusters_ok);
    if mtools {
        mtools_check(&path, &b, &opts.label);
    }
    // deterministic, and the segment writer matches the sequential one
    let again = b.build(opts).unwrap();
    let v = again.to_vec();
    assert_eq!(v.len() as u64, img.size());
    assert!(std::fs::read(&path).unwrap() == v);
    img
}

#[test]
fn fat12_auto_size() {
    let opts = FatOptions {
        label: "small".into(),
        volume_id: 0x1234_abcd,
        ..FatOptions::default()
    };
    let img = check(&opts, FatType::Fat12, false, true);
    assert_eq!(img.size() % (1 << 20), 0);
    extents_match(&img, &tree());
}

#[test]
fn fat16_40mib() {
    let opts = FatOptions {
        label: "LINUXKIT".into(),
        size_bytes: Some(40 << 20),
        mtime: 1_700_000_001,
        ..FatOptions::default()
    };
    let img = check(&opts, FatType::Fat16, false, true);
    assert_eq!(img.size(), 40 << 20);
    extents_match(&img, &tree());
    let bs = img.boot_sector();
    assert_eq!(&bs[54..62], b"FAT16   ");
    assert_eq!(&bs[43..54], b"LINUXKIT   ");
}

#[test]
fn fat32_100mib() {
    let opts = FatOptions {
        fat_type: Some(FatType::Fat32),
        size_bytes: Some(100 << 20),
        ..FatOptions::default()
    };
    let img = check(&opts, FatType::Fat32, false, true);
    extents_match(&img, &tree());
    let bs = img.boot_sector();
    assert_eq!(&bs[82..90], b"FAT32   ");
    assert_eq!(&bs[71..82], b"NO NAME    ");
}

#[test]
fn fat32_esp_layout() {
    // upstream raw-efi's parameters; with >= 65525 clusters mtools reads it
    let opts = FatOptions {
        size_bytes: Some(300 << 20),
        label: "ESP".into(),
        hidden_sectors: 2048,
        ..FatOptions::esp()
    };
    let img = check(&opts, FatType::Fat32, false, true);
    let bs = img.boot_sector();
    assert_eq!((bs[13], u16::from_le_bytes([bs[14], bs[15]])), (8, 32));
    assert_eq!(u32::from_le_bytes(bs[28..32].try_into().unwrap()), 2048);
    extents_match(&img, &tree());
    // small ESP as upstream makes it: fewer clusters, fsck warns only
    let small = FatOptions {
        size_bytes: None,
        ..opts
    };
    let img = check(&small, FatType::Fat32, true, false);
    assert!(img.size() < 16 << 20);
}

#[test]
fn boot_code_and_patching() {
    let dir = tempfile::tempdir().unwrap();
    let b = tree();
    for opts in [
        FatOptions {
            size_bytes: Some(40 << 20),
            ..FatOptions::default()
        },
        FatOptions {
            size_bytes: Some(300 << 20),
            ..FatOptions::esp()
        },
    ] {
        let mut img = b.build(&opts).unwrap();
        let bpb: Vec<u8> = img.boot_sector()[3..62].to_vec();
        let template: Vec<u8> = (0..512).map(|i| (i % 251) as u8).collect();
        img.overlay_boot_code(&template).unwrap();
        let r = img.boot_code_range();
        assert_eq!(&img.boot_sector()[..3], &template[..3]);
        assert_eq!(&img.boot_sector()[r.clone()], &template[r.clone()]);
        assert_eq!(&img.boot_sector()[3..62], &bpb[..]);
        assert_eq!(&img.boot_sector()[510..], &[0x55, 0xAA]);
        let new = pattern(150_000, 99);
        img.replace_file_data("EFI/BOOT/BOOTX64.EFI", new.clone())
            .unwrap();
        assert!(matches!(
            img.replace_file_data("kernel", pattern(3, 1)),
            Err(FatError::SizeMismatch { .. })
        ));
        let path = dir.path().join("boot.img");
        write_img(&img, &path);
        // the FAT32 backup boot sector was patched too
        fsck_clean(&path, false);
        let out = Command::new("mtype")
            .args(["-i", path.to_str().unwrap(), "::/EFI/BOOT/BOOTX64.EFI"])
            .run_output();
        assert!(out.stdout == *new);
    }
    assert!(matches!(
        b.build(&FatOptions::default())
            .unwrap()
            .overlay_boot_code(&[0; 10]),
        Err(FatError::BadBootSector(10))
    ));
}

#[test]
fn fat_image_fn_and_entries() {
    let files: Vec<(String, Shared)> = vec![
        ("/boot/kernel".into(), pattern(100, 1)),
        ("boot/x/".into(), Shared::new()),
    ];
    let img = fat_image(&files, &FatOptions::default()).unwrap();
    let bad = [("d/".to_string(), pattern(1, 1))];
    assert!(fat_image(&bad, &FatOptions::default()).is_err());
    assert_eq!(img.file_extent("boot/kernel").unwrap().1, 100);
    let mut b = FatBuilder::new();
    b.add_entry(&Entry::file("a/b", 0o644, 0, b"hi".to_vec()))
        .unwrap();
    let mut h = Entry::file("c", 0o644, 0, Vec::new());
    h.kind = Kind::Hardlink;
    h.link = "a/b".into();
    b.add_entry(&h).unwrap();
    let img = b.build(&FatOptions::default()).unwrap();
    assert_eq!(img.file_extent("c").unwrap().1, 2);
    let mut s = Entry::file("l", 0o777, 0, Vec::new());
    s.kind = Kind::Symlink;
    assert!(matches!(b.add_entry(&s), Err(FatError::Unsupported { .. })));
}

#[test]
fn errors() {
    let mut b = FatBuilder::new();
    b.add_file("Dir/File.txt", pattern(10, 1)).unwrap();
    assert!(matches!(
        b.add_file("Dir/File.txt", pattern(1, 1)),
        Err(FatError::Duplicate(_))
    ));
    assert!(matches!(
        b.add_file("Dir", pattern(1, 1)),
        Err(FatError::NotADirectory(_))
    ));
    assert!(matches!(
        b.add_dir("Dir/File.txt/x"),
        Err(FatError::NotADirectory(_))
    ));
    assert!(matches!(
        b.add_file("a/../b", pattern(1, 1)),
        Err(FatError::InvalidPath { .. })
    ));
    assert!(matches!(
        b.add_file("a?b", pattern(1, 1)),
        Err(FatError::InvalidName { .. })
    ));
    assert!(matches!(
        b.add_file("", pattern(1, 1)),
        Err(FatError::InvalidPath { .. })
    ));
    b.add_file("dir/file.TXT", pattern(1, 1)).unwrap();
    assert!(matches!(
        b.build(&FatOptions::default()),
        Err(FatError::Duplicate(_))
    ));
    let mut b = FatBuilder::new();
    b.add_file("big", pattern(3 << 20, 1)).unwrap();
    let small = FatOptions {
        size_bytes: Some(2 << 20),
        ..FatOptions::default()
    };
    assert!(matches!(b.build(&small), Err(FatError::TooSmall { .. })));
    let bad = FatOptions {
        label: "way too long label".into(),
        ..FatOptions::default()
    };
    assert!(matches!(b.build(&bad), Err(FatError::InvalidLabel(_))));
    let bad = FatOptions {
        fat_type: Some(FatType::Fat16),
        size_bytes: Some(1 << 20),
        ..FatOptions::default()
    };
    assert!(matches!(b.build(&bad), Err(FatError::Geometry(_))));
}
