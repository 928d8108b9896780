//! The build API: [`Build::new`] checks a build's options as upstream
//! does, before any configuration is read; [`Build::run`] gets the images
//! into the cache, assembles the filesystem stream once into the sinks the
//! formats need, and writes every output. Streamable formats (`tar`,
//! `docker`) are written as the stream goes; every other output is written
//! under a temporary name and committed only once every format succeeded,
//! so a failed build leaves nothing behind.
//!
//! ```no_run
//! # fn main() -> Result<(), linuxkit_build::BuildError> {
//! use linuxkit_build::{Build, BuildOptions, Config, Format, Offline, Source};
//! let options = BuildOptions {
//!     formats: vec![Format::KernelInitrd, Format::RawBios],
//!     ..BuildOptions::new("/home/me/.linuxkit/cache".into(), ".".into())
//! };
//! let build = Build::new(options)?;
//! let text = std::fs::read_to_string("minimal.yml").unwrap();
//! let config = Config::load(&[Source { name: "minimal.yml".into(), text, local: true }])?;
//! let written = build.run(&config, &mut Offline)?;
//! # Ok(()) }
//! ```

use crate::assemble::{AssembleOptions, SbomOptions, assemble};
use crate::config::Config;
use crate::error::BuildError;
use crate::format::{Format, Input};
use crate::formats::rootfs::RootfsSink;
use crate::formats::{FormatOptions, Inputs, Kit, Writer};
use crate::initrd_sink::InitrdSink;
use crate::kernel_initrd::{self, KitParts};
use crate::pending::{PendingFile, commit_all};
use crate::resolve::{Registry, Resolver};
use crate::segment_cache::SegmentCache;
use crate::sink::{Sink, Tee};
use crate::size::DiskSize;
use crate::tar_sink::{StreamTarget, TarSink};
use crate::{derived_dir, source_date_epoch};
use linuxkit_formats::entry::DEFAULT_MTIME;
use linuxkit_oci::{Cache, Platform};
use std::path::{Path, PathBuf};

/// gzip level of the initrd (upstream's).
const INITRD_GZIP_LEVEL: u32 = 6;

/// Where a streamable format goes when not into `<dir>/<name>.<format>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Standard output (`--o -`).
    Stdout,
    /// A file (`--o FILE`), written under a temporary name and renamed.
    File(PathBuf),
}

/// What to build (the flags of `linuxkit build`).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The formats, each once, in the order given (`--format`); see
    /// [`crate::format::requested`] for the default.
    pub formats: Vec<Format>,
    /// Output name (`--name`; default: the configuration's, see [`Config::name`]).
    pub name: Option<String>,
    /// Output directory (`--dir`; default: `cwd`).
    pub dir: Option<PathBuf>,
    /// The one streamable format's destination (`--o`).
    pub output: Option<OutputTarget>,
    /// `--size` of `qcow2-bios` and `aws`.
    pub size: DiskSize,
    /// Target architecture (`--arch`; default: this machine's).
    pub arch: Option<String>,
    /// Pull every image even if cached (`--pull`).
    pub pull: bool,
    /// `--decompress-kernel`.
    pub decompress_kernel: bool,
    /// Reuse unchanged parts of a previous `tar` output (`--input-tar`).
    pub input_tar: Option<PathBuf>,
    /// The merged SBOM, unless `--no-sbom`.
    pub sbom: Option<SbomOptions>,
    /// Boot loader files (`--bootloaders`): `@pkg:DIR` or an image
    /// reference; `None`: [`crate::config::default_bootloaders`].
    pub bootloaders: Option<String>,
    /// The image cache.
    pub cache_dir: PathBuf,
    /// Where relative paths (`files: source:`, outputs) start.
    pub cwd: PathBuf,
    /// Timestamp of generated files (`SOURCE_DATE_EPOCH`, else upstream's).
    pub mtime: i64,
}

impl BuildOptions {
    /// Upstream's defaults: `kernel+initrd` for this machine, `--size
    /// 1024M`, an SBOM, into `cwd`.
    pub fn new(cache_dir: PathBuf, cwd: PathBuf) -> BuildOptions {
        BuildOptions {
            formats: vec![Format::KernelInitrd],
            name: None,
            dir: None,
            output: None,
            size: DiskSize::default(),
            arch: None,
            pull: false,
            decompress_kernel: false,
            input_tar: None,
            sbom: Some(SbomOptions {
                path: "sbom.spdx.json".into(),
                current_time: false,
            }),
            bootloaders: None,
            cache_dir,
            cwd,
            mtime: source_date_epoch().unwrap_or(DEFAULT_MTIME),
        }
    }
}

/// A checked build, ready to run on a configuration.
#[derive(Debug, Clone)]
pub struct Build {
    opts: BuildOptions,
    platform: Platform,
}

impl Build {
    /// Check the options as upstream does (the same messages): the set of
    /// formats, `--o` with a single streamable format and without
    /// `--name`/`--dir`, `--input-tar` not the output and not with
    /// `--pull`, and each format's architectures.
    pub fn new(opts: BuildOptions) -> Result<Build, BuildError> {
        let other = |m: &str| Err(BuildError::Other(m.to_string()));
        if opts.formats.is_empty() {
            return other("internal error: a build needs at least one format");
        }
        let platform = match &opts.arch {
            Some(a) => Platform::linux(a),
            None => Platform::host(),
        };
        if let Some(o) = &opts.output {
            if opts.formats.len() != 1 {
                return other(
                    "the -output option can only be specified when generating a single output format",
                );
            }
            if opts.name.is_some() {
                return other("the -output option cannot be specified with -name");
            }
            if opts.dir.is_some() {
                return other("the -output option cannot be specified with -dir");
            }
            if !opts.formats[0].streams() {
                return Err(BuildError::Other(format!(
                    "the -output option cannot be specified for build type {} as it cannot be streamed",
                    opts.formats[0]
                )));
            }
            if let (Some(it), OutputTarget::File(o)) = (&opts.input_tar, o)
                && same_file(it, o)
            {
                return other("input-tar and output file cannot be the same");
            }
        }
        if opts.input_tar.is_some() && opts.pull {
            return other("cannot use --input-tar and --pull together");
        }
        Format::check_set(&opts.formats, &platform.architecture)?;
        Ok(Build { opts, platform })
    }

    /// The options.
    pub fn options(&self) -> &BuildOptions {
        &self.opts
    }

    /// Build `config`: resolve its images (pulling through `registry`),
    /// assemble, and write every output. Returns the files written, each
    /// once, in order (none when streaming to standard output).
    pub fn run(
        &self,
        config: &Config,
        registry: &mut dyn Registry,
    ) -> Result<Vec<PathBuf>, BuildError> {
        let opts = &self.opts;
        let name = opts.name.clone().unwrap_or_else(|| config.name.clone());
        let dir = match &opts.dir {
            Some(d) => d.clone(),
            None => PathBuf::from("."),
        };
        if opts.output.is_none() {
            std::fs::create_dir_all(&dir).map_err(|e| {
                BuildError::io(
                    format!("cannot create output directory {}", dir.display()),
                    e,
                )
            })?;
            // Fail before the work, not after it.
            tempfile::Builder::new()
                .prefix(".linuxkit-write-test.")
                .tempfile_in(&dir)
                .map_err(|e| {
                    BuildError::io(
                        format!("cannot write to output directory {}", dir.display()),
                        e,
                    )
                })?;
        }
        let cache = Cache::open(&opts.cache_dir).map_err(|e| BuildError::Cache {
            dir: opts.cache_dir.clone(),
            source: Box::new(e),
        })?;
        let mut resolver = Resolver {
            cache: &cache,
            platform: &self.platform,
            registry,
            pkg: linuxkit_pkg::build::BuildOptions {
                mtime: opts.mtime,
                ..Default::default()
            },
        };
        let local = resolver.build_packages(&config.packages)?;
        resolver.pull_missing(&config.moby, opts.pull, &local)?;
        let boot_files = if opts.formats.iter().any(|f| f.needs_boot_files()) {
            let reference = match &opts.bootloaders {
                Some(b) => b.clone(),
                None => crate::config::default_bootloaders(config, &opts.cwd)?,
            };
            Some(resolver.boot_files(&reference)?)
        } else {
            None
        };

        let assemble_opts = AssembleOptions {
            platform: self.platform.clone(),
            decompress_kernel: opts.decompress_kernel,
            mtime: opts.mtime,
            input_tar: opts.input_tar.clone(),
            dockerfile: opts.formats.contains(&Format::Docker),
            sbom: opts.sbom.clone(),
            ..AssembleOptions::new(opts.cwd.clone())
        };
        let derived = derived_dir(&cache);

        if opts.formats[0].streams() {
            let target = match &opts.output {
                Some(OutputTarget::Stdout) => StreamTarget::Stdout,
                Some(OutputTarget::File(o)) => {
                    StreamTarget::File(Box::new(PendingFile::create(o)?))
                }
                None => StreamTarget::File(Box::new(PendingFile::create(
                    &dir.join(opts.formats[0].main_file(&name)),
                )?)),
            };
            let mut sink = TarSink::new(target, Some(SegmentCache::new(derived.join("tar"))))?;
            assemble(&cache, &config.moby, &assemble_opts, &mut sink)?;
            tracing::info!("Create outputs:");
            let written: Vec<PathBuf> = sink.finish()?.into_iter().collect();
            for p in &written {
                tracing::info!("  {}", p.display());
            }
            return Ok(written);
        }

        // Compressed initrd segments are cached beside the images, keyed by
        // image digest, so a rebuild concatenates instead of recompressing.
        let segments = Some(SegmentCache::new(derived.join("initrd")));
        // Formats that carry the root file system on its own never use the
        // initrd: then only the kernel, command line and microcode are kept.
        let mut initrd = if opts.formats.iter().all(|f| f.needs_rootfs()) {
            InitrdSink::kernel_only(segments, INITRD_GZIP_LEVEL)
        } else {
            InitrdSink::new(segments, INITRD_GZIP_LEVEL)
        };
        let mut rootfs = RootfsSink::default();
        {
            let mut sinks = vec![&mut initrd as &mut dyn Sink];
            if opts.formats.iter().any(|f| f.needs_rootfs()) {
                sinks.push(&mut rootfs);
            }
            assemble(&cache, &config.moby, &assemble_opts, &mut Tee { sinks })?;
        }
        tracing::info!("Create outputs:");
        let parts = initrd.finish()?;
        // The kernel (14 MB) and initrd (tens of MB) move into the kit: shared, not copied.
        let kit = Kit {
            kernel: parts.kernel,
            initrd: parts.initrd_gz,
            cmdline: String::from_utf8_lossy(&parts.cmdline).into_owned(),
        };
        let kit_parts = KitParts {
            kernel: &kit.kernel,
            initrd_gz: &kit.initrd,
            cmdline: &parts.cmdline,
            ucode: &parts.ucode,
        };
        let format_opts = FormatOptions {
            size: opts.size,
            mtime: opts.mtime,
            cache_dir: Some(derived.join("root-initrd")),
        };
        let writer = Writer::new(
            Inputs {
                kit: &kit,
                boot: boot_files.as_ref(),
                rootfs: &rootfs.entries,
                opts: &format_opts,
            },
            &dir,
            &name,
        );
        let mut pending: Vec<PendingFile> = Vec::new();
        for &f in &opts.formats {
            match f {
                Format::KernelInitrd => {
                    pending.extend(kernel_initrd::kernel_initrd(&dir, &name, &kit_parts)?)
                }
                Format::TarKernelInitrd => pending.push(kernel_initrd::tar_kernel_initrd(
                    &dir, &name, &kit_parts, opts.mtime,
                )?),
                f => {
                    if kit.kernel.is_empty() {
                        return Err(BuildError::Other(format!(
                            "format {f} needs a kernel: the configuration has no kernel image"
                        )));
                    }
                    debug_assert!(matches!(f.input(), Input::Bootable | Input::Rootfs));
                    pending.extend(writer.write(f)?);
                }
            }
        }
        let written = commit_all(pending)?;
        for p in &written {
            tracing::info!("  {}", p.display());
        }
        Ok(written)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
