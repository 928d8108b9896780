//! The lock file `debian.lock`: the exact Debian packages of an image
//! (name, version, architecture, size, sha256), written beside `build.yml`
//! so that a rebuild installs the same bytes. JSON with stable bytes:
//! packages sorted by name, two-space indent, trailing newline. Reading and
//! atomic writing only; it does not resolve or download.

use std::io::Write;
use std::path::Path;

use super::DebianError;

/// One resolved Debian package, as recorded in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockedPackage {
    /// Package name (`busybox-static`).
    pub name: String,
    /// Exact version, with its epoch (`1:1.35.0-4+deb12u1+b1`).
    pub version: String,
    /// Debian architecture of the file (`amd64` or `all`).
    pub architecture: String,
    /// sha256 of the `.deb`, lowercase hex.
    pub sha256: String,
    /// Size of the `.deb` in bytes.
    pub size: u64,
    /// Pool path from apt (informational).
    pub filename: String,
}

/// The lock file `debian.lock` beside `build.yml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Lock {
    /// The packages, sorted by name.
    pub packages: Vec<LockedPackage>,
}

impl Lock {
    /// Read a lock file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>, DebianError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DebianError::LockFile {
                    path: path.to_path_buf(),
                    message: format!("cannot read it: {e}"),
                });
            }
        };
        let lock: Lock = serde_json::from_str(&text).map_err(|e| DebianError::LockFile {
            path: path.to_path_buf(),
            message: format!("not a valid lock file: {e}"),
        })?;
        lock.validate().map_err(|message| DebianError::LockFile {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(Some(lock))
    }

    /// Write the lock file atomically (temporary file, fsync, rename), with
    /// the packages sorted by name.
    pub fn write(&self, path: &Path) -> Result<(), DebianError> {
        let text = self.to_json();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let ctx = || format!("cannot write lock file {}", path.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".debian.lock.")
            .tempfile_in(dir)
            .map_err(DebianError::io(ctx()))?;
        tmp.write_all(text.as_bytes())
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(DebianError::io(ctx()))?;
        // A file meant to be committed: readable by everyone, like its neighbours.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(DebianError::io(ctx()))?;
        }
        tmp.persist(path)
            .map_err(|e| DebianError::io(ctx())(e.error))?;
        Ok(())
    }

    /// The file's bytes: sorted, two-space indented JSON with a trailing
    /// newline.
    pub fn to_json(&self) -> String {
        let mut sorted = self.clone();
        sorted.sort();
        let mut text = serde_json::to_string_pretty(&sorted).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Sort the packages by name (then architecture, version).
    pub fn sort(&mut self) {
        self.packages.sort_by(|a, b| {
            (&a.name, &a.architecture, &a.version).cmp(&(&b.name, &b.architecture, &b.version))
        });
    }

    /// The requested names that the lock does not hold: a non-empty answer
    /// means `build.yml` changed since the lock was written and it must be
    /// resolved again.
    pub fn missing<'a>(&self, requested: &'a [String]) -> Vec<&'a str> {
        requested
            .iter()
            .filter(|r| !self.packages.iter().any(|p| p.name == **r))
            .map(String::as_str)
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for p in &self.packages {
            if p.name.is_empty()
                || p.name.contains(['/', '\0', ' ', '='])
                || p.name.starts_with('.')
            {
                return Err(format!("invalid package name {:?}", p.name));
            }
            if p.version.is_empty() || p.version.contains(['/', '\0', ' ']) {
                return Err(format!(
                    "package {}: invalid version {:?}",
                    p.name, p.version
                ));
            }
            if p.architecture.is_empty() || p.architecture.contains(['/', '\0', ' ']) {
                return Err(format!(
                    "package {}: invalid architecture {:?}",
                    p.name, p.architecture
                ));
            }
            if p.sha256.len() != 64
                || !p
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(format!(
                    "package {} {}: sha256 {:?} is not 64 lowercase hex digits",
                    p.name, p.version, p.sha256
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: "1:1.0-1".into(),
            architecture: "amd64".into(),
            sha256: "ab".repeat(32),
            size: 10,
            filename: format!("pool/main/x/{name}_1.0-1_amd64.deb"),
        }
    }

    #[test]
    fn write_sorts_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debian.lock");
        assert_eq!(Lock::read(&path).unwrap(), None);
        let lock = Lock {
            packages: vec![pkg("zlib1g"), pkg("busybox-static")],
        };
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(
            text.starts_with("{\n  \"packages\": [\n    {\n      \"name\": \"busybox-static\"")
        );
        let back = Lock::read(&path).unwrap().unwrap();
        assert_eq!(back.packages[0].name, "busybox-static");
        assert_eq!(back.packages[1].name, "zlib1g");
        // Stable bytes.
        back.write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(back.missing(&["zlib1g".into(), "x".into()]), ["x"]);
    }

    #[test]
    fn bad_lock_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debian.lock");
        std::fs::write(&path, "{not json").unwrap();
        // Written as JSON without the checks `Lock::write` would make.
        let write_raw = |p| {
            let json = serde_json::to_string(&Lock { packages: vec![p] }).unwrap();
            std::fs::write(&path, json).unwrap();
        };
        let e = Lock::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("debian.lock") && e.contains("not a valid lock file"),
            "{e}"
        );
        let mut bad = pkg("a");
        bad.sha256 = "XYZ".into();
        write_raw(bad);
        let e = Lock::read(&path).unwrap_err().to_string();
        assert!(e.contains("package a") && e.contains("sha256"), "{e}");
        let mut bad = pkg("../x");
        bad.name = "../x".into();
        write_raw(bad);
        assert!(Lock::read(&path).is_err());
    }
}
