//! `linuxkit pkg build | show-tag | manifest`.

use super::registry::RegistryFlags;
use crate::cli::{PkgArgs, PkgCommand, PkgCommon};
use anyhow::{Context, Result, bail};
use linuxkit_oci::{Cache, Descriptor};
use linuxkit_pkg::TagOptions;
use std::path::{Path, PathBuf};

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
        },
        build_yml: c.build_yml.clone(),
        mtime: linuxkit_build::source_date_epoch()
            .unwrap_or(linuxkit_formats::entry::DEFAULT_MTIME),
        ..Default::default()
    }
}

fn open_cache(flag: Option<PathBuf>) -> Result<Cache> {
    let root = flag.unwrap_or_else(|| Cache::default_root(true));
    Cache::open(&root).with_context(|| format!("cannot open the image cache {}", root.display()))
}

/// Run a `pkg` subcommand.
pub fn run(args: PkgArgs, cache: Option<PathBuf>, reg: &RegistryFlags) -> Result<()> {
    let mut opts = options(&args.common);
    match args.command {
        PkgCommand::ShowTag { canonical, dirs } => {
            for d in dirs {
                let t = linuxkit_pkg::build::show_tag(Path::new(&d), &opts)?;
                println!("{}", if canonical { t.canonical } else { t.short });
            }
        }
        PkgCommand::Build {
            force,
            platforms,
            update_lock,
            push,
            pkg_cache,
            dirs,
        } => {
            opts.force = force;
            opts.platforms = platforms;
            opts.update_lock = update_lock;
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            build_and_push(&cache, &opts, &dirs, push.then_some(reg))?;
        }
        PkgCommand::Push {
            force,
            platforms,
            pkg_cache,
            dirs,
        } => {
            opts.force = force;
            opts.platforms = platforms;
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            build_and_push(&cache, &opts, &dirs, Some(reg))?;
        }
        PkgCommand::Manifest { pkg_cache, dirs } => {
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            for d in dirs {
                let t = linuxkit_pkg::build::show_tag(Path::new(&d), &opts)?;
                let mut manifests: Vec<Descriptor> = Vec::new();
                for arch in ["amd64", "arm64", "s390x", "riscv64", "ppc64le"] {
                    if let Some(mut desc) = cache.lookup(&format!("{}-{arch}", t.canonical))? {
                        desc.annotations = None;
                        desc.platform = Some(linuxkit_oci::PlatformSpec::from(
                            &linuxkit_oci::Platform::linux(arch),
                        ));
                        manifests.push(desc);
                    }
                }
                if manifests.is_empty() {
                    bail!(
                        "no {}-<arch> image in the cache: build the package first (`linuxkit pkg build {d}`)",
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
                cache.set_name(
                    &t.canonical,
                    Descriptor::new(
                        "application/vnd.oci.image.index.v1+json",
                        &digest,
                        bytes.len() as u64,
                    ),
                )?;
                println!("{} -> {digest} ({} platforms)", t.short, manifests.len());
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

/// Build each package (unless cached) and, with a registry, push its index
/// under the tag and each platform's image as `<tag>-<arch>`.
fn build_and_push(
    cache: &Cache,
    opts: &linuxkit_pkg::build::BuildOptions,
    dirs: &[String],
    push: Option<&RegistryFlags>,
) -> Result<()> {
    let client = push.map(|r| r.client()).transpose()?;
    for d in dirs {
        let b = linuxkit_pkg::build::build(Path::new(d), cache, opts)?;
        if b.built {
            println!("Built {}", b.tag.short);
        } else {
            println!("{} is up to date in the cache", b.tag.short);
        }
        let Some(client) = &client else { continue };
        if b.tag.short.ends_with("-dirty") {
            bail!(
                "not pushing {}: the package directory {d} has uncommitted changes; commit them first",
                b.tag.short
            );
        }
        let remote = linuxkit_oci::Reference::parse(&b.tag.canonical)?;
        println!("Pushing {}", b.tag.short);
        let pushed = client
            .push(
                cache,
                &b.tag.canonical,
                &remote,
                &linuxkit_oci::registry::PushOptions {
                    with_arch_tags: true,
                    ..Default::default()
                },
            )
            .with_context(|| format!("cannot push package {d} as {}", b.tag.short))?;
        println!(
            "Pushed {} ({}), tags: {}",
            b.tag.short,
            pushed.root.digest,
            pushed.tags.join(", ")
        );
    }
    Ok(())
}
