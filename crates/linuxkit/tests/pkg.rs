//! `linuxkit pkg`: tags as upstream computes them, reproducible package
//! images that other OCI tools read, `@pkg:` packages built by `build`, and
//! bad input that leaves the cache unchanged. Uses real git, real apt and the
//! real Debian mirror.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A git repo with one package `pkg/hello` (files and symlinks only) and,
/// if `debian`, one with busybox-static from Debian.
fn repo(debian: bool) -> tempfile::TempDir {
    let mut files = vec![
        (
            "pkg/hello/build.yml",
            "image: hello\norg: acme\narches: [amd64]\nconfig:\n  capabilities: [CAP_NET_ADMIN]\n  readonly: true\ncontents:\n  files:\n    - path: /etc/hello\n      source: files\n    - path: /etc/motd\n      contents: \"hi\\n\"\n  symlinks:\n    - path: /bin/hi\n      target: /etc/hello/say.sh\n  image:\n    cmd: [/bin/hi]\n    env: [\"PATH=/bin\"]\n",
        ),
        ("pkg/hello/files/say.sh", "#!/bin/sh\necho hello\n"),
    ];
    if debian {
        files.push(("pkg/bb/build.yml", "image: bb\narches: [amd64]\ncontents:\n  debian:\n    packages: [busybox-static]\n    drop: [/usr/share]\n  symlinks:\n    - {path: /bin/sh, target: busybox}\n"));
    }
    git_repo(&files)
}

fn pkg(dir: &Path, args: &[&str]) -> std::process::Output {
    linuxkit(dir, args, &[])
}

fn stdout(o: &std::process::Output) -> String {
    ok(o);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// index.json and the blob names: what "the cache is unchanged" compares.
fn cache_state(cache: &Path) -> (Vec<u8>, Vec<String>) {
    let index = std::fs::read(cache.join("index.json")).unwrap_or_default();
    let mut blobs: Vec<String> = std::fs::read_dir(cache.join("blobs/sha256"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    blobs.sort();
    (index, blobs)
}

fn index_digest(cache: &Path, name: &str) -> String {
    let c = linuxkit_oci::Cache::open(cache).unwrap();
    c.lookup(name)
        .unwrap()
        .unwrap_or_else(|| panic!("{name} not cached"))
        .digest
}

#[test]
fn show_tag_is_the_git_tree_hash_with_a_dirty_suffix() {
    let t = repo(false);
    let r = t.path();
    let tree = git(r, &["rev-parse", "HEAD:pkg/hello"]);
    assert_eq!(
        stdout(&pkg(r, &["pkg", "show-tag", "pkg/hello"])),
        format!("acme/hello:{tree}")
    );
    assert_eq!(
        stdout(&pkg(r, &["pkg", "show-tag", "--canonical", "pkg/hello"])),
        format!("docker.io/acme/hello:{tree}")
    );
    assert_eq!(
        stdout(&pkg(r, &["pkg", "show-tag", "--org", "other", "pkg/hello"])),
        format!("other/hello:{tree}")
    );
    assert_eq!(
        stdout(&pkg(r, &["pkg", "show-tag", "--hash", "abc", "pkg/hello"])),
        "acme/hello:abc"
    );
    // modified tracked file
    std::fs::write(
        r.join("pkg/hello/files/say.sh"),
        "#!/bin/sh\necho changed\n",
    )
    .unwrap();
    let dirty = stdout(&pkg(r, &["pkg", "show-tag", "pkg/hello"]));
    assert!(
        dirty.starts_with(&format!("acme/hello:{tree}-dirty-")),
        "{dirty}"
    );
    assert_eq!(dirty.len(), format!("acme/hello:{tree}-dirty-").len() + 7);
    git(r, &["checkout", "--", "."]);
    // untracked file
    std::fs::write(r.join("pkg/hello/new"), "x").unwrap();
    assert!(stdout(&pkg(r, &["pkg", "show-tag", "pkg/hello"])).contains("-dirty-"));
    std::fs::remove_file(r.join("pkg/hello/new")).unwrap();
    assert_eq!(
        stdout(&pkg(r, &["pkg", "show-tag", "pkg/hello"])),
        format!("acme/hello:{tree}")
    );
    assert!(
        stdout(&pkg(r, &["pkg", "show-tag", "--force-dirty", "pkg/hello"])).contains("-dirty-")
    );
}

#[test]
fn package_images_are_reproducible_and_read_by_other_tools() {
    let t = repo(true);
    let r = t.path();
    let tag_hello = stdout(&pkg(r, &["pkg", "show-tag", "--canonical", "pkg/hello"]));
    let tag_bb = stdout(&pkg(r, &["pkg", "show-tag", "--canonical", "pkg/bb"]));
    let (c1, c2) = (r.join("c1"), r.join("c2"));
    ok(&pkg(
        r,
        &[
            "pkg",
            "build",
            "--cache",
            c1.to_str().unwrap(),
            "pkg/hello",
            "pkg/bb",
        ],
    ));
    // The lock file was written beside build.yml: commit it, as a user would.
    assert!(r.join("pkg/bb/debian.lock").exists());
    git(r, &["add", "-A"]);
    git(r, &["commit", "-qm", "lock"]);
    let tag_bb = {
        let t2 = stdout(&pkg(r, &["pkg", "show-tag", "--canonical", "pkg/bb"]));
        assert_ne!(t2, tag_bb, "adding the lock file changes the tree hash");
        ok(&pkg(
            r,
            &["pkg", "build", "--cache", c1.to_str().unwrap(), "pkg/bb"],
        ));
        t2
    };
    ok(&pkg(
        r,
        &[
            "pkg",
            "build",
            "--cache",
            c2.to_str().unwrap(),
            "pkg/hello",
            "pkg/bb",
        ],
    ));
    for tag in [&tag_hello, &tag_bb] {
        assert_eq!(
            index_digest(&c1, tag),
            index_digest(&c2, tag),
            "{tag}: two builds differ"
        );
        assert_eq!(
            index_digest(&c1, &format!("{tag}-amd64")),
            index_digest(&c2, &format!("{tag}-amd64"))
        );
    }
    // A cached package is not rebuilt; --force rebuilds to the same digest.
    let again = stdout(&pkg(
        r,
        &["pkg", "build", "--cache", c1.to_str().unwrap(), "pkg/hello"],
    ));
    assert!(again.contains("up to date"), "{again}");
    ok(&pkg(
        r,
        &[
            "pkg",
            "build",
            "--force",
            "--cache",
            c1.to_str().unwrap(),
            "pkg/hello",
        ],
    ));
    assert_eq!(index_digest(&c1, &tag_hello), index_digest(&c2, &tag_hello));

    // The label is the build.yml config as upstream writes it.
    let cache = linuxkit_oci::Cache::open(&c1).unwrap();
    let img = cache
        .resolve(&tag_hello, &linuxkit_oci::Platform::linux("amd64"))
        .unwrap();
    let labels = img.resolved_labels();
    assert_eq!(
        labels,
        r#"{"capabilities":["CAP_NET_ADMIN"],"readonly":true}"#
    );

    // Tools we did not write read the images.
    if which("skopeo") {
        for tag in [&tag_hello, &tag_bb] {
            let out = tools::check_stdout(
                std::process::Command::new("skopeo")
                    .args(["inspect", &format!("oci:{}:{tag}", c1.display())]),
            );
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["Architecture"], "amd64");
        }
    } else {
        eprintln!("skopeo not installed: skipping the skopeo check (.ci/run installs it)");
    }
    if which("umoci") {
        let bundle = r.join("bundle");
        tools::check_stdout(
            std::process::Command::new("umoci")
                .args([
                    "unpack",
                    "--rootless",
                    "--image",
                    &format!("{}:{tag_bb}", c1.display()),
                ])
                .arg(&bundle),
        );
        assert!(bundle.join("rootfs/bin/busybox").is_file());
        assert_eq!(
            std::fs::read_link(bundle.join("rootfs/bin/sh")).unwrap(),
            PathBuf::from("busybox")
        );
    } else {
        eprintln!("umoci not installed: skipping the umoci check (.ci/run installs it)");
    }
}

fn which(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

trait Labels {
    fn resolved_labels(&self) -> String;
}

impl Labels for linuxkit_oci::ResolvedImage {
    fn resolved_labels(&self) -> String {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get("org.mobyproject.config").cloned())
            .unwrap_or_default()
    }
}

#[test]
fn build_makes_missing_pkg_templates_first_and_reuses_them() {
    let t = repo(false);
    let r = t.path();
    std::fs::create_dir_all(r.join("examples")).unwrap();
    std::fs::write(
        r.join("examples/hello.yml"),
        "onboot:\n  - name: hello\n    image: \"@pkg:../pkg/hello\"\n",
    )
    .unwrap();
    let cache = r.join("empty-cache");
    let c = cache.to_str().unwrap();
    let build_hello = || {
        let args = ["build", "--no-sbom", "--format", "tar", "--cache", c];
        ok(&linuxkit(
            r,
            &[&args[..], &["examples/hello.yml"]].concat(),
            &[],
        ))
    };
    let log = build_hello();
    assert!(log.contains("Building acme/hello:"), "{log}");
    let entries = read_tar(&std::fs::read(r.join("hello.tar")).unwrap());
    let motd = entries
        .iter()
        .find(|e| e.0 == "containers/onboot/000-hello/rootfs/etc/motd")
        .expect("package content in the bundle (readonly from the label)");
    assert_eq!(motd.3, b"hi\n");
    let log = build_hello();
    assert!(
        !log.contains("Building acme/hello"),
        "second build must reuse the cached package: {log}"
    );
    assert!(log.contains("is in the cache"), "{log}");
}

#[test]
fn bad_packages_fail_clearly_and_leave_the_cache_unchanged() {
    let t = repo(false);
    let r = t.path();
    let cache = r.join("c");
    let c = cache.to_str().unwrap();
    ok(&pkg(r, &["pkg", "build", "--cache", c, "pkg/hello"]));
    let before = cache_state(&cache);
    let case = |name: &str, build_yml: &str, lock: Option<&str>, want: &[&str]| {
        let d = r.join("pkg").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("build.yml"), build_yml).unwrap();
        if let Some(l) = lock {
            std::fs::write(d.join("debian.lock"), l).unwrap();
        }
        let o = pkg(r, &["pkg", "build", "--cache", c, &format!("pkg/{name}")]);
        assert!(!o.status.success(), "{name} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        for w in want {
            assert!(err.contains(w), "{name}: missing {w:?} in: {err}");
        }
        assert!(cache_state(&cache) == before, "{name}: the cache changed");
    };
    case(
        "nodeb",
        "image: nodeb\narches: [amd64]\ncontents:\n  debian:\n    packages: [no-such-package-xyzzy]\n",
        None,
        &["no-such-package-xyzzy"],
    );
    case(
        "badkey",
        "image: badkey\narches: [amd64]\ncontnets: {}\n",
        None,
        &[
            "pkg/badkey/build.yml:3:1",
            "unknown field `contnets`",
            "did you mean `contents`",
        ],
    );
    case(
        "outside",
        "image: outside\narches: [amd64]\ncontents:\n  files:\n    - path: /etc/passwd\n      source: ../hello/build.yml\n",
        None,
        &["outside the package directory"],
    );
    let lock = r#"{
  "packages": [
    {
      "name": "busybox-static",
      "version": "1:1.35.0-4+deb12u1+b1",
      "architecture": "amd64",
      "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
      "size": 1,
      "filename": "pool/main/b/busybox/busybox-static.deb"
    }
  ]
}
"#;
    case(
        "badsha",
        "image: badsha\narches: [amd64]\ncontents:\n  debian:\n    packages: [busybox-static]\n",
        Some(lock),
        &[
            "busybox-static",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ],
    );
}

#[test]
fn cargo_binaries_are_built_static_and_reproducibly() {
    let t = git_repo(&[
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"hello\"]\nresolver = \"3\"\n",
        ),
        (
            "hello/Cargo.toml",
            "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        ),
        (
            "hello/src/main.rs",
            "fn main() { println!(\"hello from a package\"); }\n",
        ),
        (
            "pkg/hello/build.yml",
            "image: hello\narches: [amd64]\ncontents:\n  cargo:\n    - package: hello\n      path: /usr/bin/hello\n  image:\n    cmd: [/usr/bin/hello]\n",
        ),
    ]);
    let r = t.path();
    let tag = stdout(&pkg(r, &["pkg", "show-tag", "--canonical", "pkg/hello"]));
    let (c1, c2) = (r.join("c1"), r.join("c2"));
    ok(&pkg(
        r,
        &["pkg", "build", "--cache", c1.to_str().unwrap(), "pkg/hello"],
    ));
    // A clean target directory for the second build: the binary must not depend on it.
    std::fs::remove_dir_all(r.join("target")).unwrap();
    ok(&pkg(
        r,
        &["pkg", "build", "--cache", c2.to_str().unwrap(), "pkg/hello"],
    ));
    assert_eq!(index_digest(&c1, &tag), index_digest(&c2, &tag));
    // The binary is static: it runs as it is, and has no ELF interpreter.
    let cache = linuxkit_oci::Cache::open(&c1).unwrap();
    let img = cache
        .resolve(&tag, &linuxkit_oci::Platform::linux("amd64"))
        .unwrap();
    let layer = &img.manifest.layers[0];
    let mut gz = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&cache.read_blob(&layer.digest, Some(layer.size)).unwrap()[..])
        .read_to_end(&mut gz)
        .unwrap();
    let bin = read_tar(&gz)
        .into_iter()
        .find(|e| e.0 == "usr/bin/hello")
        .expect("usr/bin/hello")
        .3;
    assert!(bin.starts_with(b"\x7fELF"));
    assert!(
        !bin.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "dynamically linked"
    );
    let exe = r.join("hello-bin");
    std::fs::write(&exe, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(&exe).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from a package\n"
    );
}
