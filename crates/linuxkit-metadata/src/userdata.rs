//! User data into `/run/config`, as upstream's `processUserData`: the raw
//! bytes always go to `userdata` (0644); when they are a JSON object of
//! entries — `{"NAME": {"perm": "0600", "content": "..."}}` for a file,
//! `{"NAME": {"perm": "0755", "entries": {...}}}` for a directory — the tree
//! is written under the base directory (default modes 0644 and 0755).
//!
//! Beyond upstream: every name must be one plain path component (no `/`,
//! not empty, `.` or `..`), so nothing is written outside the base
//! directory; files are created without following symlinks; the mode given
//! is the mode set (no umask).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// One entry of the JSON tree: a file (`content`) or a directory (`entries`).
#[derive(Debug, Deserialize)]
pub struct Entry {
    /// Octal mode, e.g. `"0600"`.
    #[serde(default)]
    pub perm: Option<String>,
    /// File contents.
    #[serde(default)]
    pub content: Option<String>,
    /// Directory entries.
    #[serde(default)]
    pub entries: Option<BTreeMap<String, Entry>>,
}

/// Write the raw `data` and, when it is a JSON tree, its files under
/// `base`. Problems with single entries are logged through `log` and
/// skipped, as upstream does; `Err` only when `userdata` cannot be written.
pub fn process(base: &Path, data: &[u8], log: &mut dyn FnMut(String)) -> std::io::Result<()> {
    write_file(&base.join("userdata"), data.to_vec(), 0o644)?;
    let root: BTreeMap<String, Entry> = match serde_json::from_slice(data) {
        Ok(r) => r,
        Err(e) => {
            log(format!(
                "userdata is not a JSON tree of files ({e}): kept as userdata only"
            ));
            return Ok(());
        }
    };
    for (name, entry) in &root {
        write_entry(base, name, entry, log);
    }
    Ok(())
}

/// A name that stays inside its directory.
fn safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn parse_mode(perm: &Option<String>, default: u32) -> Result<u32, String> {
    match perm.as_deref() {
        None | Some("") => Ok(default),
        Some(p) => u32::from_str_radix(p, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| format!("invalid permission {p:?} (octal, e.g. \"0644\")")),
    }
}

fn write_file(path: &Path, data: Vec<u8>, mode: u32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(&data)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

fn write_entry(dir: &Path, name: &str, e: &Entry, log: &mut dyn FnMut(String)) {
    let target = dir.join(name);
    if !safe_name(name) {
        log(format!(
            "{}: refused: an entry name must be one path component (no '/', '.' or '..')",
            target.display()
        ));
        return;
    }
    match (&e.content, &e.entries) {
        (Some(content), None) => {
            let mode = match parse_mode(&e.perm, 0o644) {
                Ok(m) => m,
                Err(why) => return log(format!("{}: {why}", target.display())),
            };
            if let Err(err) = write_file(&target, content.clone().into_bytes(), mode) {
                log(format!("failed to write {}: {err}", target.display()));
            }
        }
        (None, Some(entries)) => {
            let mode = match parse_mode(&e.perm, 0o755) {
                Ok(m) => m,
                Err(why) => return log(format!("{}: {why}", target.display())),
            };
            // a directory the tree names: made here, never followed if a symlink
            match std::fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return log(format!(
                        "{}: exists and is not a directory",
                        target.display()
                    ));
                }
                Err(_) => {
                    if let Err(err) = std::fs::create_dir(&target) {
                        return log(format!("failed to create {}: {err}", target.display()));
                    }
                }
            }
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode));
            for (n, child) in entries {
                write_entry(&target, n, child, log);
            }
        }
        _ => log(format!(
            "{} is invalid: an entry has either \"content\" or \"entries\"",
            target.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn run(data: &[u8]) -> (tempfile::TempDir, Vec<String>) {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("config");
        std::fs::create_dir(&base).unwrap();
        let mut logs = Vec::new();
        process(&base, data, &mut |l| logs.push(l)).unwrap();
        (t, logs)
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_json_tree_is_expanded_with_its_modes() {
        let data = br#"{"ssh":{"perm":"0700","entries":{"authorized_keys":{"perm":"0600","content":"ssh-ed25519 AAAA k\n"}}},
            "hostname":{"content":"box"},
            "web":{"entries":{"index.html":{"perm":"0444","content":"<h1>hi</h1>"},"sub":{"entries":{}}}}}"#;
        let (t, logs) = run(data);
        let b = t.path().join("config");
        assert!(logs.is_empty(), "{logs:?}");
        assert_eq!(std::fs::read(b.join("userdata")).unwrap(), data);
        assert_eq!(mode(&b.join("userdata")), 0o644);
        assert_eq!(
            std::fs::read_to_string(b.join("ssh/authorized_keys")).unwrap(),
            "ssh-ed25519 AAAA k\n"
        );
        assert_eq!(mode(&b.join("ssh")), 0o700);
        assert_eq!(mode(&b.join("ssh/authorized_keys")), 0o600);
        assert_eq!(std::fs::read_to_string(b.join("hostname")).unwrap(), "box");
        assert_eq!(mode(&b.join("hostname")), 0o644);
        assert_eq!(mode(&b.join("web/index.html")), 0o444);
        assert_eq!(mode(&b.join("web/sub")), 0o755);
    }

    #[test]
    fn user_data_that_is_not_json_is_kept_as_it_is() {
        let (t, logs) = run(b"#cloud-config\nhostname: x\n");
        let b = t.path().join("config");
        assert_eq!(
            std::fs::read(b.join("userdata")).unwrap(),
            b"#cloud-config\nhostname: x\n"
        );
        assert_eq!(std::fs::read_dir(&b).unwrap().count(), 1);
        assert_eq!(logs.len(), 1);
        // a JSON value that is not a tree of entries: the same
        let (t, _) = run(b"[1,2]");
        assert_eq!(
            std::fs::read_dir(t.path().join("config")).unwrap().count(),
            1
        );
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let data = br#"{"..":{"content":"x"},"a/../../b":{"content":"x"},"/etc":{"entries":{}},
            "d":{"entries":{"..":{"content":"y"},"../../e":{"content":"y"},"ok":{"content":"z"}}},
            "bad":{"perm":"9","content":"q"},"both":{"content":"c","entries":{}}}"#;
        let (t, logs) = run(data);
        let b = t.path().join("config");
        let mut names: Vec<_> = std::fs::read_dir(&b)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["d", "userdata"]);
        assert_eq!(std::fs::read_dir(b.join("d")).unwrap().count(), 1);
        let mut outside: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        outside.sort();
        assert_eq!(outside, ["config"]);
        assert_eq!(logs.len(), 7, "{logs:?}");
    }

    #[test]
    fn a_symlink_in_the_way_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("config");
        std::fs::create_dir(&base).unwrap();
        std::os::unix::fs::symlink(t.path().join("victim"), base.join("f")).unwrap();
        std::os::unix::fs::symlink(t.path(), base.join("d")).unwrap();
        let mut logs = Vec::new();
        process(
            &base,
            br#"{"f":{"content":"x"},"d":{"entries":{"g":{"content":"y"}}}}"#,
            &mut |l| logs.push(l),
        )
        .unwrap();
        assert!(!t.path().join("victim").exists());
        assert!(!t.path().join("g").exists());
        assert_eq!(logs.len(), 2, "{logs:?}");
    }
}
