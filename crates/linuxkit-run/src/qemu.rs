//! `linuxkit run qemu`: find what to boot from the path given (upstream's
//! rules: `X.iso`, a disk image, or the prefix of a kernel+initrd build),
//! prepare the state directory (MAC address, extra disks), build the QEMU
//! command line in upstream's order, and run QEMU attached to the terminal
//! or detached with the console in a file.

use crate::accel::{self, Verdict};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A run failure, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flags or inputs.
    #[error("{0}")]
    Invalid(String),
    /// Something on the host failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// What is being booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootKind {
    /// `<prefix>-kernel`, `<prefix>-initrd.img`, `<prefix>-cmdline`.
    KernelInitrd {
        /// The prefix.
        prefix: PathBuf,
    },
    /// `<prefix>-kernel` with `<prefix>-squashfs.img` as root disk.
    Squashfs {
        /// The prefix.
        prefix: PathBuf,
    },
    /// An ISO image.
    Iso(PathBuf),
    /// A disk image (raw/qcow2/vhd/vmdk, detected by QEMU).
    Disk(PathBuf),
}

impl BootKind {
    /// Upstream's detection (cli.md §3.1).
    pub fn detect(path: &Path) -> Result<BootKind, RunError> {
        let s = path.to_string_lossy().to_string();
        if path.exists() {
            return Ok(if s.ends_with(".iso") {
                BootKind::Iso(path.to_path_buf())
            } else {
                BootKind::Disk(path.to_path_buf())
            });
        }
        if Path::new(&format!("{s}-kernel")).exists() {
            return Ok(if Path::new(&format!("{s}-squashfs.img")).exists() {
                BootKind::Squashfs {
                    prefix: path.to_path_buf(),
                }
            } else {
                BootKind::KernelInitrd {
                    prefix: path.to_path_buf(),
                }
            });
        }
        Err(RunError::Invalid(format!(
            "Boot disk image {s} does not exist: give an .iso, a disk image, or the prefix of a kernel+initrd build (e.g. `minimal` for minimal-kernel and minimal-initrd.img)"
        )))
    }

    /// The prefix used for the default state directory.
    pub fn prefix(&self) -> PathBuf {
        match self {
            BootKind::KernelInitrd { prefix } | BootKind::Squashfs { prefix } => prefix.clone(),
            BootKind::Iso(p) => PathBuf::from(p.to_string_lossy().trim_end_matches(".iso")),
            BootKind::Disk(p) => p.clone(),
        }
    }
}

/// `--disk [file=]PATH[,size=S][,format=F]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disk {
    /// Path (empty = generated in the state directory).
    pub path: PathBuf,
    /// Size in MiB (0 = use the existing file).
    pub size_mib: u64,
    /// Image format (`raw`, `qcow2`, ...).
    pub format: String,
}

impl Disk {
    /// Parse upstream's disk spec; sizes: `M` = MiB, `G` or none = GiB.
    pub fn parse(spec: &str) -> Result<Disk, RunError> {
        let mut d = Disk::default();
        for (i, part) in spec.split(',').enumerate() {
            let (k, v) = match part.split_once('=') {
                Some(kv) => kv,
                None if i == 0 => ("file", part),
                None => return Err(RunError::Invalid(format!("unknown disk config: {part}"))),
            };
            match k {
                "file" => d.path = PathBuf::from(v),
                "size" => {
                    let (n, mul) = if let Some(n) = v.strip_suffix(['M', 'm']) {
                        (n, 1)
                    } else if let Some(n) = v.strip_suffix(['G', 'g']) {
                        (n, 1024)
                    } else {
                        (v, 1024)
                    };
                    d.size_mib = n.parse::<u64>().map_err(|_| {
                        RunError::Invalid(format!(
                            "cannot parse disk size {v:?}: use e.g. 512M or 4G"
                        ))
                    })? * mul;
                }
                "format" => d.format = v.to_string(),
                other => return Err(RunError::Invalid(format!("unknown disk config: {other}"))),
            }
        }
        if d.size_mib > 0 && d.format.is_empty() {
            d.format = "qcow2".into();
        }
        if d.path.as_os_str().is_empty() && d.size_mib == 0 {
            return Err(RunError::Invalid(
                "disk specified with no size or name".into(),
            ));
        }
        Ok(d)
    }
}

/// Everything `run qemu` needs.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// What to boot.
    pub boot: BootKind,
    /// `--cpus`.
    pub cpus: u32,
    /// `--mem` in MiB.
    pub mem_mib: u64,
    /// `--disk` (repeatable).
    pub disks: Vec<Disk>,
    /// `--accel` (None = probe).
    pub accel: Option<String>,
    /// `--state` directory.
    pub state: PathBuf,
    /// `--networking`: `user`, `tap,IF`, `bridge,BR`, `none`, `default`.
    pub networking: String,
    /// `--publish HOST:GUEST[/tcp|udp]`.
    pub publish: Vec<String>,
    /// `--gui`.
    pub gui: bool,
    /// `--uefi` and `--fw`.
    pub uefi: bool,
    /// UEFI firmware.
    pub fw: PathBuf,
    /// `--device` extras.
    pub devices: Vec<String>,
    /// `--usb`.
    pub usb: bool,
    /// `--console-file`: write the serial console here instead of the terminal.
    pub console_file: Option<PathBuf>,
    /// `--detached`: run in the background (needs a console file; default `<state>/console.log`).
    pub detached: bool,
    /// QEMU binary.
    pub qemu: PathBuf,
    /// Extra kernel command line (appended).
    pub append: Option<String>,
}

/// A locally-administered MAC, persisted in `<state>/mac-addr`.
pub fn mac_address(state: &Path) -> Result<String, RunError> {
    let file = state.join("mac-addr");
    if let Ok(m) = std::fs::read_to_string(&file)
        && !m.trim().is_empty()
    {
        return Ok(m.trim().to_string());
    }
    let mut seed = Vec::new();
    seed.extend_from_slice(state.to_string_lossy().as_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    seed.extend_from_slice(&now.to_le_bytes());
    use sha2::Digest;
    let h = sha2::Sha256::digest(&seed);
    let b = [(h[0] & 0xfe) | 0x02, h[1], h[2], h[3], h[4], h[5]];
    let mac = b
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    std::fs::write(&file, format!("{mac}\n"))
        .map_err(io(format!("cannot write {}", file.display())))?;
    Ok(mac)
}

fn hostfwd(publish: &str) -> Result<String, RunError> {
    let (ports, proto) = match publish.split_once('/') {
        Some((p, proto)) if proto == "tcp" || proto == "udp" => (p, proto),
        Some((_, proto)) => {
            return Err(RunError::Invalid(format!(
                "--publish {publish}: protocol {proto} is not tcp or udp"
            )));
        }
        None => (publish, "tcp"),
    };
    let (host, guest) = ports.split_once(':').ok_or_else(|| {
        RunError::Invalid(format!("--publish {publish}: use HOST:GUEST[/tcp|udp]"))
    })?;
    for p in [host, guest] {
        p.parse::<u16>().map_err(|_| {
            RunError::Invalid(format!("--publish {publish}: {p:?} is not a port number"))
        })?;
    }
    Ok(format!("hostfwd={proto}::{host}-:{guest}"))
}

/// Prepare the state directory and build QEMU's arguments (without the binary).
pub fn command_line(cfg: &QemuConfig, accel: &str) -> Result<Vec<String>, RunError> {
    std::fs::create_dir_all(&cfg.state).map_err(io(format!(
        "cannot create state directory {}",
        cfg.state.display()
    )))?;
    let s = |x: &str| x.to_string();
    let mut a: Vec<String> = vec![
        s("-smp"),
        cfg.cpus.to_string(),
        s("-m"),
        cfg.mem_mib.to_string(),
        s("-pidfile"),
        cfg.state.join("qemu.pid").to_string_lossy().to_string(),
        s("-machine"),
        format!("q35,accel={accel}"),
        s("-object"),
        s("rng-random,id=rng0,filename=/dev/urandom"),
        s("-device"),
        s("virtio-rng-pci,rng=rng0"),
    ];
    let mut index = 0usize;
    // `iface`: "" is QEMU's default (AHCI on q35, for boot images), "virtio"
    // for data disks (/dev/vd*: the Debian cloud kernel has no AHCI driver).
    let mut drive = |a: &mut Vec<String>, path: &Path, format: &str, iface: &str| {
        let mut d = format!("file={},index={index},media=disk", path.display());
        if !iface.is_empty() {
            d.push_str(&format!(",if={iface}"));
        }
        if !format.is_empty() {
            d.push_str(&format!(",format={format}"));
        }
        a.push(s("-drive"));
        a.push(d);
        index += 1;
    };
    match &cfg.boot {
        BootKind::Disk(p) => drive(&mut a, p, "", ""),
        BootKind::Squashfs { prefix } => drive(
            &mut a,
            Path::new(&format!("{}-squashfs.img", prefix.display())),
            "raw",
            "",
        ),
        _ => {}
    }
    for (n, d) in cfg.disks.iter().enumerate() {
        let path = if d.path.as_os_str().is_empty() {
            cfg.state.join(if n == 0 {
                "disk.img".to_string()
            } else {
                format!("disk{n}.img")
            })
        } else {
            d.path.clone()
        };
        if !path.exists() {
            if d.size_mib == 0 {
                return Err(RunError::Invalid(format!(
                    "disk {} does not exist and has no size",
                    path.display()
                )));
            }
            let st = Command::new("qemu-img")
                .args(["create", "-f", &d.format])
                .arg(&path)
                .arg(format!("{}M", d.size_mib))
                .stdout(Stdio::null())
                .status()
                .map_err(io("cannot run qemu-img (install qemu-utils)"))?;
            if !st.success() {
                return Err(RunError::Invalid(format!(
                    "qemu-img create {} failed",
                    path.display()
                )));
            }
        }
        drive(&mut a, &path, &d.format, "virtio");
    }
    if let BootKind::Iso(p) = &cfg.boot {
        a.extend([
            s("-boot"),
            s("d"),
            s("-cdrom"),
            p.to_string_lossy().to_string(),
        ]);
    }
    if cfg.uefi {
        a.extend([
            s("-drive"),
            format!("if=pflash,format=raw,readonly=on,file={}", cfg.fw.display()),
        ]);
    }
    match &cfg.boot {
        BootKind::KernelInitrd { prefix } | BootKind::Squashfs { prefix } => {
            let p = prefix.display();
            a.extend([s("-kernel"), format!("{p}-kernel")]);
            let mut cmdline = std::fs::read_to_string(format!("{p}-cmdline")).unwrap_or_default();
            if matches!(cfg.boot, BootKind::KernelInitrd { .. }) {
                a.extend([s("-initrd"), format!("{p}-initrd.img")]);
            } else {
                cmdline.push_str(" root=/dev/sda");
            }
            if let Some(extra) = &cfg.append {
                cmdline.push(' ');
                cmdline.push_str(extra);
            }
            a.extend([s("-append"), cmdline.trim().to_string()]);
        }
        _ => {}
    }
    let net = cfg.networking.as_str();
    if net == "none" {
        a.extend([s("-net"), s("none")]);
    } else {
        let mac = mac_address(&cfg.state)?;
        a.extend([s("-device"), format!("virtio-net-pci,netdev=t0,mac={mac}")]);
        let backend = if net.is_empty() || net == "user" || net == "default" {
            let mut b = s("user,id=t0");
            for p in &cfg.publish {
                b.push(',');
                b.push_str(&hostfwd(p)?);
            }
            b
        } else if let Some(ifname) = net.strip_prefix("tap,") {
            format!("tap,id=t0,ifname={ifname},script=no,downscript=no")
        } else if let Some(br) = net.strip_prefix("bridge,") {
            format!("bridge,id=t0,br={br}")
        } else {
            return Err(RunError::Invalid(format!(
                "--networking {net}: use user, tap,IFNAME, bridge,BRIDGE or none"
            )));
        };
        if !cfg.publish.is_empty() && !backend.starts_with("user") {
            return Err(RunError::Invalid(
                "--publish only works with user networking".into(),
            ));
        }
        a.extend([s("-netdev"), backend]);
    }
    if !cfg.gui {
        a.push(s("-nographic"));
    }
    if cfg.usb {
        a.push(s("-usb"));
    }
    for d in &cfg.devices {
        a.extend([s("-device"), d.clone()]);
    }
    Ok(a)
}

/// The accelerator to use: the flag, `$LINUXKIT_QEMU_ACCEL`, or a probe.
pub fn choose_accel(cfg: &QemuConfig) -> String {
    if let Some(a) = cfg
        .accel
        .clone()
        .or_else(|| std::env::var("LINUXKIT_QEMU_ACCEL").ok())
    {
        return a;
    }
    let kernel = match &cfg.boot {
        BootKind::KernelInitrd { prefix } | BootKind::Squashfs { prefix } => {
            Some(PathBuf::from(format!("{}-kernel", prefix.display())))
        }
        _ => None,
    };
    let verdict = match kernel {
        Some(k) => accel::choose(&cfg.qemu, &k),
        None => match accel::kvm_device_usable() {
            Ok(()) => Verdict::Kvm,
            Err(e) => Verdict::Tcg(e),
        },
    };
    match verdict {
        Verdict::Kvm => "kvm".into(),
        Verdict::Tcg(why) => {
            if Path::new("/dev/kvm").exists() {
                eprintln!(
                    "notice: KVM does not work here ({why}); using TCG software emulation (slower)"
                );
            }
            "tcg".into()
        }
    }
}

/// Run QEMU; returns its exit status (attached) or immediately (detached).
pub fn run(cfg: &QemuConfig) -> Result<ExitStatus, RunError> {
    let accel = choose_accel(cfg);
    let mut args = command_line(cfg, &accel)?;
    let console = cfg
        .console_file
        .clone()
        .or_else(|| cfg.detached.then(|| cfg.state.join("console.log")));
    if console.is_some() {
        // The console goes to the file; QEMU's own messages to the terminal.
        if let Some(pos) = args.iter().position(|x| x == "-nographic") {
            args.remove(pos);
            args.extend(["-display".into(), "none".into()]);
        }
        args.extend([
            "-serial".into(),
            format!(
                "file:{}",
                console
                    .as_ref()
                    .map(|c| c.display().to_string())
                    .unwrap_or_default()
            ),
        ]);
    }
    tracing::debug!("{} {}", cfg.qemu.display(), args.join(" "));
    let mut cmd = Command::new(&cfg.qemu);
    cmd.args(&args);
    if cfg.detached {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io(format!(
                "cannot start {} (install qemu-system-x86)",
                cfg.qemu.display()
            )))?;
        eprintln!(
            "QEMU running in the background (pid {}), console in {}",
            child.id(),
            console.map(|c| c.display().to_string()).unwrap_or_default()
        );
        return Ok(std::process::ExitStatus::default());
    }
    cmd.status().map_err(io(format!(
        "cannot start {} (install qemu-system-x86)",
        cfg.qemu.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> QemuConfig {
        QemuConfig {
            boot: BootKind::KernelInitrd {
                prefix: dir.join("m"),
            },
            cpus: 1,
            mem_mib: 1024,
            disks: vec![],
            accel: Some("tcg".into()),
            state: dir.join("m-state"),
            networking: "user".into(),
            publish: vec!["8080:80".into(), "53:53/udp".into()],
            gui: false,
            uefi: false,
            fw: PathBuf::from("/usr/share/ovmf/OVMF.fd"),
            devices: vec![],
            usb: false,
            console_file: None,
            detached: false,
            qemu: PathBuf::from("qemu-system-x86_64"),
            append: None,
        }
    }

    #[test]
    fn detection_and_command_line() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert!(BootKind::detect(&d.join("m")).is_err());
        std::fs::write(d.join("m-kernel"), b"k").unwrap();
        std::fs::write(d.join("m-cmdline"), b"console=ttyS0").unwrap();
        assert_eq!(
            BootKind::detect(&d.join("m")).unwrap(),
            BootKind::KernelInitrd {
                prefix: d.join("m")
            }
        );
        std::fs::write(d.join("x.iso"), b"").unwrap();
        assert_eq!(
            BootKind::detect(&d.join("x.iso")).unwrap(),
            BootKind::Iso(d.join("x.iso"))
        );
        let c = cfg(d);
        let a = command_line(&c, "tcg").unwrap().join(" ");
        assert!(a.contains("-machine q35,accel=tcg"), "{a}");
        assert!(
            a.contains(&format!(
                "-kernel {}/m-kernel -initrd {}/m-initrd.img -append console=ttyS0",
                d.display(),
                d.display()
            )),
            "{a}"
        );
        assert!(
            a.contains("user,id=t0,hostfwd=tcp::8080-:80,hostfwd=udp::53-:53"),
            "{a}"
        );
        let mac = std::fs::read_to_string(d.join("m-state/mac-addr")).unwrap();
        assert!(a.contains(mac.trim()));
        // the MAC is stable across runs
        let again = command_line(&c, "tcg").unwrap().join(" ");
        assert!(again.contains(mac.trim()));
        assert!(a.ends_with("-nographic"));
    }

    #[test]
    fn disks() {
        assert_eq!(
            Disk::parse("size=512M").unwrap(),
            Disk {
                path: PathBuf::new(),
                size_mib: 512,
                format: "qcow2".into()
            }
        );
        assert_eq!(Disk::parse("d.img,size=2").unwrap().size_mib, 2048);
        assert_eq!(Disk::parse("file=x.raw,format=raw").unwrap().format, "raw");
        assert!(Disk::parse("size=big").is_err());
        assert!(
            Disk::parse("x,colour=red")
                .unwrap_err()
                .to_string()
                .contains("unknown disk config: colour")
        );
        assert!(
            Disk::parse("format=raw")
                .unwrap_err()
                .to_string()
                .contains("no size or name")
        );
    }

    #[test]
    fn publish_errors() {
        assert!(hostfwd("80").is_err());
        assert!(hostfwd("80:x").is_err());
        assert!(hostfwd("80:80/sctp").is_err());
    }
}
