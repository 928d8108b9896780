//! `linuxkit run qemu`: find what to boot from the path given (upstream's
//! rules: `X.iso`, a disk image, or the prefix of a kernel+initrd build;
//! also `X.efi`, a unified kernel image), prepare the state directory (MAC
//! address, extra disks, the EFI system partition of a UKI), build the QEMU
//! command line in upstream's order, and run QEMU attached to the terminal
//! or detached with the console in a file.
//!
//! Disk images are attached on QEMU's default interface (AHCI on q35, which
//! SeaBIOS and OVMF boot from; the guest itself runs from its initrd) with
//! the format named by the extension: `.img`/`.raw` raw, `.qcow2`, `.vhd`
//! (`vpc`), `.vmdk`; others are probed by QEMU. Images that only UEFI can
//! boot (a UKI, a GPT disk without BIOS boot code, an ISO whose only El
//! Torito entry is EFI) are recognised by [`BootKind::uefi_only`].

use crate::accel::{self, Verdict};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A run failure, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad flags or inputs.
    #[error("{0}")]
    Invalid(String),
    /// The metadata ISO (`--data`, `--data-file`) could not be written.
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
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
    /// `<prefix>-kernel` with a root file system image as its root disk
    /// (`kernel+squashfs`, `kernel+erofs`, `kernel+iso`), attached as
    /// `/dev/vda`, and `<prefix>-root-initrd.img` when the build wrote one.
    RootImage {
        /// The prefix.
        prefix: PathBuf,
        /// `<prefix>-squashfs.img`, `<prefix>-erofs.img` or `<prefix>.iso`.
        image: PathBuf,
    },
    /// An ISO image.
    Iso(PathBuf),
    /// A disk image (raw/qcow2/vhd/vmdk, format from the extension).
    Disk(PathBuf),
    /// A unified kernel image (`.efi`): booted by UEFI firmware from an EFI
    /// system partition generated in the state directory.
    Uki(PathBuf),
}

/// QEMU's format name for a disk image, from its extension (empty: let
/// QEMU probe).
pub fn disk_format(path: &Path) -> &'static str {
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("img" | "raw") => "raw",
        Some("qcow2") => "qcow2",
        Some("vhd") => "vpc",
        Some("vmdk") => "vmdk",
        _ => "",
    }
}

fn read_block(path: &Path, offset: u64, len: usize) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset).ok()?;
    Some(buf)
}

/// The first sector of a disk image: raw and fixed VHD hold it at offset 0,
/// qcow2 through its L1/L2 tables (uncompressed clusters only).
fn first_sector(path: &Path, format: &str) -> Option<Vec<u8>> {
    match format {
        "raw" | "vpc" => read_block(path, 0, 512),
        "qcow2" => {
            let h = read_block(path, 0, 48)?;
            if &h[..4] != b"QFI\xfb" {
                return None;
            }
            let be = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
            const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
            let l1 = be(&h[40..48]);
            let l2 = be(&read_block(path, l1, 8)?) & OFFSET_MASK;
            if l2 == 0 {
                return None;
            }
            let entry = be(&read_block(path, l2, 8)?);
            let data = entry & OFFSET_MASK;
            if entry & (1 << 62) != 0 || data == 0 {
                return None;
            }
            read_block(path, data, 512)
        }
        _ => None,
    }
}

/// A disk with a GPT (protective MBR) and no BIOS boot code.
fn gpt_without_boot_code(path: &Path) -> bool {
    match first_sector(path, disk_format(path)) {
        Some(b) => {
            b[450] == 0xEE && b[510..512] == [0x55, 0xAA] && b[..440].iter().all(|&x| x == 0)
        }
        None => false,
    }
}

/// An ISO 9660 image whose El Torito catalog is for EFI only.
fn iso_efi_only(path: &Path) -> bool {
    let Some(brvd) = read_block(path, 17 * 2048, 2048) else {
        return false;
    };
    if brvd[0] != 0 || &brvd[1..6] != b"CD001" || !brvd[7..].starts_with(b"EL TORITO SPECIFICATION")
    {
        return false;
    }
    let lba = u32::from_le_bytes([brvd[0x47], brvd[0x48], brvd[0x49], brvd[0x4a]]);
    match read_block(path, u64::from(lba) * 2048, 64) {
        // validation entry: header 1, platform id
        Some(cat) => cat[0] == 1 && cat[1] == 0xEF,
        None => false,
    }
}

impl BootKind {
    /// Upstream's detection (cli.md §3.1).
    pub fn detect(path: &Path) -> Result<BootKind, RunError> {
        let mut s = path.to_string_lossy().to_string();
        // A file of a kernel+initrd (or kernel+squashfs...) build given
        // instead of its prefix (`minimal-kernel` for `minimal`) means the prefix.
        for suffix in [
            "-kernel",
            "-initrd.img",
            "-cmdline",
            "-squashfs.img",
            "-erofs.img",
        ] {
            if let Some(prefix) = s.strip_suffix(suffix)
                && !prefix.is_empty()
                && Path::new(&format!("{prefix}-kernel")).is_file()
                && ["-initrd.img", "-cmdline", "-squashfs.img", "-erofs.img"]
                    .iter()
                    .any(|c| Path::new(&format!("{prefix}{c}")).is_file())
            {
                s = prefix.to_string();
                break;
            }
        }
        let path = Path::new(&s);
        if path.exists() {
            return Ok(if s.ends_with(".iso") {
                BootKind::Iso(path.to_path_buf())
            } else if s.ends_with(".efi") {
                BootKind::Uki(path.to_path_buf())
            } else {
                BootKind::Disk(path.to_path_buf())
            });
        }
        if Path::new(&format!("{s}-kernel")).exists() {
            let root_image = [
                format!("{s}-squashfs.img"),
                format!("{s}-erofs.img"),
                format!("{s}.iso"),
            ]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
            let has_initrd = Path::new(&format!("{s}-initrd.img")).exists();
            return Ok(if let Some(image) = root_image.filter(|_| !has_initrd) {
                BootKind::RootImage {
                    prefix: path.to_path_buf(),
                    image,
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
            BootKind::KernelInitrd { prefix } | BootKind::RootImage { prefix, .. } => {
                prefix.clone()
            }
            BootKind::Iso(p) => PathBuf::from(p.to_string_lossy().trim_end_matches(".iso")),
            BootKind::Uki(p) => PathBuf::from(p.to_string_lossy().trim_end_matches(".efi")),
            BootKind::Disk(p) => p.clone(),
        }
    }

    /// Why this image can only boot with UEFI firmware, if it can only.
    pub fn uefi_only(&self) -> Option<&'static str> {
        match self {
            BootKind::Uki(_) => Some("a unified kernel image"),
            BootKind::Iso(p) if iso_efi_only(p) => Some("an ISO with only an EFI boot entry"),
            BootKind::Disk(p) if gpt_without_boot_code(p) => {
                Some("a GPT disk without BIOS boot code")
            }
            _ => None,
        }
    }
}

/// The EFI system partition image that boots the UKI `uki`: a FAT file
/// system (no partition table: OVMF reads it as a whole-disk volume) with
/// the UKI as `EFI/BOOT/BOOTX64.EFI`, written to `dest`.
pub fn uki_esp(uki: &Path, dest: &Path) -> Result<(), RunError> {
    use linuxkit_formats::fat::{FatBuilder, FatOptions};
    let data = std::fs::read(uki).map_err(io(format!("cannot read {}", uki.display())))?;
    let mut b = FatBuilder::new();
    let img = b
        .add_file("EFI/BOOT/BOOTX64.EFI", data.into())
        .and_then(|_| b.build(&FatOptions::default()))
        .map_err(|e| {
            RunError::Invalid(format!(
                "cannot make an EFI system partition for {}: {e}",
                uki.display()
            ))
        })?;
    let mut f =
        std::fs::File::create(dest).map_err(io(format!("cannot write {}", dest.display())))?;
    img.write_to(&mut std::io::BufWriter::new(&mut f))
        .map_err(io(format!("cannot write {}", dest.display())))
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
    /// `--data`/`--data-file`: written to `<state>/data.iso` (a metadata
    /// ISO, see [`crate::metadata`]) and attached as a CD-ROM.
    pub metadata: Option<Vec<u8>>,
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

/// Write `<state>/data.iso` for `data` and return the arguments that attach
/// it as a CD-ROM. Upstream uses `-cdrom` (or a further `media=cdrom`
/// drive after a boot ISO), which on q35 is an AHCI drive; the kernel this
/// project ships (Debian's cloud kernel) has no AHCI driver, so the disc is
/// a SCSI CD-ROM on a virtio-scsi controller instead: still `/dev/sr0`, the
/// device `pkg/metadata`'s CD-ROM provider reads, with or without a boot ISO.
fn metadata_cdrom(state: &Path, data: &[u8]) -> Result<Vec<String>, RunError> {
    let iso = state.join("data.iso");
    crate::metadata::write_metadata_iso(&iso, data)?;
    Ok(vec![
        "-device".into(),
        "virtio-scsi-pci,id=lkdata".into(),
        "-drive".into(),
        format!(
            "file={},if=none,id=lkdata0,format=raw,media=cdrom,readonly=on",
            // QEMU option values escape a comma by doubling it
            iso.display().to_string().replace(',', ",,")
        ),
        "-device".into(),
        "scsi-cd,drive=lkdata0,bus=lkdata.0".into(),
    ])
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
        BootKind::Disk(p) => drive(&mut a, p, disk_format(p), ""),
        BootKind::Uki(p) => {
            let esp = cfg.state.join("uki-esp.img");
            uki_esp(p, &esp)?;
            drive(&mut a, &esp, "raw", "")
        }
        BootKind::RootImage { image, .. } => {
            // virtio: the Debian cloud kernel has no AHCI driver (upstream
            // attaches it as /dev/sda); read-only, like the file system.
            drive(&mut a, image, "raw", "virtio");
            if let Some(d) = a.last_mut() {
                d.push_str(",readonly=on");
            }
        }
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
    if let Some(data) = &cfg.metadata {
        a.extend(metadata_cdrom(&cfg.state, data)?);
    }
    if cfg.uefi {
        if !cfg.fw.exists() {
            return Err(RunError::Invalid(format!(
                "UEFI firmware {} not found: install OVMF (Debian: ovmf) or give --fw FILE",
                cfg.fw.display()
            )));
        }
        a.extend([
            s("-drive"),
            format!("if=pflash,format=raw,readonly=on,file={}", cfg.fw.display()),
        ]);
    }
    match &cfg.boot {
        BootKind::KernelInitrd { prefix } | BootKind::RootImage { prefix, .. } => {
            let p = prefix.display();
            a.extend([s("-kernel"), format!("{p}-kernel")]);
            let mut cmdline = std::fs::read_to_string(format!("{p}-cmdline")).unwrap_or_default();
            if matches!(cfg.boot, BootKind::KernelInitrd { .. }) {
                a.extend([s("-initrd"), format!("{p}-initrd.img")]);
            } else {
                let root_initrd = format!("{p}-root-initrd.img");
                if Path::new(&root_initrd).exists() {
                    a.extend([s("-initrd"), root_initrd]);
                }
                if !cmdline.split_whitespace().any(|w| w.starts_with("root=")) {
                    cmdline.push_str(" root=/dev/vda");
                }
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
    // The kernel about to boot is the best probe: a kernel file, or the
    // `.linux` section of a UKI (copied into the state directory, only when
    // a probe is needed).
    let uki_kernel = cfg.state.join("uki-kernel");
    let kernel = || match &cfg.boot {
        BootKind::KernelInitrd { prefix } | BootKind::RootImage { prefix, .. } => {
            Some(PathBuf::from(format!("{}-kernel", prefix.display())))
        }
        BootKind::Uki(p) => std::fs::read(p).ok().and_then(|pe| {
            let linux = linuxkit_formats::uki::pe_section(&pe, ".linux")?;
            std::fs::write(&uki_kernel, linux).ok()?;
            Some(uki_kernel.clone())
        }),
        _ => None,
    };
    // the probe's scratch files go to the state directory
    let _ = std::fs::create_dir_all(&cfg.state);
    let verdict = accel::choose(&cfg.qemu, kernel, &cfg.state);
    let _ = std::fs::remove_file(&uki_kernel);
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

    #[test]
    fn a_build_file_given_for_its_prefix_means_the_prefix() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("minimal");
        for f in ["-kernel", "-initrd.img", "-cmdline"] {
            std::fs::write(format!("{}{f}", m.display()), b"x").unwrap();
        }
        for given in ["-kernel", "-initrd.img", "-cmdline", ""] {
            let p = PathBuf::from(format!("{}{given}", m.display()));
            match BootKind::detect(&p).unwrap() {
                BootKind::KernelInitrd { prefix } => assert_eq!(prefix, m, "{given}"),
                other => panic!("{given}: {other:?}"),
            }
        }
        // A disk that merely ends in -kernel, with no build beside it, is a disk.
        let d = t.path().join("disk-kernel");
        std::fs::write(&d, b"x").unwrap();
        assert!(matches!(BootKind::detect(&d).unwrap(), BootKind::Disk(_)));
    }

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
            metadata: None,
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

    #[test]
    fn disk_formats_by_extension() {
        assert_eq!(disk_format(Path::new("a-bios.img")), "raw");
        assert_eq!(disk_format(Path::new("a.raw")), "raw");
        assert_eq!(disk_format(Path::new("a.qcow2")), "qcow2");
        assert_eq!(disk_format(Path::new("a.VHD")), "vpc");
        assert_eq!(disk_format(Path::new("a.vmdk")), "vmdk");
        assert_eq!(disk_format(Path::new("disk")), "");
    }

    /// A protective MBR: GPT partition type at entry 1, signature.
    fn pmbr(boot_code: bool) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[450] = 0xEE;
        s[510] = 0x55;
        s[511] = 0xAA;
        if boot_code {
            s[0] = 0xEB;
        }
        s
    }

    #[test]
    fn uefi_only_images_are_recognised() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("m.efi"), b"MZ").unwrap();
        let uki = BootKind::detect(&d.join("m.efi")).unwrap();
        assert_eq!(uki, BootKind::Uki(d.join("m.efi")));
        assert_eq!(uki.prefix(), d.join("m"));
        assert!(uki.uefi_only().is_some());
        // raw GPT disk without boot code: EFI; with boot code: not
        std::fs::write(d.join("e.img"), pmbr(false)).unwrap();
        std::fs::write(d.join("b.img"), pmbr(true)).unwrap();
        std::fs::write(d.join("x.qcow2"), pmbr(false)).unwrap(); // not a qcow2
        assert!(BootKind::Disk(d.join("e.img")).uefi_only().is_some());
        assert!(BootKind::Disk(d.join("b.img")).uefi_only().is_none());
        assert!(BootKind::Disk(d.join("x.qcow2")).uefi_only().is_none());
        // an ISO whose El Torito validation entry is EFI
        let mut iso = vec![0u8; 20 * 2048];
        iso[17 * 2048 + 1..17 * 2048 + 6].copy_from_slice(b"CD001");
        iso[17 * 2048 + 7..17 * 2048 + 30].copy_from_slice(b"EL TORITO SPECIFICATION");
        iso[17 * 2048 + 0x47] = 19;
        iso[19 * 2048] = 1;
        iso[19 * 2048 + 1] = 0xEF;
        std::fs::write(d.join("e.iso"), &iso).unwrap();
        assert!(BootKind::Iso(d.join("e.iso")).uefi_only().is_some());
        iso[19 * 2048 + 1] = 0;
        std::fs::write(d.join("b.iso"), &iso).unwrap();
        assert!(BootKind::Iso(d.join("b.iso")).uefi_only().is_none());
    }

    #[test]
    fn disks_get_their_format_and_a_uki_an_esp() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("m.vhd"), b"x").unwrap();
        let mut c = cfg(d);
        c.boot = BootKind::Disk(d.join("m.vhd"));
        let a = command_line(&c, "tcg").unwrap().join(" ");
        assert!(
            a.contains(&format!(
                "file={}/m.vhd,index=0,media=disk,format=vpc",
                d.display()
            )),
            "{a}"
        );
        std::fs::write(d.join("m.efi"), vec![7u8; 5000]).unwrap();
        c.boot = BootKind::Uki(d.join("m.efi"));
        c.uefi = true;
        c.fw = d.join("m.vhd"); // any existing file
        let a = command_line(&c, "tcg").unwrap().join(" ");
        let esp = c.state.join("uki-esp.img");
        assert!(
            a.contains(&format!(
                "file={},index=0,media=disk,format=raw",
                esp.display()
            )),
            "{a}"
        );
        assert!(a.contains("if=pflash"), "{a}");
        let fat = std::fs::read(&esp).unwrap();
        assert_eq!(&fat[510..512], &[0x55, 0xAA]);
        c.fw = d.join("no-such-firmware.fd");
        let e = command_line(&c, "tcg").unwrap_err().to_string();
        assert!(e.contains("UEFI firmware") && e.contains("--fw"), "{e}");
    }

    #[test]
    fn data_goes_to_the_state_directory_and_is_attached_as_a_cdrom() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("m-kernel"), b"k").unwrap();
        let mut c = cfg(d);
        let plain = command_line(&c, "tcg").unwrap();
        assert!(!plain.iter().any(|x| x.contains("data.iso")), "{plain:?}");
        c.metadata = Some(b"{\"ssh\":{}}".to_vec());
        let a = command_line(&c, "tcg").unwrap();
        let iso = c.state.join("data.iso");
        let want = [
            "-device".to_string(),
            "virtio-scsi-pci,id=lkdata".into(),
            "-drive".into(),
            format!(
                "file={},if=none,id=lkdata0,format=raw,media=cdrom,readonly=on",
                iso.display()
            ),
            "-device".into(),
            "scsi-cd,drive=lkdata0,bus=lkdata.0".into(),
        ];
        assert!(a.windows(want.len()).any(|w| w == want), "{a:?}");
        assert_eq!(
            std::fs::read(&iso).unwrap(),
            crate::metadata::metadata_iso(b"{\"ssh\":{}}").unwrap()
        );
        // after a boot ISO: the boot disc stays `-cdrom`, the data disc is the SCSI one
        std::fs::write(d.join("b.iso"), b"").unwrap();
        c.boot = BootKind::Iso(d.join("b.iso"));
        let a = command_line(&c, "tcg").unwrap().join(" ");
        let cdrom = a.find(&format!("-cdrom {}", d.join("b.iso").display()));
        let data = a.find("scsi-cd,drive=lkdata0");
        assert!(cdrom.is_some() && data.is_some() && cdrom < data, "{a}");
        // a state directory path with a comma is escaped for QEMU
        c.state = d.join("a,b");
        let a = command_line(&c, "tcg").unwrap().join(" ");
        assert!(a.contains("a,,b/data.iso,if=none"), "{a}");
    }
}
