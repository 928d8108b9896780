//! Writing a package image into the cache: each layer is a deterministic tar
//! (no provenance records, fixed times) compressed with deterministic gzip;
//! config, manifest and a one-platform index follow, all serialised with
//! fixed field order, so the same contents always give the same digests.
//! Nothing is written until every layer is ready, so a failed build leaves
//! the cache as it was.

use crate::error::PkgError;
use linuxkit_formats::Entry;
use linuxkit_formats::gzip::gzip_parallel;
use linuxkit_formats::tar::TarWriter;
use linuxkit_oci::{Cache, Descriptor};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The image config fields a package sets.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    pub cmd: Option<Vec<String>>,
    /// Env.
    pub env: Option<Vec<String>>,
    /// WorkingDir.
    pub workdir: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Labels (including `org.mobyproject.config`).
    pub labels: BTreeMap<String, String>,
}

/// A built, not yet stored, image.
pub struct BuiltImage {
    blobs: Vec<(String, Vec<u8>)>,
    /// Descriptor of the single-platform manifest.
    pub manifest: Descriptor,
    /// Descriptor of the index.
    pub index: Descriptor,
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Serialise layers and metadata. `layers` are lists of entries (already
/// with final paths, modes and times).
pub fn build_image(
    layers: &[Vec<Entry>],
    config: &ImageConfig,
    annotations: &BTreeMap<String, String>,
    arch: &str,
    created: &str,
) -> Result<BuiltImage, PkgError> {
    let mut blobs = Vec::new();
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for entries in layers {
        let mut w = TarWriter::without_provenance(Vec::new());
        for e in entries {
            w.write_entry(e).map_err(|x| PkgError::Io {
                context: format!("cannot write layer entry {}", e.path),
                source: x,
            })?;
        }
        let tar = w.finish().map_err(|x| PkgError::Io {
            context: "cannot write layer".into(),
            source: x,
        })?;
        diff_ids.push(sha(&tar));
        let gz = gzip_parallel(&tar, 6);
        let digest = sha(&gz);
        layer_descs.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": gz.len(),
        }));
        blobs.push((digest, gz));
    }
    let mut cfg = Map::new();
    if let Some(v) = &config.user {
        cfg.insert("User".into(), json!(v));
    }
    if let Some(v) = &config.env {
        cfg.insert("Env".into(), json!(v));
    }
    if let Some(v) = &config.entrypoint {
        cfg.insert("Entrypoint".into(), json!(v));
    }
    if let Some(v) = &config.cmd {
        cfg.insert("Cmd".into(), json!(v));
    }
    if let Some(v) = &config.workdir {
        cfg.insert("WorkingDir".into(), json!(v));
    }
    if !config.labels.is_empty() {
        cfg.insert("Labels".into(), json!(config.labels));
    }
    let config_json = pretty(&json!({
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": Value::Object(cfg),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }));
    let config_digest = sha(&config_json);
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_json.len(),
        },
        "layers": layer_descs,
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    blobs.push((config_digest, config_json));
    let manifest_json = pretty(&manifest);
    let manifest_digest = sha(&manifest_json);
    let manifest_desc = Descriptor::new(
        "application/vnd.oci.image.manifest.v1+json",
        &manifest_digest,
        manifest_json.len() as u64,
    );
    blobs.push((manifest_digest.clone(), manifest_json.clone()));
    let index_json = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_json.len(),
            "platform": {"architecture": arch, "os": "linux"},
        }],
    }));
    let index_digest = sha(&index_json);
    let index_desc = Descriptor::new(
        "application/vnd.oci.image.index.v1+json",
        &index_digest,
        index_json.len() as u64,
    );
    blobs.push((index_digest, index_json));
    Ok(BuiltImage {
        blobs,
        manifest: manifest_desc,
        index: index_desc,
    })
}

impl BuiltImage {
    /// Store the blobs and name the image: `<tag>-<arch>` for the manifest
    /// and `<tag>` for the index (upstream's naming).
    pub fn store(
        &self,
        cache: &Cache,
        tag: &str,
        arch: &str,
        package: &Path,
    ) -> Result<(), PkgError> {
        let err = |e| PkgError::Cache {
            package: package.to_path_buf(),
            source: Box::new(e),
        };
        for (digest, data) in &self.blobs {
            if !cache.has_blob(digest) {
                let written = cache.write_blob(data).map_err(err)?;
                debug_assert_eq!(&written, digest);
            }
        }
        cache
            .set_names(vec![
                (format!("{tag}-{arch}"), self.manifest.clone()),
                (tag.to_string(), self.index.clone()),
            ])
            .map_err(err)
    }
}
