//! Upstream's command line, run through the built binary: boolean flags
//! with `=false`/`=true`, `run [flags] qemu PATH`, `completion`, `version`,
//! an installed binary building a bootloader format from another directory,
//! `cache export --format filesystem`, `cache push --override`, the `pkg
//! build` flags and `pkg manifest` against a real registry, `format: oci`
//! volume names, and the main error messages (insta snapshots).

mod common;

use common::registry::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn failed(o: &Output) -> String {
    assert!(!o.status.success(), "succeeded: {}{}", out(o), err(o));
    err(o)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fake `qemu-system-x86_64` that records its arguments, one per line.
fn fake_qemu(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("qemu-args");
    let bin = dir.join("fake-qemu");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > {}\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

#[test]
fn run_flags_before_the_backend_and_booleans_with_values_reach_qemu() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for f in ["m-kernel", "m-initrd.img", "m-cmdline"] {
        std::fs::write(d.join(f), b"console=ttyS0").unwrap();
    }
    let (qemu, log) = fake_qemu(d);
    let args_of = |args: &[&str]| {
        let _ = std::fs::remove_file(&log);
        let o = linuxkit(d, args, &[]);
        ok(&o);
        std::fs::read_to_string(&log).unwrap()
    };
    let q = s(&qemu);
    // Upstream's form: persistent flags before the backend; `-cpus` too.
    for form in [
        vec![
            "run",
            "--cpus",
            "2",
            "--mem=512",
            "qemu",
            "--accel",
            "tcg",
            "--qemu",
            q,
            "m",
        ],
        vec![
            "run", "qemu", "--cpus", "2", "--mem", "512", "--accel", "tcg", "--qemu", q, "m",
        ],
        vec![
            "run",
            "-cpus",
            "2",
            "-mem",
            "512",
            "--accel=tcg",
            "--qemu",
            q,
            "m",
        ],
    ] {
        let a = args_of(&form);
        let lines: Vec<&str> = a.lines().collect();
        let smp = lines.iter().position(|l| *l == "-smp").expect("no -smp");
        assert_eq!(lines[smp + 1], "2", "{form:?}: {a}");
        let m = lines.iter().position(|l| *l == "-m").expect("no -m");
        assert_eq!(lines[m + 1], "512", "{form:?}: {a}");
    }
    // A boolean given =false is false, bare or =true is true.
    let base = ["run", "qemu", "--accel", "tcg", "--qemu", q];
    let with = |flag: &str| {
        let mut v: Vec<&str> = base.to_vec();
        v.push(flag);
        v.push("m");
        args_of(&v)
    };
    assert!(with("--gui=false").lines().any(|l| l == "-nographic"));
    assert!(!with("--gui").lines().any(|l| l == "-nographic"));
    assert!(!with("--gui=true").lines().any(|l| l == "-nographic"));
    assert!(!with("--usb=false").lines().any(|l| l == "-usb"));
    assert!(with("--usb=true").lines().any(|l| l == "-usb"));
    // The kernel file given instead of the prefix boots the prefix.
    let mut v: Vec<&str> = base.to_vec();
    v.push("m-kernel");
    let a = args_of(&v);
    assert!(a.lines().any(|l| l.ends_with("m-initrd.img")), "{a}");
    // Booleans of other commands, through the binary.
    let e = failed(&linuxkit(
        d,
        &["cache", "rm", "--published-only=false", "nope"],
        &[],
    ));
    assert!(e.contains("no image named nope"), "{e}");
    let e = failed(&linuxkit(
        d,
        &["-q=true", "cache", "rm", "--published-only=0", "nope"],
        &[],
    ));
    assert!(e.contains("no image named nope"), "{e}");
}

#[test]
fn completion_scripts_load_in_bash_and_exist_for_every_shell() {
    let bin = env!("CARGO_BIN_EXE_linuxkit");
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({bin} completion bash) && complete -p linuxkit"
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("linuxkit"), "{}", out(&o));
    for sh in ["zsh", "fish", "powershell"] {
        let o = Command::new(bin).args(["completion", sh]).output().unwrap();
        assert!(o.status.success() && out(&o).contains("linuxkit"), "{sh}");
    }
}

#[test]
fn version_names_the_commit_the_binary_was_built_from() {
    let root = repo_root();
    let head = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    assert!(head.status.success(), "not built from a git checkout");
    let head = out(&head).trim().to_string();
    let short = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .unwrap();
    let short = out(&short).trim().to_string();
    let t = tempfile::tempdir().unwrap();
    let o = linuxkit(t.path(), &["version"], &[]);
    ok(&o);
    let text = out(&o);
    assert!(
        text.starts_with(&format!("linuxkit version {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains(&format!("commit: {head}")), "{text}");
    assert!(head.starts_with(&short));
    let o = linuxkit(t.path(), &["version", "--commit"], &[]);
    assert_eq!(out(&o).trim(), head);
    let o = linuxkit(t.path(), &["--version"], &[]);
    ok(&o);
    assert!(out(&o).contains(&head), "{}", out(&o));
}

/// The package cache shared with the format and boot tests.
fn shared_cache() -> PathBuf {
    let c = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-cache");
    std::fs::create_dir_all(&c).unwrap();
    c
}

#[test]
fn an_installed_binary_builds_bootloader_formats_from_any_directory() {
    let t = tempfile::tempdir().unwrap();
    let bin_dir = t.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let installed = bin_dir.join("linuxkit");
    std::fs::copy(env!("CARGO_BIN_EXE_linuxkit"), &installed).unwrap();
    let elsewhere = t.path().join("work");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let cache = shared_cache();
    let example = repo_root().join("examples/minimal.yml");
    let run = |extra: &[&str]| {
        let mut c = Command::new(&installed);
        c.current_dir(&elsewhere)
            .env("HOME", &elsewhere)
            .env_remove("LINUXKIT_CACHE")
            .args([
                "build",
                "--no-sbom",
                "--cache",
                s(&cache),
                "--format",
                "raw-bios",
            ])
            .args(extra);
        c.output().unwrap()
    };
    let o = run(&["--name", "m", s(&example)]);
    assert!(o.status.success(), "{}", err(&o));
    let raw = std::fs::read(elsewhere.join("m-bios.img")).unwrap();
    assert_eq!(&raw[510..512], &[0x55, 0xaa], "no boot signature");
    // The binary names no path of the machine that built it.
    let bytes = std::fs::read(&installed).unwrap();
    let needle = format!("{}/../../pkg/bootloaders", env!("CARGO_MANIFEST_DIR"));
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "the binary still holds {needle}"
    );
    // Without a checkout around the YAML or the current directory: a clear error.
    // (its kernel is the cached one the build above made)
    let kernel = Command::new(&installed)
        .current_dir(repo_root())
        .args(["pkg", "show-tag", "pkg/kernel"])
        .output()
        .unwrap();
    let kernel = out(&kernel).trim().to_string();
    let lonely = t.path().join("lonely.yml");
    std::fs::write(&lonely, format!("kernel:\n  image: {kernel}\n")).unwrap();
    let o = run(&["--name", "l", s(&lonely)]);
    let e = failed(&o);
    assert!(e.contains("--bootloaders"), "{e}");
}

#[test]
fn cache_export_filesystem_is_the_flattened_image_as_a_tar() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let cache = fresh_cache(d);
    let o = linuxkit(
        d,
        &[
            "--cache",
            s(&cache),
            "cache",
            "export",
            "--format",
            "filesystem",
            "--platform",
            "linux/amd64",
            "--outfile",
            "fs.tar",
            "alpine:3.21",
        ],
        &[],
    );
    ok(&o);
    let entries = read_tar(&std::fs::read(d.join("fs.tar")).unwrap());
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    for want in ["etc/alpine.conf", "usr/bin/alpine", "bin/sh"] {
        assert!(
            names.contains(&want),
            "{want} missing: {:?}",
            &names[..names.len().min(20)]
        );
    }
    // GNU tar reads it too.
    let o = Command::new("tar")
        .args(["-tf"])
        .arg(d.join("fs.tar"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let e = failed(&linuxkit(
        d,
        &[
            "--cache",
            s(&cache),
            "cache",
            "export",
            "--format",
            "zip",
            "--outfile",
            "x",
            "alpine:3.21",
        ],
        &[],
    ));
    assert!(e.contains("oci, docker or filesystem"), "{e}");
}

#[test]
fn oci_volumes_name_directories_with_a_trailing_slash() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let cache = fresh_cache(d);
    std::fs::write(
        d.join("v.yml"),
        "init:\n  - linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a\nvolumes:\n  - name: v\n    image: alpine:3.21\n    format: oci\n",
    )
    .unwrap();
    ok(&linuxkit(
        d,
        &[
            "build",
            "--cache",
            s(&cache),
            "--no-sbom",
            "--format",
            "tar",
            "--name",
            "v",
            "v.yml",
        ],
        &[],
    ));
    let entries = read_tar(&std::fs::read(d.join("v.tar")).unwrap());
    let dirs: Vec<&str> = entries
        .iter()
        .filter(|e| e.2 == b'5' && e.0.contains("volumes/v/lower/"))
        .map(|e| e.0.as_str())
        .collect();
    for want in [
        "containers/volumes/v/lower/blobs/",
        "containers/volumes/v/lower/blobs/sha256/",
    ] {
        assert!(dirs.contains(&want), "{want} not in {dirs:?}");
    }
}

#[test]
fn main_error_messages() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("a.yml"), "init:\n  - \"@pkg:./nope\"\n").unwrap();
    let cases: [(&str, &[&str]); 5] = [
        (
            "error-unknown-format",
            &["build", "--format", "floppy", "a.yml"],
        ),
        ("error-missing-file", &["build", "missing.yml"]),
        ("error-bad-bool", &["run", "qemu", "--gui=maybe", "m"]),
        ("error-bad-number", &["run", "--cpus", "two", "qemu", "m"]),
        (
            "error-pkg-dir-missing",
            &["build", "--format", "tar", "a.yml"],
        ),
    ];
    for (name, args) in cases {
        let e = failed(&linuxkit(d, args, &[]));
        let e = e.replace(s(d), "$DIR");
        insta::assert_snapshot!(name, e);
    }
}

/// A git repository with two small packages (files only).
fn two_packages(d: &Path) -> PathBuf {
    let r = d.join("repo");
    for (name, motd) in [("one", "1"), ("two", "2")] {
        std::fs::create_dir_all(r.join("pkg").join(name)).unwrap();
        std::fs::write(
            r.join("pkg").join(name).join("build.yml"),
            format!(
                "image: {name}\narches: [amd64, arm64]\ncontents:\n  files:\n    - path: /etc/motd\n      contents: \"{motd}\\n\"\n"
            ),
        )
        .unwrap();
    }
    git(&r, &["init", "-q"]);
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-qm", "p"]);
    r
}

/// A registry, a repository with two packages, an empty cache.
struct Fixture {
    t: tempfile::TempDir,
    reg: Registry,
    repo: PathBuf,
    cache: PathBuf,
    org: String,
}

impl Fixture {
    fn new() -> Fixture {
        let t = tempfile::tempdir().unwrap();
        let reg = Registry::start(Auth::Anonymous);
        let repo = two_packages(t.path());
        let cache = t.path().join("cache");
        let org = format!("{}/acme", reg.host());
        Fixture {
            t,
            reg,
            repo,
            cache,
            org,
        }
    }
}

#[test]
fn cache_push_skips_an_existing_tag_unless_override() {
    let Fixture {
        t: _t,
        reg,
        repo: r,
        cache,
        org,
    } = Fixture::new();
    let c = s(&cache);
    let tag = |p: &str| {
        let o = linuxkit(&r, &["pkg", "show-tag", "--org", &org, p], &[]);
        ok(&o);
        out(&o).trim().to_string()
    };
    let (one, two) = (tag("pkg/one"), tag("pkg/two"));
    ok(&linuxkit(
        &r,
        &[
            "--cache", c, "pkg", "build", "--org", &org, "pkg/one", "pkg/two",
        ],
        &[],
    ));
    let dest = reg.image_ref("acme/dest:v1");
    let push = |name: &str, extra: &[&str]| {
        let mut a = vec!["--cache", c, "cache", "push", "--remote-name", &dest];
        a.extend_from_slice(extra);
        a.push(name);
        let o = linuxkit(&r, &a, &[]);
        ok(&o);
        out(&o)
    };
    let digest_of = |name: &str| {
        linuxkit_oci::Cache::open(&cache)
            .unwrap()
            .lookup(&linuxkit_oci::Reference::parse(name).unwrap().canonical())
            .unwrap()
            .unwrap()
            .digest
    };
    let remote = || sha256_digest(&skopeo_inspect_raw(&reg, "acme/dest:v1"));
    push(&one, &[]);
    assert_eq!(remote(), digest_of(&one));
    // The tag exists: without --override nothing is pushed.
    let said = push(&two, &[]);
    assert!(said.contains("skipping"), "{said}");
    assert_eq!(remote(), digest_of(&one));
    push(&two, &["--override=false"]);
    assert_eq!(remote(), digest_of(&one));
    // --override replaces it (same platforms: nothing of one's index is kept).
    push(&two, &["--override"]);
    assert_eq!(remote(), digest_of(&two));
}

#[test]
fn pkg_build_flags_and_pkg_manifest_against_a_registry() {
    let Fixture {
        t,
        reg,
        repo: r,
        cache,
        org,
    } = Fixture::new();
    let d = t.path();
    let c = s(&cache);
    let lk = |args: &[&str]| {
        let mut a = vec!["--cache", c];
        a.extend_from_slice(args);
        linuxkit(&r, &a, &[])
    };
    let build = |args: &[&str]| lk(&[&["pkg", "build", "--org", org.as_str()], args].concat());
    let o = lk(&["pkg", "show-tag", "--org", &org, "pkg/one"]);
    let tag = out(&o).trim().to_string();
    let repo_tag = tag.split_once('/').unwrap().1.to_string();
    let cached = |name: &str| {
        linuxkit_oci::Cache::open(&cache)
            .unwrap()
            .lookup(&linuxkit_oci::Reference::parse(name).unwrap().canonical())
            .unwrap()
            .map(|d| d.digest)
    };

    // --dry-run builds nothing and says what it would do.
    let o = build(&["--dry-run", "--push", "pkg/one"]);
    ok(&o);
    assert!(out(&o).contains("would build linux/amd64"), "{}", out(&o));
    assert_eq!(cached(&tag), None);
    // --skip-platforms of the only buildable platform: nothing to build.
    let e = failed(&build(&["--skip-platforms", "linux/amd64", "pkg/one"]));
    assert!(e.contains("the package is for arm64"), "{e}");
    // --nobuild with nothing cached is an error.
    let e = failed(&build(&["--push", "--nobuild", "pkg/one"]));
    assert!(e.contains("--nobuild"), "{e}");
    // --force and --pull conflict.
    failed(&build(&["--force", "--pull", "pkg/one"]));
    // BuildKit-only flags: accepted, warned about, ignored.
    let o = build(&[
        "--builder-image",
        "moby/buildkit:x",
        "--nonetwork",
        "--release",
        "v1.0",
        "--manifest=false",
        "--push",
        "pkg/one",
    ]);
    let e = ok(&o);
    assert!(
        e.contains("--builder-image has no effect without BuildKit"),
        "{e}"
    );
    assert!(
        e.contains("--nonetwork has no effect without BuildKit"),
        "{e}"
    );
    let release = format!("{}:v1.0", tag.rsplit_once(':').unwrap().0);
    assert_eq!(
        cached(&release),
        cached(&tag),
        "--release did not tag the cache"
    );
    // --manifest=false pushed only the <tag>-amd64 images.
    let arch: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect_raw(&reg, &format!("{repo_tag}-amd64"))).unwrap();
    assert!(arch["layers"].is_array(), "{arch}");
    let mut args: Vec<String> = vec!["inspect".into(), "--raw".into()];
    args.extend(skopeo_creds(&reg));
    args.push(reg.docker_ref(&repo_tag));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(
        !skopeo(&a).status.success(),
        "the index was pushed with --manifest=false"
    );

    // pkg manifest makes the index from the registry's <tag>-<arch> tags and pushes it.
    let o = lk(&["pkg", "manifest", "--org", &org, "pkg/one"]);
    ok(&o);
    let index: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect_raw(&reg, &repo_tag)).unwrap();
    let arches: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64"], "{index}");

    // --pull: a fresh cache gets the image from the registry instead of building it.
    let fresh = d.join("fresh");
    let o = linuxkit(
        &r,
        &[
            "--cache",
            s(&fresh),
            "pkg",
            "build",
            "--org",
            &org,
            "--pull",
            "pkg/one",
        ],
        &[],
    );
    ok(&o);
    assert!(out(&o).contains("Pulled"), "{}", out(&o));
    // --registry-creds are accepted (the registry is anonymous) and checked.
    let e = failed(&build(&[
        "--pull",
        "--force=false",
        "--registry-creds",
        "nonsense",
        "pkg/two",
    ]));
    assert!(e.contains("REGISTRY=USER:PASSWORD"), "{e}");
    // --hash-path must be a parent of the package.
    let e = failed(&lk(&[
        "pkg",
        "show-tag",
        "--hash-path",
        s(&r.join("pkg/two")),
        "pkg/one",
    ]));
    assert!(e.contains("not a parent"), "{e}");
    let o = lk(&[
        "pkg",
        "show-tag",
        "--org",
        &org,
        "--hash-path",
        s(&r),
        "pkg/one",
    ]);
    assert_eq!(out(&o).trim(), tag);
}
