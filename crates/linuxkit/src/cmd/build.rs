//! `linuxkit build`: maps the flags onto [`linuxkit_build::Build`], reads
//! the configuration texts (files, `-` for standard input, http(s) URLs)
//! and pulls through the CLI's registry client. No build logic here.
//!
//! Reading stays on this side: standard input and URLs are the command
//! line's business, so the library takes texts ([`Source`]) and does the
//! parsing, merging and `@pkg:` resolution itself.

use crate::cli::BuildArgs;
use anyhow::{Context, Result, bail};
use linuxkit_build::{Build, BuildOptions, Config, OutputTarget, SbomOptions, Source, format};
use linuxkit_oci::Cache;
use std::io::Read;
use std::path::PathBuf;

/// Run `linuxkit build`.
pub fn run(args: BuildArgs, reg: &super::registry::RegistryFlags) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cache_dir = build_cache_dir(args.build_cache.clone());
    let options = BuildOptions {
        formats: format::requested(&args.format, args.output.is_some()),
        name: args.name,
        dir: args.dir,
        output: args.output.map(|o| match o.as_str() {
            "-" => OutputTarget::Stdout,
            _ => OutputTarget::File(o.into()),
        }),
        size: args.size,
        arch: args.arch,
        pull: args.pull,
        decompress_kernel: args.decompress_kernel,
        input_tar: args.input_tar,
        sbom: (!args.no_sbom).then_some(SbomOptions {
            path: args.sbom_output,
            current_time: args.sbom_current_time,
        }),
        bootloaders: args.bootloaders,
        ..BuildOptions::new(cache_dir, cwd)
    };
    let build = Build::new(options)?;
    if args.docker {
        bail!(
            "--docker: there is no Docker engine to read images from; linuxkit-rs reads images from its cache (import them with `linuxkit cache import`)"
        );
    }
    let sources = args
        .files
        .iter()
        .map(|f| read_source(f))
        .collect::<Result<Vec<_>>>()?;
    let config = Config::load(&sources)?;
    if args.dry_run {
        print!("{}", linuxkit_config::dry_run_yaml(&config.moby));
        return Ok(());
    }
    build.run(&config, &mut reg.puller())?;
    Ok(())
}

/// Resolve the build cache directory.
pub fn build_cache_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| Cache::default_root(true))
}

/// One configuration text: `-` is standard input, http(s) a URL, else a file.
fn read_source(arg: &str) -> Result<Source> {
    let source = |text, local| Source {
        name: arg.to_string(),
        text,
        local,
    };
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the configuration from standard input")?;
        return Ok(source(s, false));
    }
    if arg.starts_with("http://") || arg.starts_with("https://") {
        let body = ureq::get(arg)
            .call()
            .with_context(|| format!("cannot fetch configuration {arg}"))?
            .body_mut()
            .read_to_string()
            .with_context(|| format!("cannot read configuration {arg}"))?;
        return Ok(source(body, false));
    }
    let text = std::fs::read_to_string(arg)
        .with_context(|| format!("cannot read configuration file {arg}"))?;
    Ok(source(text, true))
}
