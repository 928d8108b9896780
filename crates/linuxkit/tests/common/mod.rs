//! What the CLI integration tests share: the harness of
//! `linuxkit-test-support` plus what needs this test crate's build (the
//! `linuxkit` binary, the target's temporary directory).

#![allow(dead_code)]

pub use linuxkit_test_support::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `linuxkit` binary under test.
pub const LINUXKIT: &str = env!("CARGO_BIN_EXE_linuxkit");

/// Run the binary in `cwd` with extra environment (`HOME` is `cwd`).
pub fn linuxkit(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(LINUXKIT);
    cmd.current_dir(cwd)
        .args(args)
        .env("HOME", cwd)
        .env_remove("LINUXKIT_CACHE")
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Assert `o` failed; its stderr.
pub fn failed(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "expected a failure, got success: {e}");
    e
}

/// Assert success and return stderr.
pub fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "linuxkit failed: {err}");
    err
}

/// `linuxkit run qemu [FLAGS] TARGET` in `dir` (bounded; see [`Boot`]).
pub fn boot(dir: &Path, target: impl AsRef<std::ffi::OsStr>) -> Boot {
    Boot::new(LINUXKIT, dir, target)
}

/// A package cache shared by the tests that build systems from the
/// project's packages (built once; the cache is locked and its writes are
/// atomic, so tests may share it).
pub fn shared_cache() -> PathBuf {
    let c = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-cache");
    std::fs::create_dir_all(&c).unwrap();
    c
}

/// `linuxkit build --no-sbom` of `yml` (relative to the repository root)
/// into `dir`, named `name`, with the [`shared_cache`] and `extra`
/// arguments; must succeed. Returns its stderr.
pub fn build_system(yml: &str, dir: &Path, name: &str, extra: &[&str]) -> String {
    let cache = shared_cache();
    let mut args = vec![
        "build",
        "--no-sbom",
        "--name",
        name,
        "--dir",
        dir.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ];
    args.extend(extra);
    args.push(yml);
    ok(&linuxkit(&repo_root(), &args, &[]))
}
