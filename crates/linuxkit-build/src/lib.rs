//! linuxkit-build: the build as a library call. [`Build`] takes the
//! options of `linuxkit build` and a merged [`Config`], gets every image
//! into the cache ([`resolve`]: local `@pkg:` builds, pulls through the
//! caller's [`Registry`]), assembles the filesystem stream once
//! ([`assemble`]) into the sinks the requested [`Format`]s need, and writes
//! every output, committing them all only once every format succeeded.
//!
//! | module | job |
//! |---|---|
//! | [`build`] | the API: options, checks, the order of the steps |
//! | [`config`] | YAML texts → one merged configuration |
//! | [`format`], [`size`] | the formats as a type; `--size` |
//! | [`resolve`] | packages, pulls, boot loader files |
//! | [`assemble`] and [`bundle`], [`files`], [`flatten`], [`image`], [`images`], [`input_tar`], [`kernel`], [`layers`], [`sbom`], [`volumes`] | the filesystem stream |
//! | [`sink`], [`tar_sink`], [`initrd_sink`] | consumers of the stream |
//! | [`segment_cache`], [`side_file`] | stored segments that make warm builds a concatenation |
//! | [`kernel_initrd`], [`formats`] | the output writers |
//! | [`pending`], [`outfile`], [`atomic`] | how files are written |

pub mod assemble;
pub mod atomic;
pub mod build;
pub mod bundle;
pub mod config;
pub mod error;
pub mod files;
pub mod flatten;
pub mod format;
pub mod formats;
pub mod image;
pub mod images;
pub mod initrd_sink;
pub mod input_tar;
pub mod kernel;
pub mod kernel_initrd;
pub mod layers;
pub mod outfile;
pub mod pending;
pub mod resolve;
pub mod sbom;
pub mod segment_cache;
pub mod side_file;
pub mod sink;
pub mod size;
pub mod tar_sink;
pub mod volumes;

pub use assemble::{AssembleOptions, DOCKERFILE, SbomOptions, assemble};
pub use build::{Build, BuildOptions, OutputTarget};
pub use config::{Config, Source};
pub use error::BuildError;
pub use files::FileContext;
pub use format::{Format, FormatList, UnknownFormat};
pub use images::Images;
pub use resolve::{Offline, PullError, Registry};
pub use sink::{SegmentKey, Sink};
pub use size::{DiskSize, SizeError};

use linuxkit_oci::Cache;
use std::path::PathBuf;

/// Version tag of segment keys: bump when the bytes a segment produces change.
pub(crate) const SEGMENT_VERSION: &str = "lkrs-seg-1";

/// Where linuxkit-rs keeps derived data (cached output segments) inside an
/// image cache. Not created here: writers create what they store, so a
/// build that stores nothing leaves the cache untouched.
pub fn derived_dir(cache: &Cache) -> PathBuf {
    cache.root().join("linuxkit-rs")
}

/// `SOURCE_DATE_EPOCH`, when set to a valid number.
pub fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}
