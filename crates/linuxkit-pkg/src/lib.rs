//! Package builds without Docker (`linuxkit pkg`): a package is a directory
//! with a `build.yml`; its image is assembled natively from Debian packages,
//! files of the package directory, cargo-built static binaries and symlinks,
//! and written to the image cache with a deterministic digest. Tags are
//! computed exactly as upstream does (the git tree hash of the directory).

pub mod build;
pub mod buildyml;
pub mod contents;
pub mod debian;
pub mod error;
pub mod image;
pub mod label;
pub mod tag;

pub use buildyml::BuildYml;
pub use error::PkgError;
pub use tag::{PackageTag, TagOptions};
