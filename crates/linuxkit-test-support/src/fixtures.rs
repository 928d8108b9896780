//! Fixtures: the repository and `../shared` beside it, scratch trees, the
//! conformance image cache, readers of tar and newc cpio, git with a fixed
//! identity, free ports.

use crate::tools::Run;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// `../shared` beside the repository (or `$LINUXKIT_SHARED`): the
/// conformance corpus and its image cache.
pub fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("LINUXKIT_SHARED") {
        return PathBuf::from(p);
    }
    repo_root().join("../shared")
}

/// The conformance image cache (synthetic kernel/init images).
pub fn conformance_cache() -> PathBuf {
    shared().join("conformance/images/cache")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Copy a directory tree.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A fresh copy of the conformance image cache.
pub fn fresh_cache(dir: &Path) -> PathBuf {
    let c = dir.join("cache");
    copy_tree(&conformance_cache(), &c);
    c
}

/// A small configuration using the conformance images.
pub const SMALL: &str = r#"kernel:
  image: linuxkit/kernel:6.12.59
  cmdline: "console=ttyS0"
init:
  - linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a
  - linuxkit/runc:9442aa234715e751a16144f1d4ae3fd1a00fd492
  - linuxkit/containerd:ba19f64efd3331a8fd0a33e00eabd14f6ee1780e
onboot:
  - name: dhcpcd
    image: linuxkit/dhcpcd:b87e9ececac55a65eaa592f4dd8b4e0c3009afdb
    command: ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
services:
  - name: getty
    image: linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0
  - name: alpine
    image: alpine:3.21
    readonly: true
files:
  - path: etc/linuxkit.yml
    metadata: yaml
  - path: etc/motd
    contents: "hello"
"#;

/// Read a tar into (path, mtime, type byte, contents).
pub fn read_tar(data: &[u8]) -> Vec<(String, u64, u8, Vec<u8>)> {
    use std::io::Read;
    let mut a = tar::Archive::new(data);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = String::from_utf8_lossy(&e.path_bytes()).to_string();
        let m = e.header().mtime().unwrap();
        let t = e.header().entry_type().as_byte();
        let mut d = Vec::new();
        e.read_to_end(&mut d).unwrap();
        out.push((p, m, t, d));
    }
    out
}

/// Parse a stream of concatenated newc cpio archives (as the kernel reads
/// an initrd) into (name, mode, contents); each archive ends with a
/// `TRAILER!!!` entry and zero padding.
pub fn read_cpio(data: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        while at < data.len() && data[at] == 0 {
            at += 1;
        }
        if at >= data.len() {
            return out;
        }
        let (mut part, next) = read_one_cpio(data, at);
        assert!(next > at, "no cpio archive at offset {at}");
        out.append(&mut part);
        at = next;
    }
}

fn read_one_cpio(data: &[u8], start: usize) -> (Vec<(String, u32, Vec<u8>)>, usize) {
    let mut out = Vec::new();
    let mut at = start;
    let hex = |s: &[u8]| u32::from_str_radix(std::str::from_utf8(s).unwrap(), 16).unwrap();
    while at + 110 <= data.len() && &data[at..at + 6] == b"070701" {
        let h = &data[at..at + 110];
        let mode = hex(&h[14..22]);
        let size = hex(&h[54..62]) as usize;
        let namesize = hex(&h[94..102]) as usize;
        let name = String::from_utf8_lossy(&data[at + 110..at + 110 + namesize - 1]).to_string();
        let mut p = at + 110 + namesize;
        p = (p + 3) & !3;
        let body = data[p..p + size].to_vec();
        p += size;
        p = (p + 3) & !3;
        at = p;
        let done = name == "TRAILER!!!";
        out.push((name, mode, body));
        if done {
            break;
        }
    }
    (out, at)
}

/// Run git in `dir` with a fixed identity; panics on failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .run_output();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Write each `(path, contents)` under `root`, creating parent directories.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let p = root.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
    }
}

/// A new git repository in a temporary directory holding `files` (see
/// [`write_files`]) in one commit.
pub fn git_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    git(t.path(), &["init", "-q"]);
    write_files(t.path(), files);
    git(t.path(), &["add", "-A"]);
    git(t.path(), &["commit", "-qm", "files"]);
    t
}

/// `n` deterministic pseudo-random (poorly compressible) bytes from `seed`
/// (xorshift64*): the same arguments give the same bytes.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
