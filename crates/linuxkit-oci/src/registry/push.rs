//! Pushing from the cache: blobs first (skipped when the registry has them,
//! mounted from another repository of the same registry when we know one,
//! else uploaded monolithically or in chunks), then image manifests by
//! digest, then the root under its tag. An index pushed over an existing
//! remote index keeps the remote platforms the local one lacks, as upstream's
//! `cache push` does, unless told to override.

use std::collections::BTreeMap;

use super::RegistryError;
use super::client::{Client, Ctx, Endpoint, Req, ReqBody, read_small};
use crate::blob::sha256_digest;
use crate::cache::Cache;
use crate::error::OciError;
use crate::reference::Reference;
use crate::types::*;

/// Options of a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Also tag each platform's manifest as `<tag>-<arch>`.
    pub with_arch_tags: bool,
    /// Replace a remote index instead of merging platforms into it.
    pub override_remote: bool,
    /// A repository of the same registry that may already hold the blobs
    /// (cross-repository mount).
    pub mount_from: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The root descriptor pushed under the tag.
    pub root: Descriptor,
    /// Tags written.
    pub tags: Vec<String>,
}

fn join_location(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else if loc.starts_with('/') {
        // `base` may carry a mirror path; uploads go to the host root.
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let host_end = base[scheme_end..]
            .find('/')
            .map(|i| scheme_end + i)
            .unwrap_or(base.len());
        format!("{}{loc}", &base[..host_end])
    } else {
        format!("{base}/{loc}")
    }
}

fn with_query(url: &str, kv: &str) -> String {
    if url.contains('?') {
        format!("{url}&{kv}")
    } else {
        format!("{url}?{kv}")
    }
}

impl Client {
    fn origin(&self, registry: &str) -> Endpoint {
        // Pushes never go to mirrors.
        self.endpoints(registry)
            .into_iter()
            .find(|e| !e.mirror)
            .unwrap_or(Endpoint {
                base: format!("https://{registry}"),
                registry: registry.to_string(),
                mirror: false,
            })
    }

    fn push_scope(ctx: &Ctx) -> String {
        format!("repository:{}:pull,push", ctx.repository)
    }

    /// Does the registry have this blob?
    fn has_remote_blob(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let req = Req::new(
            "HEAD",
            format!("/v2/{}/blobs/{digest}", ctx.repository),
            Self::push_scope(ctx),
            "push",
        );
        let resp = self.send(ep, ctx, &req)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(ctx, &req, resp, "blob")),
        }
    }

    fn location(
        &self,
        ctx: &Ctx,
        req: &Req<'_>,
        resp: &super::client::Response,
        base: &str,
    ) -> Result<String, RegistryError> {
        resp.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| join_location(base, l))
            .ok_or_else(|| RegistryError::Status {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                request: format!("{} {}", req.method, req.path),
                detail: format!("{} without a Location header", resp.status().as_u16()),
            })
    }

    /// Upload one blob from the cache (unless the registry has it).
    pub fn push_blob(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        cache: &Cache,
        desc: &Descriptor,
        mount_from: Option<&str>,
    ) -> Result<(), RegistryError> {
        if self.has_remote_blob(ep, ctx, &desc.digest)? {
            self.progress()
                .blob_skipped(&desc.digest, "already in the registry");
            return Ok(());
        }
        let path = cache.blob_path(&desc.digest);
        let size = std::fs::metadata(&path)
            .map_err(|_| OciError::BlobMissing {
                image: Some(ctx.reference.clone()),
                digest: desc.digest.clone(),
                path: path.clone(),
                cache: cache.root().to_path_buf(),
            })?
            .len();
        let base = ep.base.clone();
        // Start an upload session, or mount the blob from another repository.
        let (start_path, scope) = match mount_from.filter(|f| *f != ctx.repository) {
            Some(from) => (
                format!(
                    "/v2/{}/blobs/uploads/?mount={}&from={from}",
                    ctx.repository, desc.digest
                ),
                format!("{} repository:{from}:pull", Self::push_scope(ctx)),
            ),
            None => (
                format!("/v2/{}/blobs/uploads/", ctx.repository),
                Self::push_scope(ctx),
            ),
        };
        let mut req = Req::new("POST", start_path, scope.clone(), "push");
        req.headers.push(("content-length", "0".into()));
        let resp = self.send(ep, ctx, &req)?;
        match resp.status().as_u16() {
            201 => {
                self.progress()
                    .blob_skipped(&desc.digest, "mounted from another repository");
                return Ok(());
            }
            202 => {}
            _ => return Err(self.status_error(ctx, &req, resp, "blob upload")),
        }
        let mut location = self.location(ctx, &req, &resp, &base)?;
        drop(read_small(resp));
        self.progress().blob_start(&desc.digest, size, 0, true);
        let chunk = self.opts.chunk_size.max(1);
        if size > chunk {
            let mut offset = 0;
            while offset < size {
                let len = chunk.min(size - offset);
                let mut req = Req::new("PATCH", location.clone(), scope.clone(), "push");
                req.headers
                    .push(("content-type", "application/octet-stream".into()));
                req.headers
                    .push(("content-range", format!("{offset}-{}", offset + len - 1)));
                req.body = ReqBody::File {
                    path: &path,
                    offset,
                    len,
                };
                let resp = self.send(ep, ctx, &req)?;
                if resp.status().as_u16() != 202 {
                    return Err(self.status_error(ctx, &req, resp, "blob upload"));
                }
                location = self.location(ctx, &req, &resp, &base)?;
                drop(read_small(resp));
                offset += len;
                self.progress().blob_advance(&desc.digest, len);
            }
            let mut req = Req::new(
                "PUT",
                with_query(&location, &format!("digest={}", desc.digest)),
                scope,
                "push",
            );
            req.headers.push(("content-length", "0".into()));
            let resp = self.send(ep, ctx, &req)?;
            if resp.status().as_u16() != 201 {
                return Err(self.status_error(ctx, &req, resp, "blob upload"));
            }
        } else {
            let mut req = Req::new(
                "PUT",
                with_query(&location, &format!("digest={}", desc.digest)),
                scope,
                "push",
            );
            req.headers
                .push(("content-type", "application/octet-stream".into()));
            req.body = ReqBody::File {
                path: &path,
                offset: 0,
                len: size,
            };
            let resp = self.send(ep, ctx, &req)?;
            if resp.status().as_u16() != 201 {
                return Err(self.status_error(ctx, &req, resp, "blob upload"));
            }
            self.progress().blob_advance(&desc.digest, size);
        }
        self.progress().blob_done(&desc.digest);
        Ok(())
    }

    /// PUT a manifest or index under `ident` (tag or digest).
    pub fn put_manifest(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        ident: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let mut req = Req::new(
            "PUT",
            format!("/v2/{}/manifests/{ident}", ctx.repository),
            Self::push_scope(ctx),
            "push",
        );
        req.headers.push(("content-type", media_type.to_string()));
        req.body = ReqBody::Bytes(bytes);
        let resp = self.send(ep, ctx, &req)?;
        match resp.status().as_u16() {
            200..=202 => Ok(()),
            _ => Err(self.status_error(ctx, &req, resp, &format!("manifest {ident}"))),
        }
    }

    /// Push one image manifest (its config and layers, then itself by digest).
    fn push_image_manifest(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        cache: &Cache,
        desc: &Descriptor,
        mount_from: Option<&str>,
    ) -> Result<Vec<u8>, RegistryError> {
        let bytes = cache
            .read_blob(&desc.digest, Some(desc.size))
            .map_err(|e| e.with_image(&ctx.reference))?;
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadManifest {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                message: format!("cannot parse manifest {} in the cache: {e}", desc.digest),
            })?;
        let blobs: Vec<Descriptor> = std::iter::once(m.config.clone())
            .chain(m.layers.iter().cloned())
            .collect();
        self.for_each_parallel(&blobs, |b| self.push_blob(ep, ctx, cache, b, mount_from))?;
        let media_type = m
            .media_type
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| desc.media_type.clone());
        self.put_manifest(ep, ctx, &desc.digest, &media_type, &bytes)?;
        Ok(bytes)
    }

    /// Run `f` on each item, `parallel` at a time; the first error wins.
    fn for_each_parallel<T: Sync>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> Result<(), RegistryError> + Sync,
    ) -> Result<(), RegistryError> {
        let queue = std::sync::Mutex::new(items.iter());
        let first = std::sync::Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.opts.parallel.max(1) {
                s.spawn(|| {
                    loop {
                        if first.lock().map(|g| g.is_some()).unwrap_or(true) {
                            return;
                        }
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(_) => return,
                        };
                        let Some(item) = next else { return };
                        if let Err(e) = f(item) {
                            if let Ok(mut g) = first.lock()
                                && g.is_none()
                            {
                                *g = Some(e);
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

    /// Push the cache's image `local_name` as `remote`.
    pub fn push(
        &self,
        cache: &Cache,
        local_name: &str,
        remote: &Reference,
        opts: &PushOptions,
    ) -> Result<Pushed, RegistryError> {
        let root = cache
            .lookup(local_name)?
            .ok_or_else(|| OciError::NoSuchName {
                name: local_name.to_string(),
                cache: cache.root().to_path_buf(),
            })?;
        let ctx = Self::ctx(remote);
        let ep = self.origin(&remote.registry);
        let tag = remote
            .tag
            .clone()
            .or_else(|| remote.digest.clone())
            .unwrap_or_else(|| "latest".to_string());
        let mount = opts.mount_from.as_deref();
        let mut tags = vec![tag.clone()];
        let root_bytes = cache
            .read_blob(&root.digest, Some(root.size))
            .map_err(|e| e.with_image(local_name))?;
        if is_index_media_type(&root.media_type) {
            let mut index: Index =
                serde_json::from_slice(&root_bytes).map_err(|e| RegistryError::BadManifest {
                    registry: ctx.registry.clone(),
                    reference: ctx.reference.clone(),
                    message: format!("cannot parse index {} in the cache: {e}", root.digest),
                })?;
            let mut pushed_children = Vec::new();
            for d in &index.manifests {
                if !cache.has_blob(&d.digest) {
                    // A platform we never pulled: fine if the registry has it.
                    let probe = self.get_manifest(&ep, &ctx, &d.digest);
                    if probe.is_err() {
                        return Err(OciError::BlobMissing {
                            image: Some(local_name.to_string()),
                            digest: d.digest.clone(),
                            path: cache.blob_path(&d.digest),
                            cache: cache.root().to_path_buf(),
                        }
                        .into());
                    }
                    continue;
                }
                let bytes = self.push_image_manifest(&ep, &ctx, cache, d, mount)?;
                pushed_children.push((d.clone(), bytes));
            }
            let mut bytes = root_bytes.clone();
            let mut media_type = root.media_type.clone();
            if !opts.override_remote
                && remote.digest.is_none()
                && let Ok(existing) = self.get_manifest(&ep, &ctx, &tag)
                && is_index_media_type(&existing.media_type)
                && existing.digest != root.digest
                && let Ok(theirs) = serde_json::from_slice::<Index>(&existing.bytes)
            {
                let ours: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.display()))
                    .collect();
                let mut added = false;
                for d in theirs.manifests {
                    let Some(p) = d.platform.as_ref() else {
                        continue;
                    };
                    if p.display() == "unknown/unknown" || ours.contains(&p.display()) {
                        continue;
                    }
                    index.manifests.push(d);
                    added = true;
                }
                if added {
                    bytes = serde_json::to_vec(&index)
                        .map_err(|e| RegistryError::Config(e.to_string()))?;
                    media_type = index
                        .media_type
                        .clone()
                        .unwrap_or_else(|| MEDIA_TYPE_OCI_INDEX.to_string());
                    self.progress().message(&format!(
                        "kept the platforms the remote index {} had and {} lacks",
                        remote, local_name
                    ));
                }
            }
            self.put_manifest(&ep, &ctx, &tag, &media_type, &bytes)?;
            if opts.with_arch_tags && remote.tag.is_some() {
                for (d, b) in &pushed_children {
                    let Some(p) = &d.platform else { continue };
                    if p.architecture.is_empty() || p.architecture == "unknown" {
                        continue;
                    }
                    let arch_tag = format!("{tag}-{}", p.architecture);
                    self.put_manifest(&ep, &ctx, &arch_tag, &d.media_type, b)?;
                    tags.push(arch_tag);
                }
            }
            Ok(Pushed {
                root: Descriptor::new(media_type, sha256_digest(&bytes), bytes.len() as u64),
                tags,
            })
        } else {
            let bytes = self.push_image_manifest(&ep, &ctx, cache, &root, mount)?;
            if remote.digest.is_none() {
                self.put_manifest(&ep, &ctx, &tag, &root.media_type, &bytes)?;
            }
            Ok(Pushed {
                root: Descriptor::new(root.media_type.clone(), root.digest.clone(), root.size),
                tags,
            })
        }
    }

    /// The tags of a repository (`/v2/<name>/tags/list`).
    pub fn list_tags(&self, r: &Reference) -> Result<Vec<String>, RegistryError> {
        let ctx = Self::ctx(r);
        let ep = self.origin(&r.registry);
        let req = Req::new(
            "GET",
            format!("/v2/{}/tags/list", ctx.repository),
            format!("repository:{}:pull", ctx.repository),
            "pull",
        );
        let resp = self.send(&ep, &ctx, &req)?;
        if resp.status().as_u16() != 200 {
            return Err(self.status_error(&ctx, &req, resp, "tags"));
        }
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let body = read_small(resp).map_err(|e| RegistryError::Unreachable {
            registry: ctx.registry.clone(),
            reference: ctx.reference.clone(),
            cause: e.to_string(),
            hint: String::new(),
        })?;
        let t: Tags = serde_json::from_slice(&body).map_err(|e| RegistryError::BadManifest {
            registry: ctx.registry.clone(),
            reference: ctx.reference.clone(),
            message: format!("cannot parse the tag list: {e}"),
        })?;
        let mut tags = t.tags.unwrap_or_default();
        tags.sort();
        Ok(tags)
    }
}

/// Annotations map helper for callers building descriptors.
pub fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            join_location("http://h:1", "/v2/a/blobs/uploads/u?_state=x"),
            "http://h:1/v2/a/blobs/uploads/u?_state=x"
        );
        assert_eq!(
            join_location("http://h:1/prefix", "/v2/x"),
            "http://h:1/v2/x"
        );
        assert_eq!(join_location("http://h:1", "https://s3/x"), "https://s3/x");
        assert_eq!(
            with_query("http://h/u?_state=x", "digest=d"),
            "http://h/u?_state=x&digest=d"
        );
        assert_eq!(with_query("http://h/u", "digest=d"), "http://h/u?digest=d");
    }
}
