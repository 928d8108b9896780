//! `linuxkit pkg build | show-tag | manifest`.

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
pub fn run(args: PkgArgs, cache: Option<PathBuf>) -> Result<()> {
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
            pkg_cache,
            dirs,
        } => {
            opts.force = force;
            opts.platforms = platforms;
            opts.update_lock = update_lock;
            let cache = open_cache(pkg_cache.or(cache.clone()))?;
            for d in dirs {
                let b = linuxkit_pkg::build::build(Path::new(&d), &cache, &opts)?;
                if b.built {
                    println!("Built {}", b.tag.short);
                } else {
                    println!("{} is up to date in the cache", b.tag.short);
                }
            }
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
                "`linuxkit pkg {}` is not implemented yet in linuxkit-rs (pushing needs the registry work)",
                a.first().map(String::as_str).unwrap_or("")
            )
        }
    }
    Ok(())
}
