//! `linuxkit run [qemu] PATH`.

use crate::cli::{QemuArgs, RunArgs, RunBackend};
use anyhow::{Context, Result, bail};
use clap::Parser;
use linuxkit_run::{BootKind, Disk, QemuConfig};
use std::path::PathBuf;

/// Backends upstream has that we do not implement yet.
const CLOUDS: [&str; 12] = [
    "aws",
    "azure",
    "gcp",
    "hyperkit",
    "virtualization",
    "hyperv",
    "openstack",
    "equinixmetal",
    "scaleway",
    "vmware",
    "vbox",
    "vcenter",
];

#[derive(Parser, Debug)]
#[command(name = "linuxkit run qemu")]
struct QemuOnly {
    #[command(flatten)]
    args: QemuArgs,
}

/// Run a backend; returns the exit code to exit with.
pub fn run(args: RunArgs) -> Result<i32> {
    let q = match args.backend {
        RunBackend::Qemu(q) => *q,
        RunBackend::Other(argv) => {
            let first = argv.first().cloned().unwrap_or_default();
            if CLOUDS.contains(&first.as_str()) {
                bail!(
                    "`linuxkit run {first}` is not implemented yet in linuxkit-rs; `linuxkit run qemu` is"
                );
            }
            // `linuxkit run PATH [flags]`: the default backend on Linux is qemu.
            let mut full = vec!["qemu".to_string()];
            full.extend(argv);
            QemuOnly::try_parse_from(full)?.args
        }
    };
    qemu(q)
}

fn qemu(q: QemuArgs) -> Result<i32> {
    let metadata = match (&q.data, &q.data_file) {
        (Some(_), Some(_)) => bail!("cannot specify both -data and -data-file"),
        (Some(d), None) => Some(d.clone().into_bytes()),
        (None, Some(f)) => Some(
            std::fs::read(f)
                .with_context(|| format!("cannot read the --data-file {}", f.display()))?,
        ),
        (None, None) => None,
    };
    if q.arch != "x86_64" && q.arch != "amd64" {
        bail!(
            "--arch {}: only x86_64 guests are supported for now",
            q.arch
        );
    }
    let boot = BootKind::detect(&q.path)?;
    match (&boot, q.iso, q.squashfs, q.kernel) {
        (BootKind::Iso(_), _, false, false)
        | (BootKind::RootImage { .. }, false, _, false)
        | (BootKind::KernelInitrd { .. }, false, false, _)
        | (BootKind::Disk(_) | BootKind::Uki(_), false, false, false) => {}
        _ => bail!(
            "{} is a {boot:?} boot, which does not match the --iso/--squashfs/--kernel flag given",
            q.path.display()
        ),
    }
    let mut uefi = q.uefi;
    if let Some(why) = boot.uefi_only()
        && !uefi
    {
        eprintln!(
            "notice: {} is {why}: booting it with UEFI firmware (--uefi, {})",
            q.path.display(),
            q.fw.display()
        );
        uefi = true;
    }
    let state = q
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-state", boot.prefix().display())));
    let disks = q
        .disk
        .iter()
        .map(|d| Disk::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = QemuConfig {
        boot,
        cpus: q.cpus,
        mem_mib: q.mem,
        disks,
        accel: q.accel,
        state,
        networking: q.networking,
        publish: q.publish,
        gui: q.gui,
        uefi,
        fw: q.fw,
        devices: q.device,
        usb: q.usb,
        console_file: q.console_file,
        detached: q.detached,
        qemu: q.qemu,
        append: q.append,
        metadata,
    };
    let status = linuxkit_run::qemu::run(&cfg)?;
    Ok(status.code().unwrap_or(1))
}

/// Upstream documents (and its tests use) single-dash long flags such as
/// `-mem 2048`; accept them after `run` by rewriting to `--mem`.
pub fn normalize_args(args: Vec<String>) -> Vec<String> {
    const LONG: [&str; 24] = [
        "cpus",
        "mem",
        "disk",
        "accel",
        "state",
        "networking",
        "publish",
        "gui",
        "uefi",
        "fw",
        "iso",
        "squashfs",
        "kernel",
        "data",
        "data-file",
        "console-file",
        "detached",
        "qemu",
        "arch",
        "usb",
        "device",
        "append",
        "help",
        "version",
    ];
    let Some(run_at) = args.iter().position(|a| a == "run") else {
        return args;
    };
    // `linuxkit run [flags] PATH` means qemu, the default backend on Linux.
    let mut args = args;
    let next = args.get(run_at + 1).map(String::as_str).unwrap_or("");
    let backends = ["qemu", "help", "--help", "-h"];
    if !next.is_empty() && !backends.contains(&next) && !CLOUDS.contains(&next) {
        args.insert(run_at + 1, "qemu".to_string());
    }
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i > run_at && a.len() > 2 && a.starts_with('-') && !a.starts_with("--") {
                let name = a[1..].split('=').next().unwrap_or("");
                if LONG.contains(&name) {
                    return format!("-{a}");
                }
            }
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::normalize_args;

    #[test]
    fn single_dash_long_flags() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let n = |s: &str| normalize_args(v(s));
        assert_eq!(
            n("linuxkit run qemu -mem 2048 -v x"),
            v("linuxkit run qemu --mem 2048 -v x")
        );
        assert_eq!(n("linuxkit build -mem x"), v("linuxkit build -mem x"));
        assert_eq!(
            n("linuxkit run -publish=8080:80 m"),
            v("linuxkit run qemu --publish=8080:80 m")
        );
        assert_eq!(n("linuxkit run m"), v("linuxkit run qemu m"));
        assert_eq!(n("linuxkit run aws m"), v("linuxkit run aws m"));
    }
}
