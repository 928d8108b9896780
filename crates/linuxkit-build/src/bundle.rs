//! Container bundles (`containers/onboot/NNN-name`, `containers/onshutdown/
//! NNN-name`, `containers/services/name`): config.json, runtime.json and the
//! root filesystem, extracted once per image reference and shared by later
//! users (image-layout.md §5).

use crate::error::BuildError;
use crate::image::{Origin, Role, prefix_dirs, write_image};
use crate::images::Images;
use crate::{SEGMENT_VERSION, SegmentKey, Sink};
use linuxkit_config::{IdMap, Image, ImageDefaults, RuntimeMount, Volume};
use std::collections::HashMap;
use std::sync::Arc;

/// Tracks, per canonical reference, where its root filesystem was first written.
#[derive(Default)]
pub struct Dedup {
    first: HashMap<String, String>,
}

/// The image defaults (`Env`, `Entrypoint`, ... and the label) of an image.
pub fn defaults(img: &crate::images::Loaded) -> ImageDefaults {
    let cfg = img.resolved.config.config.as_ref();
    ImageDefaults {
        env: cfg.and_then(|c| c.env.clone()),
        entrypoint: cfg.and_then(|c| c.entrypoint.clone()).unwrap_or_default(),
        cmd: cfg.and_then(|c| c.cmd.clone()).unwrap_or_default(),
        working_dir: cfg.and_then(|c| c.working_dir.clone()).unwrap_or_default(),
        label: cfg
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get("org.mobyproject.config").cloned()),
    }
}

fn mount(dst: &str, typ: &str, src: &str, options: &[&str]) -> RuntimeMount {
    RuntimeMount::new(dst, typ, src, options)
}

/// Write one container bundle. Returns the directory the image's files
/// were written to, or `None` when an earlier container's copy is reused.
#[allow(clippy::too_many_arguments)]
pub fn write_container(
    images: &Images<'_>,
    section: &str,
    index: usize,
    image: &Image,
    volumes: &[Volume],
    idmap: &IdMap,
    dedup: &mut Dedup,
    mtime: i64,
    sink: &mut dyn Sink,
) -> Result<Option<String>, BuildError> {
    tracing::info!("  Create OCI config for {}", image.image);
    let updated = linuxkit_config::update_image_from_volumes(image, volumes).map_err(|e| {
        BuildError::Volumes {
            at: image.origin.prefix(),
            image: image.image.clone(),
            source: Box::new(e),
        }
    })?;
    let img = images.get(&image.image)?;
    let spec = linuxkit_config::oci_spec(&updated, &defaults(&img), idmap).map_err(|e| {
        BuildError::Spec {
            at: image.origin.prefix(),
            image: image.image.clone(),
            source: Box::new(e),
        }
    })?;
    let dir = linuxkit_vm_abi::bundle::bundle_dir(section, index, &image.name);
    let origin = Origin {
        source: img.canonical.clone(),
        location: Arc::from(format!("{section}[{index}]")),
        mtime,
    };
    let readonly = spec.readonly;
    let root_dir = format!("{dir}/{}", if readonly { "rootfs" } else { "lower" });
    let reused = dedup.first.get(img.canonical.as_ref()).cloned();
    let lower = match reused.clone() {
        Some(first) => {
            prefix_dirs(&format!("{dir}/"), &origin, sink)?;
            first
        }
        None => {
            // The root filesystem is one keyed run: a sink that cached it
            // (the initrd, the tar) replays it without reading the layers.
            let key = format!(
                "{SEGMENT_VERSION}|container|{}|{}|{root_dir}|{mtime}",
                img.resolved.manifest_digest, img.canonical
            );
            if !sink.segment(Some(SegmentKey {
                content: &key,
                location: &origin.location,
            }))? {
                let entries = images.entries(&img)?;
                write_image(
                    &entries,
                    &format!("{root_dir}/"),
                    Role::Container,
                    &origin,
                    sink,
                    &mut |_, _| {},
                )?;
            }
            sink.segment(None)?;
            dedup
                .first
                .insert(img.canonical.to_string(), root_dir.clone());
            root_dir.clone()
        }
    };
    sink.put(origin.file(
        format!("{dir}/config.json"),
        0o644,
        spec.config_json.as_bytes(),
    ))?;
    let mut mounts = Vec::new();
    if readonly {
        if reused.is_some() {
            sink.put(origin.dir(format!("{dir}/rootfs")))?;
        }
        mounts.push(mount(
            &format!("/{dir}/rootfs"),
            "",
            &format!("/{lower}"),
            &["bind"],
        ));
    } else {
        sink.put(origin.dir(format!("{dir}/tmp")))?;
        sink.put(origin.dir(format!("{dir}/rootfs")))?;
        mounts.push(mount(&format!("/{dir}/tmp"), "tmpfs", "tmpfs", &[]));
        mounts.push(mount(
            &format!("/{dir}/tmp"),
            "",
            "",
            &["remount", "private"],
        ));
        mounts.push(mount(
            &format!("/{dir}/rootfs"),
            "overlay",
            "overlay",
            &[
                &format!("lowerdir=/{lower}"),
                &format!("upperdir=/{dir}/tmp/upper"),
                &format!("workdir=/{dir}/tmp/work"),
            ],
        ));
    }
    let runtime = linuxkit_config::runtime_json(&mounts, &spec.runtime);
    sink.put(origin.file(format!("{dir}/runtime.json"), 0o644, runtime.as_bytes()))?;
    Ok(reused.is_none().then_some(root_dir))
}
