//! Errors of the assembler. Every variant names what the user can act on:
//! the image, the layer digest, the path inside the layer, the file.

use std::path::PathBuf;

/// A build failure.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The cache could not give us an image or blob.
    #[error("could not pull image {image}: {source}")]
    Image {
        /// Image reference as written.
        image: String,
        /// Cause.
        #[source]
        source: Box<linuxkit_oci::OciError>,
    },
    /// A reference that does not parse.
    #[error("could not pull image {image}: {source}")]
    Reference {
        /// Image reference as written.
        image: String,
        /// Cause.
        #[source]
        source: Box<linuxkit_oci::ReferenceError>,
    },
    /// A layer that cannot be read or is hostile.
    #[error("image {image}, layer {digest}: {message}")]
    Layer {
        /// Canonical image name.
        image: String,
        /// Layer blob digest.
        digest: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Kernel image problems ("did not find kernel in kernel image", ...).
    #[error("{message} {image}")]
    Kernel {
        /// Kernel image.
        image: String,
        /// Upstream-style message.
        message: String,
    },
    /// OCI spec generation failed.
    #[error("{at}failed to create OCI spec for {image}: {source}")]
    Spec {
        /// `FILE:LINE:COLUMN: ` of the entry in the YAML.
        at: String,
        /// Image as written.
        image: String,
        /// Cause.
        #[source]
        source: Box<linuxkit_config::SpecError>,
    },
    /// Volume references in binds/mounts.
    #[error("{at}failed update image {image} from volumes: {source}")]
    Volumes {
        /// `FILE:LINE:COLUMN: ` of the entry in the YAML.
        at: String,
        /// Image as written.
        image: String,
        /// Cause.
        #[source]
        source: Box<linuxkit_config::SpecError>,
    },
    /// The `files` section.
    #[error("{at}failed to add filesystem parts: {message}")]
    Files {
        /// `FILE:LINE:COLUMN: ` of the entry in the YAML.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// The `--input-tar`.
    #[error("input tar {path}: {message}")]
    InputTar {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing an output failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration that does not parse, validate or merge (every
    /// problem, each with FILE:LINE:COL).
    #[error("invalid config:\n{0}")]
    Config(linuxkit_config::ConfigError),
    /// A local package (`@pkg:` or `--bootloaders @pkg:`) did not build.
    #[error("{context}")]
    Package {
        /// Which package and why it was built.
        context: String,
        /// Cause.
        #[source]
        source: Box<linuxkit_pkg::PkgError>,
    },
    /// The image cache cannot be opened.
    #[error("cannot open the image cache {}", dir.display())]
    Cache {
        /// Its directory.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: Box<linuxkit_oci::OciError>,
    },
    /// A pull through the caller's [`crate::Registry`] failed.
    #[error(transparent)]
    Pull(crate::resolve::PullError),
    /// An image the cache lacks could not be pulled either: both reasons,
    /// since the cache's is often the fix.
    #[error("{cached}\n  and pulling it failed: {}", crate::resolve::chain(&**pull))]
    Unavailable {
        /// Why the cache could not serve it.
        cached: Box<linuxkit_oci::OciError>,
        /// Why the pull failed.
        #[source]
        pull: crate::resolve::PullError,
    },
    /// The boot loader image cannot be read.
    #[error("cannot read the boot loader image {reference}")]
    BootLoader {
        /// The image.
        reference: String,
        /// Cause.
        #[source]
        source: Box<BuildError>,
    },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl BuildError {
    /// Wrap an I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> BuildError {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }
}
