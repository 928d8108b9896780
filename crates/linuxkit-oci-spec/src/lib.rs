//! The pure OCI vocabulary of linuxkit-rs: image references and their
//! upstream expansion ([`reference`]), content digests ([`digest`]),
//! platforms, media types and the serde types of the image-spec JSON
//! documents — descriptor, index, manifest, image config ([`types`]).
//!
//! What it owns: parsing and printing these values, each rule once (the
//! digest form is checked here for references and for the cache alike).
//!
//! What it must not do: any I/O — no files, no network, no cache, no HTTP or
//! TLS stack. It is the half of `linuxkit-oci` that the configuration crate
//! may link (as uv splits `uv-pep508` from `uv-client`); the cache, the
//! layout import/export and the registry client stay in `linuxkit-oci`,
//! which re-exports everything here.

pub mod digest;
pub mod reference;
pub mod types;

pub use reference::{Platform, Reference, ReferenceError};
pub use types::*;
