//! `linuxkit push equinixmetal` and its neutral twin `push ipxe`: copy a
//! kernel+initrd build (`<name>-kernel`, `<name>-initrd.img`) and an iPXE
//! script that boots it from `--base-url` to a `file://` destination, as
//! upstream's `push equinixmetal` does. The Equinix Metal service is gone;
//! the script is what any iPXE machine netboots from (serve the destination
//! with `linuxkit serve`).
//!
//! `equinixmetal` writes upstream's `<name>-equinixmetal.ipxe`, whose
//! x86_64 kernel parameters add Equinix Metal's serial console
//! (`console=ttyS1,115200`) unless the command line names ttyS1; `ipxe`
//! writes `<name>.ipxe` without that console. Files are named by the base
//! name of `<name>` (upstream keeps any directory part of it).

use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Which script flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Upstream's `push equinixmetal`.
    EquinixMetal,
    /// `push ipxe`: any iPXE machine.
    Ipxe,
}

/// What to push.
#[derive(Debug, Clone)]
pub struct IpxePush {
    /// Script flavour.
    pub flavour: Flavour,
    /// The build prefix (`<prefix>-kernel`, ...).
    pub prefix: String,
    /// `--img-name`: overrides the prefix of the kernel and initrd.
    pub name: Option<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--arch`: x86_64 or aarch64.
    pub arch: String,
    /// `--decompress`: gunzip the kernel and initrd.
    pub decompress: bool,
    /// `--destination`: `file:///DIR` or a path.
    pub destination: Option<String>,
}

/// Upstream's `getStringValue`: the flag when given, else the environment
/// variable (equinixmetal only), else the default.
fn flag_env(flag: Option<&str>, var: &str, flavour: Flavour, default: &str) -> String {
    if let Some(f) = flag.filter(|f| !f.is_empty()) {
        return f.to_string();
    }
    if flavour == Flavour::EquinixMetal
        && let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return v;
    }
    default.to_string()
}

/// The iPXE script booting `<name>-kernel` and `<name>-initrd.img` from
/// `base_url` with `cmdline` (upstream's `equinixmetalIPXEScript`).
pub fn script(flavour: Flavour, name: &str, base_url: &str, cmdline: &str, arch: &str) -> String {
    let mut s = format!("#!ipxe\n\ndhcp\nset base-url {base_url}\n");
    if arch != "aarch64" {
        let tty = match flavour {
            Flavour::EquinixMetal if !cmdline.contains("console=ttyS1") => "console=ttyS1,115200",
            _ => "",
        };
        s += &format!("set kernel-params ip=dhcp nomodeset ro serial {tty} {cmdline}\n");
        s += &format!("kernel ${{base-url}}/{name}-kernel ${{kernel-params}}\n");
        s += &format!("initrd ${{base-url}}/{name}-initrd.img\n");
    } else {
        s += &format!("initrd --name initrd ${{base-url}}/{name}-initrd.img\n");
        s += &format!("set kernel-params ip=dhcp nomodeset ro {cmdline}\n");
        s += &format!(
            "kernel ${{base-url}}/{name}-kernel initrd=initrd root=/dev/ram0 ${{kernel-params}}\n"
        );
    }
    s += "boot";
    s
}

/// The destination directory of `--destination` (`file://` or no scheme).
fn destination_dir(dst: &str) -> Result<PathBuf> {
    match dst.split_once("://") {
        Some(("file", rest)) => {
            // file:///abs/dir (an empty host) or file://dir
            Ok(PathBuf::from(if rest.is_empty() { "." } else { rest }))
        }
        Some((scheme, _)) => bail!("unknown destination format: {scheme}"),
        None => Ok(PathBuf::from(dst)),
    }
}

/// Copy `src` to `dst`, gunzipping it when `decompress` and it is gzip.
fn copy(src: &Path, dst: &Path, decompress: bool) -> Result<()> {
    let mut f =
        std::fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let mut magic = [0u8; 2];
    let is_gzip = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    drop(f);
    let input =
        std::fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let mut reader: Box<dyn Read> = if decompress && is_gzip {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            input,
        )))
    } else {
        if decompress {
            tracing::warn!(
                "{} does not seem to be gzip'ed. Ignore decompress.",
                src.display()
            );
        }
        Box::new(input)
    };
    let mut out =
        std::fs::File::create(dst).with_context(|| format!("cannot write {}", dst.display()))?;
    std::io::copy(&mut reader, &mut out)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
    Ok(())
}

/// Run the push; returns the path of the script written.
pub fn push(p: &IpxePush) -> Result<PathBuf> {
    if p.arch != "x86_64" && p.arch != "aarch64" {
        bail!("--arch {}: use x86_64 or aarch64", p.arch);
    }
    let base_url = flag_env(p.base_url.as_deref(), "METAL_BASE_URL", p.flavour, "");
    if base_url.is_empty() {
        bail!(
            "need to specify a value for --base-url from where the kernel, initrd and iPXE script will be loaded from"
        );
    }
    let Some(dst) = p.destination.as_deref().filter(|d| !d.is_empty()) else {
        bail!("need to specify the destination where to push to (--destination file:///DIR)");
    };
    let name = flag_env(p.name.as_deref(), "METAL_NAME", p.flavour, &p.prefix);
    let kernel = PathBuf::from(format!("{name}-kernel"));
    let initrd = PathBuf::from(format!("{name}-initrd.img"));
    if !kernel.exists() {
        bail!("kernel file does not exist: {}", kernel.display());
    }
    if !initrd.exists() {
        bail!("initrd file does not exist: {}", initrd.display());
    }
    let cmdline_file = format!("{}-cmdline", p.prefix);
    let cmdline = std::fs::read_to_string(&cmdline_file)
        .with_context(|| format!("cannot open cmdline file {cmdline_file}"))?;
    let base = Path::new(&name)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| name.clone());
    let dir = destination_dir(dst)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("could not create destination directory {}", dir.display()))?;
    copy(&kernel, &dir.join(format!("{base}-kernel")), p.decompress)?;
    copy(
        &initrd,
        &dir.join(format!("{base}-initrd.img")),
        p.decompress,
    )?;
    let script_name = match p.flavour {
        Flavour::EquinixMetal => format!("{base}-equinixmetal.ipxe"),
        Flavour::Ipxe => format!("{base}.ipxe"),
    };
    let out = dir.join(script_name);
    let text = script(
        p.flavour,
        &base,
        base_url.trim_end_matches('/'),
        cmdline.trim(),
        &p.arch,
    );
    std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_as_upstream_writes_them() {
        assert_eq!(
            script(
                Flavour::EquinixMetal,
                "m",
                "http://h/x",
                "console=ttyS0",
                "x86_64"
            ),
            "#!ipxe\n\ndhcp\nset base-url http://h/x\nset kernel-params ip=dhcp nomodeset ro serial console=ttyS1,115200 console=ttyS0\nkernel ${base-url}/m-kernel ${kernel-params}\ninitrd ${base-url}/m-initrd.img\nboot"
        );
        assert!(
            script(Flavour::EquinixMetal, "m", "u", "console=ttyS1", "x86_64")
                .contains("ro serial  console=ttyS1\n")
        );
        assert!(!script(Flavour::Ipxe, "m", "u", "console=ttyS0", "x86_64").contains("ttyS1"));
        assert_eq!(
            script(Flavour::Ipxe, "m", "u", "c", "aarch64"),
            "#!ipxe\n\ndhcp\nset base-url u\ninitrd --name initrd ${base-url}/m-initrd.img\nset kernel-params ip=dhcp nomodeset ro c\nkernel ${base-url}/m-kernel initrd=initrd root=/dev/ram0 ${kernel-params}\nboot"
        );
    }

    #[test]
    fn destinations() {
        assert_eq!(
            destination_dir("file:///a/b").unwrap(),
            PathBuf::from("/a/b")
        );
        assert_eq!(destination_dir("out").unwrap(), PathBuf::from("out"));
        let e = destination_dir("s3://bucket").unwrap_err().to_string();
        assert_eq!(e, "unknown destination format: s3");
    }
}
