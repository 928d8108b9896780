//! `linuxkit run [qemu] PATH`.

use crate::cli::{QemuArgs, RunArgs, RunBackend};
use anyhow::{Context, Result, bail};
use linuxkit_run::{BootKind, Disk, QemuConfig};
use std::path::PathBuf;

/// Run a backend; returns the exit code to exit with.
pub fn run(args: RunArgs) -> Result<i32> {
    let q = match args.backend {
        RunBackend::Qemu(q) => *q,
        RunBackend::Other(argv) => {
            // `linuxkit run PATH` became `run qemu PATH` (parse.rs): what is
            // left here is one of upstream's other backends.
            let first = argv.first().cloned().unwrap_or_default();
            bail!(
                "`linuxkit run {first}` is not implemented yet in linuxkit-rs; `linuxkit run qemu` is"
            );
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
