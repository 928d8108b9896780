//! Image resolution for one build: reference parsing, lookup in the cache for
//! the target platform, and the flattened filesystem of each image, computed
//! once per image per build (an image used by several containers, or as both
//! init and service, is read once).

use crate::error::BuildError;
use crate::flatten::flatten;
use crate::layers::read_layer;
use linuxkit_formats::Entry;
use linuxkit_formats::Shared;
use linuxkit_oci::{Cache, Platform, Reference, ResolvedImage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An image resolved from the cache.
pub struct Loaded {
    /// Canonical reference (`docker.io/library/alpine:3.21`).
    pub canonical: Arc<str>,
    /// Manifest, config and root descriptor.
    pub resolved: ResolvedImage,
}

/// Resolves and flattens images for one build.
pub struct Images<'c> {
    cache: &'c Cache,
    platform: Platform,
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    flat: Mutex<HashMap<String, Arc<Vec<Entry>>>>,
}

/// The canonical form of a reference as written in YAML.
pub fn canonical(written: &str) -> Result<String, BuildError> {
    Reference::parse(written)
        .map(|r| r.canonical())
        .map_err(|e| BuildError::Reference {
            image: written.to_string(),
            source: Box::new(e),
        })
}

impl<'c> Images<'c> {
    /// Resolve images from `cache` for `platform`.
    pub fn new(cache: &'c Cache, platform: Platform) -> Images<'c> {
        Images {
            cache,
            platform,
            loaded: Mutex::new(HashMap::new()),
            flat: Mutex::new(HashMap::new()),
        }
    }

    /// The cache in use.
    pub fn cache(&self) -> &Cache {
        self.cache
    }

    /// The target platform.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Resolve an image reference as written in YAML.
    pub fn get(&self, written: &str) -> Result<Arc<Loaded>, BuildError> {
        let name = canonical(written)?;
        if let Some(l) = self.loaded.lock().map_err(poisoned)?.get(&name) {
            return Ok(l.clone());
        }
        let resolved =
            self.cache
                .resolve(&name, &self.platform)
                .map_err(|e| BuildError::Image {
                    image: written.to_string(),
                    source: Box::new(e),
                })?;
        let l = Arc::new(Loaded {
            canonical: Arc::from(name.as_str()),
            resolved,
        });
        self.loaded
            .lock()
            .map_err(poisoned)?
            .insert(name, l.clone());
        Ok(l)
    }

    /// The flattened filesystem of an image (cleaned names, no prefix).
    pub fn entries(&self, img: &Loaded) -> Result<Arc<Vec<Entry>>, BuildError> {
        let key = img.resolved.manifest_digest.clone();
        if let Some(f) = self.flat.lock().map_err(poisoned)?.get(&key) {
            return Ok(f.clone());
        }
        let manifest = &img.resolved.manifest;
        let diff_ids: Vec<String> = img
            .resolved
            .config
            .rootfs
            .as_ref()
            .map(|r| r.diff_ids.clone())
            .unwrap_or_default();
        let digests: Vec<String> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
        let layers = std::thread::scope(|s| {
            let handles: Vec<_> = manifest
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let diff = diff_ids.get(i).map(String::as_str);
                    s.spawn(move || read_layer(self.cache, &img.canonical, &l.digest, l.size, diff))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(BuildError::Other("a layer reader thread panicked".into()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        let flat = Arc::new(flatten(&img.canonical, layers, &digests)?);
        self.flat
            .lock()
            .map_err(poisoned)?
            .insert(key, flat.clone());
        Ok(flat)
    }
}

impl Images<'_> {
    /// The image's `lib/apk/db/installed`, remembered on disk per manifest so
    /// that a build replaying cached initrd segments need not read layers.
    pub fn apk_db(&self, img: &Loaded) -> Result<Option<Shared>, BuildError> {
        let hex = img
            .resolved
            .manifest_digest
            .trim_start_matches("sha256:")
            .to_string();
        let path = crate::derived_dir(self.cache).join("apkdb").join(&hex);
        if let Ok(bytes) = std::fs::read(&path)
            && let Some((&tag, rest)) = bytes.split_first()
        {
            return Ok((tag == b'Y').then(|| Shared::from(rest)));
        }
        let entries = self.entries(img)?;
        let db = entries
            .iter()
            .find(|e| e.path == "lib/apk/db/installed" && e.kind == linuxkit_formats::Kind::File)
            .map(|e| e.data.clone());
        let mut record = vec![if db.is_some() { b'Y' } else { b'N' }];
        if let Some(d) = &db {
            record.extend_from_slice(d);
        }
        // A derived cache: failing to record it only costs time later.
        let _ = crate::atomic::atomic_write(&path, &record);
        Ok(db)
    }
}

fn poisoned<T>(_: T) -> BuildError {
    BuildError::Other("internal error: a worker thread panicked".into())
}
