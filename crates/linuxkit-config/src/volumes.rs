//! Volume references in container entries (yaml.md §11.3): rewrite `binds`,
//! `binds.add` and bind `mounts` whose source is a volume name to the
//! volume's merged directory, and enforce read-only volumes.
//!
//! Deliberate fix of an upstream bug: upstream forgets to write the rewritten
//! source back for `mounts:` entries (it loops over a copy), so the OCI mount
//! keeps the bare volume name; we rewrite it to `/containers/volumes/<v>/merged`.
//! This changes `config.json` of conformance case
//! `tc-000_build-070_volumes-006_mount_types`.

use crate::SpecError;
use crate::model::{Image, Volume};

fn rewrite_binds(binds: &[String], volumes: &[Volume]) -> Result<Vec<String>, SpecError> {
    let mut out = Vec::with_capacity(binds.len());
    for (i, bind) in binds.iter().enumerate() {
        let mut parts: Vec<&str> = bind.split(':').collect();
        let source = parts[0];
        if source.starts_with('/') {
            out.push(bind.clone());
            continue;
        }
        let vol =
            volumes
                .iter()
                .find(|v| v.name == source)
                .ok_or_else(|| SpecError::VolumeNotFound {
                    volume: source.to_string(),
                    what: "bin",
                    index: i,
                })?;
        if vol.readonly && parts.get(2) != Some(&"ro") {
            return Err(SpecError::VolumeReadOnly(source.to_string()));
        }
        let merged = vol.merged_dir();
        parts[0] = &merged;
        out.push(parts.join(":"));
    }
    Ok(out)
}

/// Resolve volume names in the yaml `binds`, `binds.add` and `mounts` of `image`.
/// The volume table is the merged list of all files (upstream used only the
/// last file's volumes).
pub fn update_image_from_volumes(image: &Image, volumes: &[Volume]) -> Result<Image, SpecError> {
    let mut img = image.clone();
    if let Some(mounts) = img.mounts.as_mut() {
        for (i, m) in mounts.iter_mut().enumerate() {
            if m.r#type != "bind" || m.source.starts_with('/') {
                continue;
            }
            let vol = volumes.iter().find(|v| v.name == m.source).ok_or_else(|| {
                SpecError::VolumeNotFound {
                    volume: m.source.clone(),
                    what: "mount",
                    index: i,
                }
            })?;
            if vol.readonly {
                let ro = m
                    .options
                    .iter()
                    .find(|o| *o == "rw" || *o == "ro")
                    .is_some_and(|o| o == "ro");
                if !ro {
                    return Err(SpecError::VolumeReadOnly(m.source.clone()));
                }
            }
            m.source = vol.merged_dir();
        }
    }
    if let Some(b) = &img.binds {
        img.binds = Some(rewrite_binds(b, volumes)?);
    }
    if let Some(b) = &img.binds_add {
        img.binds_add = Some(rewrite_binds(b, volumes)?);
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mount;

    fn vol(name: &str, readonly: bool) -> Volume {
        Volume {
            name: name.into(),
            readonly,
            ..Volume::default()
        }
    }

    #[test]
    fn binds_are_rewritten() {
        let img = Image {
            binds: Some(vec!["/a:/a".into(), "v:/data:ro".into()]),
            binds_add: Some(vec!["w:/w".into()]),
            mounts: Some(vec![Mount {
                destination: "/m".into(),
                r#type: "bind".into(),
                source: "w".into(),
                options: vec!["rw".into()],
                ..Mount::default()
            }]),
            ..Image::default()
        };
        let out = update_image_from_volumes(&img, &[vol("v", true), vol("w", false)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.binds,
            Some(vec![
                "/a:/a".into(),
                "/containers/volumes/v/merged:/data:ro".into()
            ])
        );
        assert_eq!(
            out.binds_add,
            Some(vec!["/containers/volumes/w/merged:/w".into()])
        );
        assert_eq!(
            out.mounts.map(|m| m[0].source.clone()),
            Some("/containers/volumes/w/merged".to_string())
        );
    }

    #[test]
    fn errors() {
        let img = Image {
            binds: Some(vec!["novol:/data".into()]),
            ..Image::default()
        };
        assert_eq!(
            update_image_from_volumes(&img, &[])
                .unwrap_err()
                .to_string(),
            "volume novol not found in onboot image bin 0"
        );
        let img = Image {
            binds: Some(vec!["v:/data".into()]),
            ..Image::default()
        };
        assert_eq!(
            update_image_from_volumes(&img, &[vol("v", true)])
                .unwrap_err()
                .to_string(),
            "volume v is read-only, but attempting to write into container read-write"
        );
        let img = Image {
            binds: Some(vec!["v:/data:ro,rshared".into()]),
            ..Image::default()
        };
        assert!(update_image_from_volumes(&img, &[vol("v", true)]).is_err());
    }
}
