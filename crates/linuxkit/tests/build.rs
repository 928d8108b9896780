//! End-to-end tests of `linuxkit build` through the binary: reproducibility
//! of every format, `SOURCE_DATE_EPOCH`, the kernel+initrd split, input from
//! stdin, `--dry-run`, flag checks and error messages.

mod common;

use common::*;
use std::io::Read;
use std::path::Path;

fn build(
    dir: &Path,
    cache: &Path,
    out: &str,
    format: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> String {
    let cache = cache.to_str().unwrap();
    let mut args = vec![
        "build", "--format", format, "--dir", out, "--name", "t", "--cache", cache,
    ];
    args.extend_from_slice(extra);
    args.push("cfg.yml");
    ok(&linuxkit(dir, &args, env))
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_format_is_reproducible_cold_and_warm() {
    for format in ["tar", "docker", "kernel+initrd", "tar-kernel-initrd"] {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
        // First build on a fresh cache, second on the same (warm) cache,
        // third on another fresh copy: all byte-identical.
        let c1 = fresh_cache(&t.path().join("c1"));
        let c2 = fresh_cache(&t.path().join("c2"));
        build(t.path(), &c1, "a", format, &[], &[]);
        build(t.path(), &c1, "b", format, &[], &[]);
        build(t.path(), &c2, "c", format, &[], &[]);
        let a = files(&t.path().join("a"));
        assert!(!a.is_empty(), "{format}: no output");
        assert_eq!(
            a,
            files(&t.path().join("b")),
            "{format}: warm rebuild differs"
        );
        assert_eq!(
            a,
            files(&t.path().join("c")),
            "{format}: build on another cache differs"
        );
    }
}

/// A build of only root-file-system formats skips the initrd (it collects
/// the kernel, command line and microcode only) and gives the same files as
/// a build that makes the initrd too, cold and warm.
#[test]
fn root_filesystem_formats_alone_give_the_same_files_without_an_initrd() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let alone = fresh_cache(&t.path().join("c1"));
    let both = fresh_cache(&t.path().join("c2"));
    build(t.path(), &alone, "a", "kernel+erofs", &[], &[]);
    build(t.path(), &both, "b", "kernel+erofs,kernel+initrd", &[], &[]);
    build(t.path(), &alone, "c", "kernel+erofs", &[], &[]);
    build(t.path(), &both, "d", "kernel+erofs", &[], &[]);
    let a = files(&t.path().join("a"));
    assert!(
        a.iter().any(|(n, _)| n == "t-erofs.img"),
        "{:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(a.iter().all(|(n, _)| n != "t-initrd.img"));
    let b: Vec<_> = files(&t.path().join("b"))
        .into_iter()
        .filter(|(n, _)| n != "t-initrd.img")
        .collect();
    assert_eq!(a, b, "alone and with kernel+initrd");
    assert_eq!(a, files(&t.path().join("c")), "warm, alone");
    assert_eq!(
        a,
        files(&t.path().join("d")),
        "warm, on the cache with initrd segments"
    );
    let segments = alone.join("linuxkit-rs/initrd");
    let stored = std::fs::read_dir(&segments).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "no initrd segment made by builds that need none");
}

/// The whole initrd is cached beside its segments and mapped by warm
/// builds; without it (an older cache) or with a damaged copy, the build
/// assembles the segments again, stores a good copy and gives the same bytes.
#[test]
fn the_cached_whole_initrd_is_rebuilt_when_missing_or_damaged() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let c = fresh_cache(&t.path().join("c"));
    let whole_dir = c.join("linuxkit-rs/initrd/whole");
    let whole_files = || -> Vec<std::path::PathBuf> {
        let mut v = Vec::new();
        for d in std::fs::read_dir(&whole_dir).into_iter().flatten() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                v.push(f.unwrap().path());
            }
        }
        v
    };
    build(t.path(), &c, "a", "kernel+initrd", &[], &[]);
    let a = files(&t.path().join("a"));
    let initrd = &a.iter().find(|(n, _)| n == "t-initrd.img").unwrap().1;
    let stored = whole_files();
    assert_eq!(stored.len(), 1, "one whole initrd stored: {stored:?}");
    assert!(
        initrd.ends_with(&std::fs::read(&stored[0]).unwrap()),
        "the stored copy is the initrd (after the microcode)"
    );
    std::fs::remove_dir_all(&whole_dir).unwrap();
    build(t.path(), &c, "b", "kernel+initrd", &[], &[]);
    assert_eq!(a, files(&t.path().join("b")), "rebuilt without the copy");
    let stored = whole_files();
    assert_eq!(stored.len(), 1, "stored again");
    let good = std::fs::read(&stored[0]).unwrap();
    std::fs::write(&stored[0], &good[..good.len() / 2]).unwrap();
    build(t.path(), &c, "d", "kernel+initrd", &[], &[]);
    assert_eq!(a, files(&t.path().join("d")), "a damaged copy is not used");
    assert_eq!(std::fs::read(&stored[0]).unwrap(), good, "and is replaced");
}

#[test]
fn sbom_is_deterministic_and_source_date_epoch_is_honoured() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let c = fresh_cache(t.path());
    let sde = [("SOURCE_DATE_EPOCH", "1700000000")];
    build(t.path(), &c, "a", "tar", &[], &sde);
    build(t.path(), &c, "b", "tar", &[], &sde);
    build(t.path(), &c, "c", "tar", &[], &[]);
    let a = std::fs::read(t.path().join("a/t.tar")).unwrap();
    assert_eq!(a, std::fs::read(t.path().join("b/t.tar")).unwrap());
    let entries = read_tar(&a);
    let find = |p: &str| {
        entries
            .iter()
            .rev()
            .find(|e| e.0 == p)
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(find("boot/cmdline").1, 1_700_000_000);
    assert_eq!(
        find("containers/services/getty/config.json").1,
        1_700_000_000
    );
    let sbom: serde_json::Value = serde_json::from_slice(&find("sbom.spdx.json").3).unwrap();
    assert_eq!(
        sbom["creationInfo"]["created"], "2023-11-14T22:13:20Z",
        "{sbom}"
    );
    assert!(
        sbom["documentNamespace"]
            .as_str()
            .is_some_and(|n| n.starts_with("https://github.com/linuxkit/linuxkit/sbom-")),
        "{sbom}"
    );
    let c_entries = read_tar(&std::fs::read(t.path().join("c/t.tar")).unwrap());
    let cmd = c_entries.iter().find(|e| e.0 == "boot/cmdline").unwrap();
    assert_eq!(
        cmd.1, 1_492_533_000,
        "default mtime without SOURCE_DATE_EPOCH"
    );
}

#[test]
fn kernel_initrd_splits_the_tar() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let c = fresh_cache(t.path());
    build(t.path(), &c, "tar", "tar", &["--no-sbom"], &[]);
    let log = build(t.path(), &c, "ki", "kernel+initrd", &["--no-sbom"], &[]);
    assert!(
        log.contains("Extract kernel image: docker.io/linuxkit/kernel:6.12.59"),
        "{log}"
    );
    assert!(log.contains("t-initrd.img"), "{log}");
    let entries = read_tar(&std::fs::read(t.path().join("tar/t.tar")).unwrap());
    let kernel = &entries.iter().find(|e| e.0 == "boot/kernel").unwrap().3;
    assert_eq!(
        &std::fs::read(t.path().join("ki/t-kernel")).unwrap(),
        kernel
    );
    assert_eq!(
        std::fs::read(t.path().join("ki/t-cmdline")).unwrap(),
        b"console=ttyS0"
    );
    let gz = std::fs::read(t.path().join("ki/t-initrd.img")).unwrap();
    let mut cpio = Vec::new();
    // The initrd is a series of gzip members, each a whole cpio archive.
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut cpio)
        .unwrap();
    assert_eq!(cpio.len() % 512, 0);
    let members = read_cpio(&cpio);
    assert_eq!(members.last().unwrap().0, "TRAILER!!!");
    let names: Vec<&str> = members
        .iter()
        .map(|m| m.0.as_str())
        .filter(|n| *n != "TRAILER!!!")
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("boot/")),
        "boot/ entries must be split out"
    );
    assert!(names.contains(&"containers/services/getty/config.json"));
    // Every non-boot tar entry is in the cpio, in order.
    let tar_names: Vec<&str> = entries
        .iter()
        .map(|e| e.0.as_str())
        .filter(|n| !n.starts_with("boot/"))
        .collect();
    assert_eq!(&names[..], &tar_names[..]);
    let motd = members.iter().find(|m| m.0 == "etc/motd").unwrap();
    assert_eq!(motd.2, b"hello");
    assert_eq!(motd.1 & 0o170000, 0o100000);
}

#[test]
fn microcode_is_prepended_to_the_initrd() {
    let t = tempfile::tempdir().unwrap();
    let cfg = SMALL.replace(
        "  cmdline: \"console=ttyS0\"\n",
        "  cmdline: \"console=ttyS0\"\n  ucode: intel-ucode.cpio\n",
    );
    let cfg = cfg.replace(
        "linuxkit/kernel:6.12.59",
        "linuxkit/kernel:6.6.71-77b4563829536629b7d5768d4407453c26602d65",
    );
    std::fs::write(t.path().join("cfg.yml"), cfg).unwrap();
    let c = fresh_cache(t.path());
    build(t.path(), &c, "tar", "tar", &["--no-sbom"], &[]);
    let entries = read_tar(&std::fs::read(t.path().join("tar/t.tar")).unwrap());
    let Some(ucode) = entries.iter().find(|e| e.0 == "boot/ucode.cpio") else {
        // This kernel image carries no microcode in the corpus; nothing to check.
        return;
    };
    build(t.path(), &c, "ki", "kernel+initrd", &["--no-sbom"], &[]);
    let initrd = std::fs::read(t.path().join("ki/t-initrd.img")).unwrap();
    assert!(initrd.starts_with(&ucode.3));
    assert_eq!(&initrd[ucode.3.len()..ucode.3.len() + 2], &[0x1f, 0x8b]);
}

#[test]
fn stdin_dry_run_and_multi_file() {
    let t = tempfile::tempdir().unwrap();
    let c = fresh_cache(t.path());
    std::fs::write(t.path().join("a.yml"), SMALL).unwrap();
    std::fs::write(t.path().join("b.yml"), "kernel:\n  cmdline: \"console=tty0\"\nservices:\n  - name: extra\n    image: alpine:3.21\n").unwrap();
    let o = linuxkit(t.path(), &["build", "--dry-run", "a.yml", "b.yml"], &[]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("console=tty0"), "{out}");
    assert!(out.contains("name: extra"), "{out}");
    assert!(
        out.contains("linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0"),
        "{out}"
    );

    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(t.path())
        .args([
            "build",
            "--no-sbom",
            "--format",
            "tar",
            "--cache",
            c.to_str().unwrap(),
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(SMALL.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(
        t.path().join("moby.tar").exists(),
        "stdin input is named moby"
    );
}

#[test]
fn output_to_stdout() {
    let t = tempfile::tempdir().unwrap();
    let c = fresh_cache(t.path());
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let o = linuxkit(
        t.path(),
        &[
            "build",
            "--no-sbom",
            "--o",
            "-",
            "--cache",
            c.to_str().unwrap(),
            "cfg.yml",
        ],
        &[],
    );
    ok(&o);
    let entries = read_tar(&o.stdout);
    assert!(entries.iter().any(|e| e.0 == "etc/motd"));
}

/// `--o` into something that is not a regular file writes into it and
/// leaves it what it was (issue 16 item 1): a character device stays one,
/// a FIFO's reader gets the tar, a symbolic link stays a link and the file
/// it names gets the tar; a directory is refused and left alone.
#[test]
fn output_into_devices_fifos_and_links_keeps_them() {
    use std::os::unix::fs::FileTypeExt;
    let t = tempfile::tempdir().unwrap();
    let c = fresh_cache(t.path());
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let build_to = |o: &str| {
        linuxkit(
            t.path(),
            &[
                "build",
                "--no-sbom",
                "--o",
                o,
                "--cache",
                c.to_str().unwrap(),
                "cfg.yml",
            ],
            &[],
        )
    };
    // A character device: written into, not replaced (/dev/null as root
    // would otherwise become a regular file).
    ok(&build_to("/dev/null"));
    let m = std::fs::metadata("/dev/null").unwrap();
    assert!(
        m.file_type().is_char_device(),
        "/dev/null is still a device"
    );
    // A FIFO: a reader on the other end gets the whole tar.
    let fifo = t.path().join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    ok(&build_to(fifo.to_str().unwrap()));
    let got = reader.join().unwrap();
    assert!(read_tar(&got).iter().any(|e| e.0 == "etc/motd"));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // A symbolic link: followed on purpose, the link stays.
    let real = t.path().join("real.tar");
    std::fs::write(&real, b"old").unwrap();
    let link = t.path().join("link.tar");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ok(&build_to(link.to_str().unwrap()));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        read_tar(&std::fs::read(&real).unwrap())
            .iter()
            .any(|e| e.0 == "etc/motd")
    );
    // A dangling link and a directory are refused, and stay.
    let dangling = t.path().join("dangling.tar");
    std::os::unix::fs::symlink(t.path().join("nowhere"), &dangling).unwrap();
    let o = build_to(dangling.to_str().unwrap());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("symbolic link to nothing"));
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let dir = t.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let o = build_to(dir.to_str().unwrap());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
    assert!(dir.is_dir());
}

#[test]
fn flag_errors_are_clear() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["build", "--format", "tar,kernel+initrd", "cfg.yml"],
            "must be the only format specified",
        ),
        (
            &["build", "--format", "floppy", "cfg.yml"],
            "unknown format type floppy",
        ),
        (
            &["build", "--format", "rpi3", "cfg.yml"],
            "not implemented yet",
        ),
        (
            &["build", "--o", "x.tar", "--name", "n", "cfg.yml"],
            "cannot be specified with -name",
        ),
        (
            &[
                "build",
                "--o",
                "x.tar",
                "--format",
                "kernel+initrd",
                "cfg.yml",
            ],
            "cannot be streamed",
        ),
        (
            &["build", "--size", "lots", "cfg.yml"],
            "unable to parse disk size",
        ),
        (
            &["build", "--input-tar", "x.tar", "--o", "x.tar", "cfg.yml"],
            "input-tar and output file cannot be the same",
        ),
        (&["run", "qemu", "x"], "Boot disk image x does not exist"),
        (
            &["run", "-mem", "64", "x"],
            "Boot disk image x does not exist",
        ),
        (&["run", "aws", "x"], "not implemented yet"),
        (
            &["run", "qemu", "--disk", "size=big", "x"],
            "Boot disk image x does not exist",
        ),
    ];
    for (args, want) in cases {
        let o = linuxkit(t.path(), args, &[]);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn missing_image_names_it_and_says_how_to_import() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("cfg.yml"),
        "onboot:\n  - name: x\n    image: example.org/none/such:1\n",
    )
    .unwrap();
    let err = failed(&linuxkit(
        t.path(),
        &["build", "--format", "tar", "--cache", "c", "cfg.yml"],
        &[],
    ));
    assert!(
        err.contains("example.org/none/such:1") && err.contains("linuxkit cache import"),
        "{err}"
    );
    assert!(!t.path().join("cfg.tar").exists());
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(".tmp")),
        "{leftovers:?}"
    );
}

#[test]
fn invalid_config_reports_every_problem_with_position() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("bad.yml"),
        "kernel:\n  image: k\n  cmdlin: x\nonboot:\n  - name: a\n    image: alpine\n    capabilites: []\nfiles:\n  - path: x\n    mode: 0644\n    contents: y\n",
    )
    .unwrap();
    let err = failed(&linuxkit(t.path(), &["build", "bad.yml"], &[]));
    assert!(
        err.contains("bad.yml:3:3:") && err.contains("did you mean `cmdline`"),
        "{err}"
    );
    assert!(
        err.contains("bad.yml:7:5:") && err.contains("did you mean `capabilities`"),
        "{err}"
    );
    assert!(
        err.contains("bad.yml:10:11:") && err.contains("quote it"),
        "{err}"
    );
}

#[test]
fn cache_import_ls_export_rm() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("c");
    let c = cache.to_str().unwrap();
    let tarball = shared().join("conformance/images/images-oci.tar");
    ok(&linuxkit(
        t.path(),
        &["cache", "--cache", c, "import", tarball.to_str().unwrap()],
        &[],
    ));
    let ls = ok(&linuxkit(t.path(), &["cache", "--cache", c, "ls"], &[]));
    assert!(ls.starts_with("image name"), "{ls}");
    assert!(ls.contains("docker.io/library/alpine:3.21"), "{ls}");
    assert_eq!(ls.lines().count(), 77, "header + 76 images");
    ok(&linuxkit(
        t.path(),
        &[
            "cache",
            "--cache",
            c,
            "export",
            "--outfile",
            "a.tar",
            "alpine:3.21",
        ],
        &[],
    ));
    ok(&linuxkit(
        t.path(),
        &[
            "cache",
            "--cache",
            c,
            "export",
            "--format",
            "docker",
            "--outfile",
            "d.tar",
            "alpine:3.21",
        ],
        &[],
    ));
    let d = read_tar(&std::fs::read(t.path().join("d.tar")).unwrap());
    assert!(d.iter().any(|e| e.0 == "manifest.json"));
    ok(&linuxkit(
        t.path(),
        &["cache", "--cache", c, "rm", "docker.io/library/alpine:3.21"],
        &[],
    ));
    let ls = ok(&linuxkit(t.path(), &["cache", "--cache", c, "ls"], &[]));
    assert!(!ls.contains("docker.io/library/alpine:3.21 "), "{ls}");
    // The exported archive imports back.
    ok(&linuxkit(
        t.path(),
        &["cache", "--cache", c, "import", "a.tar"],
        &[],
    ));
    let ls = ok(&linuxkit(t.path(), &["cache", "--cache", c, "ls"], &[]));
    assert!(ls.contains("docker.io/library/alpine:3.21"), "{ls}");
    let o = linuxkit(
        t.path(),
        &["cache", "--cache", c, "rm", "docker.io/no/such:1"],
        &[],
    );
    assert!(!o.status.success());
}

#[test]
fn pkg_templates_resolve_to_the_git_tree_hash() {
    let t = git_repo(&[
        ("pkg/hello/build.yml", "image: hello\norg: acme\n"),
        ("pkg/hello/Dockerfile", "FROM scratch\n"),
        (
            "examples/t.yml",
            "onboot:\n  - name: hello\n    image: \"@pkg:../pkg/hello\"\n",
        ),
    ]);
    let repo = t.path();
    let tree = git(repo, &["rev-parse", "HEAD:pkg/hello"]);
    let dry = |repo: &Path| {
        let o = linuxkit(repo, &["build", "--dry-run", "examples/t.yml"], &[]);
        ok(&o);
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let out = dry(repo);
    assert!(
        out.contains(&format!("docker.io/acme/hello:{tree}")),
        "{out}"
    );
    assert!(!out.contains("-dirty-"), "{out}");
    // An uncommitted change makes the tag dirty.
    std::fs::write(
        repo.join("pkg/hello/Dockerfile"),
        "FROM scratch\nRUN true\n",
    )
    .unwrap();
    let out = dry(repo);
    assert!(
        out.contains(&format!("docker.io/acme/hello:{tree}-dirty-")),
        "{out}"
    );
    // So does an untracked file.
    git(repo, &["checkout", "--", "pkg/hello/Dockerfile"]);
    std::fs::write(repo.join("pkg/hello/new.txt"), "x").unwrap();
    let out = dry(repo);
    assert!(out.contains("-dirty-"), "{out}");
}

#[test]
fn configuration_from_an_http_url() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        let body = SMALL.as_bytes();
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
    });
    let t = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/configs/net.yml");
    let o = linuxkit(t.path(), &["build", "--dry-run", &url], &[]);
    ok(&o);
    server.join().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("name: getty"));
    let err = failed(&linuxkit(
        t.path(),
        &["build", "--dry-run", "http://127.0.0.1:1/none.yml"],
        &[],
    ));
    assert!(err.contains("cannot fetch configuration http://127.0.0.1:1/none.yml"));
}

#[test]
fn arch_picks_the_platform_of_multi_arch_indexes() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cfg.yml"), SMALL).unwrap();
    let c = fresh_cache(t.path());
    let cache = c.to_str().unwrap();
    // The corpus images are linux/amd64 only.
    ok(&linuxkit(
        t.path(),
        &[
            "build",
            "--no-sbom",
            "--arch",
            "amd64",
            "--format",
            "tar",
            "--dir",
            "x",
            "--cache",
            cache,
            "cfg.yml",
        ],
        &[],
    ));
    let err = failed(&linuxkit(
        t.path(),
        &[
            "build",
            "--no-sbom",
            "--arch",
            "arm64",
            "--format",
            "tar",
            "--dir",
            "y",
            "--cache",
            cache,
            "cfg.yml",
        ],
        &[],
    ));
    assert!(
        err.contains("linux/arm64") && err.contains("linux/amd64"),
        "{err}"
    );
    assert!(err.contains("docker.io/linuxkit/kernel:6.12.59"), "{err}");
}
