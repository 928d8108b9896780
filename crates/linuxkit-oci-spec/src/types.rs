//! Serde types for the OCI image-spec (and Docker schema 2) JSON documents the
//! cache reads and writes: descriptors, indexes, manifests and image configs,
//! plus the media-type constants. Every struct keeps the fields it does not
//! name in an `extra` map, so reading and writing a document (index.json in
//! particular) loses nothing that upstream or another tool put there.
//!
//! Blobs are never re-serialised from these types: a manifest's or config's
//! digest is that of the bytes as stored, so callers keep the raw bytes
//! alongside the parsed value. Field order follows go-containerregistry's, so
//! the index.json we rewrite looks like the one upstream LinuxKit writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed tar.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip-compressed tar.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd-compressed tar.
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable ("foreign") layer, uncompressed tar (deprecated by the spec).
pub const MEDIA_TYPE_OCI_LAYER_NONDIST: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer, gzip.
pub const MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer, zstd.
pub const MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// Docker schema 2 manifest list (the Docker spelling of an index).
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 image manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer, gzip-compressed tar.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker layer, uncompressed tar (rare, but accepted by the Docker tools).
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker layer, zstd-compressed tar.
pub const MEDIA_TYPE_DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign layer (Windows base layers), gzip.
pub const MEDIA_TYPE_DOCKER_LAYER_FOREIGN: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Annotation holding a descriptor's reference name in an OCI layout's index.json.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation with the full image name; upstream sets it next to the ref name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Is this the media type of an index (OCI index or Docker manifest list)?
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// Is this the media type of an image manifest (OCI or Docker schema 2)?
pub fn is_manifest_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_MANIFEST || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerCompression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl LayerCompression {
    /// The compression of a layer media type, or `None` if it is not a layer type we know.
    pub fn from_media_type(media_type: &str) -> Option<LayerCompression> {
        Some(match media_type {
            MEDIA_TYPE_OCI_LAYER | MEDIA_TYPE_OCI_LAYER_NONDIST | MEDIA_TYPE_DOCKER_LAYER => {
                LayerCompression::None
            }
            MEDIA_TYPE_OCI_LAYER_GZIP
            | MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP
            | MEDIA_TYPE_DOCKER_LAYER_GZIP
            | MEDIA_TYPE_DOCKER_LAYER_FOREIGN => LayerCompression::Gzip,
            MEDIA_TYPE_OCI_LAYER_ZSTD
            | MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD
            | MEDIA_TYPE_DOCKER_LAYER_ZSTD => LayerCompression::Zstd,
            _ => return None,
        })
    }

    /// Guess from the first bytes of a blob (gzip and zstd magic numbers).
    pub fn sniff(head: &[u8]) -> LayerCompression {
        if head.starts_with(&[0x1f, 0x8b]) {
            LayerCompression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            LayerCompression::Zstd
        } else {
            LayerCompression::None
        }
    }

    /// File-name suffix for a layer written into an archive (`tar`, `tar.gz`, `tar.zst`).
    pub fn tar_suffix(self) -> &'static str {
        match self {
            LayerCompression::None => "tar",
            LayerCompression::Gzip => "tar.gz",
            LayerCompression::Zstd => "tar.zst",
        }
    }
}

fn is_empty_map(m: &BTreeMap<String, Value>) -> bool {
    m.is_empty()
}

/// An OCI content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// `sha256:<hex>` digest of the blob.
    pub digest: String,
    /// Free-form annotations; in index.json they carry the image's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform of the manifest this descriptor points to (inside an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    /// Fields we do not interpret (`urls`, `data`, `artifactType`, ...), kept as read.
    #[serde(flatten, default, skip_serializing_if = "is_empty_map")]
    pub extra: BTreeMap<String, Value>,
}

impl Descriptor {
    /// A descriptor with only media type, digest and size set.
    pub fn new(media_type: impl Into<String>, digest: impl Into<String>, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            size,
            digest: digest.into(),
            annotations: None,
            platform: None,
            extra: BTreeMap::new(),
        }
    }

    /// The value of one annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// The `org.opencontainers.image.ref.name` annotation: the name in a cache index.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotation(ANNOTATION_REF_NAME)
    }
}

/// The platform object of an index entry (`os`, `architecture`, `variant`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// CPU architecture in GOARCH spelling (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v8`, `v7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `os.version`, `os.features`, `features`, ... as read.
    #[serde(flatten, default, skip_serializing_if = "is_empty_map")]
    pub extra: BTreeMap<String, Value>,
}

impl PlatformSpec {
    /// `os/arch[/variant]`.
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", self.os, self.architecture, v),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

impl From<&crate::reference::Platform> for PlatformSpec {
    fn from(p: &crate::reference::Platform) -> PlatformSpec {
        PlatformSpec {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            variant: p.variant.clone(),
            extra: BTreeMap::new(),
        }
    }
}

/// An OCI image index (or Docker manifest list); also the shape of index.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json` (optional in the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests (or, in index.json, the named roots).
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations of the index itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `subject`, `artifactType`, ... as read.
    #[serde(flatten, default, skip_serializing_if = "is_empty_map")]
    pub extra: BTreeMap<String, Value>,
}

impl Index {
    /// An empty OCI index, as upstream writes into a new cache.
    pub fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.to_string()),
            manifests: Vec::new(),
            annotations: None,
            extra: BTreeMap::new(),
        }
    }
}

/// An OCI image manifest (or Docker schema 2 manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type, when it states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// Layer blobs, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations of the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `subject`, `artifactType`, ... as read.
    #[serde(flatten, default, skip_serializing_if = "is_empty_map")]
    pub extra: BTreeMap<String, Value>,
}

/// An image config file (OCI `config` blob / Docker image JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// Architecture the image's binaries are for.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Default process settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// Uncompressed layer digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    /// `created`, `history`, `author`, ... as read.
    #[serde(flatten, default, skip_serializing_if = "is_empty_map")]
    pub extra: BTreeMap<String, Value>,
}

/// The `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(default)]
    pub r#type: String,
    /// `sha256:` digests of the uncompressed layers, base first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// The `config` object of an image config: the defaults for running it.
/// Keys are capitalised, as in Docker's and the OCI image spec's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `KEY=value` environment entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments (or the command, without entrypoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `user[:group]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Image labels (`org.mobyproject.config` lives here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `ExposedPorts`, `Volumes`, `StopSignal`, ... as read.
    #[serde(flatten, default, skip_serializing_if = "is_empty_map")]
    pub extra: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trip_keeps_unknown_fields() {
        let json = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7,"digest":"sha256:ab","urls":["http://x"],"platform":{"architecture":"arm","os":"linux","variant":"v7","os.version":"1"},"artifactType":"x"}"#;
        let d: Descriptor = serde_json::from_str(json).unwrap();
        assert_eq!(d.platform.as_ref().unwrap().display(), "linux/arm/v7");
        assert!(d.extra.contains_key("urls"));
        let back: Value = serde_json::to_value(&d).unwrap();
        let orig: Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn config_keys_are_capitalised() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Cmd":null,"WorkingDir":"/w","Labels":{"a":"b"},"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:1"]},"history":[]}"#;
        let c: ImageConfigFile = serde_json::from_str(json).unwrap();
        let cc = c.config.as_ref().unwrap();
        assert_eq!(cc.env.as_deref(), Some(&["A=1".to_string()][..]));
        assert_eq!(cc.cmd, None);
        assert_eq!(cc.working_dir.as_deref(), Some("/w"));
        assert!(cc.extra.contains_key("ExposedPorts"));
        assert_eq!(c.rootfs.unwrap().diff_ids, vec!["sha256:1"]);
        assert!(c.extra.contains_key("history"));
    }

    #[test]
    fn layer_compression() {
        assert_eq!(
            LayerCompression::from_media_type(MEDIA_TYPE_DOCKER_LAYER_GZIP),
            Some(LayerCompression::Gzip)
        );
        assert_eq!(
            LayerCompression::from_media_type(MEDIA_TYPE_OCI_LAYER_ZSTD),
            Some(LayerCompression::Zstd)
        );
        assert_eq!(
            LayerCompression::from_media_type(MEDIA_TYPE_OCI_CONFIG),
            None
        );
        assert_eq!(
            LayerCompression::sniff(&[0x1f, 0x8b, 8]),
            LayerCompression::Gzip
        );
    }
}
