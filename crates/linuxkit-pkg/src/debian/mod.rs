//! Debian packages as image content: `contents.debian` of `build.yml`.
//!
//! Three steps, each its own module:
//!
//! 1. [`resolve`] (`resolve.rs`): the requested packages and their
//!    dependency closure (`Depends` and `Pre-Depends`; never `Recommends`,
//!    `Suggests`, nor implicitly the `Essential: yes` set), read from the
//!    host's apt (`apt-cache show`, `apt-cache showpkg`), become a [`Lock`]:
//!    exact versions, sizes and sha256 sums, stored as `debian.lock` beside
//!    `build.yml` (`lock.rs`) so a rebuild installs the very same files.
//! 2. [`fetch`] (`fetch.rs`): every locked `.deb` is put in a store
//!    directory of the image cache, downloaded with `apt-get download` when
//!    missing and verified against the lock's sha256 on every use. A file
//!    that does not match is an error and is removed; nothing unverified is
//!    ever moved into the store.
//! 3. [`read_deb`] (`deb.rs`, `ar.rs`): a `.deb` is read natively (an `ar`
//!    archive holding `control.tar.*` and `data.tar.*`, compressed with gzip,
//!    xz, zstd, bzip2, lzma or not at all) into filesystem entries, with
//!    names made relative and `..` or absolute names refused.
//!
//! This module never writes outside the store and the lock file, never
//! installs anything on the host, and does not touch timestamps (the image
//! writer clamps them).
//!
//! # No maintainer scripts are run
//!
//! Unpacking a package here means copying the files of its `data.tar` into
//! the image, nothing more. `dpkg` would also run the package's maintainer
//! scripts (`preinst`, `postinst`, triggers); we do not, because they need
//! a running Debian system (a shell, `dpkg`, `adduser`, `systemctl`...) that
//! a LinuxKit image does not have, and because their effects are often not
//! reproducible. So, compared with `apt-get install`, an image built from
//! Debian packages has:
//!
//! - no users or groups created by the package (`sshd`, `_apt`, `messagebus`
//!   ...): `/etc/passwd` and `/etc/group` hold only what the image adds;
//! - no `update-alternatives` links (`/usr/bin/awk`, `/usr/bin/editor`,
//!   `/etc/alternatives/*`...);
//! - no `ldconfig` cache (`/etc/ld.so.cache`): the loader still finds
//!   libraries in the standard directories (`/lib`, `/usr/lib` and their
//!   `x86_64-linux-gnu` subdirectories), but not those only listed in
//!   `/etc/ld.so.conf.d`;
//! - no generated files (ssh host keys, `/etc/machine-id`, debconf answers,
//!   compiled schemas, font caches, certificate bundles built by
//!   `update-ca-certificates`...);
//! - no dpkg database (`/var/lib/dpkg/status`, `info/`): the image is not a
//!   Debian system, `dpkg -l` and `apt` inside it know nothing;
//! - no services enabled or started, no diversions (`dpkg-divert`) applied.
//!
//! A package adds what a script would have done in one of two ways:
//! files and symlinks in `build.yml`'s `contents:` (`files:` for
//! `/etc/passwd` lines, a config file or a whole directory; `symlinks:` for
//! an alternative such as `/usr/bin/awk -> mawk`), which are fixed at build
//! time and reproducible; or, for what must differ per machine (ssh host
//! keys, a machine id), work done at first start in the service's command
//! (e.g. `ssh-keygen -A && exec /usr/sbin/sshd -D`).

mod ar;
mod deb;
mod deb822;
mod fetch;
mod lock;
mod resolve;

use std::path::PathBuf;

pub use ar::{ArMember, parse_ar, write_ar};
pub use deb::{Deb, read_deb, read_deb_bytes};
pub use fetch::{fetch, store_file_name};
pub use lock::{Lock, LockedPackage};
pub use resolve::resolve;

/// What went wrong with a Debian package. Every message names the package
/// (with its version or file where known) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    /// A requested package (or a dependency named in a lock) that apt does
    /// not know.
    #[error("{hint}")]
    UnknownPackage {
        /// The name as written.
        name: String,
        /// The full message: what is wrong and what to do.
        hint: String,
    },
    /// A requested name is a virtual package with several providers: the
    /// choice is the user's.
    #[error(
        "{name} is a virtual package provided by {}; name one of them in `contents.debian.packages`",
        .providers.join(", ")
    )]
    VirtualPackage {
        /// The virtual name.
        name: String,
        /// Real packages that provide it, in apt's order of preference.
        providers: Vec<String>,
    },
    /// A dependency that no package in apt's lists satisfies.
    #[error(
        "{package} {version} depends on {dependency}, which no package in apt's lists provides; run `apt-get update`, or add {dependency} to `contents.debian.exclude` if the image does not need it"
    )]
    Unsatisfiable {
        /// The package with the dependency.
        package: String,
        /// Its version.
        version: String,
        /// The dependency group as alternatives (`a | b`).
        dependency: String,
    },
    /// apt knows the package but has no file to download for its candidate
    /// version (e.g. it is installed on the host from a local file).
    #[error(
        "{name} {version} has no downloadable file in apt's lists (no SHA256/Filename); run `apt-get update`, or check `apt-cache policy {name}`"
    )]
    NotDownloadable {
        /// Package.
        name: String,
        /// Candidate version.
        version: String,
    },
    /// A stored or downloaded `.deb` whose sha256 is not the locked one.
    /// The file is removed (or never stored).
    #[error(
        "{name} {version}: {path} has sha256 {actual} but the lock file says {expected}; {}",
        if *.downloaded {
            "the downloaded file was not stored: the lock file is out of date or the mirror changed the file; re-resolve the lock file (`linuxkit pkg build --update-lock`)"
        } else {
            "the stored file was removed; build again to download it anew, and if the mirror now has a different file for this version, re-resolve the lock file (`linuxkit pkg build --update-lock`)"
        }
    )]
    ShaMismatch {
        /// Package.
        name: String,
        /// Locked version.
        version: String,
        /// sha256 from the lock (hex).
        expected: String,
        /// sha256 of the file (hex).
        actual: String,
        /// The file in the store (already removed, or never stored).
        path: PathBuf,
        /// True when the file was just downloaded, false when it was found
        /// in the store (damaged since, or stored for a different lock).
        downloaded: bool,
    },
    /// `apt-get download` failed for a locked package.
    #[error(
        "cannot download {name} {version} with apt-get: {message}; it is not in the pool of apt's archives either; if the mirror no longer has this version, re-resolve the lock file (`linuxkit pkg build --update-lock`), else run `apt-get update` and check the network"
    )]
    Download {
        /// Package.
        name: String,
        /// Locked version.
        version: String,
        /// apt's output.
        message: String,
    },
    /// An apt command could not run or failed.
    #[error("`{command}` failed: {message}")]
    Apt {
        /// The command line.
        command: String,
        /// What went wrong (apt's stderr, or why it could not start) and what to do.
        message: String,
    },
    /// The lock file is unreadable or malformed.
    #[error(
        "lock file {path}: {message}; fix it, or delete it to re-resolve the packages (`linuxkit pkg build --update-lock`)"
    )]
    LockFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `.deb` that cannot be read or holds something not allowed.
    #[error("{package}: {path}: {message}")]
    Deb {
        /// Package name (from the file name when the control file is unknown).
        package: String,
        /// The file.
        path: PathBuf,
        /// What is wrong (and what to do).
        message: String,
    },
    /// I/O with context.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl DebianError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DebianError {
        let context = context.into();
        move |source| DebianError::Io { context, source }
    }
}
