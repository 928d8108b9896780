//! The cache lock: a POSIX `fcntl` lock on `<cache>/.lock`, the same lock
//! upstream LinuxKit takes around index.json reads and updates, so the two can
//! share a cache. POSIX locks belong to the process (and any close of the file
//! in the process drops them), so a process-wide mutex serialises our own
//! threads and guarantees nobody else in the process touches the lock file
//! while we hold it. Only index.json and the commit of imported blobs are
//! guarded; blob writes are atomic on their own.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rustix::fs::{FlockOperation, fcntl_lock};

use crate::error::OciError;

/// Name of the lock file in the cache directory (upstream's).
pub const LOCK_FILE: &str = ".lock";

static PROCESS_LOCK: Mutex<()> = Mutex::new(());

/// A held cache lock; released on drop.
pub struct CacheLock {
    // Field order matters: the file (and with it the fcntl lock) is closed
    // before the process mutex is released. `None`: a shared lock on a
    // read-only cache whose lock file we may not create (nobody can write
    // index.json there either).
    file: Option<File>,
    _guard: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for CacheLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLock").finish_non_exhaustive()
    }
}

impl CacheLock {
    /// Take the exclusive (write) lock, waiting for other holders.
    pub fn exclusive(root: &Path) -> Result<CacheLock, OciError> {
        Self::take(root, FlockOperation::LockExclusive)
    }

    /// Take a shared (read) lock: excludes writers, here and in upstream.
    pub fn shared(root: &Path) -> Result<CacheLock, OciError> {
        Self::take(root, FlockOperation::LockShared)
    }

    fn take(root: &Path, op: FlockOperation) -> Result<CacheLock, OciError> {
        // A poisoned mutex only means another thread panicked while holding
        // it; the lock file itself is still fine.
        let guard = PROCESS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let path = root.join(LOCK_FILE);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if op == FlockOperation::LockShared && read_only(&e) => {
                match File::open(&path) {
                    Ok(f) => f,
                    Err(_) => {
                        tracing::debug!(path = %path.display(), "read-only cache without a lock file; reading unlocked");
                        return Ok(CacheLock {
                            file: None,
                            _guard: guard,
                        });
                    }
                }
            }
            Err(e) => return Err(OciError::io("cannot open the cache lock file", &path, e)),
        };
        loop {
            match fcntl_lock(&file, op) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(OciError::io(
                        "cannot lock the cache lock file",
                        &path,
                        e.into(),
                    ));
                }
            }
        }
        Ok(CacheLock {
            file: Some(file),
            _guard: guard,
        })
    }
}

fn read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlock explicitly so
        // the release does not depend on drop order subtleties.
        if let Some(f) = &self.file {
            let _ = fcntl_lock(f, FlockOperation::Unlock);
        }
    }
}
