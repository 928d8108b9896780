//! Command dispatch.

mod build;
mod cache;
mod ipxe;
mod metadata;
mod pkg;
mod push;
pub mod registry;
pub mod run;
mod serve;

use crate::cli::{Cli, Command, MetadataCommand};
use anyhow::Result;
use registry::RegistryFlags;

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let reg = RegistryFlags {
        mirrors: cli.mirror.clone(),
        cert_files: cli.cert_file.clone(),
        insecure: cli.insecure_registry.clone(),
        quiet: cli.quiet,
        creds: Vec::new(),
    };
    match cli.command {
        Command::Build(mut args) => {
            args.build_cache = cli.cache;
            build::run(args, &reg)
        }
        Command::Cache(c) => cache::run(cli.cache, c, &reg),
        Command::Metadata(MetadataCommand::Create { file, data }) => metadata::create(&file, &data),
        Command::Pkg(args) => pkg::run(args, cli.cache, &reg),
        Command::Push(p) => push::run(p, cli.cache, &reg),
        Command::Run(args) => {
            let code = run::run(args)?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Serve { port, directory } => serve::run(&port, &directory),
        Command::Completion { shell } => {
            let mut cmd = crate::parse::command();
            clap_complete::generate(shell, &mut cmd, "linuxkit", &mut std::io::stdout());
            Ok(())
        }
        Command::Version { short, commit } => {
            let (v, c) = (crate::version::VERSION, crate::version::COMMIT);
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
