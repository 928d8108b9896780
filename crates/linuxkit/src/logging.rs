//! Log setup: info-level progress as plain lines on stderr (upstream's
//! default), `-q` for errors only, `-v 2`/`-v 3` for debug/trace with targets.

use anyhow::{Result, bail};

/// Install the global subscriber.
pub fn init(quiet: bool, verbose: Option<u8>) -> Result<()> {
    if quiet && verbose.is_some_and(|v| v > 0) {
        bail!("cannot use --quiet and --verbose together");
    }
    let level = if quiet {
        tracing::Level::ERROR
    } else {
        match verbose.unwrap_or(1) {
            0 => tracing::Level::ERROR,
            1 => tracing::Level::INFO,
            2 => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        }
    };
    let detailed = verbose.is_some_and(|v| v >= 2);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .without_time()
        .with_target(detailed)
        .with_level(detailed);
    builder
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))?;
    Ok(())
}
