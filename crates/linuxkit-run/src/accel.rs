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
use std::time::{Duration, Instant};

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

/// Boot `kernel` under KVM and wait for its first console line.
pub fn probe_with_kernel(qemu: &Path, kernel: &Path, deadline: Duration) -> Verdict {
    if let Err(e) = kvm_device_usable() {
        return Verdict::Tcg(e);
    }
    let child = Command::new(qemu)
        .args([
            "-accel",
            "kvm",
            "-m",
            "256",
            "-display",
            "none",
            "-nodefaults",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1 quiet=0 loglevel=8"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Verdict::Tcg(format!("cannot start {}: {e}", qemu.display())),
    };
    let Some(mut out) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Verdict::Tcg("no console output from the probe".into());
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
                    if seen.windows(13).any(|w| w == b"Linux version") {
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
    let start = Instant::now();
    let ok = rx.recv_timeout(deadline).unwrap_or(false);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    if ok {
        Verdict::Kvm
    } else {
        Verdict::Tcg(format!(
            "a KVM guest printed nothing within {:.0} s",
            start.elapsed().as_secs_f64().min(deadline.as_secs_f64())
        ))
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
    let child = Command::new(qemu)
        .args([
            "-accel",
            "kvm",
            "-m",
            "16",
            "-display",
            "none",
            "-nodefaults",
            "-serial",
            "stdio",
            "-no-reboot",
            "-bios",
        ])
        .arg(&rom)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Verdict::Tcg(format!("cannot start {}: {e}", qemu.display())),
    };
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Verdict::Tcg("no console output from the probe".into());
    };
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(false);
                    return;
                }
                Ok(n) if buf[..n].contains(&b'K') => {
                    let _ = tx.send(true);
                    return;
                }
                Ok(_) => {}
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let ran = rx.recv_timeout(deadline).unwrap_or(false);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let _ = std::fs::remove_file(&rom);
    let warnings = stderr.join().unwrap_or_default();
    if !ran {
        return Verdict::Tcg(format!(
            "a KVM guest printed nothing within {:.0} s",
            deadline.as_secs_f64()
        ));
    }
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
/// with `kernel` when there is one, else [`probe_without_kernel`] (its
/// ROM written to `scratch`).
pub fn choose(qemu: &Path, kernel: Option<&Path>, scratch: &Path) -> Verdict {
    if let Err(e) = kvm_device_usable() {
        return Verdict::Tcg(e);
    }
    let id = boot_id();
    let cache = cache_file();
    if let Some(v) = cached() {
        return v;
    }
    let v = match kernel {
        Some(k) => probe_with_kernel(qemu, k, PROBE_DEADLINE),
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
