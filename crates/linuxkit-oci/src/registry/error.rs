//! Errors of the registry client. Each names the image reference and the
//! registry, and ends with what to check; the HTTP details (status, the
//! registry's error code) are kept for the message, never guessed at.

use std::path::PathBuf;

use crate::error::OciError;

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No connection could be made (after retries).
    #[error(
        "cannot reach registry {registry} for {reference}: {cause}; check the registry's address \
         and port, the network, and the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY){hint}"
    )]
    Unreachable {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// What failed.
        cause: String,
        /// An extra hint (TLS).
        hint: String,
    },

    /// The registry wants credentials and we have none.
    #[error(
        "registry {registry} requires authentication for {reference} and no credentials for \
         {registry} were found in {config}: log in (`docker login {registry}`) or add an `auths` \
         entry for it"
    )]
    NoCredentials {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// The docker config file consulted.
        config: String,
    },

    /// The registry (or its token service) rejected our credentials.
    #[error(
        "registry {registry} rejected the credentials for {reference} ({detail}): check the user \
         name and password (or token) stored for {registry} in {config}; `docker login {registry}` \
         rewrites them"
    )]
    BadCredentials {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// Status and registry message.
        detail: String,
        /// The docker config file consulted.
        config: String,
    },

    /// Authenticated, but not allowed.
    #[error(
        "registry {registry} denied {action} access to {reference} ({detail}): the account \
         configured for {registry} has no {action} permission on this repository"
    )]
    Denied {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// "pull" or "push".
        action: &'static str,
        /// Status and registry message.
        detail: String,
    },

    /// The repository does not exist.
    #[error(
        "image {reference} not found: registry {registry} has no repository {repository} ({detail}); \
         check the image name (and the registry part of it)"
    )]
    RepositoryNotFound {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// Repository path.
        repository: String,
        /// Status and registry message.
        detail: String,
    },

    /// The repository exists but not the tag (or digest).
    #[error(
        "image {reference} not found: repository {repository} on {registry} has no manifest {tag} \
         ({detail}); check the tag or digest (`skopeo list-tags docker://{registry}/{repository}` lists the tags)"
    )]
    ManifestNotFound {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// Repository path.
        repository: String,
        /// The tag or digest asked for.
        tag: String,
        /// Status and registry message.
        detail: String,
    },

    /// Any other unexpected answer.
    #[error("registry {registry} answered {detail} to {request} for {reference}")]
    Status {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// Method and path, e.g. `GET /v2/…`.
        request: String,
        /// Status, the registry's message, and how often it was tried.
        detail: String,
    },

    /// Downloaded bytes do not match the digest they were asked for.
    #[error(
        "{what} {digest} of image {reference} from registry {registry} does not match its digest: \
         {found}; nothing was stored in the cache; the registry or something between us and it \
         served corrupt data: try again, and report it to the registry's operator if it persists"
    )]
    DigestMismatch {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// "blob" or "manifest".
        what: &'static str,
        /// Expected digest.
        digest: String,
        /// What was found.
        found: String,
    },

    /// A manifest or index that we cannot use.
    #[error("image {reference} from registry {registry}: {message}")]
    BadManifest {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// What is wrong.
        message: String,
    },

    /// The index has nothing for the requested platform.
    #[error(
        "image {reference} has no manifest for platform {platform}; it has: {available}; \
         build for one of those (--arch) or push an image for {platform}"
    )]
    NoPlatform {
        /// Image reference.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms offered.
        available: String,
    },

    /// A blob larger than the free space of the cache's filesystem: refused
    /// before anything is downloaded.
    #[error(
        "image {reference} from registry {registry}: blob {digest} declares {size} bytes, but \
         only {free} bytes are free on the filesystem of {path}; free some space or use \
         another cache (--cache), or the manifest lies about the size"
    )]
    NoSpace {
        /// Registry host.
        registry: String,
        /// Image reference.
        reference: String,
        /// The blob.
        digest: String,
        /// Bytes still to download.
        size: u64,
        /// Bytes free for an unprivileged user.
        free: u64,
        /// The directory downloads go to.
        path: PathBuf,
    },

    /// Bad options (mirror spec, certificate file, docker config).
    #[error("{0}")]
    Config(String),

    /// A local file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] OciError),
}

impl RegistryError {
    /// Build a [`RegistryError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> RegistryError {
        RegistryError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
