//! OCI images for linuxkit-rs, the I/O half: the on-disk OCI-layout cache
//! that upstream LinuxKit also reads and writes, import/export of layout
//! tarballs, and the [`registry`] client that pulls and pushes over the
//! distribution API.
//!
//! The pure types — [`reference`] (names and platforms), [`digest`] and
//! [`types`] (media types and the JSON documents) — live in
//! `linuxkit-oci-spec` and are re-exported here unchanged, so
//! `linuxkit_oci::Reference` and `crate::types::…` paths keep working;
//! crates that need only the types (the configuration crate) depend on
//! `linuxkit-oci-spec` and link no HTTP/TLS stack.
//!
//! Modules: [`blob`] (verified reads, atomic writes), [`lock`] (the cache
//! lock shared with upstream), [`cache`] (names, resolution, removal),
//! `import` and `export` (archives), [`error`].

pub mod blob;
pub mod cache;
pub mod error;
mod export;
mod import;
pub mod lock;
pub mod registry;

pub use linuxkit_oci_spec::{digest, reference, types};

pub use blob::BlobReader;
pub use cache::{Cache, ExportFormat, ResolvedImage};
pub use error::OciError;
pub use linuxkit_oci_spec::types::*;
pub use linuxkit_oci_spec::{Platform, Reference, ReferenceError};
