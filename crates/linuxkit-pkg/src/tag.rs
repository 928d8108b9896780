//! Package tags exactly as upstream computes them (reference cli.md §7.3):
//! the git tree object id of the package directory at a commit (HEAD by
//! default), with `-dirty-<first 7 hex of sha256 over the files>` when the
//! directory has uncommitted changes or untracked files; `latest` outside
//! git. The tag string is `<org>/<image>:<template(.Hash)>`, canonically
//! `docker.io/<org>/<image>:<...>`.

use crate::error::PkgError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options that change the hash or the tag (`pkg` persistent flags).
#[derive(Debug, Clone)]
pub struct TagOptions {
    /// `--hash`: use this hash instead of git's.
    pub hash: Option<String>,
    /// `--hash-commit` (default `HEAD`).
    pub hash_commit: String,
    /// `--force-dirty`.
    pub force_dirty: bool,
    /// `--org` (overrides build.yml's `org`).
    pub org: Option<String>,
    /// `--tag` template (default `{{.Hash}}`).
    pub tag_template: Option<String>,
    /// `--dev`: org = $USER, hash = `dev`.
    pub dev: bool,
    /// `--hash-path`: the directory git runs in (a parent of the package
    /// directory); default: the package directory itself.
    pub hash_path: Option<PathBuf>,
}

impl Default for TagOptions {
    fn default() -> Self {
        TagOptions {
            hash: None,
            hash_commit: "HEAD".into(),
            force_dirty: false,
            org: None,
            tag_template: None,
            dev: false,
            hash_path: None,
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<(bool, String), PkgError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| PkgError::Git {
            args: args.join(" "),
            dir: dir.to_path_buf(),
            message: format!("cannot run git: {e}; install git to compute package tags"),
        })?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    ))
}

fn git_ok(dir: &Path, args: &[&str]) -> Result<String, PkgError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| PkgError::Git {
            args: args.join(" "),
            dir: dir.to_path_buf(),
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(PkgError::Git {
            args: args.join(" "),
            dir: dir.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The repository top and the package directory relative to it, or None
/// outside a git work tree.
fn locate(dir: &Path, hash_path: Option<&Path>) -> Result<Option<(PathBuf, String)>, PkgError> {
    let canon = |p: &Path| {
        p.canonicalize().map_err(|e| PkgError::Io {
            context: format!("cannot resolve {}", p.display()),
            source: e,
        })
    };
    let abs = canon(dir)?;
    let git_dir = match hash_path {
        Some(h) => {
            let h = canon(h)?;
            if !abs.starts_with(&h) {
                return Err(PkgError::Content {
                    package: dir.to_path_buf(),
                    message: format!(
                        "--hash-path {} is not a parent of the package directory {}",
                        h.display(),
                        abs.display()
                    ),
                });
            }
            h
        }
        None => abs.clone(),
    };
    let (ok, top) = git(&git_dir, &["rev-parse", "--show-toplevel"])?;
    if !ok {
        return Ok(None);
    }
    let top = canon(Path::new(top.trim()))?;
    let rel = abs
        .strip_prefix(&top)
        .map(|r| r.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok(Some((top, rel)))
}

/// The package hash: git tree id (+ dirty suffix), `--hash`, or "" outside git.
///
/// `extra` are further sources of the package outside its directory (the
/// workspace crates of `contents.cargo`, Cargo.lock): when there are any, the
/// hash is the SHA-256 (40 hex digits, like a git id) of the directory's tree
/// id and theirs, so the tag changes when the code changes; and a change in
/// any of them makes the tag dirty.
pub fn package_hash(dir: &Path, opts: &TagOptions, extra: &[PathBuf]) -> Result<String, PkgError> {
    if opts.dev {
        return Ok("dev".into());
    }
    if let Some(h) = &opts.hash {
        return Ok(h.clone());
    }
    let Some((top, rel)) = locate(dir, opts.hash_path.as_deref())? else {
        return Ok(String::new());
    };
    let commit = opts.hash_commit.as_str();
    let tree = |rel: &str| -> Result<String, PkgError> {
        Ok(if rel.is_empty() {
            git_ok(&top, &["show", "--format=%T", "-s", commit])?
                .trim()
                .to_string()
        } else {
            let out = git_ok(&top, &["ls-tree", "--full-tree", commit, "--", rel])?;
            match out.split_whitespace().nth(2) {
                Some(h) => h.to_string(),
                // Not committed yet: no tree at that commit.
                None => String::new(),
            }
        })
    };
    let mut hash = tree(&rel)?;
    let mut specs = vec![if rel.is_empty() {
        ".".to_string()
    } else {
        format!("{rel}/")
    }];
    // The extra sources, relative to the repository top.
    let extra_rel: Vec<String> = extra
        .iter()
        .filter_map(|e| {
            let abs = e.canonicalize().unwrap_or_else(|_| e.clone());
            let r = abs.strip_prefix(&top).ok()?.to_string_lossy().to_string();
            (!r.is_empty()).then_some(r)
        })
        .collect();
    if hash.is_empty() {
        // Not committed: only the dirty hash, over everything.
        specs.extend(extra_rel);
    } else if !extra_rel.is_empty() {
        let mut h = Sha256::new();
        h.update(hash.as_bytes());
        for r in extra_rel {
            let t = tree(&r)?;
            if t.is_empty() {
                // Not in the commit (e.g. a Cargo.lock the first build
                // writes): not part of the tag, and not making it dirty.
                continue;
            }
            h.update(b"\0");
            h.update(r.as_bytes());
            h.update(b"\0");
            h.update(t.as_bytes());
            specs.push(r);
        }
        hash = hex::encode(h.finalize())[..40].to_string();
    }
    if commit != "HEAD" {
        return Ok(hash);
    }
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let mut args = vec![
        "diff",
        "--no-ext-diff",
        "--exit-code",
        "--quiet",
        "HEAD",
        "--",
    ];
    args.extend(&specs);
    let (clean, _) = git(&top, &args)?;
    let mut args = vec!["ls-files", "--exclude-standard", "--others", "--"];
    args.extend(&specs);
    let untracked = git_ok(&top, &args)?;
    if clean && untracked.trim().is_empty() && !opts.force_dirty && !hash.is_empty() {
        return Ok(hash);
    }
    let mut args = vec!["ls-files", "--"];
    args.extend(&specs);
    let tracked = git_ok(&top, &args)?;
    let mut h = Sha256::new();
    for f in tracked.lines().chain(untracked.lines()) {
        h.update(f.as_bytes());
        let p = top.join(f);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let data = std::fs::read(&p).map_err(|e| PkgError::Io {
            context: format!("cannot read {}", p.display()),
            source: e,
        })?;
        h.update(&data);
    }
    // A directory not committed yet has no tree hash; upstream would then
    // produce the invalid tag `-dirty-…`: name it `uncommitted-dirty-…`.
    let base = if hash.is_empty() {
        "uncommitted"
    } else {
        hash.as_str()
    };
    Ok(format!("{base}-dirty-{}", &hex::encode(h.finalize())[..7]))
}

/// Expand the tag template (`{{.Hash}}` is the only field upstream offers).
pub fn expand_template(template: &str, hash: &str) -> String {
    let t = template
        .replace("{{.Hash}}", hash)
        .replace("{{ .Hash }}", hash);
    if t.is_empty() { "latest".into() } else { t }
}

/// `<org>/<image>:<tag>` and its canonical `docker.io/...` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageTag {
    /// e.g. `linuxkit/getty:<hash>`.
    pub short: String,
    /// e.g. `docker.io/linuxkit/getty:<hash>`.
    pub canonical: String,
}

/// Compute the tag of a package.
pub fn package_tag(
    dir: &Path,
    extra: &[PathBuf],
    image: &str,
    org: &str,
    template: Option<&str>,
    opts: &TagOptions,
) -> Result<PackageTag, PkgError> {
    let org = if opts.dev {
        std::env::var("USER").unwrap_or_else(|_| "dev".into())
    } else {
        opts.org.clone().unwrap_or_else(|| org.to_string())
    };
    let hash = package_hash(dir, opts, extra)?;
    let template = opts
        .tag_template
        .as_deref()
        .or(template)
        .unwrap_or("{{.Hash}}");
    let tag = expand_template(template, &hash);
    let short = format!("{org}/{image}:{tag}");
    let canonical = linuxkit_oci::reference::Reference::parse(&short)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| format!("docker.io/{short}"));
    Ok(PackageTag { short, canonical })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(expand_template("{{.Hash}}", "abc"), "abc");
        assert_eq!(expand_template("v1-{{.Hash}}", "abc"), "v1-abc");
        assert_eq!(expand_template("{{.Hash}}", ""), "latest");
    }
}
