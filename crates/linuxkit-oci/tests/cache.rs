//! Cache tests on real files: the conformance image corpus
//! (`shared/conformance/images`), temporary cache directories, real tar
//! archives, child processes for locking, and skopeo (when installed) as an
//! independent reader of what we write.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use linuxkit_oci::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Cache, Descriptor, ExportFormat, Index,
    MEDIA_TYPE_OCI_MANIFEST, OciError, Platform,
};

const ALPINE: &str = "docker.io/library/alpine:3.21";

fn images_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/images");
    assert!(
        p.join("images-oci.tar").is_file(),
        "test data missing: {} (the shared/ directory must sit beside the repository)",
        p.display()
    );
    p
}

fn tarball() -> PathBuf {
    images_dir().join("images-oci.tar")
}

fn amd64() -> Platform {
    Platform::linux("amd64")
}

/// A fresh cache with the whole corpus imported.
fn imported() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path().join("cache")).unwrap();
    let mut f = fs::File::open(tarball()).unwrap();
    cache.import(&mut f).unwrap();
    (dir, cache)
}

/// The `format` export of the amd64 image of [`ALPINE`] from `cache`.
fn export_amd64(cache: &Cache, format: ExportFormat) -> Vec<u8> {
    let mut tar = Vec::new();
    cache
        .export(ALPINE, &amd64(), format, None, &mut tar)
        .unwrap();
    tar
}

fn blob_files(cache: &Cache) -> BTreeSet<String> {
    fs::read_dir(cache.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Names of the entries of a tar archive, with their contents.
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(bytes);
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(path, data);
    }
    out
}

#[test]
fn open_empty_dir_creates_valid_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new/cache");
    let cache = Cache::open(&root).unwrap();
    assert_eq!(cache.root(), root);
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        "{\n    \"imageLayoutVersion\": \"1.0.0\"\n}"
    );
    let index_text = fs::read_to_string(root.join("index.json")).unwrap();
    assert!(
        index_text.starts_with("{\n   \"schemaVersion\": 2,\n   \"mediaType\""),
        "{index_text}"
    );
    let index: Index = serde_json::from_str(&index_text).unwrap();
    assert_eq!(index.schema_version, 2);
    assert!(index.manifests.is_empty());
    assert!(root.join("blobs/sha256").is_dir());
    assert!(cache.list().unwrap().is_empty());
    // Reopening changes nothing.
    Cache::open(&root).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("index.json")).unwrap(),
        index_text
    );
    let derived = cache.derived_dir().unwrap();
    assert_eq!(derived, root.join("linuxkit-rs"));
    assert!(derived.is_dir());
}

#[test]
fn import_corpus_gives_76_names_that_all_resolve() {
    let (_d, cache) = imported();
    let names: Vec<String> = cache.list().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 76);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "list is sorted by name");
    // The same names as the reference cache directory.
    let reference: Index =
        serde_json::from_slice(&fs::read(images_dir().join("cache/index.json")).unwrap()).unwrap();
    let want: BTreeSet<String> = reference
        .manifests
        .iter()
        .map(|d| d.ref_name().unwrap().to_string())
        .collect();
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), want);
    for (name, desc) in cache.list().unwrap() {
        assert_eq!(
            desc.annotation(ANNOTATION_CONTAINERD_NAME),
            Some(name.as_str())
        );
        let img = cache.resolve(&name, &amd64()).unwrap();
        for layer in &img.manifest.layers {
            let mut r = cache.open_blob(&layer.digest, Some(layer.size)).unwrap();
            std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        }
    }
    // Importing again is idempotent.
    let again = cache
        .import(&mut fs::File::open(tarball()).unwrap())
        .unwrap();
    assert_eq!(again.len(), 76);
    assert_eq!(cache.list().unwrap().len(), 76);
}

#[test]
fn import_gzip_compressed_tarball() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&fs::read(tarball()).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let names = cache.import(&mut &gz[..]).unwrap();
    assert_eq!(names.len(), 76);
    assert!(cache.resolve(ALPINE, &amd64()).is_ok());
}

#[test]
fn resolve_alpine_for_amd64() {
    let (_d, cache) = imported();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();
    assert_eq!(img.name, ALPINE);
    assert!(img.root_is_index());
    assert_eq!(img.config.os, "linux");
    assert_eq!(img.config.architecture, "amd64");
    let env = img.config.config.as_ref().unwrap().env.as_ref().unwrap();
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert_eq!(img.manifest.layers.len(), 2);
    assert_eq!(
        img.manifest_digest,
        linuxkit_oci::blob::sha256_digest(&img.manifest_bytes)
    );
    assert_eq!(
        img.manifest.config.digest,
        linuxkit_oci::blob::sha256_digest(&img.config_bytes)
    );
}

#[test]
fn resolve_errors_name_image_platform_and_remedy() {
    let (_d, cache) = imported();
    let e = cache
        .resolve(ALPINE, &Platform::linux("arm64"))
        .unwrap_err();
    assert!(matches!(e, OciError::NoPlatform { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(ALPINE) && msg.contains("linux/arm64") && msg.contains("linux/amd64"),
        "{msg}"
    );

    let e = cache
        .resolve("docker.io/library/nope:1", &amd64())
        .unwrap_err();
    assert!(matches!(e, OciError::NotFound { .. }));
    let msg = e.to_string();
    assert!(msg.contains("docker.io/library/nope:1"), "{msg}");
    assert!(
        msg.contains("linuxkit cache pull docker.io/library/nope:1"),
        "{msg}"
    );
    assert!(msg.contains("linuxkit cache import FILE.tar"), "{msg}");
    assert!(msg.contains(&cache.root().display().to_string()), "{msg}");

    // A variant is checked only when requested.
    let mut v = amd64();
    v.variant = Some("v3".into());
    assert!(matches!(
        cache.resolve(ALPINE, &v),
        Err(OciError::NoPlatform { .. })
    ));
}

#[test]
fn single_manifest_root_checks_config_platform() {
    let (_d, cache) = imported();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();
    let desc = Descriptor::new(
        MEDIA_TYPE_OCI_MANIFEST,
        img.manifest_digest.clone(),
        img.manifest_bytes.len() as u64,
    );
    cache.set_name("example.com/single:1", desc).unwrap();
    let single = cache.resolve("example.com/single:1", &amd64()).unwrap();
    assert!(!single.root_is_index());
    assert_eq!(single.config_bytes, img.config_bytes);
    let e = cache
        .resolve("example.com/single:1", &Platform::linux("arm64"))
        .unwrap_err();
    assert!(e.to_string().contains("linux/amd64"), "{e}");
}

#[test]
fn altered_blobs_are_digest_mismatches() {
    let (_d, cache) = imported();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();

    // A config with one byte changed (same size).
    let cfg = img.manifest.config.digest.clone();
    let path = cache.blob_path(&cfg);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&path, &bytes).unwrap();
    let e = cache.resolve(ALPINE, &amd64()).unwrap_err();
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&cfg) && msg.contains(ALPINE), "{msg}");
    let e = cache.read_blob(&cfg, None).unwrap_err();
    assert!(e.to_string().contains(&cfg));

    // A layer, read through the streaming reader.
    let layer = img.manifest.layers[0].clone();
    let path = cache.blob_path(&layer.digest);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let mut r = cache.open_blob(&layer.digest, Some(layer.size)).unwrap();
    let e = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().contains(&layer.digest), "{e}");

    // A truncated layer: the size check names it too.
    fs::write(&path, &bytes[..10]).unwrap();
    let e = cache
        .read_blob(&layer.digest, Some(layer.size))
        .unwrap_err();
    assert!(
        e.to_string().contains(&layer.digest) && e.to_string().contains("bytes"),
        "{e}"
    );

    // A missing layer fails resolution, naming image and digest.
    fs::remove_file(&path).unwrap();
    fs::write(cache.blob_path(&cfg), &img.config_bytes).unwrap();
    let e = cache.resolve(ALPINE, &amd64()).unwrap_err();
    assert!(matches!(e, OciError::BlobMissing { .. }), "{e:?}");
    assert!(e.to_string().contains(&layer.digest) && e.to_string().contains(ALPINE));
}

/// Rewrite the corpus tarball with one byte changed in the blob `victim`.
fn corrupted_tarball(victim: &str) -> Vec<u8> {
    let input = fs::read(tarball()).unwrap();
    let mut a = tar::Archive::new(&input[..]);
    let mut out = tar::Builder::new(Vec::new());
    let mut hit = false;
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if path.to_string_lossy().ends_with(victim) {
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
            hit = true;
        }
        let mut h = e.header().clone();
        out.append_data(&mut h, &path, &data[..]).unwrap();
    }
    assert!(hit, "victim blob {victim} not in the tarball");
    out.into_inner().unwrap()
}

#[test]
fn import_with_corrupted_blob_leaves_cache_untouched() {
    // The victim: the first layer of alpine:3.21.
    let (_d, full) = imported();
    let victim = full.resolve(ALPINE, &amd64()).unwrap().manifest.layers[0]
        .digest
        .clone();
    let hex = victim.strip_prefix("sha256:").unwrap().to_string();
    let bad = corrupted_tarball(&hex);

    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    // Something already in the cache must survive unchanged.
    let kept = cache.write_blob(b"already here").unwrap();
    cache
        .set_name(
            "example.com/kept:1",
            Descriptor::new("application/octet-stream", kept.clone(), 12),
        )
        .unwrap();
    let index_before = fs::read(dir.path().join("index.json")).unwrap();
    let blobs_before = blob_files(&cache);

    let e = cache.import(&mut &bad[..]).unwrap_err();
    assert!(matches!(e, OciError::BadArchive { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&victim), "{msg}");
    assert!(msg.contains("nothing was added"), "{msg}");

    assert_eq!(
        fs::read(dir.path().join("index.json")).unwrap(),
        index_before
    );
    assert_eq!(blob_files(&cache), blobs_before);
    let leftovers: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".import-") || n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(cache.list().unwrap().len(), 1);
}

#[test]
fn import_rejects_archives_without_index_or_with_unsafe_paths() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "oci-layout", &b"{}"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let e = cache.import(&mut &tar[..]).unwrap_err();
    assert!(e.to_string().contains("no index.json"), "{e}");

    // A hand-made "../" entry (the tar crate refuses to write one).
    let mut h = tar::Header::new_ustar();
    h.as_ustar_mut().unwrap().name[..12].copy_from_slice(b"../evil.json");
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[0u8; 1024]);
    let e = cache.import(&mut &tar[..]).unwrap_err();
    assert!(e.to_string().contains("leaves the archive root"), "{e}");
    assert!(!dir.path().join("../evil.json").exists());

    let e = cache
        .import(&mut &b"not a tar at all, really"[..])
        .unwrap_err();
    assert!(matches!(e, OciError::BadArchive { .. }), "{e:?}");
}

#[test]
fn set_name_replaces_older_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let a = cache.write_blob(b"a").unwrap();
    let b = cache.write_blob(b"b").unwrap();
    cache
        .set_name(
            "example.com/x:1",
            Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, a.clone(), 1),
        )
        .unwrap();
    cache
        .set_name(
            "example.com/y:1",
            Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, a.clone(), 1),
        )
        .unwrap();
    cache
        .set_name(
            "example.com/x:1",
            Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, b.clone(), 1),
        )
        .unwrap();
    let list = cache.list().unwrap();
    assert_eq!(list.len(), 2);
    let x = cache.lookup("example.com/x:1").unwrap().unwrap();
    assert_eq!(x.digest, b);
    assert_eq!(x.annotation(ANNOTATION_REF_NAME), Some("example.com/x:1"));
    assert_eq!(
        x.annotation(ANNOTATION_CONTAINERD_NAME),
        Some("example.com/x:1")
    );
    let index: Index =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index
            .manifests
            .iter()
            .filter(|d| d.ref_name() == Some("example.com/x:1"))
            .count(),
        1
    );
    // Upstream's layout: newest entry last, 3-space indentation, ggcr field order.
    assert_eq!(index.manifests.last().unwrap().digest, b);
    let text = fs::read_to_string(dir.path().join("index.json")).unwrap();
    assert!(text.contains("\n      {\n         \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n         \"size\": 1,\n         \"digest\": \"sha256:"), "{text}");
}

#[test]
fn remove_keeps_shared_blobs() {
    let (_d, cache) = imported();
    // Find two names that share a blob but are not identical.
    let list = cache.list().unwrap();
    let blobs_of = |name: &str| -> BTreeSet<String> {
        let img = cache.resolve(name, &amd64()).unwrap();
        let mut s: BTreeSet<String> = img
            .manifest
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect();
        s.insert(img.manifest.config.digest.clone());
        s.insert(img.manifest_digest.clone());
        s.insert(img.root.digest.clone());
        s
    };
    let mut pair = None;
    'outer: for (i, (a, _)) in list.iter().enumerate() {
        for (b, _) in &list[i + 1..] {
            let (sa, sb) = (blobs_of(a), blobs_of(b));
            if !sa.is_disjoint(&sb) && sa != sb {
                pair = Some((a.clone(), b.clone(), sa, sb));
                break 'outer;
            }
        }
    }
    let (a, b, sa, sb) = pair.expect("the corpus has images sharing layers");
    let shared: BTreeSet<_> = sa.intersection(&sb).cloned().collect();
    let only_a: BTreeSet<_> = sa.difference(&sb).cloned().collect();

    // Unknown names: an error, and nothing changes.
    let before = cache.list().unwrap().len();
    let e = cache
        .remove(&[a.clone(), "example.com/nope:1".into()])
        .unwrap_err();
    assert!(
        matches!(e, OciError::NoSuchName { .. }) && e.to_string().contains("example.com/nope:1")
    );
    assert_eq!(cache.list().unwrap().len(), before);

    // Derived per-blob files (verification record, uncompressed copy) go
    // with their blob and stay with a shared one.
    let derived = |digest: &str| -> Vec<std::path::PathBuf> {
        let hex = digest.trim_start_matches("sha256:");
        linuxkit_oci::cache::DERIVED_PER_BLOB
            .iter()
            .map(|(dir, suffix)| {
                cache
                    .root()
                    .join(linuxkit_oci::cache::DERIVED_DIR)
                    .join(dir)
                    .join(format!("{hex}{suffix}"))
            })
            .collect()
    };
    let gone_blob = only_a.iter().next().expect("a blob only a uses").clone();
    let kept_blob = shared.iter().next().expect("a shared blob").clone();
    for p in derived(&gone_blob).iter().chain(derived(&kept_blob).iter()) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"derived").unwrap();
    }

    cache.remove(std::slice::from_ref(&a)).unwrap();
    if !cache.has_blob(&gone_blob) {
        for p in derived(&gone_blob) {
            assert!(!p.exists(), "{} outlived its blob", p.display());
        }
    }
    for p in derived(&kept_blob) {
        assert!(p.exists(), "{} of a kept blob was removed", p.display());
    }
    assert_eq!(cache.list().unwrap().len(), before - 1);
    assert!(cache.lookup(&a).unwrap().is_none());
    for d in &shared {
        assert!(
            cache.has_blob(d),
            "shared blob {d} of {a} and {b} was removed"
        );
    }
    // Blobs only `a` used are gone unless another image uses them.
    let others: BTreeSet<String> = cache
        .list()
        .unwrap()
        .iter()
        .flat_map(|(n, _)| blobs_of(n))
        .collect();
    for d in &only_a {
        assert_eq!(cache.has_blob(d), others.contains(d), "{d}");
    }
    // Every remaining image is still whole and verified.
    for (name, _) in cache.list().unwrap() {
        let img = cache.resolve(&name, &amd64()).unwrap();
        for l in &img.manifest.layers {
            cache.read_blob(&l.digest, Some(l.size)).unwrap();
        }
    }
}

#[test]
fn export_then_import_round_trip_keeps_digests() {
    let (_d, cache) = imported();
    let orig = cache.lookup(ALPINE).unwrap().unwrap();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();
    let tar = export_amd64(&cache, ExportFormat::Oci);

    let dir = tempfile::tempdir().unwrap();
    let fresh = Cache::open(dir.path()).unwrap();
    assert_eq!(
        fresh.import(&mut &tar[..]).unwrap(),
        vec![ALPINE.to_string()]
    );
    let back = fresh.lookup(ALPINE).unwrap().unwrap();
    assert_eq!(back.digest, orig.digest);
    assert_eq!(back.size, orig.size);
    let img2 = fresh.resolve(ALPINE, &amd64()).unwrap();
    assert_eq!(img2.manifest_digest, img.manifest_digest);
    assert_eq!(img2.config_bytes, img.config_bytes);
    assert_eq!(img2.manifest.layers, img.manifest.layers);

    // --name writes another name.
    let mut tar = Vec::new();
    cache
        .export(
            ALPINE,
            &amd64(),
            ExportFormat::Oci,
            Some("example.com/mine:2"),
            &mut tar,
        )
        .unwrap();
    assert_eq!(
        fresh.import(&mut &tar[..]).unwrap(),
        vec!["example.com/mine:2".to_string()]
    );
    assert_eq!(
        fresh.lookup("example.com/mine:2").unwrap().unwrap().digest,
        orig.digest
    );

    // Export of a platform the image lacks, or of an unknown name, fails clearly.
    let e = cache
        .export(
            ALPINE,
            &Platform::linux("arm64"),
            ExportFormat::Oci,
            None,
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(matches!(e, OciError::NoPlatform { .. }));
    let e = cache
        .export(
            "example.com/none:1",
            &amd64(),
            ExportFormat::Oci,
            None,
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(matches!(e, OciError::NoSuchName { .. }));
}

#[test]
fn export_is_deterministic_and_sorted() {
    let (_d, cache) = imported();
    for format in [ExportFormat::Oci, ExportFormat::Docker] {
        let a = export_amd64(&cache, format);
        let b = export_amd64(&cache, format);
        assert_eq!(a, b, "{format:?} export differs between runs");
        let mut ar = tar::Archive::new(&a[..]);
        let mut paths = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!(h.uid().unwrap(), 0);
            assert_eq!(h.gid().unwrap(), 0);
            paths.push(e.path().unwrap().to_string_lossy().into_owned());
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
    }
}

#[test]
fn export_of_corrupt_layer_fails() {
    let (_d, cache) = imported();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();
    let layer = &img.manifest.layers[1];
    let path = cache.blob_path(&layer.digest);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 1;
    fs::write(&path, bytes).unwrap();
    let e = cache
        .export(ALPINE, &amd64(), ExportFormat::Oci, None, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains(&layer.digest), "{e}");
}

#[test]
fn docker_export_is_loadable_shape() {
    let (_d, cache) = imported();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();
    let tar = export_amd64(&cache, ExportFormat::Docker);
    let entries = tar_entries(&tar);
    let manifest: serde_json::Value =
        serde_json::from_slice(entries.get("manifest.json").expect("manifest.json")).unwrap();
    let m = &manifest.as_array().unwrap()[0];
    let config = m["Config"].as_str().unwrap();
    assert_eq!(entries.get(config).unwrap(), &img.config_bytes);
    assert_eq!(m["RepoTags"], serde_json::json!([ALPINE]));
    let layers = m["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), img.manifest.layers.len());
    for (l, d) in layers.iter().zip(&img.manifest.layers) {
        let data = entries.get(l.as_str().unwrap()).expect("layer in archive");
        assert_eq!(linuxkit_oci::blob::sha256_digest(data), d.digest);
    }
}

/// Names written by one worker of the concurrency tests.
fn hammer(root: &Path, worker: &str, count: usize) {
    let cache = Cache::open(root).unwrap();
    for i in 0..count {
        let digest = cache
            .write_blob(format!("{worker}-{i}").as_bytes())
            .unwrap();
        cache
            .set_name(
                &format!("example.com/{worker}:{i}"),
                Descriptor::new("application/octet-stream", digest, 1),
            )
            .unwrap();
        // Readers interleave with writers and must always see a valid index.
        cache.list().unwrap();
    }
}

#[test]
fn concurrent_set_name_from_threads() {
    let dir = tempfile::tempdir().unwrap();
    Cache::open(dir.path()).unwrap();
    let workers: Vec<_> = ["t1", "t2", "t3"]
        .into_iter()
        .map(|w| {
            let root = dir.path().to_path_buf();
            std::thread::spawn(move || hammer(&root, w, 40))
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.list().unwrap().len(), 120);
}

/// Child-process half of `concurrent_set_name_from_processes`; a no-op
/// unless the parent set the environment.
#[test]
fn child_set_names() {
    if let (Some(root), Some(worker)) = (
        std::env::var_os("LKOCI_CHILD_ROOT"),
        std::env::var_os("LKOCI_CHILD_WORKER"),
    ) {
        hammer(Path::new(&root), &worker.to_string_lossy(), 40);
    }
}

#[test]
fn concurrent_set_name_from_processes() {
    let dir = tempfile::tempdir().unwrap();
    Cache::open(dir.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["p1", "p2"]
        .into_iter()
        .map(|w| {
            Command::new(&exe)
                .args(["--exact", "child_set_names", "--test-threads=1"])
                .env("LKOCI_CHILD_ROOT", dir.path())
                .env("LKOCI_CHILD_WORKER", w)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // This process writes at the same time.
    hammer(dir.path(), "p0", 40);
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let cache = Cache::open(dir.path()).unwrap();
    let names = cache.list().unwrap();
    assert_eq!(names.len(), 120);
    for w in ["p0", "p1", "p2"] {
        assert_eq!(
            names
                .iter()
                .filter(|(n, _)| n.contains(&format!("/{w}:")))
                .count(),
            40
        );
    }
}

#[test]
fn clean_removes_the_cache() {
    let (_d, cache) = imported();
    let root = cache.root().to_path_buf();
    cache.clean().unwrap();
    assert!(!root.exists());
}

#[test]
fn default_root_without_env() {
    let root = Cache::default_root(false);
    assert!(root.ends_with(".linuxkit/cache"), "{}", root.display());
}

fn skopeo() -> Option<PathBuf> {
    let out = Command::new("skopeo").arg("--version").output().ok()?;
    out.status.success().then(|| PathBuf::from("skopeo"))
}

fn unpack(tar: &[u8], dir: &Path) {
    tar::Archive::new(tar).unpack(dir).unwrap();
}

#[test]
fn skopeo_reads_exported_layout_and_our_cache() {
    let Some(skopeo) = skopeo() else {
        println!("NOTICE: skopeo is not installed; skipping the skopeo interoperability test");
        return;
    };
    let (_d, cache) = imported();
    let img = cache.resolve(ALPINE, &amd64()).unwrap();
    let tar = export_amd64(&cache, ExportFormat::Oci);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    unpack(&tar, &layout);

    let inspect = |target: String| -> serde_json::Value {
        let out = Command::new(&skopeo)
            .args([
                "inspect",
                "--override-os",
                "linux",
                "--override-arch",
                "amd64",
            ])
            .arg(&target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let want_layers: Vec<serde_json::Value> = img
        .manifest
        .layers
        .iter()
        .map(|l| serde_json::Value::String(l.digest.clone()))
        .collect();
    for root in [layout.clone(), cache.root().to_path_buf()] {
        let v = inspect(format!("oci:{}:{ALPINE}", root.display()));
        // skopeo reports the digest of what the name points at: the index.
        assert_eq!(v["Digest"], serde_json::json!(img.root.digest), "{v}");
        assert_eq!(
            v["Layers"],
            serde_json::Value::Array(want_layers.clone()),
            "{v}"
        );
        assert_eq!(v["Architecture"], "amd64");
    }

    // And back: skopeo writes an OCI archive (ref.name only) that we import.
    let archive = dir.path().join("skopeo.tar");
    let out = Command::new(&skopeo)
        .args(["copy", "--override-os", "linux", "--override-arch", "amd64"])
        .arg(format!("oci:{}:{ALPINE}", layout.display()))
        .arg(format!(
            "oci-archive:{}:example.com/from-skopeo:1",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Cache::open(fresh_dir.path()).unwrap();
    let names = fresh
        .import(&mut fs::File::open(&archive).unwrap())
        .unwrap();
    assert_eq!(names, vec!["example.com/from-skopeo:1".to_string()]);
    let back = fresh
        .resolve("example.com/from-skopeo:1", &amd64())
        .unwrap();
    assert_eq!(back.manifest.layers, img.manifest.layers);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn reads_a_layout_written_by_another_tool_and_keeps_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&images_dir().join("cache"), dir.path());
    // Fields we do not model, at every level of index.json.
    let path = dir.path().join("index.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v["annotations"] = serde_json::json!({"made.by": "test"});
    v["manifests"][0]["urls"] = serde_json::json!(["https://example.invalid/blob"]);
    v["manifests"][0]["annotations"]["extra.key"] = serde_json::json!("kept");
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();

    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.list().unwrap().len(), 76);
    assert!(cache.resolve(ALPINE, &amd64()).is_ok());
    let first = v["manifests"][0]["annotations"][ANNOTATION_REF_NAME]
        .as_str()
        .unwrap()
        .to_string();
    // Any rewrite (here: naming something else) keeps what we did not model.
    let d = cache.lookup(ALPINE).unwrap().unwrap();
    cache.set_name("example.com/alias:1", d).unwrap();
    let after: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(after["annotations"]["made.by"], "test");
    let entry = after["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"][ANNOTATION_REF_NAME] == first.as_str())
        .unwrap();
    assert_eq!(entry["urls"][0], "https://example.invalid/blob");
    assert_eq!(entry["annotations"]["extra.key"], "kept");
    assert_eq!(cache.list().unwrap().len(), 77);
}

#[test]
fn write_blob_from_verifies_and_leaves_nothing_on_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let (d, n) = cache.write_blob_from(&mut &b"payload"[..], None).unwrap();
    assert_eq!(n, 7);
    assert_eq!(cache.read_blob(&d, Some(7)).unwrap(), b"payload");
    let before = blob_files(&cache);
    let e = cache
        .write_blob_from(&mut &b"other payload"[..], Some(&d))
        .unwrap_err();
    assert!(
        matches!(e, OciError::DigestMismatch { .. }) && e.to_string().contains(&d),
        "{e}"
    );
    assert_eq!(blob_files(&cache), before);
    let e = cache
        .write_blob_from(&mut &b"x"[..], Some("sha256:nothex"))
        .unwrap_err();
    assert!(matches!(e, OciError::InvalidDigest { .. }), "{e:?}");
    assert_eq!(blob_files(&cache), before);
    assert!(!cache.has_blob("sha256:../../index.json"));
}
