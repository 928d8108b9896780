//! Boot tests: images built from the project's own packages (Debian kernel,
//! busybox) booted with `linuxkit run qemu` under a hard timeout, reading
//! the serial console. Also checks that the accelerator probe falls back to
//! TCG instead of hanging where KVM does not work.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn tag(pkg: &str) -> String {
    let o = linuxkit(&repo_root(), &["pkg", "show-tag", "--canonical", pkg], &[]);
    ok(&o);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Run a command with a hard timeout; returns (exit code, stdout, stderr).
fn run_bounded(mut cmd: Command, limit: Duration) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            // QEMU runs as a child of linuxkit: make sure it does not outlive the test.
            let _ = Command::new("pkill")
                .args(["-f", "qemu-system-x86_64.*-kernel"])
                .status();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        code,
        String::from_utf8_lossy(&std::fs::read(out).unwrap()).to_string(),
        String::from_utf8_lossy(&std::fs::read(err).unwrap()).to_string(),
    )
}

#[test]
fn a_busybox_system_boots_and_powers_off() {
    let root = repo_root();
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    ok(&linuxkit(
        &root,
        &[
            "pkg",
            "build",
            "--cache",
            cache.to_str().unwrap(),
            "pkg/kernel",
            "pkg/busybox",
        ],
        &[],
    ));
    let yml = format!(
        "kernel:\n  image: {}\n  cmdline: \"console=ttyS0 panic=-1\"\ninit:\n  - {}\nfiles:\n  - path: init\n    mode: \"0755\"\n    contents: |\n      #!/bin/sh\n      mount -t proc proc /proc\n      echo \"BOOT-MARKER $(cat /proc/cmdline)\"\n      poweroff -f\n",
        tag("pkg/kernel"),
        tag("pkg/busybox")
    );
    std::fs::write(t.path().join("t.yml"), yml).unwrap();
    ok(&linuxkit(
        t.path(),
        &[
            "build",
            "--no-sbom",
            "--cache",
            cache.to_str().unwrap(),
            "t.yml",
        ],
        &[],
    ));
    for attempt in 0..2 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_linuxkit"));
        cmd.current_dir(t.path())
            .args(["run", "qemu", "-mem", "512", "t"])
            .env("HOME", t.path());
        let (code, console, err) = run_bounded(cmd, Duration::from_secs(180));
        assert!(
            console.contains("BOOT-MARKER console=ttyS0 panic=-1"),
            "attempt {attempt}: no marker; exit {code:?}\nstderr: {err}\nconsole tail: {}",
            &console[console.len().saturating_sub(2000)..]
        );
        assert!(console.contains("reboot: Power down"), "clean poweroff");
        assert_eq!(code, Some(0), "QEMU exits 0 after poweroff; stderr: {err}");
        if Path::new("/dev/kvm").exists() && err.contains("notice: KVM does not work") {
            assert_eq!(
                err.lines().filter(|l| l.contains("notice:")).count(),
                1,
                "one-line notice: {err}"
            );
        }
    }
    // The probe's verdict is cached for this host boot.
    assert!(t.path().join(".cache/linuxkit/kvm-probe").exists() || !Path::new("/dev/kvm").exists());
    assert!(t.path().join("t-state/mac-addr").exists());
}

/// Run until `marker` appears on stdout (then kill) or `limit` passes.
fn run_until(mut cmd: Command, marker: &str, limit: Duration) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let found = loop {
        let text = String::from_utf8_lossy(&std::fs::read(&out).unwrap_or_default()).to_string();
        if text.contains(marker) {
            break true;
        }
        if child.try_wait().unwrap().is_some() || start.elapsed() > limit {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = Command::new("pkill")
        .args(["-f", "qemu-system-x86_64.*busybox-kernel"])
        .status();
    (
        found,
        String::from_utf8_lossy(&std::fs::read(out).unwrap()).to_string(),
        String::from_utf8_lossy(&std::fs::read(err).unwrap()).to_string(),
    )
}

#[test]
fn the_readme_example_builds_with_pkg_templates_and_boots_to_a_shell() {
    let root = repo_root();
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let c = cache.to_str().unwrap();
    // As in README: build examples/busybox.yml (its @pkg: packages are built first), then boot.
    let log = ok(&linuxkit(
        &root,
        &[
            "build",
            "--dir",
            t.path().to_str().unwrap(),
            "--cache",
            c,
            "examples/busybox.yml",
        ],
        &[],
    ));
    assert!(log.contains("Building linuxkit/kernel:"), "{log}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linuxkit"));
    cmd.current_dir(t.path())
        .args(["run", "qemu", "busybox"])
        .env("HOME", t.path());
    let (found, console, err) = run_until(cmd, "Welcome to linuxkit-rs", Duration::from_secs(180));
    assert!(
        found,
        "no welcome line\nstderr: {err}\nconsole tail: {}",
        &console[console.len().saturating_sub(2000)..]
    );
}
