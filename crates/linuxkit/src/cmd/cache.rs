//! `linuxkit cache ls | rm | clean | import | export`.

use crate::cli::CacheCommand;
use anyhow::{Context, Result, bail};
use linuxkit_oci::{Cache, ExportFormat, Platform};
use std::io::Write;
use std::path::PathBuf;

/// Run a cache subcommand.
pub fn run(cache_flag: Option<PathBuf>, cmd: CacheCommand) -> Result<()> {
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
            if published_only {
                bail!("--published-only needs registry access, which is not implemented yet");
            }
            open()?.remove(&names)?;
            for n in &names {
                tracing::info!("removed {n}");
            }
        }
        CacheCommand::Clean { published_only } => {
            if published_only {
                bail!("--published-only needs registry access, which is not implemented yet");
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
                "oci" => ExportFormat::Oci,
                "docker" => ExportFormat::Docker,
                "filesystem" => bail!(
                    "cache export --format filesystem is not implemented yet; use `linuxkit build --format tar`"
                ),
                other => bail!("unknown export format {other:?}: use oci or docker"),
            };
            let name = linuxkit_oci::Reference::parse(&image)
                .map(|r| r.canonical())
                .unwrap_or(image.clone());
            if outfile == "-" {
                let mut out = std::io::stdout().lock();
                cache.export(&name, &platform, fmt, ref_name.as_deref(), &mut out)?;
            } else {
                let dest = PathBuf::from(&outfile);
                let mut pending = linuxkit_build::output::PendingFile::create(&dest)?;
                {
                    let mut w = std::io::BufWriter::new(pending.file());
                    cache.export(&name, &platform, fmt, ref_name.as_deref(), &mut w)?;
                    w.flush()?;
                }
                pending.commit()?;
            }
        }
        CacheCommand::Pull { .. } | CacheCommand::Push { .. } => {
            bail!("registry access is not implemented yet")
        }
    }
    Ok(())
}
