//! The merged SBOM: SPDX 2.3 documents attached to the images as BuildKit
//! attestations are merged into one document, with file names prefixed by
//! where each image was extracted. Unlike upstream, the document namespace
//! is derived from the content (no random UUID), so builds stay reproducible.

use crate::error::BuildError;
use crate::images::Images;
use linuxkit_formats::Entry;
use linuxkit_oci::Index;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Collects SPDX documents while the build runs.
#[derive(Default)]
pub struct Collector {
    packages: Vec<Value>,
    files: Vec<Value>,
    relationships: Vec<Value>,
}

fn prefixed(prefix: &str, name: &str) -> String {
    let n = name.trim_start_matches("./").trim_start_matches('/');
    if prefix.is_empty() {
        format!("/{n}")
    } else {
        format!("/{prefix}/{n}")
    }
}

pub use linuxkit_formats::time::rfc3339;

/// Where the SBOM goes in the image: `--sbom-output` without its leading
/// `/`; a `..` component is refused (it would escape the root).
pub fn image_path(opts: &crate::SbomOptions) -> Result<String, BuildError> {
    linuxkit_config::image_path(&opts.path)
        .map_err(|e| BuildError::Other(format!("--sbom-output: {e}")))
}

impl Collector {
    /// Add the SBOMs attached to `written` (if any), prefixing paths.
    pub fn add(
        &mut self,
        images: &Images<'_>,
        written: &str,
        prefix: &str,
    ) -> Result<(), BuildError> {
        let img = images.get(written)?;
        let Ok(index) = serde_json::from_slice::<Index>(&img.resolved.root_bytes) else {
            return Ok(());
        };
        let cache = images.cache();
        for m in &index.manifests {
            let ann = m.annotations.clone().unwrap_or_default();
            if ann.get("vnd.docker.reference.type").map(String::as_str)
                != Some("attestation-manifest")
                || ann.get("vnd.docker.reference.digest") != Some(&img.resolved.manifest_digest)
            {
                continue;
            }
            // Attestations are optional: a missing blob is skipped, a corrupt one is an error.
            if !cache.has_blob(&m.digest) {
                continue;
            }
            let err = |e| BuildError::Image {
                image: written.to_string(),
                source: Box::new(e),
            };
            let bytes = cache.read_blob(&m.digest, Some(m.size)).map_err(err)?;
            let Ok(att) = serde_json::from_slice::<linuxkit_oci::Manifest>(&bytes) else {
                continue;
            };
            for l in &att.layers {
                let la = l.annotations.clone().unwrap_or_default();
                if l.media_type != "application/vnd.in-toto+json"
                    || la.get("in-toto.io/predicate-type").map(String::as_str)
                        != Some("https://spdx.dev/Document")
                    || !cache.has_blob(&l.digest)
                {
                    continue;
                }
                let data = cache.read_blob(&l.digest, Some(l.size)).map_err(err)?;
                let Ok(stmt) = serde_json::from_slice::<Value>(&data) else {
                    continue;
                };
                let Some(pred) = stmt.get("predicate") else {
                    continue;
                };
                self.merge(pred, prefix);
            }
        }
        Ok(())
    }

    fn merge(&mut self, doc: &Value, prefix: &str) {
        let packages = with_prefix(doc, "packages", "packageFileName", prefix);
        self.packages.extend(packages);
        self.files
            .extend(with_prefix(doc, "files", "fileName", prefix));
        if let Some(rels) = doc.get("relationships").and_then(Value::as_array) {
            self.relationships.extend(rels.iter().cloned());
        }
    }

    /// The merged document as the `sbom.spdx.json` entry.
    pub fn finish(self, opts: &crate::SbomOptions, mtime: i64) -> Result<Entry, BuildError> {
        let created = if opts.current_time {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(mtime);
            rfc3339(now)
        } else {
            rfc3339(mtime)
        };
        let mut doc = Map::new();
        doc.insert("spdxVersion".into(), json!("SPDX-2.3"));
        doc.insert("dataLicense".into(), json!("CC0-1.0"));
        doc.insert("SPDXID".into(), json!("SPDXRef-DOCUMENT"));
        doc.insert("name".into(), json!("sbom"));
        doc.insert("documentNamespace".into(), json!(""));
        doc.insert(
            "creationInfo".into(),
            json!({"licenseListVersion": "3.20", "creators": ["Organization: LinuxKit", "Tool: linuxkit"], "created": created}),
        );
        doc.insert("packages".into(), Value::Array(self.packages));
        doc.insert("files".into(), Value::Array(self.files));
        doc.insert("relationships".into(), Value::Array(self.relationships));
        let body = serde_json::to_vec(&Value::Object(doc.clone()))
            .map_err(|e| BuildError::Other(e.to_string()))?;
        let h = Sha256::digest(&body);
        let mut u = [0u8; 16];
        u.copy_from_slice(&h[..16]);
        u[6] = (u[6] & 0x0f) | 0x50; // version 5 (name-based)
        u[8] = (u[8] & 0x3f) | 0x80; // RFC 4122 variant
        let x = hex::encode(u);
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &x[0..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..32]
        );
        doc.insert(
            "documentNamespace".into(),
            json!(format!("https://github.com/linuxkit/linuxkit/sbom-{uuid}")),
        );
        let mut out = serde_json::to_vec_pretty(&Value::Object(doc))
            .map_err(|e| BuildError::Other(e.to_string()))?;
        out.push(b'\n');
        Ok(Entry::file(image_path(opts)?, 0o644, mtime, out))
    }
}

/// The items of `doc`'s array `list`, each with its string `field` (a path)
/// put under `prefix`.
fn with_prefix(doc: &Value, list: &str, field: &str, prefix: &str) -> Vec<Value> {
    let items = doc
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    items
        .map(|item| {
            let mut item = item.clone();
            if let Some(Value::String(n)) = item.get(field) {
                let v = prefixed(prefix, n);
                item[field] = Value::String(v);
            }
            item
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_put_under_the_prefix_and_other_fields_kept() {
        let doc = json!({
            "packages": [{"name": "a", "packageFileName": "./x/a.deb"}, {"name": "b"}],
            "files": [{"fileName": "/bin/busybox", "SPDXID": "f"}],
        });
        assert_eq!(
            with_prefix(
                &doc,
                "packages",
                "packageFileName",
                "containers/onboot/000-s"
            ),
            vec![
                json!({"name": "a", "packageFileName": "/containers/onboot/000-s/x/a.deb"}),
                json!({"name": "b"}),
            ]
        );
        assert_eq!(
            with_prefix(&doc, "files", "fileName", ""),
            vec![json!({"fileName": "/bin/busybox", "SPDXID": "f"})]
        );
        assert!(with_prefix(&doc, "relationships", "x", "p").is_empty());
    }
}
