//! Accelerator choice. `/dev/kvm` existing is not enough: on some hosts
//! (nested virtualisation with a reduced CPUID) KVM accepts a VM but a Linux
//! guest hangs in early boot. The probe boots the kernel that is about to run
//! under `-accel kvm` for at most a few seconds and watches the serial console
//! for the kernel's first line (an image without a kernel file is probed
//! with a tiny firmware, see [`probe_without_kernel`]); the verdict is cached per host boot
//! (`/proc/sys/kernel/random/boot_id`) so only the first run pays for it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a KVM guest may take to print its first line.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(4);

/// The verdict of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// KVM works.
    Kvm,
    /// Use TCG, with the reason.
    Tcg(String),
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Where verdicts are cached.
pub fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("linuxkit").join("kvm-probe"))
}

/// Whether `/dev/kvm` can be opened read-write.
pub fn kvm_device_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| format!("/dev/kvm: {e}"))
}

/// How a watched probe ended.
struct Watched {
    /// The marker appeared on the console within the deadline.
    found: bool,
    /// QEMU's standard error.
    stderr: String,
}

/// Run QEMU under KVM with `args` (plus the common probe options), its
/// serial console on stdout, until `marker` appears on it or `deadline`
/// passes; then kill it.
fn watch(
    qemu: &Path,
    args: &[&std::ffi::OsStr],
    marker: &'static [u8],
    deadline: Duration,
) -> Result<Watched, String> {
    let mut child = Command::new(qemu)
        .args(["-accel", "kvm", "-display", "none", "-nodefaults"])
        .args(["-serial", "stdio", "-no-reboot"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("no console output from the probe".into());
    };
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(false);
                    return;
                }
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(marker.len()).any(|w| w == marker) {
                        let _ = tx.send(true);
                        return;
                    }
                    if seen.len() > 1 << 20 {
                        seen.drain(..seen.len() - 64);
                    }
                }
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let found = rx.recv_timeout(deadline).unwrap_or(false);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    Ok(Watched {
        found,
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn silent(deadline: Duration) -> Verdict {
    Verdict::Tcg(format!(
        "a KVM guest printed nothing within {:.0} s",
        deadline.as_secs_f64()
    ))
}

/// Boot `kernel` under KVM and wait for its first console line.
pub fn probe_with_kernel(qemu: &Path, kernel: &Path, deadline: Duration) -> Verdict {
    if let Err(e) = kvm_device_usable() {
        return Verdict::Tcg(e);
    }
    let args: [&std::ffi::OsStr; 6] = [
        "-m".as_ref(),
        "256".as_ref(),
        "-kernel".as_ref(),
        kernel.as_os_str(),
        "-append".as_ref(),
        "console=ttyS0 panic=-1 quiet=0 loglevel=8".as_ref(),
    ];
    match watch(qemu, &args, b"Linux version", deadline) {
        Ok(w) if w.found => Verdict::Kvm,
        Ok(_) => silent(deadline),
        Err(e) => Verdict::Tcg(e),
    }
}

/// A 64 KiB firmware image whose reset vector writes `K` to the first
/// serial port and halts.
pub fn probe_rom() -> Vec<u8> {
    let mut rom = vec![0u8; 64 << 10];
    // mov dx, 0x3f8; mov al, 'K'; out dx, al; hlt; jmp $-1
    let code = [0xBA, 0xF8, 0x03, 0xB0, b'K', 0xEE, 0xF4, 0xEB, 0xFD];
    rom[0xFFF0..0xFFF0 + code.len()].copy_from_slice(&code);
    rom
}

/// The probe when there is no kernel to probe with (an ISO or disk image):
/// a tiny firmware that prints one character must run under KVM, and QEMU
/// must not report that the host's KVM lacks CPU features the default CPU
/// model asks for (`host doesn't support requested feature: CPUID...`) —
/// the reduced CPUID of nested set-ups where a Linux guest then hangs in
/// early boot even though simple guest code runs.
pub fn probe_without_kernel(qemu: &Path, dir: &Path, deadline: Duration) -> Verdict {
    if let Err(e) = kvm_device_usable() {
        return Verdict::Tcg(e);
    }
    let rom = dir.join("kvm-probe.rom");
    if let Err(e) = std::fs::write(&rom, probe_rom()) {
        return Verdict::Tcg(format!("cannot write {}: {e}", rom.display()));
    }
    let args: [&std::ffi::OsStr; 4] = [
        "-m".as_ref(),
        "16".as_ref(),
        "-bios".as_ref(),
        rom.as_os_str(),
    ];
    let watched = watch(qemu, &args, b"K", deadline);
    let _ = std::fs::remove_file(&rom);
    let warnings = match watched {
        Ok(w) if w.found => w.stderr,
        Ok(_) => return silent(deadline),
        Err(e) => return Verdict::Tcg(e),
    };
    match warnings
        .lines()
        .find(|l| l.contains("host doesn't support requested feature"))
    {
        Some(l) => Verdict::Tcg(format!(
            "KVM lacks CPU features guests need ({})",
            l.rsplit("feature: ").next().unwrap_or(l).trim()
        )),
        None => Verdict::Kvm,
    }
}

/// The verdict of a probe made earlier in this host boot, if any.
pub fn cached() -> Option<Verdict> {
    let id = boot_id();
    let text = std::fs::read_to_string(cache_file()?).ok()?;
    let (cached_id, verdict) = text.trim().split_once(' ')?;
    if cached_id != id || id.is_empty() {
        return None;
    }
    Some(match verdict {
        "kvm" => Verdict::Kvm,
        other => Verdict::Tcg(format!(
            "KVM did not work when probed earlier this boot ({other})"
        )),
    })
}

/// The cached verdict for this host boot, or a fresh probe (then cached):
/// with the kernel `kernel` gives (asked only when a probe is needed) when
/// there is one, else [`probe_without_kernel`] (its ROM written to
/// `scratch`).
pub fn choose(qemu: &Path, kernel: impl FnOnce() -> Option<PathBuf>, scratch: &Path) -> Verdict {
    if let Err(e) = kvm_device_usable() {
        return Verdict::Tcg(e);
    }
    let id = boot_id();
    let cache = cache_file();
    if let Some(v) = cached() {
        return v;
    }
    let v = match kernel() {
        Some(k) => probe_with_kernel(qemu, &k, PROBE_DEADLINE),
        None => probe_without_kernel(qemu, scratch, PROBE_DEADLINE),
    };
    if let Some(c) = cache {
        let word = match &v {
            Verdict::Kvm => "kvm".to_string(),
            Verdict::Tcg(r) => format!("tcg:{}", r.replace(' ', "_")),
        };
        if let Some(dir) = c.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&c, format!("{id} {word}\n"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The probe firmware runs and prints its character (under TCG, which
    /// works everywhere), and the probe always ends within its deadline.
    #[test]
    fn probe_rom_prints_under_tcg_and_the_probe_is_bounded() {
        let qemu = PathBuf::from("qemu-system-x86_64");
        let dir = tempfile::tempdir().unwrap();
        let rom = dir.path().join("rom");
        std::fs::write(&rom, probe_rom()).unwrap();
        let mut child = Command::new(&qemu)
            .args([
                "-accel",
                "tcg",
                "-m",
                "16",
                "-display",
                "none",
                "-nodefaults",
            ])
            .args(["-serial", "stdio", "-no-reboot", "-bios"])
            .arg(&rom)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut b = [0u8; 1];
        let n = out.read(&mut b).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!((n, b[0]), (1, b'K'));

        let start = Instant::now();
        let v = probe_without_kernel(&qemu, dir.path(), Duration::from_secs(3));
        assert!(start.elapsed() < Duration::from_secs(10), "{v:?}");
        if !Path::new("/dev/kvm").exists() {
            assert!(matches!(v, Verdict::Tcg(_)), "{v:?}");
        }
        assert!(
            !dir.path().join("kvm-probe.rom").exists(),
            "scratch removed"
        );
    }
}
