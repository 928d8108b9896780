//! `linuxkit`: the command-line front end. Parses upstream-compatible flags,
//! sets up logging and error display, and calls the library crates; it holds
//! no build logic of its own.

mod alloc;
mod cli;
mod cmd;
mod logging;
mod parse;
mod version;

#[global_allocator]
static GLOBAL: alloc::HugeForLarge = alloc::HugeForLarge;

fn main() {
    let cli = match parse::try_parse(std::env::args().collect()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
