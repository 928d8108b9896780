//! `linuxkit`: the command-line front end. Parses upstream-compatible flags,
//! sets up logging and error display, and calls the library crates; it holds
//! no build logic of its own.

mod alloc;
mod cli;
mod cmd;
mod logging;

#[global_allocator]
static GLOBAL: alloc::HugeForLarge = alloc::HugeForLarge;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse_from(cmd::run::normalize_args(std::env::args().collect()));
    if let Err(e) = logging::init(cli.quiet, cli.verbose) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    let result = cmd::run(cli);
    if let Err(e) = result {
        let mut shown = e.to_string();
        eprintln!("error: {shown}");
        for cause in e.chain().skip(1) {
            let text = cause.to_string();
            // Library errors often embed their cause; print each text once.
            if !shown.contains(&text) {
                eprintln!("  caused by: {text}");
                shown.push_str(&text);
            }
        }
        std::process::exit(1);
    }
}
