//! The merged SBOM: SPDX documents attached to images as BuildKit
//! attestations are merged into `sbom.spdx.json`, with file names under the
//! directory each image was extracted to, and the document is reproducible.

mod common;

use common::*;
use linuxkit_oci::{Cache, Descriptor};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn put(cache: &Cache, media_type: &str, data: &[u8]) -> Descriptor {
    let digest = cache.write_blob(data).unwrap();
    Descriptor::new(media_type, &digest, data.len() as u64)
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// [`put`] of `v` serialized as JSON.
fn put_json(cache: &Cache, media_type: &str, v: &Value) -> Descriptor {
    put(cache, media_type, &json_bytes(v))
}

/// Add `docker.io/sbomtest/img:1`: one layer with `bin/busybox`, and an
/// attestation manifest whose in-toto layer carries an SPDX document.
fn add_image_with_sbom(cache: &Cache) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("bin/busybox").unwrap();
    h.set_size(4);
    h.set_mode(0o755);
    h.set_cksum();
    b.append(&h, &b"\x7fELF"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let layer_desc = put(cache, "application/vnd.oci.image.layer.v1.tar", &layer);
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}});
    let config_desc = put_json(cache, "application/vnd.oci.image.config.v1+json", &config);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc, "layers": [layer_desc]});
    let manifest_desc = put_json(
        cache,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );

    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "pkg:docker/sbomtest/img@1", "digest": {"sha256": manifest_desc.digest.trim_start_matches("sha256:")}}],
        "predicate": {
            "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "img",
            "packages": [{"name": "busybox", "SPDXID": "SPDXRef-Package-busybox", "versionInfo": "1.36.1"}],
            "files": [{"fileName": "/bin/busybox", "SPDXID": "SPDXRef-File-busybox"}],
            "relationships": [{"spdxElementId": "SPDXRef-Package-busybox", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-File-busybox"}]
        }
    });
    let stmt = json_bytes(&statement);
    let mut att_layer = put(cache, "application/vnd.in-toto+json", &stmt);
    att_layer.annotations = Some(BTreeMap::from([(
        "in-toto.io/predicate-type".to_string(),
        "https://spdx.dev/Document".to_string(),
    )]));
    let att_config = json!({"architecture": "unknown", "os": "unknown", "rootfs": {"type": "layers", "diff_ids": [sha(&stmt)]}});
    let att_config_desc = put_json(
        cache,
        "application/vnd.oci.image.config.v1+json",
        &att_config,
    );
    let att_manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": att_config_desc, "layers": [att_layer]});
    let att_desc = put_json(
        cache,
        "application/vnd.oci.image.manifest.v1+json",
        &att_manifest,
    );

    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": manifest_desc.media_type, "digest": manifest_desc.digest, "size": manifest_desc.size,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": att_desc.media_type, "digest": att_desc.digest, "size": att_desc.size,
         "platform": {"architecture": "unknown", "os": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": manifest_desc.digest}}
    ]});
    let index_desc = put_json(cache, "application/vnd.oci.image.index.v1+json", &index);
    cache
        .set_name("docker.io/sbomtest/img:1", index_desc)
        .unwrap();
}

#[test]
fn attested_sboms_are_merged_under_the_extraction_directory() {
    let t = tempfile::tempdir().unwrap();
    let cache_dir = fresh_cache(t.path());
    add_image_with_sbom(&Cache::open(&cache_dir).unwrap());
    std::fs::write(
        t.path().join("cfg.yml"),
        "onboot:\n  - name: s\n    image: sbomtest/img:1\nservices:\n  - name: again\n    image: sbomtest/img:1\n  - name: plain\n    image: alpine:3.21\n",
    )
    .unwrap();
    let c = cache_dir.to_str().unwrap();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "build", "--format", "tar", "--dir", out, "--name", "t", "--cache", c,
        ];
        args.extend(extra);
        args.push("cfg.yml");
        ok(&linuxkit(t.path(), &args, &[]));
    };
    let names = |out: &str| -> Vec<String> {
        read_tar(&std::fs::read(t.path().join(out).join("t.tar")).unwrap())
            .into_iter()
            .map(|e| e.0)
            .collect()
    };
    for out in ["a", "b"] {
        build(out, &[]);
    }
    let a = std::fs::read(t.path().join("a/t.tar")).unwrap();
    assert_eq!(
        a,
        std::fs::read(t.path().join("b/t.tar")).unwrap(),
        "SBOM builds are reproducible"
    );
    let entries = read_tar(&a);
    let sbom = entries
        .iter()
        .find(|e| e.0 == "sbom.spdx.json")
        .expect("sbom.spdx.json");
    let doc: Value = serde_json::from_slice(&sbom.3).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2017-04-18T16:30:00Z");
    assert!(
        doc["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with("https://github.com/linuxkit/linuxkit/sbom-")
    );
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(
        packages.len(),
        1,
        "the image is listed once although two containers use it: {doc}"
    );
    assert_eq!(packages[0]["name"], "busybox");
    let files = doc["files"].as_array().unwrap();
    assert_eq!(
        files[0]["fileName"],
        "/containers/onboot/000-s/lower/bin/busybox"
    );
    assert_eq!(doc["relationships"].as_array().unwrap().len(), 1);

    // --sbom-output renames it; --no-sbom drops it.
    build("c", &["--sbom-output", "etc/sbom.json"]);
    assert!(names("c").contains(&"etc/sbom.json".to_string()));
    build("d", &["--no-sbom"]);
    assert!(!names("d").iter().any(|n| n.contains("sbom")));
}
