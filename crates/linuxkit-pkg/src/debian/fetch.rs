//! The `.deb` store: every locked package as a file
//! `NAME_VERSION_ARCH.deb` (epoch colon written `%3a`, as apt does) in a
//! store directory of the image cache. Missing files are downloaded with
//! `apt-get download NAME=VERSION` into a temporary directory inside the
//! store, verified against the lock's sha256, and only then renamed into
//! place, all of them or none; stored files are verified on every use and
//! removed when they do not match. It never changes the lock.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::resolve::{run, run_in};
use super::{DebianError, Lock, LockedPackage};

/// The store's file name of a locked package, e.g.
/// `busybox-static_1%3a1.35.0-4+b3_amd64.deb`.
pub fn store_file_name(p: &LockedPackage) -> String {
    format!(
        "{}_{}_{}.deb",
        p.name,
        p.version.replace(':', "%3a"),
        p.architecture
    )
}

/// Make sure every locked `.deb` is in `store`, downloading missing ones,
/// and verify each against the lock. Returns the paths in lock order.
pub fn fetch(lock: &Lock, store: &Path) -> Result<Vec<PathBuf>, DebianError> {
    lock.validate().map_err(|message| DebianError::LockFile {
        path: PathBuf::from("debian.lock"),
        message,
    })?;
    std::fs::create_dir_all(store).map_err(DebianError::io(format!(
        "cannot create the Debian package store {}",
        store.display()
    )))?;
    remove_stale_downloads(store);
    let mut paths = Vec::with_capacity(lock.packages.len());
    let mut missing = Vec::new();
    for p in &lock.packages {
        let path = store.join(store_file_name(p));
        if path.exists() {
            let actual = sha256_file(&path)?;
            if actual != p.sha256 {
                let _ = std::fs::remove_file(&path);
                return Err(DebianError::ShaMismatch {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    expected: p.sha256.clone(),
                    actual,
                    path,
                    downloaded: false,
                });
            }
        } else {
            missing.push(p);
        }
        paths.push(path);
    }
    if !missing.is_empty() {
        download(&missing, store)?;
    }
    Ok(paths)
}

/// Download `missing` into a temporary directory of `store`, verify every
/// file, then move them all in.
fn download(missing: &[&LockedPackage], store: &Path) -> Result<(), DebianError> {
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(store)
        .map_err(DebianError::io(format!(
            "cannot create a temporary directory in {}",
            store.display()
        )))?;
    let native = run("dpkg", &["--print-architecture".to_string()])?
        .stdout
        .trim()
        .to_string();
    let spec = |p: &LockedPackage| {
        if p.architecture == "all" || p.architecture == native {
            format!("{}={}", p.name, p.version)
        } else {
            format!("{}:{}={}", p.name, p.architecture, p.version)
        }
    };
    for chunk in missing.chunks(200) {
        let mut args = vec!["download".to_string()];
        args.extend(chunk.iter().map(|p| spec(p)));
        tracing::info!(
            "  downloading {} Debian package(s) with apt-get",
            chunk.len()
        );
        let out = run_in("apt-get", &args, Some(tmp.path()))?;
        if !out.success {
            // Name the package that failed: try them one at a time.
            for p in chunk {
                let args = vec!["download".to_string(), spec(p)];
                let out = run_in("apt-get", &args, Some(tmp.path()))?;
                if !out.success && !from_pool(p, tmp.path())? {
                    return Err(DebianError::Download {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        message: apt_errors(&out.stderr),
                    });
                }
            }
        }
    }
    let mut verified = Vec::with_capacity(missing.len());
    for p in missing {
        let file = store_file_name(p);
        let downloaded = tmp.path().join(&file);
        if !downloaded.exists() {
            return Err(DebianError::Download {
                name: p.name.clone(),
                version: p.version.clone(),
                message: format!("apt-get download did not produce {file}"),
            });
        }
        let actual = sha256_file(&downloaded)?;
        if actual != p.sha256 {
            return Err(DebianError::ShaMismatch {
                name: p.name.clone(),
                version: p.version.clone(),
                expected: p.sha256.clone(),
                actual,
                path: store.join(&file),
                downloaded: true,
            });
        }
        verified.push((downloaded, store.join(&file)));
    }
    for (from, to) in &verified {
        std::fs::File::open(from)
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(from, to))
            .map_err(DebianError::io(format!("cannot store {}", to.display())))?;
    }
    if let Ok(d) = std::fs::File::open(store) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The archive roots of apt's sources (`http://deb.debian.org/debian`,
/// ...), from `apt-get indextargets`.
fn archive_roots() -> Vec<String> {
    let args = vec![
        "indextargets".to_string(),
        "--format".into(),
        "$(URI)".into(),
    ];
    let Ok(out) = run("apt-get", &args) else {
        return Vec::new();
    };
    let mut roots: Vec<String> = Vec::new();
    for line in out.stdout.lines() {
        if let Some((root, _)) = line.trim().split_once("/dists/")
            && !roots.iter().any(|r| r == root)
        {
            roots.push(root.to_string());
        }
    }
    roots
}

/// A locked version that apt's lists no longer carry (a security update
/// replaced it) often still sits in the archive's pool for a while: fetch
/// the lock's pool file from each of apt's archives with apt's own
/// downloader (`apt-helper download-file`, which checks the sha256 and
/// honours apt's proxy settings). Returns whether it was fetched.
fn from_pool(p: &LockedPackage, dir: &Path) -> Result<bool, DebianError> {
    if p.filename.is_empty() || p.filename.contains("..") {
        return Ok(false);
    }
    let dest = dir.join(store_file_name(p));
    for root in archive_roots() {
        let url = format!("{root}/{}", p.filename.trim_start_matches('/'));
        let args = vec![
            "download-file".to_string(),
            url.clone(),
            dest.to_string_lossy().into_owned(),
            format!("SHA256:{}", p.sha256),
        ];
        let out = run_in("/usr/lib/apt/apt-helper", &args, Some(dir))?;
        if out.success && dest.exists() {
            tracing::info!(
                "  {} {} is no longer in apt's lists; fetched {url} (sha256 checked)",
                p.name,
                p.version
            );
            return Ok(true);
        }
        let _ = std::fs::remove_file(&dest);
    }
    Ok(false)
}

/// Remove temporary download directories a killed build left behind (older
/// than a day, so a concurrent build's are kept).
fn remove_stale_downloads(store: &Path) {
    let Ok(dir) = std::fs::read_dir(store) else {
        return;
    };
    for e in dir.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with(".download-")
            && e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 24 * 3600);
        if stale {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// apt's error lines (or all of stderr when it printed none).
fn apt_errors(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E:")).collect();
    if errors.is_empty() {
        stderr.trim().to_string()
    } else {
        errors.join(" ")
    }
}

/// sha256 of a file, lowercase hex.
fn sha256_file(path: &Path) -> Result<String, DebianError> {
    let ctx = || format!("cannot read {}", path.display());
    let mut f = std::fs::File::open(path).map_err(DebianError::io(ctx()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(DebianError::io(ctx()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
