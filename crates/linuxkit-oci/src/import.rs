//! `cache import`: take in an OCI-layout tarball (plain or gzip-compressed)
//! from a stream. Blobs are streamed into a staging directory inside the
//! cache, each verified against the digest its entry name claims; only when
//! the whole archive has been read and every named image is complete are the
//! blobs renamed into `blobs/sha256/` and the names written, under the cache
//! lock. A failure at any point leaves the cache as it was (the staging
//! directory is removed on drop). Large blobs are never held in memory.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::blob;
use crate::cache::{Cache, RootKind, apply_names};
use crate::error::OciError;
use crate::lock::CacheLock;
use crate::types::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Index, Manifest,
    is_index_media_type,
};

/// Largest index.json we accept from an archive.
const MAX_INDEX_SIZE: u64 = 64 * 1024 * 1024;

/// Where a blob of the archive is: staged by this import, or already cached.
struct Blobs<'a> {
    cache: &'a Cache,
    staging: PathBuf,
    staged: BTreeMap<String, u64>,
}

impl Blobs<'_> {
    fn path(&self, digest: &str) -> Option<PathBuf> {
        let hex = blob::digest_hex(digest).ok()?;
        if self.staged.contains_key(digest) {
            Some(self.staging.join(hex))
        } else if self.cache.has_blob(digest) {
            Some(self.cache.blob_path(digest))
        } else {
            None
        }
    }

    /// Read a small JSON blob (staged or cached), verified.
    fn read(&self, d: &Descriptor) -> Result<Option<Vec<u8>>, OciError> {
        let Some(path) = self.path(&d.digest) else {
            return Ok(None);
        };
        let data = std::fs::read(&path).map_err(|e| OciError::io("cannot read", &path, e))?;
        blob::verify_bytes(&data, &d.digest, Some(d.size), &path)?;
        Ok(Some(data))
    }
}

/// The cache name an archive's index.json entry gives: containerd's full
/// name, else the OCI ref name.
fn entry_name(d: &Descriptor) -> Option<String> {
    d.annotation(ANNOTATION_CONTAINERD_NAME)
        .or_else(|| d.annotation(ANNOTATION_REF_NAME))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// Normalise an archive path (`./blobs/sha256/x` → `["blobs","sha256","x"]`),
/// refusing absolute paths and `..`.
fn components(p: &Path) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(s) => out.push(s.to_str()?.to_string()),
            _ => return None,
        }
    }
    Some(out)
}

impl Cache {
    /// `cache import`: read an OCI-layout tarball (gzip-compressed or not,
    /// sniffed from the magic number) and add its blobs and names. Every
    /// blob is verified before it becomes visible; every index.json entry
    /// with `io.containerd.image.name` (else `org.opencontainers.image.ref.name`)
    /// becomes a cache name, replacing an older entry of that name. Returns
    /// the names, in archive order.
    pub fn import(&self, r: &mut dyn Read) -> Result<Vec<String>, OciError> {
        let bad = |reason: String| OciError::BadArchive {
            reason,
            cache: self.root().to_path_buf(),
        };
        let mut input = BufReader::with_capacity(256 * 1024, r);
        let gzip = input
            .fill_buf()
            .map_err(|e| bad(format!("cannot read the archive: {e}")))?
            .starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read + '_> = if gzip {
            Box::new(MultiGzDecoder::new(input))
        } else {
            Box::new(input)
        };
        let mut archive = tar::Archive::new(reader);

        let staging_dir = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(self.root())
            .map_err(|e| OciError::io("cannot create a staging directory in", self.root(), e))?;
        let mut blobs = Blobs {
            cache: self,
            staging: staging_dir.path().to_path_buf(),
            staged: BTreeMap::new(),
        };
        let mut index_bytes: Option<Vec<u8>> = None;

        let entries = archive
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("cannot read a tar entry: {e}")))?;
            let raw = entry
                .path()
                .map_err(|e| bad(format!("bad entry name: {e}")))?
                .into_owned();
            let Some(parts) = components(&raw) else {
                return Err(bad(format!(
                    "entry {} is an absolute path or leaves the archive root",
                    raw.display()
                )));
            };
            let kind = entry.header().entry_type();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            match parts.as_slice() {
                ["index.json"] => {
                    if entry.size() > MAX_INDEX_SIZE {
                        return Err(bad("index.json is larger than 64 MiB".into()));
                    }
                    let mut buf = Vec::new();
                    entry
                        .read_to_end(&mut buf)
                        .map_err(|e| bad(format!("cannot read index.json: {e}")))?;
                    index_bytes = Some(buf);
                }
                ["blobs", alg, hex] if kind.is_file() => {
                    let digest = format!("{alg}:{hex}");
                    if blob::digest_hex(&digest).is_err() {
                        tracing::warn!(entry = %raw.display(), "skipping a blob that is not sha256:<64 hex>");
                        continue;
                    }
                    if blobs.staged.contains_key(&digest) || self.has_blob(&digest) {
                        io::copy(&mut entry, &mut io::sink())
                            .map_err(|e| bad(format!("cannot read {}: {e}", raw.display())))?;
                        continue;
                    }
                    let staged = blob::stage(&blobs.staging, &mut entry, Some(&digest), &raw)
                        .map_err(|e| match e {
                            OciError::DigestMismatch { digest, found, .. } => bad(format!(
                                "the archive entry {} does not match its digest {digest}: {found}; \
                                 the archive is damaged, re-create or re-download it",
                                raw.display()
                            )),
                            OciError::Io { source, .. } => {
                                bad(format!("cannot read {}: {source}", raw.display()))
                            }
                            other => other,
                        })?;
                    let dest = blobs.staging.join(hex);
                    staged
                        .tmp
                        .persist(&dest)
                        .map_err(|e| OciError::io("cannot stage", &dest, e.error))?;
                    blobs.staged.insert(digest, staged.size);
                }
                _ => {
                    tracing::debug!(entry = %raw.display(), "ignoring archive entry");
                }
            }
        }

        let Some(index_bytes) = index_bytes else {
            return Err(bad(
                "the archive has no index.json, so it is not an OCI-layout tarball \
                 (`docker save` of Docker 25+ and `linuxkit cache export` write one)"
                    .into(),
            ));
        };
        let index: Index = serde_json::from_slice(&index_bytes)
            .map_err(|e| bad(format!("the archive's index.json is not an OCI index: {e}")))?;

        let mut named: Vec<(String, Descriptor)> = Vec::new();
        for d in &index.manifests {
            let Some(name) = entry_name(d) else {
                tracing::warn!(digest = %d.digest, "archive index entry has no name annotation; not naming it");
                continue;
            };
            self.check_complete(&blobs, &name, d).map_err(|e| match e {
                OciError::BadArchive { .. } => e,
                other => bad(other.to_string()),
            })?;
            named.push((name, d.clone()));
        }
        if named.is_empty() {
            return Err(bad(format!(
                "the archive's index.json names no image (no {ANNOTATION_CONTAINERD_NAME} or \
                 {ANNOTATION_REF_NAME} annotation); export it with a name"
            )));
        }

        // Commit: blobs first, then names, all under the lock so a
        // concurrent `cache rm` cannot delete a blob between the two.
        let _lock = CacheLock::exclusive(self.root())?;
        for digest in blobs.staged.keys() {
            let hex = blob::digest_hex(digest)?;
            let from = blobs.staging.join(hex);
            let to = self.blob_path(digest);
            std::fs::rename(&from, &to).map_err(|e| OciError::io("cannot move blob to", &to, e))?;
        }
        blob::sync_dir(&self.blobs_dir());
        let mut cache_index = self.read_index_locked()?;
        let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
        apply_names(&mut cache_index, named);
        self.write_index_locked(&cache_index)?;
        drop(staging_dir);
        Ok(names)
    }

    /// Check that an archive entry's image is complete (staged or cached):
    /// the root, and for an index every manifest with a real platform, with
    /// their configs and layers. Platform-less or unknown/unknown children
    /// (attestations) may be absent.
    fn check_complete(
        &self,
        blobs: &Blobs<'_>,
        name: &str,
        root: &Descriptor,
    ) -> Result<(), OciError> {
        let missing = |d: &Descriptor, what: &str| OciError::BadArchive {
            reason: format!(
                "{what} {} of image {name} is neither in the archive nor in the cache",
                d.digest
            ),
            cache: self.root().to_path_buf(),
        };
        let Some(bytes) = blobs.read(root)? else {
            return Err(missing(root, "root"));
        };
        let manifests: Vec<Descriptor> = match self.root_kind(name, root, &bytes)? {
            RootKind::Manifest => vec![root.clone()],
            RootKind::Index => {
                let idx: Index =
                    serde_json::from_slice(&bytes).map_err(|e| OciError::BadArchive {
                        reason: format!(
                            "index {} of image {name} is not valid JSON: {e}",
                            root.digest
                        ),
                        cache: self.root().to_path_buf(),
                    })?;
                idx.manifests
            }
        };
        for m in &manifests {
            let optional = m.platform.as_ref().is_none_or(|p| {
                p.os == "unknown" && p.architecture == "unknown" || p.os.is_empty()
            }) && m.digest != root.digest;
            let bytes = if m.digest == root.digest {
                Some(bytes.clone())
            } else {
                blobs.read(m)?
            };
            let Some(bytes) = bytes else {
                if optional {
                    continue;
                }
                return Err(missing(m, "manifest"));
            };
            if is_index_media_type(&m.media_type) {
                // Nested indexes are rare; take them as they are.
                continue;
            }
            let manifest: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| OciError::BadArchive {
                    reason: format!("manifest {} of image {name} is not valid: {e}", m.digest),
                    cache: self.root().to_path_buf(),
                })?;
            for d in std::iter::once(&manifest.config).chain(manifest.layers.iter()) {
                match blobs.path(&d.digest) {
                    None => return Err(missing(d, "blob")),
                    Some(p) => {
                        let staged_size = blobs.staged.get(&d.digest).copied();
                        let size = match staged_size {
                            Some(s) => s,
                            None => std::fs::metadata(&p).map(|m| m.len()).unwrap_or(d.size),
                        };
                        if size != d.size {
                            return Err(OciError::BadArchive {
                                reason: format!(
                                    "blob {} of image {name} has {size} bytes but its descriptor says {}",
                                    d.digest, d.size
                                ),
                                cache: self.root().to_path_buf(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
