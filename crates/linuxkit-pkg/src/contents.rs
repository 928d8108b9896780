//! Turning a package's `contents:` into layer entries: files and directories
//! from the package directory (which must stay inside it) or literal, symlinks,
//! static binaries built by cargo, and the unpacked Debian packages. Paths
//! are made relative, missing parent directories are added, and duplicates
//! are resolved (first directory wins, last file wins), so a layer never
//! holds a name twice.

use crate::buildyml::{CargoItem, Contents, ExtractAs, ExtractItem, FileItem};
use crate::error::PkgError;
use linuxkit_formats::{Entry, Kind};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn content_err(dir: &Path, message: String) -> PkgError {
    PkgError::Content {
        package: dir.to_path_buf(),
        message,
    }
}

/// Normalise an image path: relative, no `.`/`..` components.
pub fn image_path(p: &str) -> Option<String> {
    let c = linuxkit_formats::path::clean(p.trim_start_matches('/'));
    (c != "." && c != ".." && !c.starts_with("../") && !c.starts_with('/')).then_some(c)
}

/// Make a layer well-formed: parents first, one entry per path.
pub fn finish_layer(entries: Vec<Entry>, mtime: i64) -> Vec<Entry> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Entry> = Vec::new();
    let mut dirs: HashSet<String> = HashSet::new();
    let mut implied: HashSet<usize> = HashSet::new();
    for e in entries {
        // parents
        let parts: Vec<&str> = e.path.split('/').collect();
        for i in 1..parts.len() {
            let p = parts[..i].join("/");
            if dirs.insert(p.clone()) && !index.contains_key(&p) {
                index.insert(p.clone(), out.len());
                implied.insert(out.len());
                out.push(Entry::dir(p, 0o755, mtime));
            }
        }
        match index.get(&e.path) {
            Some(&i) if e.kind == Kind::Dir && out[i].kind == Kind::Dir => {
                // keep the first directory entry, but an explicit one beats an implied one
                if implied.remove(&i) {
                    out[i] = e;
                }
            }
            Some(&i) => out[i] = e,
            None => {
                if e.kind == Kind::Dir {
                    dirs.insert(e.path.clone());
                }
                index.insert(e.path.clone(), out.len());
                out.push(e);
            }
        }
    }
    out
}

fn file_entry(path: String, mode: u32, uid: u32, gid: u32, mtime: i64, data: Vec<u8>) -> Entry {
    let mut e = Entry::file(path, mode, mtime, data);
    e.uid = u64::from(uid);
    e.gid = u64::from(gid);
    e
}

/// Entries for `contents.files` and `contents.symlinks`.
pub fn local_entries(dir: &Path, contents: &Contents, mtime: i64) -> Result<Vec<Entry>, PkgError> {
    let root = dir
        .canonicalize()
        .map_err(|e| content_err(dir, format!("cannot open the package directory: {e}")))?;
    let mut out = Vec::new();
    for f in &contents.files {
        let path = image_path(&f.path).ok_or_else(|| {
            content_err(
                dir,
                format!("{}: `{}` is not a valid path in the image", f.at, f.path),
            )
        })?;
        if f.directory {
            let mut d = Entry::dir(path, f.mode.unwrap_or(0o755), mtime);
            d.uid = u64::from(f.uid);
            d.gid = u64::from(f.gid);
            out.push(d);
        } else if let Some(c) = &f.contents {
            out.push(file_entry(
                path,
                f.mode.unwrap_or(0o644),
                f.uid,
                f.gid,
                mtime,
                c.clone().into_bytes(),
            ));
        } else if let Some(src) = &f.source {
            add_source(dir, &root, f, src, &path, mtime, &mut out)?;
        }
    }
    for s in &contents.symlinks {
        let path = image_path(&s.path).ok_or_else(|| {
            content_err(
                dir,
                format!("symlink `{}` is not a valid path in the image", s.path),
            )
        })?;
        out.push(Entry::symlink(path, s.target.clone(), 0o777, mtime));
    }
    Ok(out)
}

fn add_source(
    dir: &Path,
    root: &Path,
    f: &FileItem,
    src: &str,
    path: &str,
    mtime: i64,
    out: &mut Vec<Entry>,
) -> Result<(), PkgError> {
    let full = root.join(src);
    let real = full
        .canonicalize()
        .map_err(|e| content_err(dir, format!("{}: source `{src}` cannot be read: {e}", f.at)))?;
    if !real.starts_with(root) {
        return Err(content_err(
            dir,
            format!(
                "{}: source `{src}` is outside the package directory ({}); a package may only use its own files",
                f.at,
                real.display()
            ),
        ));
    }
    let meta =
        std::fs::metadata(&real).map_err(|e| content_err(dir, format!("{}: {src}: {e}", f.at)))?;
    if meta.is_dir() {
        walk(dir, &real, path, f, mtime, out)
    } else {
        use std::os::unix::fs::PermissionsExt;
        let exec = meta.permissions().mode() & 0o111 != 0;
        let data =
            std::fs::read(&real).map_err(|e| content_err(dir, format!("{}: {src}: {e}", f.at)))?;
        let mode = f.mode.unwrap_or(if exec { 0o755 } else { 0o644 });
        out.push(file_entry(
            path.to_string(),
            mode,
            f.uid,
            f.gid,
            mtime,
            data,
        ));
        Ok(())
    }
}

fn walk(
    dir: &Path,
    from: &Path,
    to: &str,
    f: &FileItem,
    mtime: i64,
    out: &mut Vec<Entry>,
) -> Result<(), PkgError> {
    use std::os::unix::fs::PermissionsExt;
    let mut d = Entry::dir(to.to_string(), f.mode.unwrap_or(0o755), mtime);
    d.uid = u64::from(f.uid);
    d.gid = u64::from(f.gid);
    out.push(d);
    let mut names: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|e| content_err(dir, format!("{}: {}: {e}", f.at, from.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for p in names {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let target = format!("{to}/{name}");
        let meta = std::fs::symlink_metadata(&p)
            .map_err(|e| content_err(dir, format!("{}: {e}", p.display())))?;
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&p)
                .map_err(|e| content_err(dir, format!("{}: {e}", p.display())))?;
            out.push(Entry::symlink(
                target,
                link.to_string_lossy().to_string(),
                0o777,
                mtime,
            ));
        } else if meta.is_dir() {
            walk(dir, &p, &target, f, mtime, out)?;
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            let data =
                std::fs::read(&p).map_err(|e| content_err(dir, format!("{}: {e}", p.display())))?;
            out.push(file_entry(
                target,
                if exec { 0o755 } else { 0o644 },
                f.uid,
                f.gid,
                mtime,
                data,
            ));
        }
    }
    Ok(())
}

/// `*` matches within one path component; everything else literally.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    if p.len() != s.len() {
        return false;
    }
    p.iter()
        .zip(&s)
        .all(|(p, s)| component_match(p.as_bytes(), s.as_bytes()))
}

fn component_match(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| component_match(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && component_match(rest, &s[1..]),
    }
}

/// Entries for `contents.extract`, taken from the unpacked Debian packages.
pub fn extract_entries(
    dir: &Path,
    items: &[ExtractItem],
    debs: &[Entry],
    mtime: i64,
) -> Result<Vec<Entry>, PkgError> {
    let mut out = Vec::new();
    for x in items {
        let pattern = image_path(&x.from).ok_or_else(|| {
            content_err(dir, format!("{}: `{}` is not a valid path", x.at, x.from))
        })?;
        let path = image_path(&x.path).ok_or_else(|| {
            content_err(
                dir,
                format!("{}: `{}` is not a valid path in the image", x.at, x.path),
            )
        })?;
        let mut matched: Vec<&Entry> = debs
            .iter()
            .filter(|e| glob_match(&pattern, &e.path))
            .collect();
        matched.sort_by(|a, b| a.path.cmp(&b.path));
        matched.dedup_by(|a, b| a.path == b.path);
        let none = || {
            content_err(
                dir,
                format!(
                    "{}: nothing in the Debian packages matches `{}`",
                    x.at, x.from
                ),
            )
        };
        match x.r#as {
            ExtractAs::File => {
                let files: Vec<&&Entry> = matched.iter().filter(|e| e.kind == Kind::File).collect();
                let [one] = files.as_slice() else {
                    return Err(if files.is_empty() {
                        none()
                    } else {
                        content_err(
                            dir,
                            format!(
                                "{}: `{}` matches {} files ({}); make the pattern match one",
                                x.at,
                                x.from,
                                files.len(),
                                files
                                    .iter()
                                    .map(|e| e.path.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    });
                };
                out.push(Entry::file(
                    path,
                    x.mode.unwrap_or(one.mode & 0o7777),
                    mtime,
                    one.data.clone(),
                ));
            }
            ExtractAs::Concat => {
                let mut data = Vec::new();
                let mut any = false;
                for e in matched.iter().filter(|e| e.kind == Kind::File) {
                    data.extend_from_slice(&e.data);
                    if !data.ends_with(b"\n") {
                        data.push(b'\n');
                    }
                    any = true;
                }
                if !any {
                    return Err(none());
                }
                out.push(Entry::file(path, x.mode.unwrap_or(0o644), mtime, data));
            }
            ExtractAs::Tar => {
                let roots: Vec<&str> = matched
                    .iter()
                    .filter(|e| e.kind == Kind::Dir)
                    .map(|e| e.path.as_str())
                    .collect();
                if roots.is_empty() {
                    return Err(none());
                }
                let mut w = linuxkit_formats::tar::TarWriter::without_provenance(Vec::new());
                let inside = |p: &str| {
                    roots
                        .iter()
                        .any(|r| p == *r || p.starts_with(&format!("{r}/")))
                };
                let mut members: Vec<Entry> =
                    debs.iter().filter(|e| inside(&e.path)).cloned().collect();
                // parents of the roots, so the archive unpacks anywhere
                let mut parents: Vec<String> = Vec::new();
                for r in &roots {
                    let parts: Vec<&str> = r.split('/').collect();
                    for i in 1..parts.len() {
                        let p = parts[..i].join("/");
                        if !parents.contains(&p) {
                            parents.push(p);
                        }
                    }
                }
                let mut all: Vec<Entry> = parents
                    .into_iter()
                    .map(|p| Entry::dir(p, 0o755, mtime))
                    .collect();
                all.append(&mut members);
                for e in finish_layer(all, mtime) {
                    w.write_entry(&e).map_err(|err| PkgError::Io {
                        context: format!("cannot write {}", x.path),
                        source: err,
                    })?;
                }
                let tar = w.finish().map_err(|err| PkgError::Io {
                    context: format!("cannot write {}", x.path),
                    source: err,
                })?;
                out.push(Entry::file(path, x.mode.unwrap_or(0o644), mtime, tar));
            }
        }
    }
    Ok(out)
}

/// The workspace root above `dir` (a Cargo.toml with `[workspace]`).
pub fn workspace_root(dir: &Path) -> Option<PathBuf> {
    let mut at = dir.canonicalize().ok()?;
    loop {
        let manifest = at.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("[workspace]")) {
            return Some(at);
        }
        if !at.pop() {
            return None;
        }
    }
}

/// The sources outside the package directory that `contents.cargo` builds
/// from: each crate's directory (`crates/<package>` or the workspace member
/// of that name), the workspace `Cargo.toml`, `Cargo.lock` and
/// `rust-toolchain.toml` and `third_party/`. They enter the package's tag.
pub fn cargo_sources(dir: &Path, items: &[CargoItem]) -> Vec<PathBuf> {
    if items.is_empty() {
        return Vec::new();
    }
    let Some(ws) = workspace_root(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut todo: Vec<String> = items.iter().map(|i| i.package.clone()).collect();
    while let Some(name) = todo.pop() {
        let conventional = ws.join("crates").join(&name);
        if conventional.join("Cargo.toml").is_file() && !out.contains(&conventional) {
            // and the workspace crates it depends on, recursively
            todo.extend(workspace_dependencies(&conventional.join("Cargo.toml")));
            out.push(conventional);
        }
    }
    // `third_party/` holds patched crates ([patch.crates-io]).
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "third_party",
    ] {
        if ws.join(f).exists() {
            out.push(ws.join(f));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The names in the `[dependencies]` and `[build-dependencies]` tables of
/// a crate manifest (the keys before `=` or `.workspace`), read line by
/// line: enough to find which workspace crates a crate uses.
fn workspace_dependencies(manifest: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return Vec::new();
    };
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = matches!(line, "[dependencies]" | "[build-dependencies]");
            continue;
        }
        if !in_deps || line.starts_with('#') {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            let name = key.strip_suffix(".workspace").unwrap_or(key).trim();
            if !name.is_empty() {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Build `contents.cargo` binaries (static, musl) and return their entries.
pub fn cargo_entries(dir: &Path, items: &[CargoItem], mtime: i64) -> Result<Vec<Entry>, PkgError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let ws = workspace_root(dir).ok_or_else(|| {
        content_err(
            dir,
            "contents.cargo needs the package to be inside a cargo workspace".into(),
        )
    })?;
    const TARGET: &str = "x86_64-unknown-linux-musl";
    // The workspace's profile for in-VM binaries (small: opt-level s, LTO,
    // stripped) when it defines one, else release.
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap_or_default();
    let profile = if manifest.contains("[profile.in-vm]") {
        "in-vm"
    } else {
        "release"
    };
    let target_dir = ws.join("target").join("pkg");
    let mut out = Vec::new();
    for item in items {
        let bin = item.bin.clone().unwrap_or_else(|| item.package.clone());
        tracing::info!(
            "  cargo build -p {} --bin {bin} (static, {TARGET})",
            item.package
        );
        let home = std::env::var("CARGO_HOME")
            .or_else(|_| std::env::var("HOME").map(|h| format!("{h}/.cargo")))
            .unwrap_or_default();
        let flags = format!(
            "--remap-path-prefix={}=/src\x1f--remap-path-prefix={home}=/cargo\x1f-Ctarget-feature=+crt-static",
            ws.display()
        );
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&ws)
                .args([
                    "build",
                    "--profile",
                    profile,
                    "--target",
                    TARGET,
                    "-p",
                    &item.package,
                    "--bin",
                    &bin,
                ])
                .arg("--target-dir")
                .arg(&target_dir)
                .env("CARGO_ENCODED_RUSTFLAGS", flags)
                .env("SOURCE_DATE_EPOCH", mtime.to_string())
                .status()
                .map_err(|e| content_err(dir, format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(content_err(
                dir,
                format!(
                    "cargo build of {} (bin {bin}) for {TARGET} failed; is the target installed (`rustup target add {TARGET}`)?",
                    item.package
                ),
            ));
        }
        let built = target_dir.join(TARGET).join(profile).join(&bin);
        let data = std::fs::read(&built)
            .map_err(|e| content_err(dir, format!("{}: {e}", built.display())))?;
        let path = image_path(&item.path).ok_or_else(|| {
            content_err(
                dir,
                format!("cargo binary path `{}` is not valid", item.path),
            )
        })?;
        out.push(Entry::file(path, 0o755, mtime, Arc::<[u8]>::from(data)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_sources_follow_workspace_dependencies() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let item = CargoItem {
            package: "linuxkit-init".into(),
            bin: None,
            path: "/init".into(),
        };
        let src = cargo_sources(&ws.join("pkg/init"), &[item]);
        let names: Vec<String> = src
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        for want in [
            "linuxkit-init",
            "linuxkit-vm-abi",
            "Cargo.lock",
            "third_party",
        ] {
            assert!(names.contains(&want.to_string()), "{want} in {names:?}");
        }
        for unwanted in ["linuxkit-build", "linuxkit-formats"] {
            assert!(!names.contains(&unwanted.to_string()), "{names:?}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            "boot/vmlinuz-*",
            "boot/vmlinuz-6.1.0-cloud-amd64"
        ));
        assert!(!glob_match("boot/vmlinuz-*", "boot/x/vmlinuz-1"));
        assert!(glob_match(
            "usr/share/*/mozilla/*.crt",
            "usr/share/ca/mozilla/A.crt"
        ));
        assert!(!glob_match("a/*.crt", "a/b.pem"));
    }

    #[test]
    fn extract_file_tar_concat() {
        let debs = vec![
            Entry::dir("boot", 0o755, 5),
            Entry::file("boot/vmlinuz-6.1", 0o644, 5, b"KERNEL".to_vec()),
            Entry::dir("lib", 0o755, 5),
            Entry::dir("lib/modules", 0o755, 5),
            Entry::dir("lib/modules/6.1", 0o755, 5),
            Entry::file("lib/modules/6.1/a.ko", 0o644, 5, b"ko".to_vec()),
            Entry::file("c/b.crt", 0o644, 5, b"B".to_vec()),
            Entry::file("c/a.crt", 0o644, 5, b"A\n".to_vec()),
        ];
        let item = |from: &str, path: &str, r#as| ExtractItem {
            from: from.into(),
            path: path.into(),
            r#as,
            ..ExtractItem::default()
        };
        let out = extract_entries(
            Path::new("p"),
            &[
                item("/boot/vmlinuz-*", "/kernel", ExtractAs::File),
                item("/lib/modules", "/kernel.tar", ExtractAs::Tar),
                item("/c/*.crt", "/etc/ca.crt", ExtractAs::Concat),
            ],
            &debs,
            1,
        )
        .unwrap();
        assert_eq!(&*out[0].data, b"KERNEL");
        assert_eq!(&*out[2].data, b"A\nB\n");
        let mut a = tar::Archive::new(&out[1].data[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "lib",
                "lib/modules",
                "lib/modules/6.1",
                "lib/modules/6.1/a.ko"
            ]
        );
        let err = extract_entries(
            Path::new("p"),
            &[item("/nope/*", "/x", ExtractAs::File)],
            &debs,
            1,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("nothing in the Debian packages matches `/nope/*`")
        );
    }

    #[test]
    fn paths() {
        assert_eq!(image_path("/usr/bin/x").unwrap(), "usr/bin/x");
        assert!(image_path("/").is_none());
        assert!(image_path("../x").is_none());
    }

    #[test]
    fn layers_get_parents_and_no_duplicates() {
        let l = finish_layer(
            vec![
                Entry::file("a/b/c", 0o644, 1, b"1".to_vec()),
                Entry::dir("a", 0o700, 1),
                Entry::file("a/b/c", 0o644, 1, b"2".to_vec()),
            ],
            1,
        );
        let names: Vec<&str> = l.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a", "a/b", "a/b/c"]);
        assert_eq!(l[0].mode, 0o700);
        assert_eq!(&*l[2].data, b"2");
    }
}
