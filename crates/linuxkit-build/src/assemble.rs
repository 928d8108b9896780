//! The assembler: resolves the images a configuration names from the
//! cache, flattens their layers once, and yields the image's filesystem
//! as one deterministic stream of entries in upstream's section order —
//! kernel, init, volumes, onboot, onshutdown, services, files, extras —
//! into a [`Sink`]. It writes no file: the sinks do.

use crate::error::BuildError;
use crate::files::FileContext;
use crate::image::{Origin, Role, write_image};
use crate::images::{self, Images};
use crate::{
    SEGMENT_VERSION, SegmentKey, Sink, bundle, files, input_tar, kernel, sbom, source_date_epoch,
    volumes,
};
use linuxkit_config::{IdMap, Moby};
use linuxkit_formats::Shared;
use linuxkit_formats::{Entry, entry::DEFAULT_MTIME};
use linuxkit_oci::{Cache, Platform};
use std::path::PathBuf;
use std::sync::Arc;

/// SBOM options.
#[derive(Debug, Clone)]
pub struct SbomOptions {
    /// Path inside the image (default `sbom.spdx.json`).
    pub path: String,
    /// Use the current time as creation time instead of the fixed one.
    pub current_time: bool,
}

/// How to assemble.
#[derive(Debug, Clone)]
pub struct AssembleOptions {
    /// Target platform (`linux/<arch>`).
    pub platform: Platform,
    /// `--decompress-kernel`.
    pub decompress_kernel: bool,
    /// mtime of generated entries (`SOURCE_DATE_EPOCH` or 1492533000).
    pub mtime: i64,
    /// Resolution of `files: source:`.
    pub files: FileContext,
    /// `--input-tar`.
    pub input_tar: Option<PathBuf>,
    /// Append the `Dockerfile` of the `docker` format.
    pub dockerfile: bool,
    /// Write the merged SBOM.
    pub sbom: Option<SbomOptions>,
}

impl AssembleOptions {
    /// Defaults for the host platform and the current directory.
    pub fn new(cwd: PathBuf) -> AssembleOptions {
        AssembleOptions {
            platform: Platform::host(),
            decompress_kernel: false,
            mtime: source_date_epoch().unwrap_or(DEFAULT_MTIME),
            files: FileContext {
                cwd,
                home: std::env::var_os("HOME").map(PathBuf::from),
            },
            input_tar: None,
            dockerfile: false,
            sbom: Some(SbomOptions {
                path: "sbom.spdx.json".into(),
                current_time: false,
            }),
        }
    }
}

/// Contents of the `Dockerfile` appended for the `docker` format.
pub const DOCKERFILE: &str = "\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT [\"/bin/rc.init\"]\n";

/// Assemble `moby` into `sink`.
pub fn assemble(
    cache: &Cache,
    moby: &Moby,
    opts: &AssembleOptions,
    sink: &mut dyn Sink,
) -> Result<(), BuildError> {
    let images = Images::new(cache, opts.platform.clone());
    let reuse = match &opts.input_tar {
        Some(p) => Some(input_tar::InputTar::load(p, moby)?),
        None => None,
    };
    let mut sbom = sbom::Collector::default();
    let idmap = IdMap::new(moby);
    let mtime = opts.mtime;

    // Kernel
    if !moby.kernel.image.is_empty() {
        let canonical = images::canonical(&moby.kernel.image)?;
        if let Some(r) = reuse.as_ref().filter(|r| r.kernel_reusable(&canonical)) {
            r.copy("kernel", &canonical, sink)?;
        } else {
            let img = images.get(&moby.kernel.image)?;
            let k = &moby.kernel;
            let key = format!(
                "{SEGMENT_VERSION}|kernel|{}|{}|{}|{:?}|{:?}|{}|{mtime}|{}",
                img.resolved.manifest_digest,
                img.canonical,
                k.binary,
                k.tar,
                k.ucode,
                opts.decompress_kernel,
                k.cmdline
            );
            if sink.segment(Some(SegmentKey {
                content: &key,
                location: "kernel",
            }))? {
                tracing::info!("Extract kernel image: {} (cached)", img.canonical);
            } else {
                kernel::write_kernel(&images, &moby.kernel, opts.decompress_kernel, mtime, sink)?;
            }
            sink.segment(None)?;
            sbom.add(&images, &moby.kernel.image, "")?;
        }
    }

    // Init images, then the merged apk database.
    tracing::info!("Add init containers:");
    let mut apk: Vec<Shared> = Vec::new();
    for (i, init) in moby.init.iter().enumerate() {
        let canonical = images::canonical(init)?;
        let label = format!("init[{i}]");
        if let Some(r) = reuse.as_ref().filter(|r| r.init_reusable(i, &canonical)) {
            r.copy(
                &label,
                &canonical,
                &mut ApkSpy {
                    inner: sink,
                    dbs: &mut apk,
                },
            )?;
            continue;
        }
        let img = images.get(init)?;
        tracing::info!("Process init image: {}", img.canonical);
        let key = format!(
            "{SEGMENT_VERSION}|root||{}|{}|{mtime}",
            img.resolved.manifest_digest, img.canonical
        );
        if sink.segment(Some(SegmentKey {
            content: &key,
            location: &label,
        }))? {
            if let Some(db) = images.apk_db(&img)? {
                apk.push(db);
            }
        } else {
            let entries = images.entries(&img)?;
            let origin = Origin {
                source: img.canonical.clone(),
                location: Arc::from(label),
                mtime,
            };
            write_image(&entries, "", Role::Root, &origin, sink, &mut |name, e| {
                if name == "lib/apk/db/installed" && e.kind == linuxkit_formats::Kind::File {
                    apk.push(e.data.clone());
                }
            })?;
        }
        sink.segment(None)?;
        sbom.add(&images, init, "")?;
    }
    if apk.len() >= 2 {
        let mut merged = Vec::new();
        for db in &apk {
            merged.extend_from_slice(db);
            merged.extend_from_slice(b"\n\n");
        }
        let e = Entry::file("lib/apk/db/installed", 0o644, 0, merged)
            .with_origin(&Arc::from("LINUXKIT.apkinit"), &Arc::from("init"));
        sink.put(e)?;
    }

    // Volumes
    tracing::info!("Add volumes:");
    for (i, v) in moby.volumes.iter().enumerate() {
        if let Some(r) = reuse.as_ref()
            && let Some(canonical) = r.volume_reusable(i, v)
        {
            r.copy(&format!("volume[{i}]"), &canonical, sink)?;
            continue;
        }
        volumes::write_volume(&images, i, v, mtime, sink)?;
        if !v.image.is_empty() {
            sbom.add(
                &images,
                &v.image,
                &format!("containers/volumes/{}/lower", v.name),
            )?;
        }
    }

    // Containers
    let mut dedup = bundle::Dedup::default();
    for (section, title, list) in [
        ("onboot", "Add onboot containers:", &moby.onboot),
        ("onshutdown", "Add onshutdown containers:", &moby.onshutdown),
        ("services", "Add service containers:", &moby.services),
    ] {
        tracing::info!("{title}");
        for (i, c) in list.iter().enumerate() {
            if let Some(r) = reuse.as_ref()
                && let Some(canonical) = r.container_reusable(section, i, c)
            {
                r.copy(&format!("{section}[{i}]"), &canonical, sink)?;
                continue;
            }
            let root = bundle::write_container(
                &images,
                section,
                i,
                c,
                &moby.volumes,
                &idmap,
                &mut dedup,
                mtime,
                sink,
            )?;
            // The SBOM lists an image once, under the directory it was extracted to.
            if let Some(root) = root {
                sbom.add(&images, &c.image, &root)?;
            }
        }
    }

    files::write_files(moby, &idmap, &opts.files, mtime, sink)?;

    if opts.dockerfile {
        tracing::info!("  Adding Dockerfile");
        sink.put(Entry::file(
            "Dockerfile",
            0o644,
            mtime,
            DOCKERFILE.as_bytes(),
        ))?;
    }
    if let Some(s) = &opts.sbom {
        sink.put(sbom.finish(s, mtime)?)?;
    }
    Ok(())
}

/// Records apk databases that pass through while copying from an input tar.
struct ApkSpy<'a> {
    inner: &'a mut dyn Sink,
    dbs: &'a mut Vec<Shared>,
}

impl Sink for ApkSpy<'_> {
    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if e.path == "lib/apk/db/installed" && e.kind == linuxkit_formats::Kind::File {
            self.dbs.push(e.data.clone());
        }
        self.inner.put(e)
    }
}
