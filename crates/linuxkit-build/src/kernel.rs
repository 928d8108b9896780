//! The kernel section: from the kernel image only the kernel binary, the
//! modules tarball (`kernel.tar`, appended verbatim) and an optional
//! microcode cpio are used (image-layout.md §2.1); `--decompress-kernel`
//! unpacks a gzip or x86 bzImage payload.

use crate::Sink;
use crate::error::BuildError;
use crate::image::Origin;
use crate::images::Images;
use linuxkit_config::Kernel;
use linuxkit_formats::Kind;
use linuxkit_formats::Shared;
use std::io::Read;
use std::sync::Arc;

/// Decompress a kernel: plain gzip, or an x86 bzImage with a gzip payload.
pub fn decompress_kernel(data: &[u8]) -> Result<Vec<u8>, String> {
    fn gunzip(b: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot gunzip the kernel: {e}"))?;
        Ok(out)
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        return gunzip(data);
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
    if data.len() > 0x250
        && u16_at(0x1fe) == 0xaa55
        && &data[0x202..0x206] == b"HdrS"
        && u16_at(0x206) >= 0x208
    {
        let setup_sects = match data[0x1f1] {
            0 => 4,
            n => usize::from(n),
        };
        let offset = u32_at(0x248) as usize + (setup_sects + 1) * 512;
        let len = u32_at(0x24c) as usize;
        let payload = data
            .get(offset..offset.saturating_add(len))
            .ok_or("the bzImage payload lies outside the file")?;
        if payload.starts_with(&[0x1f, 0x8b]) {
            return gunzip(payload);
        }
        return Err(
            "the bzImage payload is not gzip-compressed; only gzip kernels can be decompressed"
                .into(),
        );
    }
    Err("the kernel is neither gzip nor an x86 bzImage with a gzip payload".into())
}

/// Emit the kernel section.
pub fn write_kernel(
    images: &Images<'_>,
    kernel: &Kernel,
    decompress: bool,
    mtime: i64,
    sink: &mut dyn Sink,
) -> Result<(), BuildError> {
    let img = images.get(&kernel.image)?;
    tracing::info!("Extract kernel image: {}", img.canonical);
    let entries = images.entries(&img)?;
    let origin = Origin {
        source: img.canonical.clone(),
        location: Arc::from("kernel"),
        mtime,
    };
    let binary = if kernel.binary.is_empty() {
        "kernel"
    } else {
        kernel.binary.as_str()
    };
    let tar_name = match kernel.tar.as_deref() {
        None => Some("kernel.tar"),
        Some("") | Some("none") => None,
        Some(t) => Some(t),
    };
    let ucode = kernel.ucode.as_deref().filter(|u| !u.is_empty());
    let err = |m: &str| BuildError::Kernel {
        image: img.canonical.to_string(),
        message: m.to_string(),
    };
    let (mut found_kernel, mut found_tar, mut boot_done) = (false, false, false);
    for e in entries.iter() {
        let name = e.path.as_str();
        if name == binary {
            if found_kernel {
                return Err(err("found more than one possible kernel image in"));
            }
            found_kernel = true;
            if !boot_done {
                sink.put(origin.dir("boot"))?;
                boot_done = true;
            }
            sink.put(origin.file("boot/cmdline", 0o644, kernel.cmdline.as_bytes()))?;
            let data: Shared = if decompress {
                Shared::from(
                    decompress_kernel(&e.data).map_err(|m| err(&format!("{m}: kernel from")))?,
                )
            } else {
                e.data.clone()
            };
            let mut k = origin.file("boot/kernel", e.mode, data);
            k.kind = Kind::File;
            sink.put(k)?;
        } else if Some(name) == tar_name {
            found_tar = true;
            // Members are slices of the tar's buffer (a mapped cache file on
            // a warm build), not copies of it.
            let members = linuxkit_formats::tar::read_entries_shared(&e.data)
                .map_err(|x| err(&format!("cannot read {name} ({x}) in kernel image")))?;
            for mut m in members {
                let c = crate::flatten::clean(&m.path);
                if m.path.starts_with('/') || c == ".." || c.starts_with("../") {
                    return Err(err(&format!(
                        "{name} holds the unsafe path {:?}; refusing kernel image",
                        m.path
                    )));
                }
                m.source = origin.source.clone();
                m.location = origin.location.clone();
                m.pax.clear();
                sink.put(m)?;
            }
        } else if Some(name) == ucode {
            if !boot_done {
                sink.put(origin.dir("boot"))?;
                boot_done = true;
            }
            sink.put(origin.file("boot/ucode.cpio", e.mode, e.data.clone()))?;
        }
    }
    if !found_kernel {
        return Err(err("did not find kernel in kernel image"));
    }
    if tar_name.is_some() && !found_tar {
        return Err(err("did not find kernel tar in kernel image"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompress_plain_gzip_and_reject_other() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"vmlinux bytes").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decompress_kernel(&gz).unwrap(), b"vmlinux bytes");
        assert!(decompress_kernel(b"plain").is_err());
    }

    #[test]
    fn decompress_bzimage_payload() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"inner kernel").unwrap();
        let gz = enc.finish().unwrap();
        let setup_sects = 1u8;
        let mut img = vec![0u8; 0x400];
        img[0x1f1] = setup_sects;
        img[0x1fe] = 0x55;
        img[0x1ff] = 0xaa;
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        img[0x248..0x24c].copy_from_slice(&0u32.to_le_bytes());
        img[0x24c..0x250].copy_from_slice(&(gz.len() as u32).to_le_bytes());
        img.extend_from_slice(&gz);
        assert_eq!(decompress_kernel(&img).unwrap(), b"inner kernel");
    }
}
