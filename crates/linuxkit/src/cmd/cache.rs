//! `linuxkit cache ls | rm | clean | import | export | pull | push`.

use super::registry::RegistryFlags;
use crate::cli::CacheCommand;
use anyhow::{Context, Result, bail};
use linuxkit_oci::registry::{Client, Platforms, PushOptions};
use linuxkit_oci::{Cache, ExportFormat, Platform, Reference};
use std::io::Write;
use std::path::PathBuf;

/// Run a cache subcommand.
pub fn run(cache_flag: Option<PathBuf>, cmd: CacheCommand, reg: &RegistryFlags) -> Result<()> {
    let root = cache_flag.unwrap_or_else(|| Cache::default_root(true));
    let open = || {
        Cache::open(&root)
            .with_context(|| format!("cannot open the image cache {}", root.display()))
    };
    match cmd {
        CacheCommand::Ls => {
            let cache = open()?;
            let mut err = std::io::stderr().lock();
            writeln!(err, "{:<80}root manifest hash", "image name")?;
            for (name, desc) in cache.list()? {
                writeln!(err, "{name:<80}{}", desc.digest)?;
            }
        }
        CacheCommand::Rm {
            published_only,
            names,
        } => {
            let cache = open()?;
            let names = if published_only {
                let client = reg.client()?;
                let mut keep = Vec::new();
                for n in names {
                    if is_published(&client, &cache, &n)? {
                        keep.push(n);
                    } else {
                        tracing::info!("kept {n}: not published with the same digest");
                    }
                }
                keep
            } else {
                names
            };
            cache.remove(&names)?;
            for n in &names {
                tracing::info!("removed {n}");
            }
        }
        CacheCommand::Clean { published_only } => {
            if published_only {
                let cache = open()?;
                let client = reg.client()?;
                let mut gone = Vec::new();
                for (n, _) in cache.list()? {
                    if is_published(&client, &cache, &n).unwrap_or(false) {
                        gone.push(n);
                    }
                }
                cache.remove(&gone)?;
                for n in &gone {
                    tracing::info!("removed {n}");
                }
                return Ok(());
            }
            if root.exists() {
                open()?.clean()?;
            }
            tracing::info!("removed cache {}", root.display());
        }
        CacheCommand::Import { file } => {
            let cache = open()?;
            let names = if file == "-" {
                cache.import(&mut std::io::stdin().lock())?
            } else {
                let mut f = std::io::BufReader::new(
                    std::fs::File::open(&file).with_context(|| format!("cannot open {file}"))?,
                );
                cache
                    .import(&mut f)
                    .with_context(|| format!("cannot import {file}"))?
            };
            for n in names {
                tracing::info!("imported {n}");
            }
        }
        CacheCommand::Export {
            platform,
            outfile,
            format,
            ref_name,
            image,
        } => {
            let cache = open()?;
            let platform = match platform {
                Some(p) => Platform::parse(&p)
                    .with_context(|| format!("invalid platform {p:?}: use os/arch[/variant]"))?,
                None => Platform::host(),
            };
            let fmt = match format.as_str() {
                "oci" => Some(ExportFormat::Oci),
                "docker" => Some(ExportFormat::Docker),
                "filesystem" => None,
                other => bail!("unknown export format {other:?}: use oci, docker or filesystem"),
            };
            let name = linuxkit_oci::Reference::parse(&image)
                .map(|r| r.canonical())
                .unwrap_or(image.clone());
            let export = |w: &mut dyn Write| -> Result<()> {
                match fmt {
                    Some(fmt) => cache.export(&name, &platform, fmt, ref_name.as_deref(), w)?,
                    None => export_filesystem(&cache, &image, &platform, w)?,
                }
                Ok(())
            };
            if outfile == "-" {
                let mut out = std::io::stdout().lock();
                export(&mut out)?;
                out.flush()?;
            } else {
                let dest = PathBuf::from(&outfile);
                let mut pending = linuxkit_build::pending::PendingFile::create(&dest)?;
                {
                    let mut w = std::io::BufWriter::new(pending.file());
                    export(&mut w)?;
                    w.flush()?;
                }
                pending.commit()?;
            }
        }
        CacheCommand::Pull { names } => {
            let cache = open()?;
            let client = reg.client()?;
            for n in names {
                pull(&client, &cache, &n)?;
            }
        }
        CacheCommand::Push {
            remote_name,
            with_arch_tags,
            override_remote,
            merge_index,
            names,
        } => {
            if remote_name.is_some() && names.len() > 1 {
                bail!("--remote-name can only be used with a single image");
            }
            let cache = open()?;
            let client = reg.client()?;
            for n in &names {
                let local = Reference::parse(n)?;
                let local_name = cache_name(&local);
                let remote = match &remote_name {
                    Some(r) => Reference::parse(r)?,
                    None => local.clone(),
                };
                if !override_remote
                    && let Some(digest) = client
                        .remote_digest(&remote)
                        .with_context(|| format!("cannot look up {remote}"))?
                {
                    println!(
                        "{remote} already exists in the registry ({digest}), skipping push (--override pushes anyway)"
                    );
                    continue;
                }
                let opts = PushOptions {
                    with_arch_tags,
                    override_remote: !merge_index,
                    mount_from: (local.registry == remote.registry
                        && local.repository != remote.repository)
                        .then(|| local.repository.clone()),
                };
                println!("Pushing local {local_name} as {remote}");
                let pushed = client
                    .push(&cache, &local_name, &remote, &opts)
                    .with_context(|| format!("cannot push {local_name} to {remote}"))?;
                println!(
                    "Pushed {remote} ({}), tags: {}",
                    pushed.root.digest,
                    pushed.tags.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// The cache name of a reference: canonical, `:latest` when neither tag nor digest is given.
fn cache_name(r: &Reference) -> String {
    let mut r = r.clone();
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".into());
    }
    r.canonical()
}

/// `cache pull NAME`: every platform; the index under its name and each
/// platform's manifest also under `<name>-<arch>`, as upstream does.
pub(super) fn pull(client: &Client, cache: &Cache, name: &str) -> Result<()> {
    let mut r = Reference::parse(name)?;
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".into());
    }
    let canonical = r.canonical();
    tracing::info!("Pull image: {canonical}");
    let pulled = client
        .pull(cache, &r, Platforms::All)
        .with_context(|| format!("could not pull image {name}"))?;
    let mut names = vec![(canonical.clone(), pulled.root.clone())];
    if linuxkit_oci::is_index_media_type(&pulled.root.media_type) && r.digest.is_none() {
        for d in &pulled.manifests {
            if let Some(p) = &d.platform
                && !p.architecture.is_empty()
                && p.architecture != "unknown"
            {
                let mut desc = d.clone();
                desc.annotations = None;
                names.push((format!("{canonical}-{}", p.architecture), desc));
            }
        }
    }
    cache.set_names(names)?;
    tracing::info!("pulled {canonical} ({})", pulled.root.digest);
    Ok(())
}

/// `cache export --format filesystem`: the image's layers for `platform`
/// applied in order (whiteouts honoured) and written as one plain tar.
fn export_filesystem(
    cache: &Cache,
    image: &str,
    platform: &Platform,
    w: &mut dyn Write,
) -> Result<()> {
    let images = linuxkit_build::Images::new(cache, platform.clone());
    let img = images
        .get(image)
        .with_context(|| format!("cannot export {image}"))?;
    let entries = images
        .entries(&img)
        .with_context(|| format!("cannot read the layers of {image}"))?;
    let mut tar = linuxkit_formats::tar::TarWriter::without_provenance(w);
    for e in entries.iter() {
        tar.write_entry(e)?;
    }
    tar.finish()?;
    Ok(())
}

/// Is the cached image published in its registry with the same root digest?
fn is_published(client: &Client, cache: &Cache, name: &str) -> Result<bool> {
    let Some(local) = cache.lookup(name)? else {
        bail!(
            "no image named {name} in the cache {}",
            cache.root().display()
        );
    };
    let r = Reference::parse(name)?;
    let remote = client.remote_digest(&r)?;
    Ok(remote.as_deref() == Some(local.digest.as_str()))
}
