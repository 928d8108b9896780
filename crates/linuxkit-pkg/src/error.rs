//! Errors of package builds; each names the package directory or file and,
//! where one helps, what to do.

use std::path::PathBuf;

/// A package build failure.
#[derive(Debug, thiserror::Error)]
pub enum PkgError {
    /// `build.yml` problems, all of them, each with its position.
    #[error("{}", .problems.join("\n"))]
    BuildYml {
        /// `FILE:LINE:COL: message` lines (with `hint:` lines).
        problems: Vec<String>,
    },
    /// A git command failed or is unavailable.
    #[error("git {args} in {dir}: {message}")]
    Git {
        /// The arguments.
        args: String,
        /// Where it ran.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file of the package could not be read or is not allowed.
    #[error("package {package}: {message}")]
    Content {
        /// Package directory.
        package: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Debian package resolution or download.
    #[error("package {package}: {message}")]
    Debian {
        /// Package directory.
        package: PathBuf,
        /// What went wrong (the Debian module's message).
        message: String,
    },
    /// The image cache.
    #[error("package {package}: {source}")]
    Cache {
        /// Package directory.
        package: PathBuf,
        /// Cause.
        #[source]
        source: Box<linuxkit_oci::OciError>,
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
