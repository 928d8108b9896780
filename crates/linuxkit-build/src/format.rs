//! The output formats of `linuxkit build`, as one type. Everything the
//! build and the command line know about a format is answered here, each
//! question by one `match`: its name (upstream's spelling), its files,
//! whether it streams, what it is made from, the architectures it
//! supports, whether it is implemented, and its help line. Which formats
//! write the same file follows from their files. Adding a format means
//! adding a variant and answering each `match`; the writer itself lives in
//! [`crate::formats`] or [`crate::kernel_initrd`].

use crate::error::BuildError;
use std::fmt;
use std::str::FromStr;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `aws`
    Aws,
    /// `azure`
    Azure,
    /// `docker`
    Docker,
    /// `dynamic-vhd`
    DynamicVhd,
    /// `gcp`
    Gcp,
    /// `iso-bios`
    IsoBios,
    /// `iso-efi`
    IsoEfi,
    /// `iso-efi-initrd`
    IsoEfiInitrd,
    /// `kernel+erofs`
    KernelErofs,
    /// `kernel+initrd`
    KernelInitrd,
    /// `kernel+iso`
    KernelIso,
    /// `kernel+squashfs`
    KernelSquashfs,
    /// `qcow2-bios`
    Qcow2Bios,
    /// `qcow2-efi`
    Qcow2Efi,
    /// `raw-bios`
    RawBios,
    /// `raw-efi`
    RawEfi,
    /// `rpi3`
    Rpi3,
    /// `tar`
    Tar,
    /// `tar-kernel-initrd`
    TarKernelInitrd,
    /// `uki`
    Uki,
    /// `vhd`
    Vhd,
    /// `vmdk`
    Vmdk,
}

use Format::*;

impl Format {
    /// Every format, sorted by name (the order of `--help` and of error
    /// messages): upstream's 20 plus `azure` (a fixed VHD sized as Azure
    /// requires) and `uki` (the unified kernel image of the EFI formats).
    pub const ALL: [Format; 22] = [
        Aws,
        Azure,
        Docker,
        DynamicVhd,
        Gcp,
        IsoBios,
        IsoEfi,
        IsoEfiInitrd,
        KernelErofs,
        KernelInitrd,
        KernelIso,
        KernelSquashfs,
        Qcow2Bios,
        Qcow2Efi,
        RawBios,
        RawEfi,
        Rpi3,
        Tar,
        TarKernelInitrd,
        Uki,
        Vhd,
        Vmdk,
    ];

    /// The name on the command line (upstream's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Aws => "aws",
            Azure => "azure",
            Docker => "docker",
            DynamicVhd => "dynamic-vhd",
            Gcp => "gcp",
            IsoBios => "iso-bios",
            IsoEfi => "iso-efi",
            IsoEfiInitrd => "iso-efi-initrd",
            KernelErofs => "kernel+erofs",
            KernelInitrd => "kernel+initrd",
            KernelIso => "kernel+iso",
            KernelSquashfs => "kernel+squashfs",
            Qcow2Bios => "qcow2-bios",
            Qcow2Efi => "qcow2-efi",
            RawBios => "raw-bios",
            RawEfi => "raw-efi",
            Rpi3 => "rpi3",
            Tar => "tar",
            TarKernelInitrd => "tar-kernel-initrd",
            Uki => "uki",
            Vhd => "vhd",
            Vmdk => "vmdk",
        }
    }

    /// The suffixes of the files it writes after `<name>`: the format's
    /// own image first, then the files it writes beside it (the same
    /// bytes whichever format writes them: `-kernel`, `-cmdline`, ...).
    /// `kernel+initrd` omits `-kernel` and `-cmdline` when they are empty;
    /// `kernel+*` omit `-root-initrd.img` when no module makes the root
    /// device readable.
    pub fn suffixes(self) -> &'static [&'static str] {
        match self {
            Aws => &[".raw"],
            Azure | DynamicVhd | Vhd => &[".vhd"],
            Docker => &[".docker"],
            Gcp => &[".img.tar.gz"],
            IsoBios => &[".iso"],
            IsoEfi => &["-efi.iso"],
            IsoEfiInitrd => &["-efi-initrd.iso"],
            KernelErofs => &["-erofs.img", "-kernel", "-cmdline", "-root-initrd.img"],
            KernelInitrd => &["-initrd.img", "-kernel", "-cmdline"],
            KernelIso => &[".iso", "-kernel", "-cmdline", "-root-initrd.img"],
            KernelSquashfs => &["-squashfs.img", "-kernel", "-cmdline", "-root-initrd.img"],
            Qcow2Bios => &[".qcow2"],
            Qcow2Efi => &["-efi.qcow2"],
            RawBios => &["-bios.img"],
            RawEfi => &["-efi.img"],
            Rpi3 | Tar => &[".tar"],
            TarKernelInitrd => &["-initrd.tar"],
            Uki => &[".efi"],
            Vmdk => &[".vmdk"],
        }
    }

    /// The suffix of the format's own image.
    pub fn suffix(self) -> &'static str {
        self.suffixes()[0]
    }

    /// The name of the format's own image for output name `name`.
    pub fn main_file(self, name: &str) -> String {
        format!("{name}{}", self.suffix())
    }

    /// Every file it may write for output name `name`, its own image first.
    pub fn files(self, name: &str) -> Vec<String> {
        self.suffixes()
            .iter()
            .map(|s| format!("{name}{s}"))
            .collect()
    }

    /// Whether it is the filesystem tar itself, written as the stream
    /// goes (to `--o FILE`, `-` for stdout): then it must be the only
    /// format of the build.
    pub fn streams(self) -> bool {
        match self {
            Tar | Docker => true,
            Aws | Azure | DynamicVhd | Gcp | IsoBios | IsoEfi | IsoEfiInitrd | KernelErofs
            | KernelInitrd | KernelIso | KernelSquashfs | Qcow2Bios | Qcow2Efi | RawBios
            | RawEfi | Rpi3 | TarKernelInitrd | Uki | Vhd | Vmdk => false,
        }
    }

    /// What the format is made from.
    pub fn input(self) -> Input {
        match self {
            Tar | Docker => Input::Stream,
            KernelInitrd | TarKernelInitrd => Input::Kit,
            KernelErofs | KernelIso | KernelSquashfs => Input::Rootfs,
            Aws | Azure | DynamicVhd | Gcp | IsoBios | IsoEfi | IsoEfiInitrd | Qcow2Bios
            | Qcow2Efi | RawBios | RawEfi | Uki | Vhd | Vmdk => Input::Bootable,
            Rpi3 => Input::Unimplemented,
        }
    }

    /// Whether it needs the boot loader files (`--bootloaders`).
    pub fn needs_boot_files(self) -> bool {
        self.input() == Input::Bootable
    }

    /// Whether it is made from the root filesystem (every entry but `boot/`).
    pub fn needs_rootfs(self) -> bool {
        self.input() == Input::Rootfs
    }

    /// The architectures (OCI names) it can be built for; `None`: every
    /// architecture (it holds the images' own files and nothing else).
    pub fn arches(self) -> Option<&'static [&'static str]> {
        match self {
            // The boot loader package is amd64 only.
            Aws | Azure | DynamicVhd | Gcp | IsoBios | IsoEfi | IsoEfiInitrd | Qcow2Bios
            | Qcow2Efi | RawBios | RawEfi | Uki | Vhd | Vmdk => Some(&["amd64"]),
            Rpi3 => Some(&["arm64"]),
            Docker | KernelErofs | KernelInitrd | KernelIso | KernelSquashfs | Tar
            | TarKernelInitrd => None,
        }
    }

    /// Whether linuxkit-rs can write it today.
    pub fn implemented(self) -> bool {
        self.input() != Input::Unimplemented
    }

    /// One line of `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Aws => "raw disk of --size, BIOS boot (AWS import)",
            Azure => "1 GiB fixed VHD, BIOS boot, sized as Azure requires",
            Docker => "the filesystem tar plus a Dockerfile (streamable)",
            DynamicVhd => "25 GiB dynamic VHD, BIOS boot",
            Gcp => "1 GiB disk.raw in a gzipped tar, BIOS boot (GCE import)",
            IsoBios => "hybrid ISO (CD or disk), ISOLINUX boot",
            IsoEfi => "ISO with a unified kernel image, EFI boot",
            IsoEfiInitrd => "ISO with a unified kernel image and the kernel and initrd, EFI boot",
            KernelErofs => "kernel, command line and the root filesystem as erofs",
            KernelInitrd => "kernel, initrd and command line (the default)",
            KernelIso => "kernel, command line and the root filesystem as ISO 9660",
            KernelSquashfs => "kernel, command line and the root filesystem as squashfs",
            Qcow2Bios => "qcow2 disk of --size, BIOS boot",
            Qcow2Efi => "qcow2 GPT disk, EFI boot",
            RawBios => "raw disk sized to its content, BIOS boot",
            RawEfi => "raw GPT disk sized to its content, EFI boot",
            Rpi3 => "Raspberry Pi 3 SD card files (arm64; not implemented yet)",
            Tar => "the filesystem tar (streamable; the default with --o)",
            TarKernelInitrd => "tar of the kernel, initrd, command line and microcode",
            Uki => "unified kernel image (kernel, initrd and command line in one EFI binary)",
            Vhd => "1 GiB fixed VHD, BIOS boot",
            Vmdk => "1 GiB stream-optimized VMDK, BIOS boot",
        }
    }

    /// The names of [`Format::ALL`], comma separated.
    pub fn names() -> String {
        Format::ALL.map(Format::name).join(", ")
    }

    /// The `--format` help: the names, one line each with what it makes
    /// and its files.
    pub fn long_help() -> String {
        let mut s = String::from(
            "Formats to create (repeatable or comma separated; default kernel+initrd, or tar with --o):",
        );
        for f in Format::ALL {
            let files = f.files("<name>").join(", ");
            s.push_str(&format!("\n  {:<18} {} [{files}]", f.name(), f.help()));
        }
        s
    }

    /// Check a build's formats as upstream does: streamable formats
    /// alone, nothing unimplemented, no two formats writing the same file;
    /// and that each supports `arch`.
    pub fn check_set(formats: &[Format], arch: &str) -> Result<(), BuildError> {
        for f in formats {
            if f.streams() && formats.len() > 1 {
                return Err(BuildError::Other(format!(
                    "format type {f} must be the only format specified"
                )));
            }
        }
        // Formats whose own images share a file name (upstream's names): in
        // one build the later would silently replace the earlier.
        for (i, f) in formats.iter().enumerate() {
            let clash: Vec<&str> = formats
                .iter()
                .filter(|g| g.suffix() == f.suffix())
                .map(|g| g.name())
                .collect();
            let first = formats.iter().position(|g| g.suffix() == f.suffix());
            if clash.len() > 1 && first == Some(i) {
                return Err(BuildError::Other(format!(
                    "formats {} write the same file <name>{}, so one would replace the other: build them one at a time, or with different --name values",
                    clash.join(" and "),
                    f.suffix()
                )));
            }
        }
        let missing: Vec<&str> = formats
            .iter()
            .filter(|f| !f.implemented())
            .map(|f| f.name())
            .collect();
        if !missing.is_empty() {
            let available: Vec<&str> = Format::ALL
                .iter()
                .filter(|f| f.implemented())
                .map(|f| f.name())
                .collect();
            return Err(BuildError::Other(format!(
                "format {} is not implemented yet in linuxkit-rs (upstream makes rpi3 only when it runs on arm64); available now: {}",
                missing.join(", "),
                available.join(", ")
            )));
        }
        for f in formats {
            match f.arches() {
                Some(arches) if !arches.contains(&arch) => {
                    return Err(BuildError::Other(if f.needs_boot_files() {
                        format!(
                            "format {f}: only amd64 (x86_64) images can be made bootable for now (the boot loader package is amd64 only)"
                        )
                    } else {
                        format!(
                            "format {f}: only {} images can be made, not {arch}",
                            arches.join(", ")
                        )
                    }));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a format is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The filesystem stream, written as it goes.
    Stream,
    /// The kernel, initrd and command line as they are.
    Kit,
    /// The kit and the boot loader files.
    Bootable,
    /// The kernel, command line and root filesystem (no boot loader).
    Rootfs,
    /// Not written by linuxkit-rs yet.
    Unimplemented,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing formats: unknown format type {0}: valid formats are {names}", names = Format::names())]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// One `--format` value: a comma-separated list of names (blanks around
/// names and empty names are ignored, as upstream's flag does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatList(pub Vec<Format>);

impl FromStr for FormatList {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<FormatList, UnknownFormat> {
        s.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(Format::from_str)
            .collect::<Result<_, _>>()
            .map(FormatList)
    }
}

/// The formats of `--format` values in order, each once; the default
/// when none is given: `tar` when streaming to `--o`, else `kernel+initrd`.
pub fn requested(lists: &[FormatList], streaming: bool) -> Vec<Format> {
    let mut out: Vec<Format> = Vec::new();
    for f in lists.iter().flat_map(|l| &l.0) {
        if !out.contains(f) {
            out.push(*f);
        }
    }
    if out.is_empty() {
        out.push(if streaming { Tar } else { KernelInitrd });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> Result<Vec<Format>, String> {
        let list: FormatList = s.parse().map_err(|e: UnknownFormat| e.to_string())?;
        let formats = requested(&[list], false);
        Format::check_set(&formats, "amd64").map_err(|e| e.to_string())?;
        Ok(formats)
    }

    #[test]
    fn names_round_trip_sorted_and_unique() {
        let names: Vec<&str> = Format::ALL.map(Format::name).to_vec();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "ALL is sorted by name, each once");
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
            assert!(!f.help().is_empty());
        }
    }

    #[test]
    fn defaults_lists_and_duplicates() {
        assert_eq!(requested(&[], false), [KernelInitrd]);
        assert_eq!(requested(&[], true), [Tar]);
        let l: FormatList = " tar-kernel-initrd,,kernel+initrd ".parse().unwrap();
        let again: FormatList = "kernel+initrd".parse().unwrap();
        assert_eq!(
            requested(&[l, again], false),
            [TarKernelInitrd, KernelInitrd]
        );
    }

    #[test]
    fn upstream_errors() {
        let e = set("nope").unwrap_err();
        assert!(
            e.starts_with(
                "error parsing formats: unknown format type nope: valid formats are aws, azure,"
            ),
            "{e}"
        );
        assert!(
            set("tar,kernel+initrd")
                .unwrap_err()
                .contains("format type tar must be the only format specified")
        );
        // rpi3 and tar share <name>.tar, but tar must be alone first.
        assert!(
            set("rpi3,tar")
                .unwrap_err()
                .contains("tar must be the only")
        );
        let e = set("vhd,raw-bios,azure").unwrap_err();
        assert!(
            e.contains("formats vhd and azure write the same file <name>.vhd"),
            "{e}"
        );
        assert!(
            set("iso-bios,kernel+iso")
                .unwrap_err()
                .contains("<name>.iso")
        );
        assert_eq!(
            set("kernel+squashfs,kernel+erofs,vhd").unwrap().len(),
            3,
            "sharing <name>-kernel (the same bytes) is fine"
        );
        let e = set("rpi3").unwrap_err();
        assert!(e.contains("not implemented yet"), "{e}");
        assert!(
            !e.contains("rpi3, "),
            "rpi3 is not listed as available: {e}"
        );
    }

    #[test]
    fn arches() {
        assert!(Format::check_set(&[KernelInitrd], "riscv64").is_ok());
        assert!(Format::check_set(&[Tar], "arm64").is_ok());
        let e = Format::check_set(&[RawEfi], "arm64")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("only amd64 (x86_64) images can be made bootable"),
            "{e}"
        );
        for f in Format::ALL {
            assert_eq!(f.needs_boot_files(), f.arches() == Some(&["amd64"][..]));
        }
    }

    #[test]
    fn help_lists_every_format_and_its_files() {
        let h = Format::long_help();
        for f in Format::ALL {
            assert!(
                h.contains(&format!("\n  {:<18} {}", f.name(), f.help())),
                "{f}"
            );
        }
        assert!(h.contains("[<name>-initrd.img, <name>-kernel, <name>-cmdline]"));
    }
}
