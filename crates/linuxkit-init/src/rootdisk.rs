//! Root on disk: the first stage of `kernel+squashfs`, `kernel+erofs` and
//! `kernel+iso` boots. The build writes a small "root initrd" (this binary
//! as `/init`, the modules that reach a disk and read those file systems,
//! and `/etc/initrd-release`, the usual marker of an initrd); booted with
//! `root=/dev/…`, `/init` finds itself in it and:
//!
//! 1. mounts /proc, /sys and devtmpfs, loads the modules;
//! 2. waits for the root device (up to `rootdelay=` seconds, default 30);
//! 3. mounts it read-only, with the type from `rootfstype=` or from its
//!    magic number (squashfs, EROFS, ISO 9660);
//! 4. stacks an overlay with a tmpfs upper layer on it, so that the set-up
//!    of the second stage (mount points, /etc files) can write, as it can in
//!    an initramfs root — changes stay in RAM and the root is made read-only
//!    once set up, as always;
//! 5. moves the overlay onto `/`, chroots into it and runs its `/init` —
//!    the same program, now as the ordinary PID 1 of the image.
//!
//! A root file system larger than RAM, or than cpio's 4 GiB, boots this way.

use crate::{modules, sys};
use nix::mount::MsFlags;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

/// The marker of an initrd, and the modules the first stage loads (when
/// the kernel has them as modules): the contract with the build.
pub use linuxkit_vm_abi::rootdisk::{MARKER, MODULES};

/// Whether this `/init` runs in a root initrd (the marker is there).
pub fn is_first_stage() -> bool {
    Path::new(MARKER).exists()
}

fn log(msg: &str) {
    println!("linuxkit-init: {msg}");
}

/// The file system type of a block device, from its magic numbers.
pub fn detect_fstype(head: &[u8]) -> Option<&'static str> {
    if head.len() >= 4 && &head[0..4] == b"hsqs" {
        return Some("squashfs");
    }
    if head.len() >= 1028 && head[1024..1028] == 0xE0F5_E1E2u32.to_le_bytes() {
        return Some("erofs");
    }
    if head.len() >= 32774 && &head[32769..32774] == b"CD001" {
        return Some("iso9660");
    }
    None
}

fn read_head(dev: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(dev)?;
    let mut buf = vec![0u8; 36 * 1024];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Run the first stage; on success it execs the image's `/init` and does
/// not return. On failure it says why and returns (PID 1 then halts).
pub fn run() -> String {
    match first_stage() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

/// An error message from an I/O error, with what was being done.
fn e(what: &str) -> impl FnOnce(std::io::Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

fn first_stage() -> Result<Never, String> {
    let t = Instant::now();
    for d in ["/proc", "/sys", "/dev", "/lower", "/overlay", "/newroot"] {
        let _ = sys::mkdir_p(Path::new(d), 0o755);
    }
    sys::mount_fs(
        Some("proc"),
        Path::new("/proc"),
        Some("proc"),
        MsFlags::empty(),
        None,
    )
    .map_err(e("/proc"))?;
    let words = &sys::cmdline();
    sys::mount_fs(
        Some("sysfs"),
        Path::new("/sys"),
        Some("sysfs"),
        MsFlags::empty(),
        None,
    )
    .map_err(e("/sys"))?;
    sys::mount_fs(
        Some("dev"),
        Path::new("/dev"),
        Some("devtmpfs"),
        MsFlags::empty(),
        None,
    )
    .map_err(e("/dev"))?;
    let root = sys::cmdline_value(words, "root").unwrap_or_default();
    let dev = Path::new(&root);
    if root.is_empty() {
        return Err(
            "this is the root initrd of a kernel+squashfs|erofs|iso image: boot it with root=/dev/… naming the disk that holds the root file system image".into(),
        );
    }
    if !root.starts_with("/dev/") {
        return Err(format!(
            "root={root}: the root initrd takes a device path (root=/dev/vda, /dev/sda, /dev/sr0)"
        ));
    }
    let mut loader = modules::Loader::new();
    let names: Vec<String> = MODULES.iter().map(|s| s.to_string()).collect();
    let (loaded, problems) = loader.load_optional(&names);
    for p in problems {
        log(&format!("warning: {p}"));
    }
    let delay: u64 = sys::cmdline_value(words, "rootdelay")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let deadline = Instant::now() + Duration::from_secs(delay);
    while !dev.exists() {
        if Instant::now() > deadline {
            let mut seen: Vec<String> = std::fs::read_dir("/sys/class/block")
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .collect()
                })
                .unwrap_or_default();
            seen.sort();
            return Err(format!(
                "root device {root} did not appear within {delay} s (block devices: {}); attach the root image as that device or change root= (run qemu attaches it as /dev/vda)",
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(" ")
                }
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let fstype = match sys::cmdline_value(words, "rootfstype") {
        Some(t) => t,
        None => {
            let head = read_head(dev).map_err(e(&format!("cannot read {root}")))?;
            detect_fstype(&head)
                .ok_or_else(|| {
                    format!(
                        "{root} holds no squashfs, EROFS or ISO 9660 file system; give rootfstype= if it is another type"
                    )
                })?
                .to_string()
        }
    };
    sys::mount_fs(
        Some(&root),
        Path::new("/lower"),
        Some(&fstype),
        MsFlags::MS_RDONLY,
        None,
    )
    .map_err(e("mounting the root file system"))?;
    sys::mount_fs(
        Some("tmpfs"),
        Path::new("/overlay"),
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=755"),
    )
    .map_err(e("/overlay"))?;
    for d in ["/overlay/upper", "/overlay/work"] {
        sys::mkdir_p(Path::new(d), 0o755).map_err(e(d))?;
    }
    sys::mount_fs(
        Some("overlay"),
        Path::new("/newroot"),
        Some("overlay"),
        MsFlags::empty(),
        Some("lowerdir=/lower,upperdir=/overlay/upper,workdir=/overlay/work"),
    )
    .map_err(e("the overlay on the root file system"))?;
    let init = ["/newroot/init", "/newroot/sbin/init"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| format!("the root file system on {root} has no /init or /sbin/init"))?;
    log(&format!(
        "root {root} ({fstype}) mounted in {:.1} ms{}",
        t.elapsed().as_secs_f64() * 1000.0,
        if loaded.is_empty() {
            String::new()
        } else {
            format!(" (modules: {})", loaded.join(" "))
        }
    ));
    // The second stage mounts its own /proc, /sys and /dev.
    for d in ["/dev", "/sys", "/proc"] {
        let _ = nix::mount::umount2(d, nix::mount::MntFlags::MNT_DETACH);
    }
    std::env::set_current_dir("/newroot").map_err(e("/newroot"))?;
    sys::mount_fs(Some("."), Path::new("/"), None, MsFlags::MS_MOVE, None)
        .map_err(e("moving the root"))?;
    nix::unistd::chroot(".").map_err(|err| format!("chroot: {err}"))?;
    std::env::set_current_dir("/").map_err(e("/"))?;
    let prog = init.trim_start_matches("/newroot");
    let c = |s: &str| std::ffi::CString::new(s).map_err(|err| format!("{s}: {err}"));
    let argv = [c(prog)?];
    let err = nix::unistd::execv(&argv[0], &argv).err();
    Err(format!(
        "cannot run {prog} of the root file system: {err:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::detect_fstype;

    #[test]
    fn magic_numbers() {
        let mut sq = vec![0u8; 40000];
        sq[..4].copy_from_slice(b"hsqs");
        assert_eq!(detect_fstype(&sq), Some("squashfs"));
        let mut er = vec![0u8; 40000];
        er[1024..1028].copy_from_slice(&0xE0F5_E1E2u32.to_le_bytes());
        assert_eq!(detect_fstype(&er), Some("erofs"));
        let mut iso = vec![0u8; 40000];
        iso[32769..32774].copy_from_slice(b"CD001");
        assert_eq!(detect_fstype(&iso), Some("iso9660"));
        assert_eq!(detect_fstype(&vec![0u8; 40000]), None);
        assert_eq!(detect_fstype(b"hs"), None);
    }
}
