//! The `volumes` section: `containers/volumes/<name>/{lower,tmp,merged}`,
//! where `lower/` is empty, an image's flattened filesystem, or an OCI image
//! layout of the image (image-layout.md §4, yaml.md §11).

use crate::Sink;
use crate::error::BuildError;
use crate::image::{Origin, Role, prefix_dirs, write_image};
use crate::images::Images;
use linuxkit_config::Volume;
use linuxkit_formats::Entry;
use linuxkit_oci::{Index, Platform};
use std::sync::Arc;

/// Emit one volume.
pub fn write_volume(
    images: &Images<'_>,
    index: usize,
    vol: &Volume,
    mtime: i64,
    sink: &mut dyn Sink,
) -> Result<(), BuildError> {
    let base = format!("containers/volumes/{}", vol.name);
    let location: Arc<str> = Arc::from(format!("volume[{index}]"));
    if vol.image.is_empty() {
        let origin = Origin {
            source: Arc::from("empty"),
            location: location.clone(),
            mtime,
        };
        prefix_dirs(&format!("{base}/lower/"), &origin, sink)?;
    } else {
        tracing::info!("Process volume image: {}", vol.name);
        let img = images.get(&vol.image)?;
        let origin = Origin {
            source: img.canonical.clone(),
            location: location.clone(),
            mtime,
        };
        if vol.format == "oci" {
            prefix_dirs(&format!("{base}/lower/"), &origin, sink)?;
            write_oci_layout(images, &img, vol, &format!("{base}/lower/"), &origin, sink)?;
        } else {
            let entries = images.entries(&img)?;
            write_image(
                &entries,
                &format!("{base}/lower/"),
                Role::Root,
                &origin,
                sink,
                &mut |_, _| {},
            )?;
        }
    }
    let generated = Origin {
        source: Arc::from("linuxkit.volumes"),
        location,
        mtime,
    };
    sink.put(generated.dir(format!("{base}/tmp/")))?;
    sink.put(generated.dir(format!("{base}/merged/")))?;
    Ok(())
}

fn write_oci_layout(
    images: &Images<'_>,
    img: &crate::images::Loaded,
    vol: &Volume,
    prefix: &str,
    origin: &Origin,
    sink: &mut dyn Sink,
) -> Result<(), BuildError> {
    let cache = images.cache();
    let file = |path: String, data: Vec<u8>| {
        let mut e = Entry::file(path, 0o644, 0, data);
        e.source = origin.source.clone();
        e.location = origin.location.clone();
        e
    };
    let dir = |path: String| {
        let mut e = Entry::dir(path, 0o755, 0);
        e.source = origin.source.clone();
        e.location = origin.location.clone();
        e
    };
    let blob_err = |e| BuildError::Image {
        image: vol.image.clone(),
        source: Box::new(e),
    };
    sink.put(file(
        format!("{prefix}oci-layout"),
        b"{\n    \"imageLayoutVersion\": \"1.0.0\"\n}".to_vec(),
    ))?;
    // Directory names with the trailing `/`, as upstream writes them.
    sink.put(dir(format!("{prefix}blobs/")))?;
    sink.put(dir(format!("{prefix}blobs/sha256/")))?;
    let blob_path = |d: &str| format!("{prefix}blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let root = &img.resolved.root;
    let mut manifests: Vec<(String, u64)> = Vec::new();
    if let Ok(index) = serde_json::from_slice::<Index>(&img.resolved.root_bytes)
        && !index.manifests.is_empty()
    {
        let wanted: Vec<Platform> = vol
            .platforms
            .iter()
            .filter_map(|p| Platform::parse(p))
            .collect();
        for m in &index.manifests {
            let Some(p) = &m.platform else { continue };
            let ok = wanted.is_empty()
                || wanted.iter().any(|w| {
                    w.os == p.os
                        && w.architecture == p.architecture
                        && (w.variant.is_none() || w.variant == p.variant)
                });
            if ok && p.os != "unknown" {
                manifests.push((m.digest.clone(), m.size));
            }
        }
    } else {
        manifests.push((
            img.resolved.manifest_digest.clone(),
            img.resolved.manifest_bytes.len() as u64,
        ));
    }
    for (digest, size) in &manifests {
        let bytes = cache.read_blob(digest, Some(*size)).map_err(blob_err)?;
        let manifest: linuxkit_oci::Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            BuildError::Other(format!(
                "image {}: manifest {digest} is not valid JSON: {e}",
                vol.image
            ))
        })?;
        let cfg = cache
            .read_blob(&manifest.config.digest, Some(manifest.config.size))
            .map_err(blob_err)?;
        sink.put(file(blob_path(&manifest.config.digest), cfg))?;
        for l in &manifest.layers {
            let data = cache.read_blob(&l.digest, Some(l.size)).map_err(blob_err)?;
            sink.put(file(blob_path(&l.digest), data))?;
        }
        sink.put(file(blob_path(digest), bytes))?;
    }
    if root.digest != img.resolved.manifest_digest
        || manifests.len() != 1
        || manifests[0].0 != root.digest
    {
        sink.put(file(
            blob_path(&root.digest),
            img.resolved.root_bytes.clone(),
        ))?;
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": root.media_type,
            "digest": root.digest,
            "size": root.size,
            "annotations": {"org.opencontainers.image.ref.name": img.canonical.as_ref()}
        }]
    });
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&index, &mut ser).map_err(|e| BuildError::Other(e.to_string()))?;
    sink.put(file(format!("{prefix}index.json"), out))?;
    Ok(())
}
