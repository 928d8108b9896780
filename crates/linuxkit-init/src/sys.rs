//! Small wrappers over the system calls the in-VM programs use: mounts with
//! option strings parsed like upstream LinuxKit's `service` (flags vs. fs
//! data), `mkdir -p` with a mode, writing small files, reading the monotonic
//! clock, and the kernel command line.

use nix::mount::{MsFlags, mount};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Mount `source` (or none) of `fstype` on `target` with `flags` and `data`.
pub fn mount_fs(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> io::Result<()> {
    mount(source, target, fstype, flags, data).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!(
                "mount {} on {} (type {}): {e}",
                source.unwrap_or("none"),
                target.display(),
                fstype.unwrap_or("none")
            ),
        )
    })
}

/// The propagation flags, applied by a separate mount(2) call.
pub const PROPAGATION: MsFlags = MsFlags::MS_SHARED
    .union(MsFlags::MS_PRIVATE)
    .union(MsFlags::MS_SLAVE)
    .union(MsFlags::MS_UNBINDABLE);

/// Split mount options into flags and fs data, as upstream's `service` does:
/// the known flag words set or clear flags, everything else is fs data.
pub fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "private" => (MsFlags::MS_PRIVATE, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "shared" => (MsFlags::MS_SHARED, MsFlags::empty()),
            "rshared" => (MsFlags::MS_SHARED | MsFlags::MS_REC, MsFlags::empty()),
            "slave" => (MsFlags::MS_SLAVE, MsFlags::empty()),
            "rslave" => (MsFlags::MS_SLAVE | MsFlags::MS_REC, MsFlags::empty()),
            "rprivate" => (MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "unbindable" => (MsFlags::MS_UNBINDABLE, MsFlags::empty()),
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data.join(","))
}

/// Mount with an option list: the main mount (when there is anything but
/// propagation to do), then the propagation change, as two calls.
pub fn mount_with_options(
    source: &str,
    target: &Path,
    fstype: &str,
    options: &[String],
) -> io::Result<()> {
    let (flags, data) = parse_options(options);
    let propagation = flags & (PROPAGATION | MsFlags::MS_REC);
    let main = flags - PROPAGATION;
    let has_prop = flags.intersects(PROPAGATION);
    let only_prop =
        has_prop && fstype.is_empty() && source.is_empty() && !main.contains(MsFlags::MS_REMOUNT);
    if !only_prop {
        let main = if has_prop && !main.contains(MsFlags::MS_BIND) {
            main - MsFlags::MS_REC
        } else {
            main
        };
        mount_fs(
            (!source.is_empty()).then_some(source),
            target,
            (!fstype.is_empty()).then_some(fstype),
            main,
            (!data.is_empty()).then_some(data.as_str()),
        )?;
    }
    if has_prop {
        mount_fs(None, target, None, propagation, None)?;
    }
    Ok(())
}

/// `mkdir -p` with `mode` for the directories it creates.
pub fn mkdir_p(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", path.display())))
}

/// Create a directory with exactly `mode` (ignoring the umask).
pub fn mkdir_mode(path: &Path, mode: u32) -> io::Result<()> {
    mkdir_p(path, mode)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Write a small file, replacing it.
pub fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    std::fs::write(path, data)
        .map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

/// Monotonic time in milliseconds since boot (the guest's own clock).
pub fn uptime_ms() -> f64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => t.tv_sec() as f64 * 1000.0 + t.tv_nsec() as f64 / 1e6,
        Err(_) => 0.0,
    }
}

/// The kernel command line, split into words.
pub fn cmdline() -> Vec<String> {
    std::fs::read_to_string("/proc/cmdline")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Value of `key=` on the kernel command line (the last one wins).
pub fn cmdline_value(words: &[String], key: &str) -> Option<String> {
    words
        .iter()
        .rev()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map(str::to_string)
}

/// The `console=` ttys of the command line, in order (`ttyS0,115200` → `ttyS0`).
pub fn consoles(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter_map(|w| w.strip_prefix("console="))
        .map(|c| c.split(',').next().unwrap_or(c).to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let (f, d) = parse_options(&s(&["rw", "rbind", "rshared"]));
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_SHARED);
        assert_eq!(d, "");
        let (f, d) = parse_options(&s(&["nosuid", "size=10%", "mode=755", "ro"]));
        assert_eq!(f, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(d, "size=10%,mode=755");
        let (f, _) = parse_options(&s(&["ro", "rw"]));
        assert!(!f.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn command_line_values() {
        let w = s(&[
            "console=tty0",
            "console=ttyS0,115200n8",
            "linuxkit.x=1",
            "linuxkit.x=2",
        ]);
        assert_eq!(consoles(&w), ["tty0", "ttyS0"]);
        assert_eq!(cmdline_value(&w, "linuxkit.x").as_deref(), Some("2"));
        assert_eq!(cmdline_value(&w, "linuxkit"), None);
    }
}
