//! Debian package support against the host's real apt and Debian's mirror:
//! resolution, the lock file, the verified store and native `.deb` reading.
//! No mocks: these tests need `apt-get`/`apt-cache` with package lists (they
//! run `apt-get update` once when the lists are missing) and the mirror.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use linuxkit_formats::Kind;
use linuxkit_pkg::debian::{self, DebianError, Lock};

const ARCH: &str = "amd64";

/// Make sure apt has package lists (runs `apt-get update` once if not).
fn apt_ready() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let has_candidate = |name: &str| {
            let out = Command::new("apt-cache")
                .args(["policy", name])
                .env("LC_ALL", "C")
                .output()
                .expect("these tests need apt-cache (a Debian machine with apt)");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("Candidate:") && !text.contains("Candidate: (none)")
        };
        if !has_candidate("busybox-static") {
            let status = Command::new("apt-get")
                .arg("update")
                .status()
                .expect("cannot run apt-get update");
            assert!(
                status.success() && has_candidate("busybox-static"),
                "apt has no package lists and `apt-get update` did not fix it: these tests need Debian's mirror"
            );
        }
    });
}

/// The candidate records of `names` as `apt-cache show` prints them, by
/// package name (one apt call).
fn apt_show_all(names: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions"])
        .args(names)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut all = BTreeMap::new();
    for para in text.split("\n\n") {
        let mut m = BTreeMap::new();
        for line in para.lines() {
            if let Some((k, v)) = line.split_once(": ")
                && !k.starts_with(' ')
            {
                m.insert(k.to_string(), v.trim().to_string());
            }
        }
        if let Some(name) = m.get("Package").cloned() {
            all.entry(name).or_insert(m);
        }
    }
    all
}

fn apt_show(name: &str) -> BTreeMap<String, String> {
    apt_show_all(&[name]).remove(name).unwrap_or_default()
}

fn names(lock: &Lock) -> Vec<&str> {
    lock.packages.iter().map(|p| p.name.as_str()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Each locked package is apt's candidate, with apt's sum, size and file.
fn check_against_apt(lock: &Lock) {
    let recs = apt_show_all(&names(lock));
    for p in &lock.packages {
        let rec = &recs[&p.name];
        assert_eq!(rec["Version"], p.version, "{}", p.name);
        assert_eq!(rec["SHA256"], p.sha256, "{}", p.name);
        assert_eq!(rec["Size"], p.size.to_string(), "{}", p.name);
        assert_eq!(rec["Filename"], p.filename, "{}", p.name);
        assert_eq!(rec["Architecture"], p.architecture, "{}", p.name);
    }
}

#[test]
fn resolve_package_without_dependencies() {
    apt_ready();
    let lock = debian::resolve(&strings(&["busybox-static"]), &[], ARCH).unwrap();
    assert_eq!(names(&lock), ["busybox-static"]);
    check_against_apt(&lock);
    assert!(
        lock.packages[0]
            .filename
            .starts_with("pool/main/b/busybox/")
    );
}

#[test]
fn resolve_with_dependencies_is_complete_and_stable() {
    apt_ready();
    let req = strings(&["openssh-server", "dhcpcd-base"]);
    let lock = debian::resolve(&req, &[], ARCH).unwrap();
    let n = names(&lock);
    for want in [
        "openssh-server",
        "openssh-client",
        "dhcpcd-base",
        "libc6",
        "libssl3",
        "zlib1g",
        "adduser",
        "libudev1",
        // `debconf | debconf-2.0`: the first alternative.
        "debconf",
    ] {
        assert!(n.contains(&want), "{want} missing from {n:?}");
    }
    // Recommends (xauth, ncurses-term) and Suggests are not followed, and
    // the Essential set is not added implicitly (bash is Essential and no
    // dependency of these packages).
    for not in ["xauth", "ncurses-term", "ssh-askpass", "bash", "cdebconf"] {
        assert!(!n.contains(&not), "{not} should not be in {n:?}");
    }
    // Sorted by name, each matching apt.
    let mut sorted = n.clone();
    sorted.sort();
    assert_eq!(n, sorted);
    check_against_apt(&lock);
    // Same inputs, same lock, same bytes.
    let again = debian::resolve(&req, &[], ARCH).unwrap();
    assert_eq!(lock, again);
    assert_eq!(lock.to_json(), again.to_json());
    // Request order does not matter here either.
    let reversed =
        debian::resolve(&strings(&["dhcpcd-base", "openssh-server"]), &[], ARCH).unwrap();
    assert_eq!(lock, reversed);
}

#[test]
fn exclude_skips_a_subtree_unless_needed_elsewhere() {
    apt_ready();
    let full = debian::resolve(&strings(&["dhcpcd-base"]), &[], ARCH).unwrap();
    assert!(names(&full).contains(&"adduser"));
    // adduser pulls in passwd (and its libraries); dhcpcd-base itself does not.
    assert!(names(&full).contains(&"passwd"), "{:?}", names(&full));
    let lock = debian::resolve(&strings(&["dhcpcd-base"]), &strings(&["adduser"]), ARCH).unwrap();
    let n = names(&lock);
    assert!(!n.contains(&"adduser") && !n.contains(&"passwd"), "{n:?}");
    // libc6 is needed by dhcpcd-base itself, so it stays.
    assert!(n.contains(&"libc6") && n.contains(&"dhcpcd-base"), "{n:?}");
}

#[test]
fn unknown_package_is_a_clear_error() {
    apt_ready();
    let err = debian::resolve(
        &strings(&["busybox-static", "no-such-package-xyzzy"]),
        &[],
        ARCH,
    )
    .unwrap_err();
    match &err {
        DebianError::UnknownPackage { name, hint } => {
            assert_eq!(name, "no-such-package-xyzzy");
            assert!(
                hint.contains("apt-cache search no-such-package-xyzzy"),
                "{hint}"
            );
        }
        other => panic!("expected UnknownPackage, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("no Debian package named no-such-package-xyzzy"),
        "{msg}"
    );
    assert!(msg.contains("apt-get update"), "{msg}");
}

#[test]
fn malformed_names_are_refused_before_asking_apt() {
    for bad in [
        "",
        "Busybox",
        "busybox=1.0",
        "libc6:amd64",
        "-y",
        "a/b",
        "x y",
    ] {
        match debian::resolve(&strings(&[bad]), &[], ARCH) {
            Err(DebianError::UnknownPackage { name, hint }) => {
                assert_eq!(name, bad);
                assert!(hint.contains("is not a Debian package name"), "{hint}");
            }
            other => panic!("{bad:?}: expected UnknownPackage, got {other:?}"),
        }
    }
}

#[test]
fn virtual_package_with_several_providers_asks_for_a_choice() {
    apt_ready();
    // `awk` is provided by mawk, gawk and original-awk.
    match debian::resolve(&strings(&["awk"]), &[], ARCH).unwrap_err() {
        DebianError::VirtualPackage { name, providers } => {
            assert_eq!(name, "awk");
            assert!(providers.contains(&"mawk".to_string()), "{providers:?}");
            // Priority required first.
            assert_eq!(providers[0], "mawk");
        }
        other => panic!("expected VirtualPackage, got {other:?}"),
    }
}

fn store_entries(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn fetch_downloads_verifies_and_reuses() {
    apt_ready();
    let lock = debian::resolve(&strings(&["dhcpcd-base"]), &[], ARCH).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("debs");
    let paths = debian::fetch(&lock, &store).unwrap();
    assert_eq!(paths.len(), lock.packages.len());
    for (p, path) in lock.packages.iter().zip(&paths) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes.len() as u64, p.size);
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            p.sha256
        );
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            debian::store_file_name(p)
        );
    }
    // Only the .deb files are left, no temporary directory.
    assert_eq!(store_entries(&store).len(), lock.packages.len());
    let mtimes: Vec<_> = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    // A second fetch finds them (no download: the files are untouched).
    let again = debian::fetch(&lock, &store).unwrap();
    assert_eq!(paths, again);
    let mtimes2: Vec<_> = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(mtimes, mtimes2);

    // Same lock → same entries.
    let a: Vec<_> = paths
        .iter()
        .flat_map(|p| debian::read_deb(p).unwrap().entries)
        .collect();
    let b: Vec<_> = again
        .iter()
        .flat_map(|p| debian::read_deb(p).unwrap().entries)
        .collect();
    assert_eq!(a, b);
    assert!(
        a.iter()
            .any(|e| e.path == "usr/sbin/dhcpcd" && e.kind == Kind::File)
    );
}

#[test]
fn corrupt_stored_file_is_a_sha_mismatch_and_is_removed() {
    apt_ready();
    let lock = debian::resolve(&strings(&["busybox-static"]), &[], ARCH).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("debs");
    let paths = debian::fetch(&lock, &store).unwrap();
    let path = &paths[0];
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
    let actual_sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let err = debian::fetch(&lock, &store).unwrap_err();
    let msg = err.to_string();
    match err {
        DebianError::ShaMismatch {
            name,
            version,
            expected,
            actual,
            path: p,
            ..
        } => {
            assert_eq!(name, "busybox-static");
            assert_eq!(version, lock.packages[0].version);
            assert_eq!(expected, lock.packages[0].sha256);
            assert_eq!(actual, actual_sum);
            assert_eq!(&p, path);
        }
        other => panic!("expected ShaMismatch, got {other:?}"),
    }
    assert!(
        msg.contains("busybox-static") && msg.contains(&actual_sum),
        "{msg}"
    );
    assert!(!path.exists(), "the bad file must be removed");
    // The next fetch downloads it again.
    debian::fetch(&lock, &store).unwrap();
    assert!(path.exists());
}

#[test]
fn wrong_sha_in_lock_leaves_the_store_unchanged() {
    apt_ready();
    let mut lock =
        debian::resolve(&strings(&["dhcpcd-base"]), &strings(&["adduser"]), ARCH).unwrap();
    let i = lock
        .packages
        .iter()
        .position(|p| p.name == "dhcpcd-base")
        .unwrap();
    lock.packages[i].sha256 = "0".repeat(64);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("debs");
    let err = debian::fetch(&lock, &store).unwrap_err();
    let msg = err.to_string();
    match err {
        DebianError::ShaMismatch {
            name,
            expected,
            actual,
            ..
        } => {
            assert_eq!(name, "dhcpcd-base");
            assert_eq!(expected, "0".repeat(64));
            assert_eq!(actual, apt_show("dhcpcd-base")["SHA256"]);
        }
        other => panic!("expected ShaMismatch, got {other:?}"),
    }
    assert!(msg.contains("re-resolve the lock file"), "{msg}");
    // Nothing was stored, not even the packages that did verify.
    assert_eq!(store_entries(&store), Vec::<String>::new());
}

#[test]
fn lock_file_round_trip_from_a_real_resolution() {
    apt_ready();
    let lock = debian::resolve(&strings(&["dhcpcd-base"]), &[], ARCH).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debian.lock");
    lock.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n") && text.contains("\n  \"packages\": [\n"));
    assert_eq!(Lock::read(&path).unwrap(), Some(lock.clone()));
    assert!(lock.missing(&strings(&["dhcpcd-base"])).is_empty());
}

#[test]
fn a_version_the_mirror_does_not_have_is_a_download_error() {
    apt_ready();
    let mut lock = debian::resolve(&strings(&["busybox-static"]), &[], ARCH).unwrap();
    lock.packages[0].version = "1:0.0.1-1".into();
    lock.packages[0].filename = "pool/main/b/busybox/busybox-static_0.0.1-1_amd64.deb".into();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("debs");
    let err = debian::fetch(&lock, &store).unwrap_err();
    match &err {
        DebianError::Download { name, version, .. } => {
            assert_eq!(name, "busybox-static");
            assert_eq!(version, "1:0.0.1-1");
        }
        other => panic!("expected Download, got {other:?}"),
    }
    assert!(
        err.to_string().contains("re-resolve the lock file"),
        "{err}"
    );
    assert_eq!(store_entries(&store), Vec::<String>::new());
}

/// A locked version that apt's lists no longer name (a security update
/// replaced it) is fetched from the archive's pool by the lock's file name,
/// checked against the lock's sha256.
#[test]
fn a_version_gone_from_the_lists_is_fetched_from_the_pool() {
    apt_ready();
    let mut lock = debian::resolve(&strings(&["busybox-static"]), &[], ARCH).unwrap();
    // apt cannot find this version; the pool file is the real one.
    lock.packages[0].version = "1:0.0.1-1".into();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("debs");
    let paths = debian::fetch(&lock, &store).unwrap();
    assert_eq!(paths.len(), 1);
    let data = std::fs::read(&paths[0]).unwrap();
    assert_eq!(data.len() as u64, lock.packages[0].size);
    // A wrong sha256 is refused by the pool fetch too.
    let mut bad = lock.clone();
    bad.packages[0].version = "1:0.0.2-1".into();
    bad.packages[0].sha256 = "0".repeat(64);
    let store2 = dir.path().join("debs2");
    assert!(debian::fetch(&bad, &store2).is_err());
    assert_eq!(store_entries(&store2), Vec::<String>::new());
}

#[test]
fn read_real_busybox_static() {
    apt_ready();
    let lock = debian::resolve(&strings(&["busybox-static"]), &[], ARCH).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = debian::fetch(&lock, &dir.path().join("debs")).unwrap();
    let deb = debian::read_deb(&paths[0]).unwrap();
    assert_eq!(deb.control["Package"], "busybox-static");
    assert_eq!(deb.control["Version"], lock.packages[0].version);
    let bb = deb
        .entries
        .iter()
        .find(|e| e.path == "bin/busybox")
        .expect("bin/busybox");
    assert_eq!(bb.kind, Kind::File);
    assert_eq!(bb.mode & 0o7777, 0o755);
    assert_eq!(bb.uid, 0);
    assert!(bb.data.starts_with(b"\x7fELF"));
    assert!(bb.mtime > 0, "mtime kept as stored");
    for e in &deb.entries {
        assert!(
            !e.path.is_empty()
                && !e.path.starts_with('.')
                && !e.path.starts_with('/')
                && !e.path.ends_with('/'),
            "{:?}",
            e.path
        );
    }
    // Directories come before their contents, as in data.tar.
    let usr = deb.entries.iter().position(|e| e.path == "usr").unwrap();
    let doc = deb
        .entries
        .iter()
        .position(|e| e.path.starts_with("usr/share/doc/"))
        .unwrap();
    assert!(usr < doc);
}

// ---- hand-made packages ----------------------------------------------------

fn tar_of(members: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mode) in members {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
        }
        h.set_mode(*mode);
        h.set_mtime(1_600_000_000);
        // Write the raw name: tar's `set_path` refuses `..`, and hostile
        // archives are what we want to test.
        let raw = &mut h.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn control_tar() -> Vec<u8> {
    gz(&tar_of(&[
        ("./", b"", 0o755),
        (
            "./control",
            b"Package: hand-made\nVersion: 1.0\nArchitecture: all\nDescription: test\n more\n",
            0o644,
        ),
        ("./postinst", b"#!/bin/sh\nadduser foo\n", 0o755),
    ]))
}

fn deb_with(data_name: &str, data: &[u8]) -> Vec<u8> {
    let control = control_tar();
    debian::write_ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        (data_name, data),
    ])
}

fn write_deb(dir: &Path, bytes: &[u8]) -> PathBuf {
    let p = dir.join("hand-made_1.0_all.deb");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn hand_made_deb_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let data = tar_of(&[
        ("./", b"", 0o755),
        ("./usr/", b"", 0o755),
        ("./usr/bin/", b"", 0o755),
        ("./usr/bin/hello", b"#!/bin/sh\necho hi\n", 0o755),
        ("./odd", b"x", 0o600),
    ]);
    let zst =
        ruzstd::encoding::compress_to_vec(&data[..], ruzstd::encoding::CompressionLevel::Fastest);
    let bz2 = {
        use std::io::Write;
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        e.write_all(&data).unwrap();
        e.finish().unwrap()
    };
    for (name, bytes) in [
        ("data.tar", data.clone()),
        ("data.tar.gz", gz(&data)),
        ("data.tar.zst", zst),
        ("data.tar.bz2", bz2),
    ] {
        let path = write_deb(dir.path(), &deb_with(name, &bytes));
        let deb = debian::read_deb(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(deb.control["Package"], "hand-made");
        assert_eq!(deb.control["Description"], "test\nmore");
        assert_eq!(deb.scripts, ["postinst"]);
        let paths: Vec<_> = deb.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["usr", "usr/bin", "usr/bin/hello", "odd"], "{name}");
        assert_eq!(deb.entries[2].mode, 0o755);
        assert_eq!(deb.entries[2].mtime, 1_600_000_000);
        assert_eq!(&*deb.entries[2].data, b"#!/bin/sh\necho hi\n");
        assert_eq!(deb.entries[3].mode, 0o600);
        assert_eq!(deb.entries[0].kind, Kind::Dir);
    }
}

#[test]
fn hostile_names_are_refused_naming_the_deb() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["./../evil", "../evil", "./usr/../../evil", "/etc/evil"] {
        let data = tar_of(&[("./", b"", 0o755), (bad, b"pwned", 0o644)]);
        let path = write_deb(dir.path(), &deb_with("data.tar.gz", &gz(&data)));
        let err = debian::read_deb(&path).unwrap_err();
        assert!(matches!(err, DebianError::Deb { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("hand-made 1.0"), "{msg}");
        assert!(msg.contains("hand-made_1.0_all.deb"), "{msg}");
        assert!(msg.contains("absolute") || msg.contains(".."), "{msg}");
    }
}

#[test]
fn malformed_debs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not an archive".to_vec(), "not a Debian package"),
        (
            debian::write_ar(&[("control.tar.gz", b"x")]),
            "first member is not `debian-binary`",
        ),
        (
            debian::write_ar(&[("debian-binary", b"3.0\n")]),
            "unsupported .deb format version",
        ),
        (
            debian::write_ar(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control_tar()),
            ]),
            "no data.tar member",
        ),
        (deb_with("data.tar.rar", b"x"), "unknown compression"),
        (
            deb_with("data.tar.gz", b"garbage"),
            "cannot read data.tar.gz",
        ),
    ];
    for (bytes, want) in cases {
        let path = write_deb(dir.path(), &bytes);
        let msg = debian::read_deb(&path).unwrap_err().to_string();
        assert!(msg.contains(want), "want {want:?} in {msg}");
        assert!(msg.contains("hand-made"), "{msg}");
    }
}
