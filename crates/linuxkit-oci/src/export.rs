//! `cache export`: write one cached image as a tar archive, either an OCI
//! layout (importable by `linuxkit cache import`, upstream's, skopeo, ...) or
//! a `docker load`-able archive (Docker image spec v1.2: `manifest.json`,
//! config and layer files). Archives are deterministic: entries sorted by
//! path, mtime 0, uid/gid 0, fixed modes. Blobs are streamed from the cache
//! through the verifying reader, so a corrupt blob fails the export instead of
//! being copied.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::Serialize;

use crate::blob;
use crate::cache::{Cache, OCI_LAYOUT, ResolvedImage, to_json_3};
use crate::error::OciError;
use crate::reference::{Platform, Reference};
use crate::types::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Index, LayerCompression,
};

/// Archive format of `cache export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// An OCI image layout tarball (the default, as upstream).
    #[default]
    Oci,
    /// A `docker save`-style archive that `docker load` accepts.
    Docker,
}

/// Content of one archive entry.
enum Source {
    Bytes(Vec<u8>),
    Blob(Descriptor),
    Dir,
}

/// One entry of the `manifest.json` of a docker archive.
#[derive(Serialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn tar_header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h
}

/// The tags `docker load` should apply: the name itself when it has a tag,
/// `:latest` added when it has neither tag nor digest, none for digest-only.
fn repo_tags(name: &str) -> Vec<String> {
    match Reference::parse(name) {
        Ok(r) => match (&r.tag, &r.digest) {
            (Some(t), _) => vec![format!("{}:{t}", r.locator())],
            (None, None) => vec![format!("{}:latest", r.locator())],
            (None, Some(_)) => Vec::new(),
        },
        Err(_) => vec![name.to_string()],
    }
}

impl Cache {
    /// `cache export NAME`: write the image `name`, resolved for `platform`,
    /// to `out`. [`ExportFormat::Oci`] writes the root blob unchanged (an
    /// index keeps listing every platform, as upstream's export does) with
    /// the selected platform's manifest, config and layers, and an index.json
    /// naming it `ref_name` (default: `name`) in both name annotations.
    /// [`ExportFormat::Docker`] writes `manifest.json`, the config and the
    /// layers of the selected platform, tagged `ref_name`/`name`.
    pub fn export(
        &self,
        name: &str,
        platform: &Platform,
        format: ExportFormat,
        ref_name: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), OciError> {
        let root = self.lookup(name)?.ok_or_else(|| OciError::NoSuchName {
            name: name.to_string(),
            cache: self.root().to_path_buf(),
        })?;
        let img = self
            .resolve_descriptor(name, root, platform)
            .map_err(|e| e.with_image(name))?;
        let out_name = ref_name.unwrap_or(name);
        let entries = match format {
            ExportFormat::Oci => oci_entries(&img, out_name)?,
            ExportFormat::Docker => docker_entries(&img, out_name)?,
        };
        self.write_tar(name, entries, out)
    }

    fn write_tar(
        &self,
        name: &str,
        entries: BTreeMap<String, Source>,
        out: &mut dyn Write,
    ) -> Result<(), OciError> {
        let fail = |source: io::Error| {
            // A verification failure inside a blob reader is the real story.
            match blob::read_error(source, self.root()) {
                OciError::Io { source, .. } => OciError::Export {
                    image: name.to_string(),
                    cache: self.root().to_path_buf(),
                    source,
                },
                other => other.with_image(name),
            }
        };
        let mut tar = tar::Builder::new(out);
        for (path, source) in entries {
            match source {
                Source::Dir => {
                    let mut h = tar_header(0, true);
                    tar.append_data(&mut h, &path, io::empty()).map_err(fail)?;
                }
                Source::Bytes(b) => {
                    let mut h = tar_header(b.len() as u64, false);
                    tar.append_data(&mut h, &path, &b[..]).map_err(fail)?;
                }
                Source::Blob(d) => {
                    let reader = self
                        .open_blob(&d.digest, Some(d.size))
                        .map_err(|e| e.with_image(name))?;
                    let mut h = tar_header(d.size, false);
                    // `take` guards the archive against a file that grew: the
                    // verifying reader fails first, but never write past the header.
                    tar.append_data(&mut h, &path, reader.take(d.size + 1))
                        .map_err(fail)?;
                }
            }
        }
        let out = tar.into_inner().map_err(fail)?;
        out.flush().map_err(fail)?;
        Ok(())
    }
}

fn blob_entry(d: &Descriptor) -> Result<(String, Source), OciError> {
    let hex = blob::digest_hex(&d.digest)?;
    Ok((format!("blobs/sha256/{hex}"), Source::Blob(d.clone())))
}

fn oci_entries(img: &ResolvedImage, out_name: &str) -> Result<BTreeMap<String, Source>, OciError> {
    let mut entries = BTreeMap::new();
    entries.insert("blobs".to_string(), Source::Dir);
    entries.insert("blobs/sha256".to_string(), Source::Dir);
    let small = [
        (&img.root.digest, &img.root_bytes),
        (&img.manifest_digest, &img.manifest_bytes),
        (&img.manifest.config.digest, &img.config_bytes),
    ];
    for (digest, bytes) in small {
        let hex = blob::digest_hex(digest)?;
        entries.insert(format!("blobs/sha256/{hex}"), Source::Bytes(bytes.clone()));
    }
    for layer in &img.manifest.layers {
        let (path, src) = blob_entry(layer)?;
        entries.entry(path).or_insert(src);
    }
    let mut desc = img.root.clone();
    let ann = desc.annotations.get_or_insert_with(BTreeMap::new);
    ann.insert(ANNOTATION_REF_NAME.to_string(), out_name.to_string());
    ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), out_name.to_string());
    let mut index = Index::empty();
    index.manifests.push(desc);
    entries.insert("index.json".to_string(), Source::Bytes(to_json_3(&index)));
    entries.insert(
        "oci-layout".to_string(),
        Source::Bytes(OCI_LAYOUT.as_bytes().to_vec()),
    );
    Ok(entries)
}

fn docker_entries(
    img: &ResolvedImage,
    out_name: &str,
) -> Result<BTreeMap<String, Source>, OciError> {
    let mut entries = BTreeMap::new();
    let config_name = format!("{}.json", blob::digest_hex(&img.manifest.config.digest)?);
    entries.insert(config_name.clone(), Source::Bytes(img.config_bytes.clone()));
    let mut layers = Vec::new();
    for layer in &img.manifest.layers {
        let hex = blob::digest_hex(&layer.digest)?;
        let compression =
            LayerCompression::from_media_type(&layer.media_type).unwrap_or(LayerCompression::Gzip);
        let file = format!("{hex}.{}", compression.tar_suffix());
        entries
            .entry(file.clone())
            .or_insert(Source::Blob(layer.clone()));
        layers.push(file);
    }
    let manifest = vec![DockerManifestEntry {
        config: config_name,
        repo_tags: repo_tags(out_name),
        layers,
    }];
    let mut bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    bytes.push(b'\n');
    entries.insert("manifest.json".to_string(), Source::Bytes(bytes));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_tags() {
        assert_eq!(
            repo_tags("docker.io/library/alpine:3.21"),
            vec!["docker.io/library/alpine:3.21"]
        );
        assert_eq!(
            repo_tags("docker.io/library/alpine"),
            vec!["docker.io/library/alpine:latest"]
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(repo_tags(&format!("docker.io/library/alpine@{d}")).is_empty());
    }
}
