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

/// How a bounded run ended.
struct Outcome {
    /// Exit code, if the process ended by itself.
    code: Option<i32>,
    /// Whether the marker appeared on stdout (then the process was killed).
    found: bool,
    stdout: String,
    stderr: String,
}

/// Run `cmd` with stdin closed until it exits, `marker` appears on its
/// stdout, or `limit` passes; then kill it and the QEMU it started (found by
/// the pidfile `run qemu` writes into its state directory).
fn run_bounded(
    mut cmd: Command,
    marker: Option<&str>,
    limit: Duration,
    qemu_pidfile: &Path,
) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).to_string();
    let (code, found) = loop {
        if let Some(m) = marker
            && read(&out).contains(m)
        {
            break (None, true);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break (s.code(), false);
        }
        if start.elapsed() > limit {
            break (None, false);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        // QEMU runs as a child of linuxkit: make sure it does not outlive the test.
        if let Ok(pid) = std::fs::read_to_string(qemu_pidfile) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
    Outcome {
        code,
        found,
        stdout: read(&out),
        stderr: read(&err),
    }
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
        let Outcome {
            code,
            stdout: console,
            stderr: err,
            ..
        } = run_bounded(
            cmd,
            None,
            Duration::from_secs(180),
            &t.path().join("t-state/qemu.pid"),
        );
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
    let Outcome {
        found,
        stdout: console,
        stderr: err,
        ..
    } = run_bounded(
        cmd,
        Some("Welcome to linuxkit-rs"),
        Duration::from_secs(180),
        &t.path().join("busybox-state/qemu.pid"),
    );
    assert!(
        found,
        "no welcome line\nstderr: {err}\nconsole tail: {}",
        &console[console.len().saturating_sub(2000)..]
    );
}
