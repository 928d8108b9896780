//! Records the git commit the binary is built from (`linuxkit version`):
//! `git rev-parse HEAD` of the checkout, or `$LINUXKIT_COMMIT` when set, else
//! `unknown` (a build outside a git checkout). Rebuilds when HEAD moves.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=LINUXKIT_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match std::env::var("LINUXKIT_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            // HEAD of this work tree, and the ref it points at (in the common
            // git directory for a linked work tree), decide the commit.
            if let Some(git_dir) = git(&dir, &["rev-parse", "--absolute-git-dir"]) {
                let git_dir = PathBuf::from(git_dir);
                println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
                let common = git(&dir, &["rev-parse", "--git-common-dir"])
                    .map(|c| {
                        let c = PathBuf::from(c);
                        if c.is_absolute() { c } else { dir.join(c) }
                    })
                    .unwrap_or_else(|| git_dir.clone());
                if let Some(r) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
                    println!("cargo:rerun-if-changed={}", common.join(&r).display());
                }
                println!(
                    "cargo:rerun-if-changed={}",
                    common.join("packed-refs").display()
                );
            }
            git(&dir, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=LINUXKIT_COMMIT={commit}");
}
