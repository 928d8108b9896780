//! Kernel modules: loads the modules a virtual machine needs (virtio bus,
//! network, disks, console, entropy, overlay, the ACPI power button) plus
//! those named in `/etc/modules`, `/etc/modules-load.d/*.conf` or
//! `linuxkit.modules=a,b` on the command line, with their dependencies read
//! from each module's `.modinfo` section (`depends=`), so no `modules.dep`
//! is needed. Modules already present (built in or loaded) are skipped.

use linuxkit_vm_abi::kmod::{self, module_name, normalize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Loaded at every boot, before containers, when present in the kernel's
/// module tree: what networking, virtio disks and writable containers need.
pub const DEFAULT: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_console",
    "virtio_rng",
    "overlay",
];

/// Loaded after the supervisor has started (in parallel with the onboot
/// containers): the ACPI power button. Other disk controllers (virtio_scsi,
/// ata_piix + sd_mod: ~280 ms of probing under TCG) only when configured.
pub const LATE: &[&str] = &["button", "evdev"];

/// Name → path of every `.ko` under `dir`: from `modules.order` (one file,
/// shipped with the kernel) when it is there, else by walking the tree.
fn index(dir: &Path) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    if let Ok(order) = std::fs::read_to_string(dir.join("modules.order")) {
        for rel in order.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let file = rel.rsplit('/').next().unwrap_or(rel);
            if let Some(n) = module_name(file) {
                out.insert(n, dir.join(rel));
            }
        }
        if !out.is_empty() {
            return out;
        }
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) => {
                    if let Some(n) = module_name(&e.file_name().to_string_lossy()) {
                        out.insert(n, p);
                    }
                }
                Err(_) => {}
            }
        }
    }
    out
}

/// Names requested by configuration files and the command line.
pub fn requested(cmdline: &[String]) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT.iter().map(|s| s.to_string()).collect();
    let mut files = vec![PathBuf::from("/etc/modules")];
    if let Ok(rd) = std::fs::read_dir("/etc/modules-load.d") {
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        files.extend(
            v.into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "conf")),
        );
    }
    for f in files {
        for l in std::fs::read_to_string(f).unwrap_or_default().lines() {
            let l = l.trim();
            if !l.is_empty() && !l.starts_with('#') && !l.starts_with(';') {
                names.push(normalize(l.split_whitespace().next().unwrap_or(l)));
            }
        }
    }
    if let Some(v) = crate::sys::cmdline_value(cmdline, "linuxkit.modules") {
        names.extend(v.split(',').filter(|s| !s.is_empty()).map(normalize));
    }
    names
}

/// Loads modules; the module index is read once and reused for every call.
#[derive(Debug, Default)]
pub struct Loader {
    idx: HashMap<String, PathBuf>,
    seen: HashSet<String>,
}

impl Loader {
    /// Index `/lib/modules/<running release>` (empty when there is none).
    pub fn new() -> Loader {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().to_string())
            .unwrap_or_default();
        let dir = Path::new("/lib/modules").join(&release);
        Loader {
            idx: if dir.is_dir() {
                index(&dir)
            } else {
                HashMap::new()
            },
            seen: HashSet::new(),
        }
    }

    /// Load `names` and their dependencies, any of which may be absent
    /// (built into the kernel or not built); returns (loaded, problems).
    pub fn load_optional(&mut self, names: &[String]) -> (Vec<String>, Vec<String>) {
        let mut loaded = Vec::new();
        let mut problems = Vec::new();
        for n in names {
            load_one(
                n,
                &self.idx,
                &mut self.seen,
                &mut loaded,
                &mut problems,
                true,
            );
        }
        (loaded, problems)
    }

    /// Load `names` and their dependencies; returns (loaded, problems).
    /// The built-in [`DEFAULT`] and [`LATE`] names may be absent.
    pub fn load(&mut self, names: &[String]) -> (Vec<String>, Vec<String>) {
        let mut loaded = Vec::new();
        let mut problems = Vec::new();
        if self.idx.is_empty() {
            return (loaded, problems);
        }
        for n in names {
            let optional = DEFAULT.contains(&n.as_str()) || LATE.contains(&n.as_str());
            load_one(
                n,
                &self.idx,
                &mut self.seen,
                &mut loaded,
                &mut problems,
                optional,
            );
        }
        (loaded, problems)
    }
}

fn load_one(
    name: &str,
    idx: &HashMap<String, PathBuf>,
    seen: &mut HashSet<String>,
    loaded: &mut Vec<String>,
    problems: &mut Vec<String>,
    optional: bool,
) {
    if !seen.insert(name.to_string()) || Path::new("/sys/module").join(name).exists() {
        return;
    }
    let Some(path) = idx.get(name) else {
        if !optional {
            problems.push(format!("module {name}: not found in /lib/modules"));
        }
        return;
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!("module {name}: {}: {e}", path.display()));
            return;
        }
    };
    for d in kmod::depends(&data) {
        load_one(&d, idx, seen, loaded, problems, false);
    }
    let Ok(params) = std::ffi::CString::new("") else {
        return;
    };
    // SAFETY: init_module reads `data.len()` bytes from a live buffer and a
    // NUL-terminated parameter string; both outlive the call.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_init_module,
            data.as_ptr(),
            data.len() as nix::libc::c_ulong,
            params.as_ptr(),
        )
    };
    if r == 0 {
        loaded.push(name.to_string());
    } else {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(nix::libc::EEXIST) {
            problems.push(format!("module {name}: {e}"));
        }
    }
}
