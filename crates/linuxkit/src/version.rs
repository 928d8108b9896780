//! The version and the commit the binary was built from (set by build.rs).

/// The release version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit, or `unknown`.
pub const COMMIT: &str = env!("LINUXKIT_COMMIT");

/// What `--version` prints after the program name.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("LINUXKIT_COMMIT")
);
