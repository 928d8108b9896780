//! OCI images for linuxkit-rs: references, the on-disk OCI-layout cache that
//! upstream LinuxKit also reads and writes, and import/export of layout tarballs.
//! The [`registry`] client pulls and pushes over the distribution API.
//!
//! Modules: [`reference`] (names and platforms, pure), [`types`] (the JSON
//! documents), [`blob`] (verified reads, atomic writes), [`lock`] (the cache
//! lock shared with upstream), [`cache`] (names, resolution, removal),
//! `import` and `export` (archives), [`error`].

pub mod blob;
pub mod cache;
pub mod error;
mod export;
mod import;
pub mod lock;
pub mod reference;
pub mod registry;
pub mod types;

pub use blob::BlobReader;
pub use cache::{Cache, ExportFormat, ResolvedImage};
pub use error::OciError;
pub use reference::{Platform, Reference, ReferenceError};
pub use types::*;
