//! `linuxkit pkg build | push | show-tag | manifest`. Packages are built
//! natively (linuxkit-pkg); upstream's BuildKit-only flags are accepted,
//! warned about and ignored.

use super::registry::RegistryFlags;
use crate::cli::{PkgArgs, PkgBuildFlags, PkgCommand, PkgCommon};
use anyhow::{Context, Result, bail};
use linuxkit_oci::registry::{Client, PushOptions, RegistryError};
use linuxkit_oci::{Cache, Descriptor, Reference};
use linuxkit_pkg::TagOptions;
use std::path::{Path, PathBuf};

/// The architectures `pkg manifest` looks for as `<tag>-<arch>`.
const MANIFEST_ARCHES: [&str; 5] = ["amd64", "arm64", "s390x", "riscv64", "ppc64le"];

/// Build options from the common flags.
pub fn options(c: &PkgCommon) -> linuxkit_pkg::build::BuildOptions {
    linuxkit_pkg::build::BuildOptions {
        tag: TagOptions {
            hash: c.hash.clone(),
            hash_commit: c.hash_commit.clone(),
            force_dirty: c.force_dirty,
            org: c.org.clone(),
            tag_template: c.tag.clone(),
            dev: c.dev,
            hash_path: c.hash_path.clone(),
        },
        build_yml: c.build_yml.clone(),
        mtime: linuxkit_build::source_date_epoch()
            .unwrap_or(linuxkit_formats::entry::DEFAULT_MTIME),
        ..Default::default()
    }
}

/// Warn once per flag that only means something to a BuildKit builder.
fn warn_buildkit_only(names: &[&str]) {
    for n in names {
        tracing::warn!(
            "{n} has no effect without BuildKit: linuxkit-rs builds packages natively (ignored)"
        );
    }
}

fn common_warnings(c: &PkgCommon) -> Result<()> {
    if c.network && c.nonetwork {
        bail!("--network and --nonetwork cannot be used together");
    }
    if c.enable_cache && c.disable_cache {
        bail!("--enable-cache and --disable-cache cannot be used together");
    }
    let mut set = Vec::new();
    if c.network {
        set.push("--network");
    }
    if c.nonetwork {
        set.push("--nonetwork");
    }
    if c.enable_cache {
        set.push("--enable-cache");
    }
    if c.disable_cache {
        set.push("--disable-cache");
    }
    warn_buildkit_only(&set);
    Ok(())
}

fn build_flag_warnings(f: &PkgBuildFlags) -> Result<()> {
    for (on, other) in [(f.pull, "--pull"), (f.nobuild, "--nobuild")] {
        if f.force && on {
            bail!("--force and {other} cannot be used together");
        }
    }
    if f.docker {
        bail!(
            "--docker: linuxkit-rs talks to no docker engine; export the image with `linuxkit cache export --format docker --outfile FILE IMAGE` and `docker load` it"
        );
    }
    let mut set = Vec::new();
    let mut add = |on: bool, name: &'static str| {
        if on {
            set.push(name);
        }
    };
    add(f.ignore_cached, "--ignore-cached");
    add(f.builders.is_some(), "--builders");
    add(f.builder_name.is_some(), "--builder-name");
    add(f.builder_image.is_some(), "--builder-image");
    add(f.builder_config.is_some(), "--builder-config");
    add(f.builder_restart, "--builder-restart");
    add(f.precache_images, "--precache-images");
    add(f.sbom_scanner.is_some(), "--sbom-scanner");
    add(f.dockerfile.is_some(), "--dockerfile");
    add(!f.build_arg_file.is_empty(), "--build-arg-file");
    add(f.progress.is_some(), "--progress");
    add(!f.ssh.is_empty(), "--ssh");
    warn_buildkit_only(&set);
    Ok(())
}

fn open_cache(flag: Option<PathBuf>) -> Result<Cache> {
    let root = flag.unwrap_or_else(|| Cache::default_root(true));
    Cache::open(&root).with_context(|| format!("cannot open the image cache {}", root.display()))
}

/// Run a `pkg` subcommand.
pub fn run(args: PkgArgs, cache: Option<PathBuf>, reg: &RegistryFlags) -> Result<()> {
    let mut opts = options(&args.common);
    common_warnings(&args.common)?;
    let reg = RegistryFlags {
        creds: args.common.registry_creds.clone(),
        ..reg.clone()
    };
    match args.command {
        PkgCommand::ShowTag { canonical, dirs } => {
            for d in dirs {
                let t = linuxkit_pkg::build::show_tag(Path::new(&d), &opts)?;
                println!("{}", if canonical { t.canonical } else { t.short });
            }
        }
        PkgCommand::Build {
            flags,
            push,
            pkg_cache,
            dirs,
        } => {
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            build_and_push(&cache, &mut opts, &flags, &dirs, push, &reg)?;
        }
        PkgCommand::Push {
            flags,
            pkg_cache,
            dirs,
        } => {
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            build_and_push(&cache, &mut opts, &flags, &dirs, true, &reg)?;
        }
        PkgCommand::Manifest {
            release,
            pkg_cache,
            dirs,
        } => {
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            let client = reg.client()?;
            for d in dirs {
                let t = linuxkit_pkg::build::show_tag(Path::new(&d), &opts)?;
                manifest(&client, &cache, &t, release.as_deref(), &d)?;
            }
        }
        PkgCommand::Other(a) => {
            bail!(
                "`linuxkit pkg {}` is not implemented in linuxkit-rs (there is no BuildKit builder to manage; `pkg build`, `pkg push`, `pkg show-tag` and `pkg manifest` are)",
                a.first().map(String::as_str).unwrap_or("")
            )
        }
    }
    Ok(())
}

/// `<org>/<image>:<release>` beside the package's tag (canonical form).
fn release_name(canonical: &str, release: &str) -> Result<String> {
    let mut r = Reference::parse(canonical)?;
    r.tag = Some(release.to_string());
    r.digest = None;
    Ok(r.canonical())
}

/// Is the error "the registry has no such tag or repository"?
fn not_found(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::ManifestNotFound { .. } | RegistryError::RepositoryNotFound { .. }
    )
}

/// Build each package (unless cached, or pulled with `--pull`) and, with
/// `push`, push its index under the tag and each platform's image as
/// `<tag>-<arch>` (only those with `--manifest=false`).
fn build_and_push(
    cache: &Cache,
    opts: &mut linuxkit_pkg::build::BuildOptions,
    flags: &PkgBuildFlags,
    dirs: &[String],
    push: bool,
    reg: &RegistryFlags,
) -> Result<()> {
    build_flag_warnings(flags)?;
    if flags.nobuild && !push {
        bail!(
            "--nobuild only makes sense with --push (`pkg build --push --nobuild` or `pkg push --nobuild`)"
        );
    }
    opts.force = flags.force;
    opts.platforms = flags.platforms.clone();
    opts.skip_platforms = flags.skip_platforms.clone();
    opts.update_lock = flags.update_lock;
    let needs_client = (push || flags.pull) && !flags.dry_run;
    let client = needs_client.then(|| reg.client()).transpose()?;
    for d in dirs {
        let dir = Path::new(d);
        let plan = linuxkit_pkg::build::plan(dir, cache, opts)?;
        let tag = &plan.tag;
        if flags.dry_run {
            let what = if plan.cached && !flags.force {
                "in the cache, not built".to_string()
            } else if flags.nobuild {
                "not in the cache, and --nobuild: nothing to push".to_string()
            } else {
                match &plan.host {
                    Some(h) => format!("would build linux/{h}"),
                    None => format!(
                        "cannot be built here (platforms: {})",
                        plan.arches.join(", ")
                    ),
                }
            };
            println!("{}: {what}", tag.short);
            if let Some(r) = &flags.release {
                println!(
                    "{}: would tag {}",
                    tag.short,
                    release_name(&tag.canonical, r)?
                );
            }
            if push {
                println!(
                    "{}: would push {}",
                    tag.short,
                    if flags.manifest {
                        "the index and the <tag>-<arch> images"
                    } else {
                        "the <tag>-<arch> images"
                    }
                );
            }
            continue;
        }
        let mut have = plan.cached && !flags.force;
        if !have && flags.nobuild {
            bail!(
                "{} is not in the cache and --nobuild was given: build it first (`linuxkit pkg build {d}`)",
                tag.short
            );
        }
        if !have
            && flags.pull
            && let Some(client) = &client
        {
            let r = Reference::parse(&tag.canonical)?;
            match client.remote_digest(&r) {
                Ok(Some(_)) => {
                    super::cache::pull(client, cache, &tag.canonical)?;
                    println!("Pulled {}", tag.short);
                    have = true;
                }
                Ok(None) => tracing::info!("{} is not in its registry: building it", tag.short),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot look up {}", tag.short));
                }
            }
        }
        if have {
            println!("{} is up to date in the cache", tag.short);
        } else {
            let b = linuxkit_pkg::build::build(dir, cache, opts)?;
            println!("Built {}", b.tag.short);
        }
        let mut names = vec![tag.canonical.clone()];
        if let Some(r) = &flags.release {
            let rel = release_name(&tag.canonical, r)?;
            let root = cache
                .lookup(&tag.canonical)?
                .with_context(|| format!("{} vanished from the cache", tag.short))?;
            cache.set_name(&rel, root)?;
            println!("Tagged {rel}");
            names.push(rel);
        }
        let Some(client) = client.as_ref().filter(|_| push) else {
            continue;
        };
        if tag.short.contains("-dirty") {
            bail!(
                "not pushing {}: the package directory {d} has uncommitted changes; commit them first",
                tag.short
            );
        }
        for name in names {
            let pushes: Vec<(String, bool)> = if flags.manifest {
                vec![(name.clone(), true)]
            } else {
                MANIFEST_ARCHES
                    .iter()
                    .map(|a| format!("{name}-{a}"))
                    .filter(|n| cache.lookup(n).ok().flatten().is_some())
                    .map(|n| (n, false))
                    .collect()
            };
            for (local, arch_tags) in pushes {
                let remote = Reference::parse(&local)?;
                println!("Pushing {local}");
                let pushed = client
                    .push(
                        cache,
                        &local,
                        &remote,
                        &PushOptions {
                            with_arch_tags: arch_tags,
                            ..Default::default()
                        },
                    )
                    .with_context(|| format!("cannot push package {d} as {local}"))?;
                println!(
                    "Pushed {local} ({}), tags: {}",
                    pushed.root.digest,
                    pushed.tags.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// `pkg manifest`: the index `<tag>` made of the `<tag>-<arch>` images the
/// registry has (fetched into the cache as needed), stored in the cache
/// and pushed, replacing the remote index (and as `<release>` too).
fn manifest(
    client: &Client,
    cache: &Cache,
    t: &linuxkit_pkg::PackageTag,
    release: Option<&str>,
    dir: &str,
) -> Result<()> {
    let mut manifests: Vec<Descriptor> = Vec::new();
    for arch in MANIFEST_ARCHES {
        let name = format!("{}-{arch}", t.canonical);
        let r = Reference::parse(&name)?;
        let pulled = match client.pull(cache, &r, linuxkit_oci::registry::Platforms::All) {
            Ok(p) => p,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {name}")),
        };
        let mut desc = pulled.root;
        desc.annotations = None;
        desc.platform = Some(linuxkit_oci::PlatformSpec::from(
            &linuxkit_oci::Platform::linux(arch),
        ));
        manifests.push(desc);
    }
    if manifests.is_empty() {
        bail!(
            "the registry has no {}-<arch> image: push the package first (`linuxkit pkg build --push {dir}`)",
            t.short
        );
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index)?;
    let digest = cache.write_blob(&bytes)?;
    let desc = Descriptor::new(
        "application/vnd.oci.image.index.v1+json",
        &digest,
        bytes.len() as u64,
    );
    let mut names = vec![t.canonical.clone()];
    if let Some(r) = release {
        names.push(release_name(&t.canonical, r)?);
    }
    for name in names {
        cache.set_name(&name, desc.clone())?;
        let remote = Reference::parse(&name)?;
        client
            .push(
                cache,
                &name,
                &remote,
                &PushOptions {
                    override_remote: true,
                    ..Default::default()
                },
            )
            .with_context(|| format!("cannot push the index {name}"))?;
        println!(
            "Pushed index {name} ({digest}, {} platforms)",
            manifests.len()
        );
    }
    Ok(())
}
