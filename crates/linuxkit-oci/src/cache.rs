//! The on-disk image cache: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`) that upstream LinuxKit reads and writes too (cli.md §5).
//! This module owns names (index.json entries carrying
//! `org.opencontainers.image.ref.name`), resolution of a name for a platform,
//! verified blob access and removal. Import and export live in their own
//! modules; registry pulls will feed [`Cache::write_blob_from`] and
//! [`Cache::set_name`].
//!
//! Rules: every blob read is checked against its digest; every write is
//! atomic; index.json is only rewritten under the cache lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::blob::{self, BlobReader};
use crate::error::OciError;
use crate::lock::CacheLock;
use crate::reference::Platform;
use crate::types::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, ImageConfigFile, Index, Manifest,
    is_index_media_type, is_manifest_media_type,
};

pub use crate::export::ExportFormat;

/// Content of the `oci-layout` file, byte for byte as upstream writes it.
pub const OCI_LAYOUT: &str = "{\n    \"imageLayoutVersion\": \"1.0.0\"\n}";

/// Name of the directory holding linuxkit-rs's own derived data.
pub const DERIVED_DIR: &str = "linuxkit-rs";

/// Derived files kept per layer blob, as (directory under [`DERIVED_DIR`],
/// suffix after the digest's hex): the record that the blob was verified
/// and its uncompressed copy. `cache rm` removes them with the blob.
pub const DERIVED_PER_BLOB: [(&str, &str); 2] = [("verified", ""), ("plain", ".tar")];

/// An OCI-layout image cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// An image resolved for one platform: every document verified and parsed,
/// with the raw bytes kept (digests are of those bytes).
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The name looked up (canonical reference).
    pub name: String,
    /// The index.json entry for the name (an index or a manifest).
    pub root: Descriptor,
    /// The bytes of the root blob.
    pub root_bytes: Vec<u8>,
    /// Digest of the selected manifest (the root's when it is a manifest).
    pub manifest_digest: String,
    /// Bytes of the selected manifest.
    pub manifest_bytes: Vec<u8>,
    /// The selected manifest.
    pub manifest: Manifest,
    /// Bytes of the image config.
    pub config_bytes: Vec<u8>,
    /// The image config.
    pub config: ImageConfigFile,
}

impl ResolvedImage {
    /// Is the root an index (rather than a single manifest)?
    pub fn root_is_index(&self) -> bool {
        self.root.digest != self.manifest_digest
    }
}

/// What a root blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootKind {
    Index,
    Manifest,
}

/// Serialise JSON with 3-space indentation, as go-containerregistry writes index.json.
pub(crate) fn to_json_3(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serialising our own plain structs into a Vec cannot fail.
    if value.serialize(&mut ser).is_err() {
        out.clear();
    }
    out
}

/// Does an index entry's platform match the requested one (OS and
/// architecture; variant only when one is requested)?
pub(crate) fn platform_matches(d: &Descriptor, want: &Platform) -> bool {
    match &d.platform {
        Some(p) => {
            p.os == want.os
                && p.architecture == want.architecture
                && want
                    .variant
                    .as_ref()
                    .is_none_or(|v| p.variant.as_deref() == Some(v.as_str()))
        }
        None => false,
    }
}

impl Cache {
    /// Open (creating `oci-layout`, `index.json`, `blobs/sha256/` if missing)
    /// the layout at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Cache, OciError> {
        let root = root.into();
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs)
            .map_err(|e| OciError::io("cannot create the cache directory", &blobs, e))?;
        let cache = Cache { root };
        let layout = cache.root.join("oci-layout");
        let index = cache.index_path();
        if !layout.exists() || !index.exists() {
            let _lock = CacheLock::exclusive(&cache.root)?;
            if !layout.exists() {
                blob::write_atomic(&layout, OCI_LAYOUT.as_bytes())?;
            }
            if !index.exists() {
                blob::write_atomic(&index, &to_json_3(&Index::empty()))?;
            }
        }
        Ok(cache)
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Default root: `$LINUXKIT_CACHE` if `use_env` and set, else
    /// `$HOME/.linuxkit/cache` (the global `--cache` of upstream ignores the
    /// variable; `build` and `pkg build` honour it).
    pub fn default_root(use_env: bool) -> PathBuf {
        if use_env
            && let Some(dir) = std::env::var_os("LINUXKIT_CACHE")
            && !dir.is_empty()
        {
            return PathBuf::from(dir);
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".linuxkit").join("cache")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Read index.json; the caller holds the lock.
    pub(crate) fn read_index_locked(&self) -> Result<Index, OciError> {
        let path = self.index_path();
        let bytes =
            fs::read(&path).map_err(|e| OciError::io("cannot read the cache index", &path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| OciError::BadIndex { path, source })
    }

    /// Write index.json atomically; the caller holds the exclusive lock.
    pub(crate) fn write_index_locked(&self, index: &Index) -> Result<(), OciError> {
        blob::write_atomic(&self.index_path(), &to_json_3(index))
    }

    /// Read index.json under a shared lock.
    pub fn read_index(&self) -> Result<Index, OciError> {
        let _lock = CacheLock::shared(&self.root)?;
        self.read_index_locked()
    }

    /// The index.json entry named `name` (by `org.opencontainers.image.ref.name`).
    pub fn lookup(&self, name: &str) -> Result<Option<Descriptor>, OciError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .find(|d| d.ref_name() == Some(name)))
    }

    /// Path of a blob (whether or not it exists). An invalid digest maps to a
    /// path that cannot exist, so callers get "missing" rather than a traversal.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let blobs = self.root.join("blobs");
        match blob::digest_hex(digest) {
            Ok(hex) => blobs.join("sha256").join(hex),
            Err(_) => blobs.join("invalid-digest"),
        }
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// Is the blob present (not verified)?
    pub fn has_blob(&self, digest: &str) -> bool {
        blob::digest_hex(digest).is_ok() && self.blob_path(digest).is_file()
    }

    fn missing(&self, digest: &str) -> OciError {
        OciError::BlobMissing {
            image: None,
            digest: digest.to_string(),
            path: self.blob_path(digest),
            cache: self.root.clone(),
        }
    }

    fn open_file(&self, digest: &str) -> Result<(File, PathBuf), OciError> {
        blob::digest_hex(digest)?;
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.missing(digest)),
            Err(e) => Err(OciError::io("cannot open blob", path, e)),
        }
    }

    /// Read a whole blob, verifying size (if given) and sha256.
    pub fn read_blob(&self, digest: &str, size: Option<u64>) -> Result<Vec<u8>, OciError> {
        let (mut f, path) = self.open_file(digest)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)
            .map_err(|e| OciError::io("cannot read blob", &path, e))?;
        blob::verify_bytes(&data, digest, size, &path)?;
        Ok(data)
    }

    /// A streaming reader over a blob that verifies digest and size as it
    /// reaches end of file (see [`BlobReader`]).
    pub fn open_blob(&self, digest: &str, size: Option<u64>) -> Result<BlobReader, OciError> {
        let (f, path) = self.open_file(digest)?;
        Ok(BlobReader::new(f, digest, size, path))
    }

    /// Store bytes as a blob (atomically); returns the digest.
    pub fn write_blob(&self, data: &[u8]) -> Result<String, OciError> {
        let digest = blob::sha256_digest(data);
        if !self.has_blob(&digest) {
            let (d, _) = self.write_blob_from(&mut &data[..], Some(&digest))?;
            debug_assert_eq!(d, digest);
        }
        Ok(digest)
    }

    /// Stream a blob into the cache, verifying `expected` if given; on a
    /// mismatch nothing is left behind. Returns digest and size.
    pub fn write_blob_from(
        &self,
        r: &mut dyn Read,
        expected: Option<&str>,
    ) -> Result<(String, u64), OciError> {
        let dir = self.blobs_dir();
        let staged = blob::stage(&dir, r, expected, Path::new("<input stream>"))?;
        let dest = self.blob_path(&staged.digest);
        blob::commit(staged.tmp, &dest)?;
        Ok((staged.digest, staged.size))
    }

    /// Point `name` at `desc`: set both name annotations (as upstream does),
    /// drop older entries of that name, append; all under the lock.
    pub fn set_name(&self, name: &str, desc: Descriptor) -> Result<(), OciError> {
        self.set_names(vec![(name.to_string(), desc)])
    }

    /// [`Cache::set_name`] for several names in one index.json rewrite.
    pub fn set_names(&self, entries: Vec<(String, Descriptor)>) -> Result<(), OciError> {
        let _lock = CacheLock::exclusive(&self.root)?;
        let mut index = self.read_index_locked()?;
        apply_names(&mut index, entries);
        self.write_index_locked(&index)
    }

    /// All named entries, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, Descriptor)>, OciError> {
        let mut out: Vec<(String, Descriptor)> = self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| d.ref_name().map(|n| (n.to_string(), d.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Resolve `name` for a platform: an index gives its first manifest whose
    /// OS and architecture match (variant only when requested); a single
    /// manifest is accepted if its config's OS/architecture match or are
    /// empty. Root, manifest and config are verified by digest; the layers
    /// must be present (they are verified when streamed with
    /// [`Cache::open_blob`]).
    pub fn resolve(&self, name: &str, platform: &Platform) -> Result<ResolvedImage, OciError> {
        let root = self.lookup(name)?.ok_or_else(|| OciError::NotFound {
            name: name.to_string(),
            cache: self.root.clone(),
        })?;
        self.resolve_descriptor(name, root, platform)
            .map_err(|e| e.with_image(name))
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<T, OciError> {
        serde_json::from_slice(bytes).map_err(|source| OciError::BadJson {
            what,
            digest: digest.to_string(),
            image: None,
            cache: self.root.clone(),
            source,
        })
    }

    /// Decide whether a root blob is an index or a manifest: by the
    /// descriptor's media type, else by the document's own.
    pub(crate) fn root_kind(
        &self,
        name: &str,
        desc: &Descriptor,
        bytes: &[u8],
    ) -> Result<RootKind, OciError> {
        let mut media_type = desc.media_type.clone();
        if media_type.is_empty() {
            let v: serde_json::Value = self.parse("root document", &desc.digest, bytes)?;
            media_type = match v.get("mediaType").and_then(|m| m.as_str()) {
                Some(m) => m.to_string(),
                None if v.get("manifests").is_some() => crate::types::MEDIA_TYPE_OCI_INDEX.into(),
                None if v.get("config").is_some() => crate::types::MEDIA_TYPE_OCI_MANIFEST.into(),
                None => String::new(),
            };
        }
        if is_index_media_type(&media_type) {
            Ok(RootKind::Index)
        } else if is_manifest_media_type(&media_type) {
            Ok(RootKind::Manifest)
        } else {
            Err(OciError::Unsupported {
                image: name.to_string(),
                what: "root",
                digest: desc.digest.clone(),
                media_type,
                cache: self.root.clone(),
            })
        }
    }

    /// [`Cache::resolve`] from a known root descriptor.
    pub fn resolve_descriptor(
        &self,
        name: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<ResolvedImage, OciError> {
        let root_bytes = self.read_blob(&root.digest, Some(root.size))?;
        let (manifest_digest, manifest_bytes) = match self.root_kind(name, &root, &root_bytes)? {
            RootKind::Index => {
                let index: Index = self.parse("index", &root.digest, &root_bytes)?;
                let Some(chosen) = index
                    .manifests
                    .iter()
                    .find(|d| platform_matches(d, platform))
                else {
                    let mut available: Vec<String> = Vec::new();
                    for d in &index.manifests {
                        if let Some(p) = &d.platform
                            && !(p.os == "unknown" && p.architecture == "unknown")
                            && !available.contains(&p.display())
                        {
                            available.push(p.display());
                        }
                    }
                    return Err(OciError::NoPlatform {
                        name: name.to_string(),
                        platform: platform.to_string(),
                        available,
                        cache: self.root.clone(),
                    });
                };
                if !is_manifest_media_type(&chosen.media_type) && !chosen.media_type.is_empty() {
                    return Err(OciError::Unsupported {
                        image: name.to_string(),
                        what: "manifest",
                        digest: chosen.digest.clone(),
                        media_type: chosen.media_type.clone(),
                        cache: self.root.clone(),
                    });
                }
                let bytes = self.read_blob(&chosen.digest, Some(chosen.size))?;
                (chosen.digest.clone(), bytes)
            }
            RootKind::Manifest => (root.digest.clone(), root_bytes.clone()),
        };
        let manifest: Manifest = self.parse("manifest", &manifest_digest, &manifest_bytes)?;
        let config_bytes = self.read_blob(&manifest.config.digest, Some(manifest.config.size))?;
        let config: ImageConfigFile =
            self.parse("image config", &manifest.config.digest, &config_bytes)?;
        if manifest_digest == root.digest {
            let os_ok = config.os.is_empty() || config.os == platform.os;
            let arch_ok =
                config.architecture.is_empty() || config.architecture == platform.architecture;
            let variant_ok = match (&platform.variant, &config.variant) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            };
            if !(os_ok && arch_ok && variant_ok) {
                let mut have = format!("{}/{}", config.os, config.architecture);
                if let Some(v) = &config.variant {
                    have = format!("{have}/{v}");
                }
                return Err(OciError::NoPlatform {
                    name: name.to_string(),
                    platform: platform.to_string(),
                    available: vec![have],
                    cache: self.root.clone(),
                });
            }
        }
        for layer in &manifest.layers {
            blob::digest_hex(&layer.digest)?;
            if !self.has_blob(&layer.digest) {
                return Err(self.missing(&layer.digest));
            }
        }
        Ok(ResolvedImage {
            name: name.to_string(),
            root,
            root_bytes,
            manifest_digest,
            manifest_bytes,
            manifest,
            config_bytes,
            config,
        })
    }

    /// Digests reachable from some descriptors (the descriptors themselves,
    /// manifests of indexes, configs and layers). Blobs that are missing or
    /// unreadable end the walk on that branch.
    pub(crate) fn reachable(&self, roots: &[Descriptor]) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(String, String)> = roots
            .iter()
            .map(|d| (d.digest.clone(), d.media_type.clone()))
            .collect();
        while let Some((digest, media_type)) = todo.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            let json_doc = media_type.is_empty()
                || is_index_media_type(&media_type)
                || is_manifest_media_type(&media_type);
            if !json_doc {
                continue;
            }
            // Small JSON documents only: a layer mislabelled as a manifest is not read.
            let path = self.blob_path(&digest);
            let small = fs::metadata(&path).is_ok_and(|m| m.len() <= 4 * 1024 * 1024);
            if !small {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            // A config is never walked into, whatever media type it claims.
            if let Some(d) = v.pointer("/config/digest").and_then(|d| d.as_str()) {
                todo.push((d.to_string(), "config".to_string()));
            }
            for key in ["manifests", "layers", "blobs"] {
                for c in v.get(key).and_then(|a| a.as_array()).into_iter().flatten() {
                    if let Some(d) = c.get("digest").and_then(|d| d.as_str()) {
                        let mt = c.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
                        todo.push((d.to_string(), mt.to_string()));
                    }
                }
            }
        }
        seen
    }

    /// `cache rm`: every name must exist (nothing changes otherwise); removes
    /// the entries and the blobs reachable only from them, keeping blobs other
    /// names still use.
    pub fn remove(&self, names: &[String]) -> Result<(), OciError> {
        let _lock = CacheLock::exclusive(&self.root)?;
        let mut index = self.read_index_locked()?;
        for name in names {
            if !index.manifests.iter().any(|d| d.ref_name() == Some(name)) {
                return Err(OciError::NoSuchName {
                    name: name.clone(),
                    cache: self.root.clone(),
                });
            }
        }
        let (removed, kept): (Vec<Descriptor>, Vec<Descriptor>) = index
            .manifests
            .drain(..)
            .partition(|d| d.ref_name().is_some_and(|n| names.iter().any(|x| x == n)));
        let keep = self.reachable(&kept);
        let gone = self.reachable(&removed);
        index.manifests = kept;
        self.write_index_locked(&index)?;
        for digest in gone.difference(&keep) {
            if blob::digest_hex(digest).is_err() {
                continue;
            }
            let path = self.blob_path(digest);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(OciError::io("cannot remove blob", path, e)),
            }
            for derived in self.derived_blob_files(digest).into_iter().flatten() {
                // Derived data only saves time: a leftover is harmless.
                let _ = fs::remove_file(derived);
            }
        }
        Ok(())
    }

    /// `cache clean`: delete the whole cache directory.
    pub fn clean(self) -> Result<(), OciError> {
        match fs::remove_dir_all(&self.root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(OciError::io(
                "cannot remove the cache directory",
                &self.root,
                e,
            )),
        }
    }

    /// The derived files of a blob, in [`DERIVED_PER_BLOB`]'s order (the
    /// verification record, the uncompressed copy); `None` for an invalid
    /// digest.
    pub fn derived_blob_files(&self, digest: &str) -> Option<[PathBuf; 2]> {
        let hex = blob::digest_hex(digest).ok()?;
        Some(DERIVED_PER_BLOB.map(|(dir, suffix)| {
            self.root
                .join(DERIVED_DIR)
                .join(dir)
                .join(format!("{hex}{suffix}"))
        }))
    }

    /// Directory for linuxkit-rs's own derived data (flattened layers, ...):
    /// `<root>/linuxkit-rs/`, created on demand. Upstream ignores it.
    pub fn derived_dir(&self) -> Result<PathBuf, OciError> {
        let dir = self.root.join(DERIVED_DIR);
        fs::create_dir_all(&dir).map_err(|e| OciError::io("cannot create directory", &dir, e))?;
        Ok(dir)
    }
}

/// Replace or add named entries in an index: drop every entry of each name,
/// then append the new descriptor with both name annotations set.
pub(crate) fn apply_names(index: &mut Index, entries: Vec<(String, Descriptor)>) {
    for (name, mut desc) in entries {
        index
            .manifests
            .retain(|d| d.ref_name() != Some(name.as_str()));
        let ann = desc.annotations.get_or_insert_with(BTreeMap::new);
        ann.insert(ANNOTATION_REF_NAME.to_string(), name.clone());
        ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), name.clone());
        index.manifests.push(desc);
    }
}
