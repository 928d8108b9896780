//! The project's own packages (`pkg/*`): each builds natively on this
//! machine (Debian packages from the mirror, verified against its lock file),
//! two builds into two empty caches give the same image digest, and skopeo
//! reads every image.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn packages() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo_root().join("pkg"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("build.yml").is_file())
        .map(|e| format!("pkg/{}", e.file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_project_package_builds_reproducibly() {
    let root = repo_root();
    let pkgs = packages();
    for want in [
        "busybox",
        "getty",
        "dhcpcd",
        "sshd",
        "kernel",
        "bootloaders",
        "ca-certificates",
    ] {
        assert!(
            pkgs.contains(&format!("pkg/{want}")),
            "pkg/{want} is missing"
        );
    }
    let t = tempfile::tempdir().unwrap();
    let caches = [t.path().join("a"), t.path().join("b")];
    for c in &caches {
        let mut args = vec!["pkg", "build", "--cache", c.to_str().unwrap()];
        args.extend(pkgs.iter().map(String::as_str));
        let log = ok(&linuxkit(&root, &args, &[]));
        assert!(
            !log.contains("resolving Debian packages"),
            "a lock file is missing or stale: {log}"
        );
    }
    let opened: Vec<linuxkit_oci::Cache> = caches
        .iter()
        .map(|c| linuxkit_oci::Cache::open(c).unwrap())
        .collect();
    for p in &pkgs {
        let o = linuxkit(&root, &["pkg", "show-tag", "--canonical", p], &[]);
        ok(&o);
        let tag = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let a = opened[0]
            .lookup(&tag)
            .unwrap()
            .unwrap_or_else(|| panic!("{tag} not built"));
        let b = opened[1].lookup(&tag).unwrap().unwrap();
        assert_eq!(a.digest, b.digest, "{p}: two builds differ");
        let o = std::process::Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:{tag}", caches[0].display())])
            .run_output();
        assert!(
            o.status.success(),
            "skopeo {p}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
