//! Accelerator choice. `/dev/kvm` existing is not enough: on some hosts
//! (nested virtualisation with a reduced CPUID) KVM accepts a VM but a Linux
//! guest hangs in early boot. The probe boots the kernel that is about to run
//! under `-accel kvm` for at most a few seconds and watches the serial console
//! for the kernel's first line; the verdict is cached per host boot
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

/// The cached verdict for this host boot, or a fresh probe (then cached).
pub fn choose(qemu: &Path, kernel: &Path) -> Verdict {
    if let Err(e) = kvm_device_usable() {
        return Verdict::Tcg(e);
    }
    let id = boot_id();
    let cache = cache_file();
    if let Some(c) = &cache
        && let Ok(text) = std::fs::read_to_string(c)
        && let Some((cached_id, verdict)) = text.trim().split_once(' ')
        && cached_id == id
        && !id.is_empty()
    {
        return match verdict {
            "kvm" => Verdict::Kvm,
            other => Verdict::Tcg(format!(
                "KVM did not work when probed earlier this boot ({other})"
            )),
        };
    }
    let v = probe_with_kernel(qemu, kernel, PROBE_DEADLINE);
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
