//! Pulling: manifests (OCI and Docker schema 2, indexes and manifest lists)
//! verified by digest, then the blobs the cache lacks, several at once, each
//! streamed to `<cache>/ingest/<hex>.partial`, resumed with `Range` after a
//! dropped connection or a killed process, verified, and renamed into
//! `blobs/sha256/` only when its bytes match. Manifests are stored last, so a
//! manifest in the cache always has its blobs; names are the caller's job.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest as _, Sha256};

use super::RegistryError;
use super::client::{Client, Ctx, Endpoint, Req, read_small};
use crate::blob::{digest_hex, sha256_digest};
use crate::cache::{Cache, platform_matches};
use crate::reference::{Platform, Reference};
use crate::types::*;

/// Accept header for manifests: every kind we can use.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Which manifests of an index to pull.
#[derive(Debug, Clone, Copy)]
pub enum Platforms<'a> {
    /// Every manifest (what `cache pull` does, as upstream).
    All,
    /// The first manifest for this platform (what `build` needs).
    One(&'a Platform),
}

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Descriptor of the root (index or manifest) as stored in the cache.
    pub root: Descriptor,
    /// The image manifests pulled (for an index: its entries, with platforms).
    pub manifests: Vec<Descriptor>,
}

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Raw bytes.
    pub bytes: Vec<u8>,
    /// Media type (from Content-Type, else the document).
    pub media_type: String,
    /// `sha256:` of the bytes.
    pub digest: String,
}

/// The media type of a manifest document from its header and content.
fn media_type_of(header: Option<&str>, bytes: &[u8]) -> String {
    let h = header
        .map(|h| h.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    if is_index_media_type(&h) || is_manifest_media_type(&h) {
        return h;
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(p) => match p.media_type {
            Some(m) if !m.is_empty() => m,
            _ if p.manifests.is_some() => MEDIA_TYPE_OCI_INDEX.to_string(),
            _ if p.config.is_some() => MEDIA_TYPE_OCI_MANIFEST.to_string(),
            _ => h,
        },
        Err(_) => h,
    }
}

impl Client {
    /// Context for messages about `r`.
    pub fn ctx(r: &Reference) -> Ctx {
        Ctx {
            reference: r.to_string(),
            registry: r.registry.clone(),
            repository: r.repository.clone(),
        }
    }

    /// GET a manifest by tag or digest from one endpoint and verify it.
    pub fn get_manifest(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        ident: &str,
    ) -> Result<Fetched, RegistryError> {
        let mut req = Req::new(
            "GET",
            format!("/v2/{}/manifests/{ident}", ctx.repository),
            format!("repository:{}:pull", ctx.repository),
            "pull",
        );
        req.headers.push(("accept", MANIFEST_ACCEPT.to_string()));
        let resp = self.send(ep, ctx, &req)?;
        if resp.status().as_u16() != 200 {
            let status = resp.status().as_u16();
            let err = self.status_error(ctx, &req, resp, &format!("manifest {ident}"));
            // distribution answers MANIFEST_UNKNOWN for unknown repositories
            // too; its tag list tells the two apart.
            if status == 404
                && matches!(err, RegistryError::ManifestNotFound { .. })
                && !self.repository_exists(ep, ctx)
            {
                return Err(RegistryError::RepositoryNotFound {
                    registry: ctx.registry.clone(),
                    reference: ctx.reference.clone(),
                    repository: ctx.repository.clone(),
                    detail: "404, and it lists no tags".into(),
                });
            }
            return Err(err);
        }
        let header = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_small(resp).map_err(|e| RegistryError::Unreachable {
            registry: ctx.registry.clone(),
            reference: ctx.reference.clone(),
            cause: format!("reading manifest {ident}: {e}"),
            hint: String::new(),
        })?;
        let digest = sha256_digest(&bytes);
        let expected = if ident.starts_with("sha256:") {
            Some(ident.to_string())
        } else {
            claimed.filter(|c| c.starts_with("sha256:"))
        };
        if let Some(want) = expected
            && want != digest
        {
            return Err(RegistryError::DigestMismatch {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                what: "manifest",
                digest: want,
                found: format!("its content hashes to {digest} ({} bytes)", bytes.len()),
            });
        }
        let media_type = media_type_of(header.as_deref(), &bytes);
        if media_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
            return Err(RegistryError::BadManifest {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                message: format!(
                    "it is a Docker schema 1 manifest ({media_type}), which is not supported; \
                     push the image again with a current tool"
                ),
            });
        }
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Does the repository exist (its tag list answers)? Errors count as "yes",
    /// so the caller keeps its more specific error.
    fn repository_exists(&self, ep: &Endpoint, ctx: &Ctx) -> bool {
        let req = Req::new(
            "GET",
            format!("/v2/{}/tags/list", ctx.repository),
            format!("repository:{}:pull", ctx.repository),
            "pull",
        );
        match self.send(ep, ctx, &req) {
            Ok(resp) => resp.status().as_u16() != 404,
            Err(_) => true,
        }
    }

    /// Find the root manifest: mirrors first, then the registry itself.
    fn get_root(&self, r: &Reference, ctx: &Ctx) -> Result<(Endpoint, Fetched), RegistryError> {
        let ident = r
            .digest
            .clone()
            .or_else(|| r.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let mut last = None;
        for ep in self.endpoints(&r.registry) {
            match self.get_manifest(&ep, ctx, &ident) {
                Ok(f) => return Ok((ep, f)),
                Err(e) if ep.mirror => {
                    self.progress().message(&format!(
                        "mirror {} failed for {}: {e}",
                        ep.base, ctx.reference
                    ));
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Config("no registry endpoint".into())))
    }

    /// The digest of `r`'s root manifest in its registry, `None` if it does not exist there.
    pub fn remote_digest(&self, r: &Reference) -> Result<Option<String>, RegistryError> {
        let ctx = Self::ctx(r);
        match self.get_root(r, &ctx) {
            Ok((_, f)) => Ok(Some(f.digest)),
            Err(
                RegistryError::ManifestNotFound { .. } | RegistryError::RepositoryNotFound { .. },
            ) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pull `r` into the cache: root, the chosen manifests and their blobs.
    pub fn pull(
        &self,
        cache: &Cache,
        r: &Reference,
        platforms: Platforms<'_>,
    ) -> Result<Pulled, RegistryError> {
        let ctx = Self::ctx(r);
        let (ep, root) = self.get_root(r, &ctx)?;
        let bad = |message: String| RegistryError::BadManifest {
            registry: ctx.registry.clone(),
            reference: ctx.reference.clone(),
            message,
        };
        let mut manifests: Vec<(Descriptor, Fetched)> = Vec::new();
        if is_index_media_type(&root.media_type) {
            let index: Index = serde_json::from_slice(&root.bytes)
                .map_err(|e| bad(format!("cannot parse its index {}: {e}", root.digest)))?;
            let chosen: Vec<Descriptor> = match platforms {
                Platforms::All => index
                    .manifests
                    .iter()
                    .filter(|d| is_manifest_media_type(&d.media_type) || d.media_type.is_empty())
                    .cloned()
                    .collect(),
                Platforms::One(p) => {
                    let found = index
                        .manifests
                        .iter()
                        .find(|d| platform_matches(d, p))
                        .cloned();
                    match found {
                        Some(d) => vec![d],
                        None => {
                            let available: Vec<String> = index
                                .manifests
                                .iter()
                                .filter_map(|d| d.platform.as_ref().map(|p| p.display()))
                                .filter(|p| p != "unknown/unknown")
                                .collect();
                            return Err(RegistryError::NoPlatform {
                                reference: ctx.reference.clone(),
                                platform: p.to_string(),
                                available: if available.is_empty() {
                                    "none".into()
                                } else {
                                    available.join(", ")
                                },
                            });
                        }
                    }
                }
            };
            for d in chosen {
                let f = if cache.has_blob(&d.digest) {
                    let bytes = cache.read_blob(&d.digest, Some(d.size))?;
                    Fetched {
                        media_type: d.media_type.clone(),
                        digest: d.digest.clone(),
                        bytes,
                    }
                } else {
                    self.get_manifest(&ep, &ctx, &d.digest)?
                };
                manifests.push((d, f));
            }
        } else if is_manifest_media_type(&root.media_type) {
            let d = Descriptor::new(
                root.media_type.clone(),
                root.digest.clone(),
                root.bytes.len() as u64,
            );
            manifests.push((d, root.clone()));
        } else {
            return Err(bad(format!(
                "its manifest {} has media type {:?}, which is not an OCI or Docker schema 2 image \
                 manifest or index",
                root.digest, root.media_type
            )));
        }

        let mut blobs: Vec<Descriptor> = Vec::new();
        for (d, f) in &manifests {
            let m: Manifest = serde_json::from_slice(&f.bytes)
                .map_err(|e| bad(format!("cannot parse its manifest {}: {e}", d.digest)))?;
            for b in std::iter::once(&m.config).chain(m.layers.iter()) {
                digest_hex(&b.digest).map_err(|_| {
                    bad(format!(
                        "manifest {} names blob {:?}, which is not a sha256 digest",
                        d.digest, b.digest
                    ))
                })?;
                if !blobs.iter().any(|x| x.digest == b.digest) {
                    blobs.push(b.clone());
                }
            }
        }
        self.fetch_blobs(&ep, &ctx, cache, &blobs)?;
        for (_, f) in &manifests {
            cache.write_blob(&f.bytes)?;
        }
        cache.write_blob(&root.bytes)?;
        Ok(Pulled {
            root: Descriptor::new(root.media_type, root.digest, root.bytes.len() as u64),
            manifests: manifests.into_iter().map(|(d, _)| d).collect(),
        })
    }

    /// Download the blobs the cache lacks, `parallel` at a time.
    pub fn fetch_blobs(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        cache: &Cache,
        blobs: &[Descriptor],
    ) -> Result<(), RegistryError> {
        let todo: Vec<&Descriptor> = blobs
            .iter()
            .filter(|b| {
                let have = cache.has_blob(&b.digest);
                if have {
                    self.progress().blob_skipped(&b.digest, "in the cache");
                }
                !have
            })
            .collect();
        let queue = Mutex::new(todo.into_iter());
        let failed = AtomicBool::new(false);
        let first: Mutex<Option<RegistryError>> = Mutex::new(None);
        let workers = self.opts.parallel.max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(_) => return,
                        };
                        let Some(b) = next else { return };
                        if let Err(e) = self.fetch_blob(ep, ctx, cache, b) {
                            failed.store(true, Ordering::Relaxed);
                            if let Ok(mut f) = first.lock()
                                && f.is_none()
                            {
                                *f = Some(e);
                            }
                            return;
                        }
                    }
                });
            }
        });
        match first.into_inner() {
            Ok(Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Download one blob into the cache, resuming a partial download.
    pub fn fetch_blob(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        cache: &Cache,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        let hex = digest_hex(&desc.digest)?.to_string();
        let dir = cache.root().join("ingest");
        std::fs::create_dir_all(&dir)
            .map_err(|e| RegistryError::io("cannot create directory", &dir, e))?;
        let part = dir.join(format!("{hex}.partial"));
        let mut f = open_locked(&part)?;
        if cache.has_blob(&desc.digest) {
            // Another process finished it while we waited for the lock.
            let _ = std::fs::remove_file(&part);
            self.progress().blob_skipped(&desc.digest, "in the cache");
            return Ok(());
        }
        let mut hasher = Sha256::new();
        let mut have = hash_file(&mut f, &mut hasher, &part)?;
        if have > desc.size {
            reset(&mut f, &mut hasher, &mut have, &part)?;
        }
        // A declared size is not trusted up to the disk: refuse what cannot
        // fit before asking for it.
        if let Some(free) = free_space(&dir)
            && desc.size - have > free
        {
            drop(f);
            if have == 0 {
                let _ = std::fs::remove_file(&part);
            }
            return Err(RegistryError::NoSpace {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                digest: desc.digest.clone(),
                size: desc.size - have,
                free,
                path: dir,
            });
        }
        let resumed_from = have;
        let mut restarted = false;
        let mut attempt = 0;
        let attempts = self.opts.retry.attempts.max(1);
        self.progress()
            .blob_start(&desc.digest, desc.size, have, false);
        let mismatch = |found: String| RegistryError::DigestMismatch {
            registry: ctx.registry.clone(),
            reference: ctx.reference.clone(),
            what: "blob",
            digest: desc.digest.clone(),
            found,
        };
        loop {
            if have == desc.size {
                let actual = format!("sha256:{}", hex::encode(hasher.clone().finalize()));
                if actual == desc.digest {
                    commit(f, &part, &cache.blob_path(&desc.digest))?;
                    self.progress().blob_done(&desc.digest);
                    return Ok(());
                }
                if resumed_from > 0 && !restarted {
                    // The stale partial file may be what is wrong: start over once.
                    restarted = true;
                    reset(&mut f, &mut hasher, &mut have, &part)?;
                    continue;
                }
                drop(f);
                let _ = std::fs::remove_file(&part);
                return Err(mismatch(format!(
                    "its content hashes to {actual} ({have} bytes)"
                )));
            }
            let mut req = Req::new(
                "GET",
                format!("/v2/{}/blobs/{}", ctx.repository, desc.digest),
                format!("repository:{}:pull", ctx.repository),
                "pull",
            );
            if have > 0 {
                req.headers.push(("range", format!("bytes={have}-")));
            }
            let resp = self.send(ep, ctx, &req)?;
            match resp.status().as_u16() {
                200 => {
                    if have > 0 {
                        reset(&mut f, &mut hasher, &mut have, &part)?;
                    }
                }
                206 => {
                    let start = resp
                        .headers()
                        .get("content-range")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse::<u64>().ok());
                    if start != Some(have) {
                        drop(read_small(resp));
                        reset(&mut f, &mut hasher, &mut have, &part)?;
                        continue;
                    }
                }
                416 => {
                    drop(read_small(resp));
                    reset(&mut f, &mut hasher, &mut have, &part)?;
                    continue;
                }
                _ => {
                    // Nothing to resume from a refusal: keep no empty file.
                    if have == 0 {
                        drop(f);
                        let _ = std::fs::remove_file(&part);
                    }
                    return Err(self.status_error(ctx, &req, resp, "blob"));
                }
            }
            let mut reader = resp.into_body().into_reader();
            let mut buf = vec![0u8; 256 << 10];
            let mut watch = self.opts.min_progress.watch();
            let outcome: Result<(), std::io::Error> = loop {
                let got = reader.read(&mut buf);
                if let Err(stalled) = watch.advance(*got.as_ref().unwrap_or(&0) as u64) {
                    break Err(std::io::Error::new(std::io::ErrorKind::TimedOut, stalled));
                }
                match got {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        if have + n as u64 > desc.size {
                            drop(f);
                            let _ = std::fs::remove_file(&part);
                            return Err(mismatch(format!(
                                "the registry sent more than the {} bytes the manifest gives",
                                desc.size
                            )));
                        }
                        if let Err(e) = f.write_all(&buf[..n]) {
                            // A full disk or a failing one: a partial file
                            // that cannot grow only takes space away.
                            drop(f);
                            let _ = std::fs::remove_file(&part);
                            return Err(RegistryError::io("cannot write", &part, e));
                        }
                        hasher.update(&buf[..n]);
                        have += n as u64;
                        self.progress().blob_advance(&desc.digest, n as u64);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            let cause = match outcome {
                Ok(()) if have == desc.size => continue,
                Ok(()) => format!("the connection closed after {have} of {} bytes", desc.size),
                Err(e) => e.to_string(),
            };
            attempt += 1;
            if attempt >= attempts {
                return Err(RegistryError::Unreachable {
                    registry: ctx.registry.clone(),
                    reference: ctx.reference.clone(),
                    cause: format!(
                        "downloading blob {} failed {attempts} times: {cause}; the partial \
                         download is kept and resumed by the next pull",
                        desc.digest
                    ),
                    hint: String::new(),
                });
            }
            let wait = self
                .opts
                .retry
                .base
                .saturating_mul(1 << (attempt - 1).min(16));
            let wait = wait.min(self.opts.retry.max);
            self.progress().retry(&ctx.reference, &cause, wait);
            std::thread::sleep(wait);
        }
    }
}

/// Bytes an unprivileged user may still write on the filesystem holding
/// `dir` (`None` when it cannot be asked: then nothing is refused).
fn free_space(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Open (creating) a partial file and take an exclusive lock on it, making sure
/// the locked file is still the one at `path` (a concurrent pull may have
/// renamed it into the cache meanwhile).
fn open_locked(path: &Path) -> Result<File, RegistryError> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| RegistryError::io("cannot open", path, e))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| RegistryError::io("cannot lock", path, e.into()))?;
        let same = match (std::fs::metadata(path), f.metadata()) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if same {
            return Ok(f);
        }
    }
}

fn hash_file(f: &mut File, hasher: &mut Sha256, path: &Path) -> Result<u64, RegistryError> {
    f.seek(SeekFrom::Start(0))
        .map_err(|e| RegistryError::io("cannot read", path, e))?;
    let mut buf = vec![0u8; 256 << 10];
    let mut n_total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| RegistryError::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok(n_total)
}

fn reset(
    f: &mut File,
    hasher: &mut Sha256,
    have: &mut u64,
    path: &Path,
) -> Result<(), RegistryError> {
    f.set_len(0)
        .map_err(|e| RegistryError::io("cannot truncate", path, e))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| RegistryError::io("cannot seek", path, e))?;
    *hasher = Sha256::new();
    *have = 0;
    Ok(())
}

/// fsync the verified partial file and rename it to its blob name.
fn commit(f: File, part: &Path, dest: &Path) -> Result<(), RegistryError> {
    f.sync_all()
        .map_err(|e| RegistryError::io("cannot sync", part, e))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RegistryError::io("cannot create directory", parent, e))?;
    }
    std::fs::rename(part, dest).map_err(|e| RegistryError::io("cannot store blob", dest, e))?;
    crate::blob::sync_parent(dest);
    drop(f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_from_header_or_document() {
        assert_eq!(
            media_type_of(
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                b"{}"
            ),
            MEDIA_TYPE_OCI_INDEX
        );
        assert_eq!(
            media_type_of(
                Some("application/json"),
                br#"{"schemaVersion":2,"manifests":[]}"#
            ),
            MEDIA_TYPE_OCI_INDEX
        );
        assert_eq!(
            media_type_of(None, br#"{"schemaVersion":2,"config":{},"layers":[]}"#),
            MEDIA_TYPE_OCI_MANIFEST
        );
        assert_eq!(
            media_type_of(
                None,
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            ),
            MEDIA_TYPE_DOCKER_MANIFEST
        );
    }
}
