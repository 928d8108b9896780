//! The image formats: `examples/minimal.yml` built in every bootable format
//! and booted with `linuxkit run qemu` (TCG, bounded) to the getty shell;
//! the outputs checked by tools we did not write (qemu-img, xorriso,
//! fsck.vfat, sfdisk, sgdisk, unsquashfs, fsck.erofs, objdump); every
//! format built twice byte-identical; and the errors (too small `--size`,
//! unwritable `--dir`, unknown format) clear, leaving no file behind.
//!
//! Several formats are built per `build` and the boots are grouped into a
//! few tests so that nextest runs two at a time within CI's budget.

mod common;

use common::*;
use linuxkit_test_support::tools::check;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Build `examples/minimal.yml` into `dir` as `name` in `formats`.
fn build(dir: &Path, name: &str, formats: &str, extra: &[&str]) -> Duration {
    let start = Instant::now();
    let mut args = vec!["--format", formats];
    args.extend(extra);
    build_system("examples/minimal.yml", dir, name, &args);
    start.elapsed()
}

/// Boot `file` with `run qemu --accel tcg [flags]` to the getty shell.
/// (TCG: KVM may exist and still not run guests, and an image carries no
/// kernel for `run qemu` to probe KVM with.)
fn boots(file: &Path, flags: &[&str]) -> Duration {
    let dir = file.parent().unwrap();
    let label = file.file_name().unwrap().to_string_lossy().to_string();
    let o = boot(dir, file)
        .state(dir.join(format!("{label}-state")))
        .flags(&["--accel", "tcg"])
        .flags(flags)
        .run(Some("(ns: getty)"), Duration::from_secs(240));
    o.assert_getty(&label);
    eprintln!("{label}: booted in {:.1} s", o.took.as_secs_f64());
    o.took
}

#[test]
fn bios_iso_and_disks_boot() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = t.path();
    let took = build(
        d,
        "m",
        "iso-bios,raw-bios,qcow2-bios,aws",
        &["--size", "256M"],
    );
    eprintln!("build iso-bios,raw-bios,qcow2-bios,aws: {took:?}");
    // the ISO as a CD, the same hybrid image as disks
    for f in ["m.iso", "m-bios.img", "m.qcow2", "m.raw"] {
        boots(&d.join(f), &[]);
    }
    assert_eq!(std::fs::metadata(d.join("m.raw")).unwrap().len(), 256 << 20);
    // Without --accel an image with no kernel file is probed with a tiny
    // firmware: where /dev/kvm exists but a Linux guest hangs (this CI
    // machine), it must fall back to TCG, say so once, and boot.
    let home = d.join("fresh-home");
    std::fs::create_dir_all(&home).unwrap();
    let o = boot(d, d.join("m.iso"))
        .state(d.join("auto-state"))
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("LINUXKIT_QEMU_ACCEL")
        .run(Some("(ns: getty)"), Duration::from_secs(240));
    assert!(
        o.found,
        "m.iso did not boot without --accel\nstderr: {}\nconsole: {}",
        o.stderr,
        tail(&o.stdout)
    );
    assert!(
        o.stderr.lines().filter(|l| l.contains("notice:")).count() <= 1,
        "{}",
        o.stderr
    );
    if Path::new("/dev/kvm").exists() {
        assert!(
            home.join(".cache/linuxkit/kvm-probe").exists(),
            "the verdict is cached"
        );
    }
}

/// `disk.raw` of a GCE image tarball, extracted with holes for the zeros.
fn extract_gcp(tarball: &Path, dest: &Path) {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(tarball).unwrap());
    let mut a = tar::Archive::new(gz);
    let mut entries = a.entries().unwrap();
    let mut e = entries.next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().to_str(), Some("disk.raw"));
    assert!(e.header().as_gnu().is_some(), "a GNU tar header");
    let size = e.header().size().unwrap();
    assert_eq!(size % (1 << 30), 0, "GCE wants whole GiB: {size}");
    let mut out = std::fs::File::create(dest).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = e.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|&b| b == 0) {
            out.seek(SeekFrom::Current(n as i64)).unwrap();
        } else {
            out.write_all(&buf[..n]).unwrap();
        }
    }
    out.set_len(size).unwrap();
    drop(e);
    assert!(entries.next().is_none(), "only disk.raw in the tarball");
}

#[test]
fn cloud_and_hypervisor_disks_boot() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = t.path();
    // vhd, dynamic-vhd and azure all write <name>.vhd: one name each
    for (name, formats) in [
        ("m", "vhd,vmdk,gcp"),
        ("dyn", "dynamic-vhd"),
        ("az", "azure"),
    ] {
        build(d, name, formats, &[]);
    }
    extract_gcp(&d.join("m.img.tar.gz"), &d.join("disk.raw"));
    for f in ["m.vhd", "dyn.vhd", "az.vhd", "m.vmdk", "disk.raw"] {
        boots(&d.join(f), &[]);
    }
}

#[test]
fn efi_formats_boot_with_uefi_firmware() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = t.path();
    build(d, "m", "iso-efi,iso-efi-initrd,raw-efi,qcow2-efi,uki", &[]);
    for f in ["m-efi.iso", "m-efi-initrd.iso", "m-efi.img", "m-efi.qcow2"] {
        boots(&d.join(f), &["--uefi"]);
    }
    // a UKI needs no flag: run qemu makes an ESP for it and uses OVMF
    boots(&d.join("m.efi"), &[]);
}

/// The root file system formats boot from their image (attached as
/// /dev/vda) through the small root initrd the build writes beside them:
/// the root is mounted from the disk, not unpacked into RAM.
#[test]
fn root_filesystem_formats_boot_from_their_image() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = t.path();
    for (name, formats) in [
        ("sq", "kernel+squashfs"),
        ("er", "kernel+erofs"),
        ("is", "kernel+iso"),
        ("full", "kernel+initrd"),
    ] {
        build(d, name, formats, &[]);
    }
    let small = std::fs::metadata(d.join("sq-root-initrd.img"))
        .unwrap()
        .len();
    let full = std::fs::metadata(d.join("full-initrd.img")).unwrap().len();
    assert!(
        small * 3 < full,
        "the root initrd ({small} bytes) holds /init and a few modules, not the system ({full} bytes)"
    );
    for (prefix, fstype) in [("sq", "squashfs"), ("er", "erofs"), ("is", "iso9660")] {
        let o = boot(d, prefix)
            .state(d.join(format!("{prefix}-state")))
            .flags(&["--accel", "tcg"])
            .run(Some("(ns: getty)"), Duration::from_secs(240));
        assert!(
            o.found,
            "{prefix} did not boot to the getty shell\nstderr: {}\nconsole: {}",
            o.stderr,
            tail(&o.stdout)
        );
        let want = format!("root /dev/vda ({fstype}) mounted");
        assert!(
            o.stdout.contains(&want),
            "{prefix}: no `{want}` in {}",
            tail(&o.stdout)
        );
        eprintln!("{prefix}: booted in {:.1} s", o.took.as_secs_f64());
    }
}

/// Assert `qemu-img compare` finds the raw image `raw` and `other` (in
/// qemu-img format `fmt`) identical.
fn identical(raw: &Path, fmt: &str, other: &Path) {
    let out = check(
        "qemu-img",
        &["compare", "-f", "raw", "-F", fmt, s(raw), s(other)],
    );
    assert!(
        out.contains("Images are identical"),
        "{} vs {}: {out}",
        raw.display(),
        other.display()
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Copy `len` bytes at `offset` of `src` into a new file `dest`.
fn extract(src: &Path, offset: u64, len: u64, dest: &Path) {
    let mut f = std::fs::File::open(src).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut out = std::fs::File::create(dest).unwrap();
    let n = std::io::copy(&mut f.take(len), &mut out).unwrap();
    assert_eq!(n, len, "{} is too short", src.display());
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()))
}

/// The El Torito EFI boot image of an ISO (the FAT image), by the catalog.
fn el_torito_fat(iso: &Path, dest: &Path) {
    let data = std::fs::read(iso).unwrap();
    let brvd = &data[17 * 2048..18 * 2048];
    assert_eq!(&brvd[7..30], b"EL TORITO SPECIFICATION");
    let cat = le32(brvd, 0x47) as usize * 2048;
    assert_eq!(data[cat + 1], 0xEF, "EFI validation entry");
    let lba = le32(&data, cat + 32 + 8);
    let bpb = &data[(lba * 2048) as usize..];
    let mut sectors = u64::from(u16::from_le_bytes([bpb[19], bpb[20]]));
    if sectors == 0 {
        sectors = le32(bpb, 32);
    }
    extract(iso, lba * 2048, sectors * 512, dest);
}

/// `qemu-img info --output=json` of `file`, parsed. Since QEMU 8 the
/// protocol node sits under `"children"` with a `"virtual-size"` of its own:
/// the image's values are the top-level ones.
fn qemu_img_info(fmt: &str, file: &str) -> serde_json::Value {
    let o = tool("qemu-img", &["info", "--output=json", "-f", fmt, file]);
    assert!(o.status.success(), "qemu-img info {file}: {o:?}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("qemu-img info {file}: {e}: {o:?}"))
}

/// The top-level integer `key` of qemu-img's JSON.
fn json_u64(json: &serde_json::Value, key: &str) -> u64 {
    json.get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("no integer {key} at the top level of {json}"))
}

/// Every format, in three builds (the names of vhd/dynamic-vhd/azure and
/// iso-bios/kernel+iso clash, as upstream's).
fn build_all(d: &Path) {
    build(
        d,
        "m",
        "iso-bios,iso-efi,iso-efi-initrd,raw-bios,raw-efi,qcow2-bios,qcow2-efi,vhd,vmdk,gcp,aws,uki,kernel+squashfs,kernel+erofs,kernel+initrd",
        &[],
    );
    build(d, "b", "dynamic-vhd,kernel+iso", &[]);
    build(d, "c", "azure", &[]);
}

#[test]
fn every_format_is_reproducible_and_passes_independent_checkers() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    build_all(&a);
    build_all(&b);
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    // 17 formats' files (vhd, dynamic-vhd and azure apart by name) and the
    // kernel+* formats' root initrds
    assert_eq!(names.len(), 24, "{names:?}");
    // The root initrd: /init, the initrd marker, the root file system's
    // modules (squashfs, erofs, isofs, virtio_blk) and their dependencies.
    let mut cpio = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(a.join("m-root-initrd.img")).unwrap())
        .read_to_end(&mut cpio)
        .unwrap();
    // newc: 110-byte header (namesize at 94, filesize at 54), name, data,
    // each padded to 4 bytes
    let mut members = Vec::new();
    let mut at = 0usize;
    let hex = |b: &[u8]| usize::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap();
    let pad = |n: usize| (n + 3) & !3;
    loop {
        assert_eq!(&cpio[at..at + 6], b"070701", "newc header at {at}");
        let (fsize, nsize) = (hex(&cpio[at + 54..at + 62]), hex(&cpio[at + 94..at + 102]));
        let name = String::from_utf8_lossy(&cpio[at + 110..at + 110 + nsize - 1]).to_string();
        if name == "TRAILER!!!" {
            break;
        }
        at = pad(at + 110 + nsize);
        at = pad(at + fsize);
        members.push(name);
    }
    for want in ["init", "etc/initrd-release", "dev/console"] {
        assert!(members.iter().any(|n| n == want), "{want} in {members:?}");
    }
    for want in [
        "/squashfs.ko",
        "/erofs.ko",
        "/isofs.ko",
        "/virtio_blk.ko",
        "/modules.order",
    ] {
        assert!(
            members.iter().any(|n| n.ends_with(want)),
            "{want} in {members:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("containers") || n.starts_with("usr")),
        "no system in the root initrd: {members:?}"
    );
    for n in &names {
        assert!(!n.ends_with(".tmp"), "no temporary file left: {n}");
        let (x, y) = (
            std::fs::read(a.join(n)).unwrap(),
            std::fs::read(b.join(n)).unwrap(),
        );
        assert!(x == y, "{n} differs between two builds");
    }
    let d = &a;
    let p = |n: &str| d.join(n);
    let x = t.path().join("x");
    std::fs::create_dir_all(&x).unwrap();

    // containers: valid, and the same disk as the raw image
    for f in ["m.qcow2", "m-efi.qcow2"] {
        let out = check("qemu-img", &["check", "-f", "qcow2", s(&p(f))]);
        assert!(out.contains("No errors were found"), "{f}: {out}");
    }
    let out = check("qemu-img", &["check", "-f", "vmdk", s(&p("m.vmdk"))]);
    assert!(out.contains("No errors were found"), "{out}");
    let info = qemu_img_info("vmdk", s(&p("m.vmdk")));
    assert_eq!(
        info["format-specific"]["data"]["create-type"], "streamOptimized",
        "{info}"
    );
    assert_eq!(json_u64(&info, "virtual-size"), 1 << 30);
    for (f, size) in [
        ("m.vhd", 1u64 << 30),
        ("b.vhd", 25 << 30),
        ("c.vhd", 1 << 30),
    ] {
        let info = qemu_img_info("vpc", s(&p(f)));
        assert_eq!(json_u64(&info, "virtual-size"), size, "{f}: {info}");
    }
    assert_eq!(std::fs::metadata(p("m.raw")).unwrap().len(), 1 << 30);
    extract_gcp(&p("m.img.tar.gz"), &x.join("disk.raw"));
    let raw = p("m.raw");
    for (f, fmt) in [
        ("m-bios.img", "raw"),
        ("m.qcow2", "qcow2"),
        ("m.vhd", "vpc"),
        ("b.vhd", "vpc"),
        ("c.vhd", "vpc"),
        ("m.vmdk", "vmdk"),
    ] {
        identical(&raw, fmt, &p(f));
    }
    identical(&raw, "raw", &x.join("disk.raw"));
    identical(&p("m-efi.img"), "qcow2", &p("m-efi.qcow2"));

    // ISOs: El Torito as each format promises
    let report = |f: &str| {
        check(
            "xorriso",
            &["-indev", s(&p(f)), "-report_el_torito", "plain"],
        )
    };
    let r = report("m.iso");
    assert!(r.contains("MBR isohybrid"), "{r}");
    assert!(r.contains("/isolinux/isolinux.bin"), "{r}");
    assert!(r.contains("boot-info-table"), "{r}");
    assert!(
        r.lines()
            .any(|l| l.starts_with("El Torito boot img") && l.contains("BIOS")),
        "{r}"
    );
    for f in ["m-efi.iso", "m-efi-initrd.iso"] {
        let r = report(f);
        assert!(
            r.lines()
                .any(|l| l.starts_with("El Torito boot img") && l.contains("UEFI")),
            "{f}: {r}"
        );
        assert!(!r.contains("BIOS"), "{f}: {r}");
        el_torito_fat(&p(f), &x.join("eltorito.img"));
        check("fsck.vfat", &["-n", s(&x.join("eltorito.img"))]);
        let dir = check("mdir", &["-i", s(&x.join("eltorito.img")), "::/EFI/BOOT"]);
        assert!(dir.contains("BOOTX64  EFI"), "{f}: {dir}");
    }
    let tree = check(
        "xorriso",
        &["-indev", s(&p("m-efi-initrd.iso")), "-ls", "/"],
    );
    for f in ["'cmdline'", "'initrd.img'", "'kernel'"] {
        assert!(tree.contains(f), "{tree}");
    }
    let r = report("b.iso");
    assert!(
        r.contains("No El Torito"),
        "kernel+iso has no boot loader: {r}"
    );
    let tree = check("xorriso", &["-indev", s(&p("b.iso")), "-ls", "/"]);
    assert!(
        tree.contains("'init'") && !tree.contains("'boot'"),
        "{tree}"
    );

    // partition tables and the ESP
    check("sfdisk", &["--verify", s(&p("m-bios.img"))]);
    let out = check("sfdisk", &["--verify", s(&p("m-efi.img"))]);
    assert!(out.contains("No errors detected"), "{out}");
    let out = check("sgdisk", &["-v", s(&p("m-efi.img"))]);
    assert!(out.contains("No problems found"), "{out}");
    let out = check("sgdisk", &["-i", "1", s(&p("m-efi.img"))]);
    assert!(
        out.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        "{out}"
    );
    assert!(out.contains("First sector: 2048 "), "{out}");
    let last: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("Last sector: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let esp = x.join("esp.img");
    extract(&p("m-efi.img"), 2048 * 512, (last + 1 - 2048) * 512, &esp);
    let out = check("fsck.vfat", &["-n", "-v", s(&esp)]);
    assert!(out.contains("32 bit entries"), "a FAT32 ESP: {out}");
    assert!(!out.contains("less than the required minimum"), "{out}");
    let dir = check("mdir", &["-i", s(&esp), "::/EFI/BOOT"]);
    assert!(dir.contains("BOOTX64  EFI"), "{dir}");

    // the UKI: the stub with the kit as sections
    let h = check("objdump", &["-h", s(&p("m.efi"))]);
    for sec in [".osrel", ".cmdline", ".initrd", ".linux"] {
        assert!(h.contains(sec), "{sec}: {h}");
    }
    let uki = std::fs::read(p("m.efi")).unwrap();
    let kernel = std::fs::read(p("m-kernel")).unwrap();
    assert!(
        uki.windows(4096).any(|w| *w == kernel[..4096]),
        "the kernel is in the UKI"
    );

    // root filesystem images: everything but boot/
    let list = check("unsquashfs", &["-l", s(&p("m-squashfs.img"))]);
    assert!(
        list.lines().any(|l| l == "squashfs-root/init"),
        "{}",
        tail(&list)
    );
    assert!(
        list.lines()
            .any(|l| l == "squashfs-root/containers/services/getty/config.json"),
        "{}",
        tail(&list)
    );
    assert!(!list.lines().any(|l| l.starts_with("squashfs-root/boot")));
    check("fsck.erofs", &[s(&p("m-erofs.img"))]);
    for f in ["m-kernel", "m-cmdline", "b-kernel", "b-cmdline"] {
        assert!(p(f).exists(), "{f}");
    }
}

/// Files in `dir` (none expected after a failed build).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn fails(args: &[&str], want: &[&str]) {
    let cache = shared_cache();
    let mut full = vec!["build", "--no-sbom", "--cache", s(&cache)];
    full.extend(args);
    full.push("examples/minimal.yml");
    let o = linuxkit(&repo_root(), &full, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} should fail");
    for w in want {
        assert!(err.contains(w), "{args:?}: want {w:?} in:\n{err}");
    }
}

#[test]
fn format_errors_are_clear_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("out");
    std::fs::create_dir_all(&d).unwrap();
    // --size too small: the format, what it needs and what was given
    fails(
        &[
            "--dir",
            s(&d),
            "--format",
            "raw-bios,qcow2-bios",
            "--size",
            "8M",
        ],
        &[
            "format qcow2-bios",
            "the image needs",
            "MiB but --size is 8 MiB",
            "nothing was written",
        ],
    );
    fails(
        &[
            "--dir",
            s(&d),
            "--format",
            "kernel+initrd,aws",
            "--size",
            "8M",
        ],
        &["format aws", "--size is 8 MiB"],
    );
    assert_eq!(listing(&d), Vec::<String>::new(), "no partial output");
    // an output directory that cannot be created or written
    let file = t.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    fails(
        &["--dir", s(&file.join("sub")), "--format", "raw-bios"],
        &["cannot create output directory", "a-file/sub"],
    );
    fails(
        &["--dir", "/proc/self", "--format", "iso-bios"],
        &["cannot write to output directory /proc/self"],
    );
    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        let ro = t.path().join("ro");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        fails(
            &["--dir", s(&ro), "--format", "iso-efi"],
            &["cannot write to output directory"],
        );
        assert_eq!(listing(&ro), Vec::<String>::new());
    }
    // unknown format: upstream's message
    fails(
        &["--dir", s(&d), "--format", "raw-bios,floppy"],
        &["error parsing formats: unknown format type floppy"],
    );
    // two formats writing the same file (upstream lets one replace the other)
    fails(
        &["--dir", s(&d), "--format", "vhd,raw-bios,azure"],
        &["formats vhd and azure write the same file <name>.vhd"],
    );
    // a boot loader image that does not exist
    fails(
        &[
            "--dir",
            s(&d),
            "--format",
            "uki",
            "--bootloaders",
            "@pkg:/nonexistent",
        ],
        &["cannot build the boot loader package /nonexistent"],
    );
    assert_eq!(listing(&d), Vec::<String>::new(), "no partial output");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
