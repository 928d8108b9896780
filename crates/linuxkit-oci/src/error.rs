//! The one error type of the cache. Each variant names what it is about (the
//! image, the digest, the cache directory) and the message ends with what the
//! user can do about it; callers add context, they never have to guess.

use std::io;
use std::path::PathBuf;

fn of_image(image: &Option<String>) -> String {
    match image {
        Some(i) => format!(" (image {i})"),
        None => String::new(),
    }
}

fn rm_hint(image: &Option<String>) -> String {
    match image {
        Some(i) => format!("`linuxkit cache rm {i}`"),
        None => "`linuxkit cache rm NAME`".to_string(),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Errors of the OCI-layout cache, import and export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// A file-system operation on the cache failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("cannot read", "cannot create", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `resolve` found no image of that name.
    #[error(
        "image {name} is not in the cache {cache}: pull it (`linuxkit cache pull {name}`; \
         `linuxkit build` pulls what it lacks) or import it with `linuxkit cache import FILE.tar`"
    )]
    NotFound {
        /// The canonical name looked up.
        name: String,
        /// The cache directory.
        cache: PathBuf,
    },

    /// A name given to `cache rm` / `cache export` is not in the cache.
    #[error(
        "no image named {name} in the cache {cache}; `linuxkit cache ls` lists the names it holds"
    )]
    NoSuchName {
        /// The name asked for.
        name: String,
        /// The cache directory.
        cache: PathBuf,
    },

    /// The image exists but has nothing for the requested platform.
    #[error(
        "image {name} in the cache {cache} has no manifest for platform {platform}; it has: {}; \
         build for one of those (--arch) or import an image for {platform}",
        list(available)
    )]
    NoPlatform {
        /// The image.
        name: String,
        /// The platform asked for, `os/arch[/variant]`.
        platform: String,
        /// The platforms the image offers.
        available: Vec<String>,
        /// The cache directory.
        cache: PathBuf,
    },

    /// A blob the image needs is not in `blobs/sha256/`.
    #[error(
        "blob {digest}{} is missing from the cache {cache} (expected at {}); \
         the cache is incomplete: remove the image ({}) and import it again",
        of_image(image), path.display(), rm_hint(image)
    )]
    BlobMissing {
        /// The image that needs it, when known.
        image: Option<String>,
        /// Its digest.
        digest: String,
        /// Where it should be.
        path: PathBuf,
        /// The cache directory.
        cache: PathBuf,
    },

    /// A blob's bytes do not hash to its name (or its size is not the descriptor's).
    #[error(
        "blob {digest}{} at {} is corrupt: {found}; \
         remove the image ({}) and import it again",
        of_image(image), path.display(), rm_hint(image)
    )]
    DigestMismatch {
        /// The image it belongs to, when known.
        image: Option<String>,
        /// The digest it should have.
        digest: String,
        /// Where the bytes came from (a cache file or an archive entry).
        path: PathBuf,
        /// What was found instead ("found sha256:… (123 bytes)").
        found: String,
    },

    /// A string that should be a `sha256:<64 hex>` digest is not one.
    #[error(
        "invalid digest {digest:?}{}: expected \"sha256:\" followed by 64 lower-case hex digits \
         (only sha256 blobs are supported)",
        of_image(image)
    )]
    InvalidDigest {
        /// The offending string.
        digest: String,
        /// The image it came from, when known.
        image: Option<String>,
    },

    /// A manifest, index or config blob is not the JSON it should be.
    #[error(
        "cannot parse {what} {digest}{} in the cache {cache}: {source}; \
         remove the image ({}) and import it again",
        of_image(image),
        rm_hint(image)
    )]
    BadJson {
        /// "index", "manifest" or "image config".
        what: &'static str,
        /// Its digest.
        digest: String,
        /// The image, when known.
        image: Option<String>,
        /// The cache directory.
        cache: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The cache's index.json cannot be parsed.
    #[error(
        "the cache index {path} is not a valid OCI index: {source}; fix the file, \
         or delete the cache with `linuxkit cache clean`"
    )]
    BadIndex {
        /// Path of index.json.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// A descriptor's media type is not something we can use as an image.
    #[error(
        "{what} {digest} of image {image} in the cache {cache} has media type {media_type:?}, \
         which is not an OCI or Docker schema 2 image manifest or index; \
         re-create the image with a current tool (docker buildx, skopeo, linuxkit pkg build)"
    )]
    Unsupported {
        /// The image.
        image: String,
        /// "root" or "manifest".
        what: &'static str,
        /// Its digest.
        digest: String,
        /// The media type found.
        media_type: String,
        /// The cache directory.
        cache: PathBuf,
    },

    /// A tarball given to `cache import` is not an OCI-layout archive we can take in.
    #[error("cannot import into the cache {cache}: {reason}; nothing was added to the cache")]
    BadArchive {
        /// What is wrong, with the entry or digest concerned.
        reason: String,
        /// The cache directory.
        cache: PathBuf,
    },

    /// Writing an export archive failed.
    #[error("cannot export image {image} from the cache {cache}: {source}")]
    Export {
        /// The image.
        image: String,
        /// The cache directory.
        cache: PathBuf,
        /// What failed (reading a blob, writing the output).
        #[source]
        source: io::Error,
    },
}

impl OciError {
    /// Attach the image name to a blob-level error that does not carry one yet.
    pub fn with_image(mut self, name: &str) -> OciError {
        match &mut self {
            OciError::BlobMissing { image, .. }
            | OciError::DigestMismatch { image, .. }
            | OciError::InvalidDigest { image, .. }
            | OciError::BadJson { image, .. }
                if image.is_none() =>
            {
                *image = Some(name.to_string());
            }
            _ => {}
        }
        self
    }

    /// Build an [`OciError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> OciError {
        OciError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
