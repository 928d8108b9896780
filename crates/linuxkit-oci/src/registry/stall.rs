//! The slowest download accepted: a blob transfer fails when fewer than
//! `bytes` arrived in the last `window` (a tumbling window, checked each
//! time a read returns; a read that returns nothing at all is bounded by the
//! client's per-read timeout). Without it, a registry sending one byte every
//! ten seconds would hold a pull forever. Default: 1024 bytes in 60 s;
//! `LINUXKIT_REGISTRY_MIN_PROGRESS=BYTES/SECONDS` changes it (`0/0` turns it
//! off).

use std::time::{Duration, Instant};

/// The environment variable that sets [`MinProgress`].
pub const ENV: &str = "LINUXKIT_REGISTRY_MIN_PROGRESS";

/// At least `bytes` must arrive in every `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinProgress {
    /// Bytes required per window (0 = no bound).
    pub bytes: u64,
    /// The window.
    pub window: Duration,
}

impl Default for MinProgress {
    fn default() -> MinProgress {
        MinProgress {
            bytes: 1024,
            window: Duration::from_secs(60),
        }
    }
}

impl MinProgress {
    /// Parse `BYTES/SECONDS`.
    pub fn parse(spec: &str) -> Option<MinProgress> {
        let (b, s) = spec.trim().split_once('/')?;
        Some(MinProgress {
            bytes: b.trim().parse().ok()?,
            window: Duration::from_secs(s.trim().parse().ok()?),
        })
    }

    /// The value of [`ENV`], or the default (with a warning when the
    /// variable is set but not `BYTES/SECONDS`).
    pub fn from_env() -> MinProgress {
        match std::env::var(ENV) {
            Ok(v) => MinProgress::parse(&v).unwrap_or_else(|| {
                tracing::warn!("ignoring {ENV}={v:?}: expected BYTES/SECONDS, e.g. 1024/60");
                MinProgress::default()
            }),
            Err(_) => MinProgress::default(),
        }
    }

    /// A watch over one transfer, starting now.
    pub fn watch(self) -> Watch {
        Watch {
            min: self,
            start: Instant::now(),
            got: 0,
        }
    }
}

/// The progress of one transfer against a [`MinProgress`].
#[derive(Debug)]
pub struct Watch {
    min: MinProgress,
    start: Instant,
    got: u64,
}

impl Watch {
    /// Count `n` bytes that just arrived; an error message when the window
    /// that just ended brought fewer than the minimum.
    pub fn advance(&mut self, n: u64) -> Result<(), String> {
        self.got = self.got.saturating_add(n);
        if self.min.bytes == 0 || self.start.elapsed() < self.min.window {
            return Ok(());
        }
        if self.got < self.min.bytes {
            return Err(format!(
                "the transfer stalled: {} bytes arrived in {} s, fewer than the {} required \
                 ({ENV}={}/{} sets the minimum)",
                self.got,
                self.start.elapsed().as_secs(),
                self.min.bytes,
                self.min.bytes,
                self.min.window.as_secs()
            ));
        }
        self.start = Instant::now();
        self.got = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_a_stalled_window() {
        assert_eq!(
            MinProgress::parse("10/0"),
            Some(MinProgress {
                bytes: 10,
                window: Duration::ZERO
            })
        );
        assert_eq!(MinProgress::parse("10"), None);
        let mut w = MinProgress::parse("10/0").unwrap().watch();
        assert!(w.advance(10).is_ok(), "enough in the window");
        let e = w.advance(3).unwrap_err();
        assert!(e.contains("3 bytes arrived"), "{e}");
        let mut off = MinProgress::parse("0/0").unwrap().watch();
        assert!(off.advance(0).is_ok());
    }
}
