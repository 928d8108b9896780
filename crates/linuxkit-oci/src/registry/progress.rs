//! Progress reports from pulls and pushes, one line of events per blob; the
//! CLI draws them as bars (or log lines when stderr is not a terminal).

use std::time::Duration;

/// Receives progress events; every method has a do-nothing default.
pub trait Progress: Send + Sync {
    /// A blob transfer starts: `total` bytes, `done` of them already local (a resumed download).
    fn blob_start(&self, _digest: &str, _total: u64, _done: u64, _push: bool) {}
    /// `n` more bytes of the blob moved.
    fn blob_advance(&self, _digest: &str, _n: u64) {}
    /// The blob is complete (verified, or accepted by the registry).
    fn blob_done(&self, _digest: &str) {}
    /// The blob was already present (in the cache or the registry).
    fn blob_skipped(&self, _digest: &str, _why: &str) {}
    /// A request is retried after `wait` because of `cause`.
    fn retry(&self, _reference: &str, _cause: &str, _wait: Duration) {}
    /// An informational message (`Pulling …`, `Pushed …`).
    fn message(&self, _msg: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
