//! The crate boundaries of issue 15 item 4, checked on the real dependency
//! graph (`cargo tree -e normal`, offline, from the workspace's Cargo.lock):
//! the configuration crate links no HTTP/TLS stack, `/init` does not link
//! the image-format writers, and the two contract crates depend on no other
//! workspace crate. A positive control (`linuxkit-oci` does link `ureq` and
//! `rustls`) shows that the check can see what it looks for.

use std::path::Path;
use std::process::Command;

/// The package names in the normal-dependency tree of `package`.
fn normal_deps(package: &str) -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("tree")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", package, "-e", "normal", "--offline"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo tree: {e}"));
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(
        names.first().is_some_and(|n| n == package),
        "unexpected cargo tree output for {package}:\n{text}"
    );
    names
}

fn assert_absent(package: &str, forbidden: &[&str]) {
    let deps = normal_deps(package);
    let found: Vec<&&str> = forbidden
        .iter()
        .filter(|f| deps.iter().any(|d| d == **f))
        .collect();
    assert!(
        found.is_empty(),
        "{package} must not depend on {found:?}; its tree: {deps:?}"
    );
}

#[test]
fn config_links_no_http_or_tls() {
    assert_absent("linuxkit-config", &["ureq", "rustls", "linuxkit-oci"]);
    // Positive control: the crate that does I/O has both.
    let oci = normal_deps("linuxkit-oci");
    for needed in ["ureq", "rustls", "linuxkit-oci-spec"] {
        assert!(oci.iter().any(|d| d == needed), "{needed} missing: {oci:?}");
    }
}

#[test]
fn init_links_no_format_writers() {
    assert_absent(
        "linuxkit-init",
        &["linuxkit-formats", "linuxkit-oci", "linuxkit-config"],
    );
    assert!(
        normal_deps("linuxkit-init")
            .iter()
            .any(|d| d == "linuxkit-vm-abi")
    );
}

#[test]
fn contract_crates_stand_alone() {
    for package in ["linuxkit-vm-abi", "linuxkit-oci-spec"] {
        let deps = normal_deps(package);
        let workspace: Vec<&String> = deps[1..]
            .iter()
            .filter(|d| d.starts_with("linuxkit"))
            .collect();
        assert!(workspace.is_empty(), "{package} depends on {workspace:?}");
    }
    assert_absent(
        "linuxkit-oci-spec",
        &["ureq", "rustls", "tempfile", "rustix"],
    );
}
