//! `linuxkit build`: read and merge the YAML files, check the flags as
//! upstream does, assemble once and write every requested format.

use crate::cli::BuildArgs;
use anyhow::{Context, Result, anyhow, bail};
use linuxkit_build::formats::{self, BootFiles, FormatOptions, Inputs, Kit};
use linuxkit_build::output::{
    ALL_FORMATS, InitrdSink, NOT_IMPLEMENTED, PendingFile, StreamTarget, TarSink, Tee,
    write_pending,
};
use linuxkit_build::{BuildError, BuildOptions, SbomOptions, Sink};
use linuxkit_config::{Input, Moby};
use linuxkit_formats::Entry;
use linuxkit_oci::{Cache, Platform};
use std::io::Read;
use std::path::{Path, PathBuf};

const STREAMABLE: [&str; 2] = ["tar", "docker"];

/// Parse `--size` (`NNNM` MiB, `NNN`/`NNNG` GiB) into MiB.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mul) = if let Some(n) = t.strip_suffix(['M', 'm']) {
        (n, 1)
    } else if let Some(n) = t.strip_suffix(['G', 'g']) {
        (n, 1024)
    } else {
        (t, 1024)
    };
    let v: u64 = num
        .parse()
        .map_err(|_| anyhow!("unable to parse disk size {s:?}: use e.g. 1024M or 4G"))?;
    Ok(v * mul)
}

fn read_input(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the configuration from standard input")?;
        return Ok(s);
    }
    if arg.starts_with("http://") || arg.starts_with("https://") {
        let body = ureq::get(arg)
            .call()
            .with_context(|| format!("cannot fetch configuration {arg}"))?
            .body_mut()
            .read_to_string()
            .with_context(|| format!("cannot read configuration {arg}"))?;
        return Ok(body);
    }
    std::fs::read_to_string(arg).with_context(|| format!("cannot read configuration file {arg}"))
}

fn base_name(arg: &str) -> String {
    if arg == "-" {
        return "moby".into();
    }
    let last = arg.trim_end_matches('/').rsplit('/').next().unwrap_or(arg);
    match last.rfind('.') {
        Some(i) if i > 0 => last[..i].to_string(),
        _ => last.to_string(),
    }
}

/// Read, validate and merge the configuration files. Returns the merged
/// configuration and the local package directories its `@pkg:` templates name.
pub fn load_config(files: &[String]) -> Result<(Moby, Vec<PathBuf>)> {
    let packages = std::cell::RefCell::new(Vec::<PathBuf>::new());
    let pkg_opts = linuxkit_pkg::build::BuildOptions::default();
    let unresolved = std::cell::RefCell::new(Vec::<String>::new());
    let resolver = |dir: &Path| {
        let tag = match linuxkit_pkg::build::show_tag(dir, &pkg_opts) {
            Ok(t) => t,
            Err(e) => {
                unresolved
                    .borrow_mut()
                    .push(crate::cli::unresolved_pkg(dir, &e));
                return None;
            }
        };
        let mut p = packages.borrow_mut();
        if !p.iter().any(|d| d == dir) {
            p.push(dir.to_path_buf());
        }
        Some(tag.canonical)
    };
    let mut moby = Moby::default();
    for f in files {
        let text = read_input(f)?;
        let local = f != "-" && !f.starts_with("http://") && !f.starts_with("https://");
        let dir = Path::new(f).parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        });
        let input = Input {
            name: f,
            text: &text,
            template_dir: if local { dir } else { None },
        };
        let m = linuxkit_config::parse(&input, Some(&resolver)).map_err(|e| {
            let why = unresolved.borrow().join("\n");
            anyhow!(
                "invalid config:\n{why}{}{e}",
                if why.is_empty() { "" } else { "\n" }
            )
        })?;
        linuxkit_config::merge(&mut moby, m).map_err(|e| anyhow!("invalid config:\n{e}"))?;
    }
    Ok((moby, packages.into_inner()))
}

/// Resolve the build cache directory.
pub fn build_cache_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| Cache::default_root(true))
}

fn parse_formats(list: &[String], have_output: bool) -> Result<Vec<String>> {
    let mut formats: Vec<String> = Vec::new();
    for f in list.iter().flat_map(|f| f.split(',')) {
        let f = f.trim();
        if f.is_empty() {
            continue;
        }
        if !ALL_FORMATS.contains(&f) {
            bail!(
                "error parsing formats: unknown format type {f}: valid formats are {}",
                ALL_FORMATS.join(", ")
            );
        }
        if !formats.iter().any(|x| x == f) {
            formats.push(f.to_string());
        }
    }
    if formats.is_empty() {
        formats.push(if have_output { "tar" } else { "kernel+initrd" }.to_string());
    }
    for f in &formats {
        if STREAMABLE.contains(&f.as_str()) && formats.len() > 1 {
            bail!("format type {f} must be the only format specified");
        }
    }
    // Formats whose main images share a file name (upstream's names): in one
    // build the later would silently replace the earlier.
    for (suffix, group) in SAME_FILE {
        let clash: Vec<&str> = formats
            .iter()
            .map(String::as_str)
            .filter(|f| group.contains(f))
            .collect();
        if clash.len() > 1 {
            bail!(
                "formats {} write the same file <name>{suffix}, so one would replace the other: build them one at a time, or with different --name values",
                clash.join(" and ")
            );
        }
    }
    Ok(formats)
}

/// Groups of formats writing the same main file, by its suffix.
const SAME_FILE: [(&str, &[&str]); 2] = [
    (".vhd", &["vhd", "azure", "dynamic-vhd"]),
    (".iso", &["iso-bios", "kernel+iso"]),
];

/// Run `linuxkit build`.
pub fn run(args: BuildArgs, reg: &super::registry::RegistryFlags) -> Result<()> {
    let formats = parse_formats(&args.format, args.output.is_some())?;
    if let Some(o) = &args.output {
        if formats.len() != 1 {
            bail!(
                "the -output option can only be specified when generating a single output format"
            );
        }
        if args.name.is_some() {
            bail!("the -output option cannot be specified with -name");
        }
        if args.dir.is_some() {
            bail!("the -output option cannot be specified with -dir");
        }
        if !STREAMABLE.contains(&formats[0].as_str()) {
            bail!(
                "the -output option cannot be specified for build type {} as it cannot be streamed",
                formats[0]
            );
        }
        if let Some(it) = &args.input_tar
            && o != "-"
            && same_file(it, Path::new(o))
        {
            bail!("input-tar and output file cannot be the same");
        }
    }
    if args.input_tar.is_some() && args.pull {
        bail!("cannot use --input-tar and --pull together");
    }
    let size_mib = parse_size(&args.size)?;
    let missing: Vec<&String> = formats
        .iter()
        .filter(|f| NOT_IMPLEMENTED.contains(&f.as_str()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "format {} is not implemented yet in linuxkit-rs (upstream makes rpi3 only when it runs on arm64); available now: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            linuxkit_build::output::implemented().join(", ")
        );
    }
    if args.docker {
        bail!(
            "--docker: there is no Docker engine to read images from; linuxkit-rs reads images from its cache (import them with `linuxkit cache import`)"
        );
    }
    let arch_ok = match &args.arch {
        Some(a) => matches!(a.as_str(), "amd64" | "x86_64"),
        None => Platform::host().architecture == "amd64",
    };
    if let Some(f) = formats.iter().find(|f| formats::needs_boot_files(f))
        && !arch_ok
    {
        bail!(
            "format {f}: only amd64 (x86_64) images can be made bootable for now (the boot loader package is amd64 only)"
        );
    }
    let (moby, packages) = load_config(&args.files)?;
    if args.dry_run {
        print!("{}", linuxkit_config::dry_run_yaml(&moby));
        return Ok(());
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| base_name(args.files.last().map(String::as_str).unwrap_or("moby")));
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if args.output.is_none() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        // Fail before the work, not after it.
        tempfile::Builder::new()
            .prefix(".linuxkit-write-test.")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot write to output directory {}", dir.display()))?;
    }
    let cache_dir = build_cache_dir(args.build_cache.clone());
    let cache = Cache::open(&cache_dir)
        .with_context(|| format!("cannot open the image cache {}", cache_dir.display()))?;
    // Local packages named by `@pkg:` are built first unless already cached.
    let pkg_opts = linuxkit_pkg::build::BuildOptions {
        mtime: linuxkit_build::source_date_epoch()
            .unwrap_or(linuxkit_formats::entry::DEFAULT_MTIME),
        ..Default::default()
    };
    let mut local_packages = std::collections::HashSet::new();
    for dir in &packages {
        let b = linuxkit_pkg::build::build(dir, &cache, &pkg_opts)
            .with_context(|| format!("cannot build package {} named by @pkg:", dir.display()))?;
        local_packages.insert(b.tag.canonical);
    }
    let platform = match &args.arch {
        Some(a) => Platform::linux(a),
        None => Platform::host(),
    };
    pull_missing(&moby, &cache, &platform, args.pull, &local_packages, reg)?;
    // The boot loader files, only when a format needs them.
    let boot_files = if formats.iter().any(|f| formats::needs_boot_files(f)) {
        Some(load_bootloaders(
            &crate::cli::bootloaders_or_default(args.bootloaders.as_deref(), &args.files)?,
            &cache,
            &platform,
            &pkg_opts,
            reg,
        )?)
    } else {
        None
    };

    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut opts = BuildOptions::new(cwd);
    opts.platform = platform;
    opts.decompress_kernel = args.decompress_kernel;
    opts.input_tar = args.input_tar.clone();
    opts.dockerfile = formats.iter().any(|f| f == "docker");
    opts.sbom = (!args.no_sbom).then(|| SbomOptions {
        path: args.sbom_output.clone(),
        current_time: args.sbom_current_time,
    });

    if STREAMABLE.contains(&formats[0].as_str()) {
        let target = match args.output.as_deref() {
            Some("-") => StreamTarget::Stdout,
            Some(o) => StreamTarget::File(Box::new(PendingFile::create(Path::new(o))?)),
            None => StreamTarget::File(Box::new(PendingFile::create(
                &dir.join(format!("{name}.{}", formats[0])),
            )?)),
        };
        let segments = Some(linuxkit_build::derived_dir(&cache).join("tar"));
        let mut sink = TarSink::new(target, segments)?;
        linuxkit_build::assemble(&cache, &moby, &opts, &mut sink)?;
        tracing::info!("Create outputs:");
        if let Some(p) = sink.finish()? {
            tracing::info!("  {}", p.display());
        }
        return Ok(());
    }

    // Compressed initrd segments are cached beside the images, keyed by image
    // digest, so a rebuild concatenates instead of recompressing.
    let segments = Some(linuxkit_build::derived_dir(&cache).join("initrd"));
    // Formats that carry the root file system on its own never use the
    // initrd: then only the kernel, command line and microcode are kept.
    let mut initrd = if formats.iter().all(|f| formats::needs_rootfs(f)) {
        InitrdSink::kernel_only(segments, 6)
    } else {
        InitrdSink::new(segments, 6)
    };
    let mut rootfs = RootfsSink::default();
    {
        let mut sinks = vec![&mut initrd as &mut dyn Sink];
        if formats.iter().any(|f| formats::needs_rootfs(f)) {
            sinks.push(&mut rootfs);
        }
        let mut tee = Tee { sinks };
        linuxkit_build::assemble(&cache, &moby, &opts, &mut tee)?;
    }
    tracing::info!("Create outputs:");
    let parts = initrd.finish()?;
    // Every file is written under a temporary name first and renamed into
    // place only once every format succeeded: a failure leaves nothing.
    let mut pending: Vec<PendingFile> = Vec::new();
    // The kernel (14 MB) and initrd (tens of MB) move into the kit: shared, not copied.
    let kit = Kit {
        kernel: parts.kernel,
        initrd: parts.initrd_gz,
        cmdline: String::from_utf8_lossy(&parts.cmdline).into_owned(),
    };
    let (ucode, cmdline) = (parts.ucode, parts.cmdline);
    let format_opts = FormatOptions {
        size_mib,
        mtime: opts.mtime,
        cache_dir: Some(linuxkit_build::derived_dir(&cache).join("root-initrd")),
    };
    let writer = formats::Writer::new(
        Inputs {
            kit: &kit,
            boot: boot_files.as_ref(),
            rootfs: &rootfs.entries,
            opts: &format_opts,
        },
        &dir,
        &name,
    );
    for f in &formats {
        match f.as_str() {
            "kernel+initrd" => {
                if !kit.kernel.is_empty() {
                    pending.push(write_pending(
                        &dir.join(format!("{name}-kernel")),
                        &kit.kernel,
                    )?);
                }
                let mut initrd = write_pending(&dir.join(format!("{name}-initrd.img")), &ucode)?;
                std::io::Write::write_all(initrd.file(), &kit.initrd)
                    .with_context(|| format!("cannot write {}-initrd.img", name))?;
                pending.push(initrd);
                if !cmdline.is_empty() {
                    pending.push(write_pending(
                        &dir.join(format!("{name}-cmdline")),
                        &cmdline,
                    )?);
                }
            }
            "tar-kernel-initrd" => {
                let tar = linuxkit_build::output::kernel_initrd_tar(
                    &kit.kernel,
                    &kit.initrd,
                    &cmdline,
                    &ucode,
                    opts.mtime,
                )?;
                pending.push(write_pending(
                    &dir.join(format!("{name}-initrd.tar")),
                    &tar,
                )?);
            }
            f if formats::handles(f) => {
                if kit.kernel.is_empty() {
                    bail!("format {f} needs a kernel: the configuration has no kernel image");
                }
                pending.extend(writer.write(f)?);
            }
            other => bail!("internal error: format {other} has no writer"),
        }
    }
    let mut written: Vec<PathBuf> = Vec::new();
    for p in pending {
        let path = p.commit()?;
        if !written.contains(&path) {
            written.push(path);
        }
    }
    for p in written {
        tracing::info!("  {}", p.display());
    }
    Ok(())
}

/// Collects the root filesystem (every entry but `boot/`) for the
/// `kernel+squashfs|erofs|iso` formats.
#[derive(Default)]
struct RootfsSink {
    entries: Vec<Entry>,
}

impl Sink for RootfsSink {
    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if formats::is_rootfs_entry(&e.path) {
            self.entries.push(e);
        }
        Ok(())
    }
}

/// The boot loader files: `@pkg:DIR` builds the package into the cache
/// (unless cached), anything else is an image reference, pulled if the
/// cache lacks it.
fn load_bootloaders(
    flag: &str,
    cache: &Cache,
    platform: &Platform,
    pkg_opts: &linuxkit_pkg::build::BuildOptions,
    reg: &super::registry::RegistryFlags,
) -> Result<BootFiles> {
    let reference = match flag.strip_prefix("@pkg:") {
        Some(dir) => {
            let dir = Path::new(dir);
            linuxkit_pkg::build::build(dir, cache, pkg_opts)
                .with_context(|| {
                    format!(
                        "cannot build the boot loader package {} (give another with --bootloaders REF)",
                        dir.display()
                    )
                })?
                .tag
                .canonical
        }
        None => {
            let canonical = linuxkit_build::images::canonical(flag)?;
            if cache.resolve(&canonical, platform).is_err() {
                let client = reg.client()?;
                super::registry::pull_for_build(&client, cache, flag, &canonical, platform)?;
            }
            flag.to_string()
        }
    };
    let images = linuxkit_build::Images::new(cache, platform.clone());
    let img = images
        .get(&reference)
        .with_context(|| format!("cannot read the boot loader image {reference}"))?;
    let entries = images
        .entries(&img)
        .with_context(|| format!("cannot read the boot loader image {reference}"))?;
    Ok(BootFiles::from_entries(&reference, &entries))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Every image a configuration names, as written, in order, once each.
fn image_refs(moby: &linuxkit_config::Moby) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !r.is_empty() && !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    };
    add(&moby.kernel.image);
    moby.init.iter().for_each(|i| add(i));
    for i in moby
        .onboot
        .iter()
        .chain(&moby.services)
        .chain(&moby.onshutdown)
    {
        add(&i.image);
    }
    for v in &moby.volumes {
        add(&v.image);
    }
    out
}

/// Pull what the cache lacks for `platform` (everything with `--pull`, except
/// the local packages just built), as upstream's resolution does (cli.md §5.2).
fn pull_missing(
    moby: &linuxkit_config::Moby,
    cache: &Cache,
    platform: &Platform,
    force: bool,
    local: &std::collections::HashSet<String>,
    reg: &super::registry::RegistryFlags,
) -> Result<()> {
    let mut client = None;
    for written in image_refs(moby) {
        let canonical = linuxkit_build::images::canonical(&written)?;
        if local.contains(&canonical) {
            continue;
        }
        let cached = if force {
            None
        } else {
            match cache.resolve(&canonical, platform) {
                Ok(_) => continue,
                Err(e) => Some(e),
            }
        };
        if client.is_none() {
            client = Some(reg.client()?);
        }
        if let Some(c) = &client
            && let Err(e) =
                super::registry::pull_for_build(c, cache, &written, &canonical, platform)
        {
            // Say why the cache could not serve it too: that is often the fix.
            return Err(match cached {
                Some(why) => anyhow!("{why}\n  and pulling it failed: {e:#}"),
                None => e,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024M").unwrap(), 1024);
        assert_eq!(parse_size("4G").unwrap(), 4096);
        assert_eq!(parse_size("2").unwrap(), 2048);
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(base_name("examples/minimal.yml"), "minimal");
        assert_eq!(base_name("-"), "moby");
        assert_eq!(base_name("https://x/y/a.yaml"), "a");
    }

    #[test]
    fn formats() {
        assert_eq!(parse_formats(&[], false).unwrap(), ["kernel+initrd"]);
        assert_eq!(parse_formats(&[], true).unwrap(), ["tar"]);
        assert_eq!(
            parse_formats(&["tar-kernel-initrd,kernel+initrd".into()], false)
                .unwrap()
                .len(),
            2
        );
        assert!(parse_formats(&["tar,kernel+initrd".into()], false).is_err());
        let e = parse_formats(&["vhd,raw-bios".into(), "azure".into()], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vhd and azure") && e.contains("<name>.vhd"),
            "{e}"
        );
        assert!(parse_formats(&["iso-bios,kernel+iso".into()], false).is_err());
        assert_eq!(
            parse_formats(&["kernel+squashfs,kernel+erofs,vhd".into()], false)
                .unwrap()
                .len(),
            3,
            "sharing <name>-kernel (the same bytes) is fine"
        );
        assert!(
            parse_formats(&["nope".into()], false)
                .unwrap_err()
                .to_string()
                .contains("unknown format type nope")
        );
    }
}
