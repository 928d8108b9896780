//! Package tags for `@pkg:` templates, computed as upstream does (cli.md
//! §7.3): the git tree object id of the package directory at HEAD, with
//! `-dirty-<7 hex of sha256 over the files>` when it has uncommitted or
//! untracked changes; the canonical tag is `docker.io/<org>/<image>:<hash>`.
//! The `pkg` crate will take this over with the packages work.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    ))
}

/// Read `image:` and `org:` (default `linuxkit`) from the package's build.yml.
fn image_and_org(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join("build.yml")).ok()?;
    let doc = linuxkit_config::yaml::parse(&text).ok()?;
    let image = doc.get("image")?.as_str()?.to_string();
    let org = doc
        .get("org")
        .and_then(|n| n.as_str())
        .unwrap_or("linuxkit")
        .to_string();
    Some((image, org))
}

/// The tree hash (with dirty suffix) of a package directory, or None outside git.
pub fn package_hash(dir: &Path) -> Option<String> {
    let (ok, top) = git(dir, &["rev-parse", "--show-toplevel"])?;
    if !ok {
        return None;
    }
    let top = Path::new(top.trim()).canonicalize().ok()?;
    let abs = dir.canonicalize().ok()?;
    let rel = abs.strip_prefix(&top).ok()?.to_string_lossy().to_string();
    let hash = if rel.is_empty() {
        git(&top, &["show", "--format=%T", "-s", "HEAD"])?
            .1
            .trim()
            .to_string()
    } else {
        let (_, out) = git(&top, &["ls-tree", "--full-tree", "HEAD", "--", &rel])?;
        out.split_whitespace().nth(2)?.to_string()
    };
    if hash.is_empty() {
        return None;
    }
    let (clean, _) = git(
        &top,
        &[
            "diff",
            "--no-ext-diff",
            "--exit-code",
            "--quiet",
            "HEAD",
            "--",
            &format!("{rel}/"),
        ],
    )
    .unwrap_or((true, String::new()));
    let (_, untracked) = git(
        &top,
        &[
            "ls-files",
            "--exclude-standard",
            "--others",
            "--",
            &format!("{rel}/"),
        ],
    )?;
    if clean && untracked.trim().is_empty() {
        return Some(hash);
    }
    let (_, tracked) = git(&top, &["ls-files", "--", &format!("{rel}/")])?;
    let mut h = Sha256::new();
    for f in tracked.lines().chain(untracked.lines()) {
        let p = top.join(f);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if let Ok(data) = std::fs::read(&p) {
            h.update(&data);
        }
    }
    Some(format!("{hash}-dirty-{}", &hex::encode(h.finalize())[..7]))
}

/// The canonical tag of the package in `dir`.
pub fn canonical_tag(dir: &Path) -> Option<String> {
    let (image, org) = image_and_org(dir)?;
    let hash = package_hash(dir)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "latest".into());
    Some(format!("docker.io/{org}/{image}:{hash}"))
}
