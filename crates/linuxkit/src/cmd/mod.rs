//! Command dispatch.

mod build;
mod cache;
mod pkg;
pub mod run;

use crate::cli::{CacheCommand, Cli, Command, MetadataCommand};
use anyhow::{Result, bail};

fn not_yet(what: &str, issue: &str) -> Result<()> {
    bail!("`linuxkit {what}` is not implemented yet in linuxkit-rs (planned with the {issue} work)")
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Build(mut args) => {
            args.build_cache = cli.cache;
            build::run(args)
        }
        Command::Cache(c) => match c {
            CacheCommand::Pull { .. } => not_yet("cache pull", "registry"),
            CacheCommand::Push { .. } => not_yet("cache push", "registry"),
            other => cache::run(cli.cache, other),
        },
        Command::Metadata(MetadataCommand::Create { .. }) => not_yet("metadata create", "formats"),
        Command::Pkg(args) => pkg::run(args, cli.cache),
        Command::Push { .. } => not_yet("push", "cloud"),
        Command::Run(args) => {
            let code = run::run(args)?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Serve { .. } => not_yet("serve", "booted-system"),
        Command::Version { short, commit } => {
            let v = env!("CARGO_PKG_VERSION");
            let c = option_env!("LINUXKIT_COMMIT").unwrap_or("unknown");
            if short {
                println!("{v}");
            } else if commit {
                println!("{c}");
            } else {
                println!("linuxkit version {v}\ncommit: {c}");
            }
            Ok(())
        }
    }
}
