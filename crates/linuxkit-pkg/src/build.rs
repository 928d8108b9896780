//! `pkg build`: parse `build.yml`, compute the tag, and unless the image is
//! already cached (or `--force`), assemble its layers — Debian packages
//! (resolved once into `debian.lock`, then fetched and verified by sha256),
//! then the package's files, symlinks and cargo binaries — and store it.
//! All inputs are gathered and checked before the first blob is written.

use crate::buildyml::{self, BuildYml};
use crate::contents::{cargo_entries, extract_entries, finish_layer, local_entries};
use crate::debian;
use crate::error::PkgError;
use crate::image::{ImageConfig, build_image};
use crate::tag::{PackageTag, TagOptions, package_tag};
use linuxkit_formats::Entry;
use linuxkit_oci::{Cache, Platform};
use std::path::{Path, PathBuf};

/// Name of the lock file beside build.yml.
pub const LOCK_FILE: &str = "debian.lock";

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Tag/hash options.
    pub tag: TagOptions,
    /// `--build-yml` (default `build.yml`).
    pub build_yml: String,
    /// `--force`: build even if the image is cached.
    pub force: bool,
    /// `--platforms`: `linux/amd64,...` (default: the package's arches that this host can build).
    pub platforms: Option<Vec<String>>,
    /// mtime of generated entries and the image's `created`.
    pub mtime: i64,
    /// Re-resolve the Debian packages even if a lock file exists.
    pub update_lock: bool,
    /// `--skip-platforms`: `linux/arm64,...` not to build.
    pub skip_platforms: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            tag: TagOptions::default(),
            build_yml: "build.yml".into(),
            force: false,
            platforms: None,
            mtime: linuxkit_formats::entry::DEFAULT_MTIME,
            update_lock: false,
            skip_platforms: Vec::new(),
        }
    }
}

/// The result of building one package.
#[derive(Debug, Clone)]
pub struct Built {
    /// Its tag.
    pub tag: PackageTag,
    /// False when the cached image was used.
    pub built: bool,
}

/// Read and parse the package's build.yml.
pub fn load(dir: &Path, build_yml: &str) -> Result<BuildYml, PkgError> {
    let path = dir.join(build_yml);
    let text = std::fs::read_to_string(&path).map_err(|e| PkgError::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    })?;
    buildyml::parse(&path.display().to_string(), &text)
}

/// The tag of the package in `dir`.
pub fn show_tag(dir: &Path, opts: &BuildOptions) -> Result<PackageTag, PkgError> {
    let b = load(dir, &opts.build_yml)?;
    package_tag(
        dir,
        &crate::contents::cargo_sources(dir, &b.contents.cargo),
        &b.image,
        b.org.as_deref().unwrap_or("linuxkit"),
        b.tag.as_deref(),
        &opts.tag,
    )
}

fn debian_layer(
    dir: &Path,
    b: &BuildYml,
    cache: &Cache,
    arch: &str,
    opts: &BuildOptions,
) -> Result<Vec<Entry>, PkgError> {
    let Some(d) = &b.contents.debian else {
        return Ok(Vec::new());
    };
    let err = |e: debian::DebianError| PkgError::Debian {
        package: dir.to_path_buf(),
        message: e.to_string(),
    };
    let lock_path = dir.join(LOCK_FILE);
    let existing = if opts.update_lock {
        None
    } else {
        debian::Lock::read(&lock_path).map_err(err)?
    };
    // A lock that lacks a package build.yml now names is re-resolved.
    let existing = existing.filter(|l| l.missing(&d.packages).is_empty());
    let lock = match existing {
        Some(l) => l,
        None => {
            tracing::info!(
                "  resolving Debian packages {} with apt",
                d.packages.join(" ")
            );
            let l = debian::resolve(&d.packages, &d.exclude, arch).map_err(err)?;
            l.write(&lock_path).map_err(err)?;
            tracing::info!(
                "  wrote {} ({} packages)",
                lock_path.display(),
                l.packages.len()
            );
            l
        }
    };
    let store = cache.root().join("linuxkit-rs").join("debs");
    let files = debian::fetch(&lock, &store).map_err(err)?;
    let mut out = Vec::new();
    for f in files {
        out.extend(debian::read_deb(&f).map_err(err)?.entries);
    }
    Ok(out)
}

/// Drop the `contents.debian.drop` prefixes (docs, man pages...).
fn without_dropped(entries: &[Entry], drop: &[String]) -> Vec<Entry> {
    let prefixes: Vec<String> = drop
        .iter()
        .map(|p| p.trim_start_matches('/').trim_end_matches('/').to_string())
        .collect();
    entries
        .iter()
        .filter(|e| {
            !prefixes
                .iter()
                .any(|p| e.path == *p || e.path.starts_with(&format!("{p}/")))
        })
        .cloned()
        .collect()
}

fn host_arch() -> String {
    Platform::host().architecture
}

/// What a build of one package would do (`pkg build --dry-run` prints it).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The package's tag.
    pub tag: PackageTag,
    /// The cache already holds the tag.
    pub cached: bool,
    /// The architectures asked for (`--platforms`, else build.yml's
    /// `arches`) less `--skip-platforms`.
    pub arches: Vec<String>,
    /// The one this machine builds: its own, when asked for.
    pub host: Option<String>,
}

/// The tag of the package in `dir`, whether it is cached, and which
/// platforms a build would make.
pub fn plan(dir: &Path, cache: &Cache, opts: &BuildOptions) -> Result<Plan, PkgError> {
    let b = load(dir, &opts.build_yml)?;
    plan_loaded(dir, &b, cache, opts)
}

fn plan_loaded(
    dir: &Path,
    b: &BuildYml,
    cache: &Cache,
    opts: &BuildOptions,
) -> Result<Plan, PkgError> {
    let tag = package_tag(
        dir,
        &crate::contents::cargo_sources(dir, &b.contents.cargo),
        &b.image,
        b.org.as_deref().unwrap_or("linuxkit"),
        b.tag.as_deref(),
        &opts.tag,
    )?;
    let cached = cache
        .lookup(&tag.canonical)
        .map_err(|e| PkgError::Cache {
            package: dir.to_path_buf(),
            source: Box::new(e),
        })?
        .is_some();
    let arch_of = |s: &String| s.trim_start_matches("linux/").to_string();
    let skip: Vec<String> = opts.skip_platforms.iter().map(arch_of).collect();
    let arches: Vec<String> = match &opts.platforms {
        Some(p) => p.iter().map(arch_of).collect(),
        None => b.arches.clone(),
    }
    .into_iter()
    .filter(|a| !skip.contains(a))
    .collect();
    let host = host_arch();
    let host = arches.contains(&host).then_some(host);
    Ok(Plan {
        tag,
        cached,
        arches,
        host,
    })
}

/// Build (or find cached) the package in `dir`.
pub fn build(dir: &Path, cache: &Cache, opts: &BuildOptions) -> Result<Built, PkgError> {
    let b = load(dir, &opts.build_yml)?;
    let Plan {
        tag,
        cached,
        arches,
        host,
    } = plan_loaded(dir, &b, cache, opts)?;
    if cached && !opts.force {
        tracing::info!("{} is in the cache", tag.short);
        return Ok(Built { tag, built: false });
    }
    let Some(host) = host else {
        return Err(PkgError::Content {
            package: dir.to_path_buf(),
            message: format!(
                "no platform to build here: the package is for {} and this machine builds linux/{}",
                if arches.is_empty() {
                    "no platform (all skipped)".to_string()
                } else {
                    arches.join(", ")
                },
                host_arch()
            ),
        });
    };
    for a in arches.iter().filter(|a| **a != host) {
        tracing::warn!("skipping linux/{a}: only linux/{host} can be built on this machine");
    }
    tracing::info!("Building {}", tag.short);
    let mut layers = Vec::new();
    let debs = debian_layer(dir, &b, cache, &host, opts)?;
    if let Some(d) = b.contents.debian.as_ref().filter(|d| d.install) {
        layers.push(finish_layer(without_dropped(&debs, &d.drop), opts.mtime));
    }
    let mut own = local_entries(dir, &b.contents, opts.mtime)?;
    own.extend(extract_entries(
        dir,
        &b.contents.extract,
        &debs,
        opts.mtime,
    )?);
    own.extend(cargo_entries(dir, &b.contents.cargo, opts.mtime)?);
    if !own.is_empty() || layers.is_empty() {
        layers.push(finish_layer(own, opts.mtime));
    }
    let mut labels = b.labels.clone();
    if let Some(l) = &b.config_label {
        labels.insert("org.mobyproject.config".into(), l.clone());
    }
    let spec = &b.contents.image;
    let config = ImageConfig {
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: spec.env.clone(),
        workdir: spec.workdir.clone(),
        user: spec.user.clone(),
        labels,
    };
    let created = linuxkit_formats::time::rfc3339(opts.mtime);
    let image = build_image(&layers, &config, &b.annotations, &host, &created)?;
    image.store(cache, &tag.canonical, &host, dir)?;
    tracing::info!("Built {} ({})", tag.short, image.index.digest);
    Ok(Built { tag, built: true })
}

/// Directories named on the command line, made absolute.
pub fn package_dirs(args: &[String]) -> Vec<PathBuf> {
    args.iter().map(PathBuf::from).collect()
}
