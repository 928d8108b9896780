//! `linuxkit push registry FILE REF`: a `tar` or `docker` build output made
//! into a one-layer OCI image (the tar, gzip-compressed; for `docker` the
//! entrypoint its Dockerfile names), stored in the cache under REF and pushed.
//! The image is reproducible: same file, same digests. Cloud targets are not
//! implemented.

use super::registry::RegistryFlags;
use crate::cli::PushCommand;
use anyhow::{Context, Result, bail};
use linuxkit_oci::registry::PushOptions;
use linuxkit_oci::{Cache, Descriptor, Platform, Reference};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Store `file` as an image named `name` in the cache; returns the manifest descriptor.
pub fn import_output(cache: &Cache, file: &Path, name: &str, arch: &str) -> Result<Descriptor> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let docker = file.extension().and_then(|e| e.to_str()) == Some("docker");
    let mut hashing = Hashing {
        inner: std::io::BufReader::new(f),
        hasher: Sha256::new(),
    };
    let (layer_digest, layer_size) = {
        let mut gz = flate2::read::GzEncoder::new(&mut hashing, flate2::Compression::new(6));
        cache
            .write_blob_from(&mut gz, None)
            .with_context(|| format!("cannot store {} in the cache", file.display()))?
    };
    let diff_id = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
    let mut config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    if docker {
        config["config"] = serde_json::json!({"Entrypoint": ["/bin/rc.init"]});
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = cache.write_blob(&config_bytes)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": linuxkit_oci::MEDIA_TYPE_OCI_MANIFEST,
        "config": {
            "mediaType": linuxkit_oci::MEDIA_TYPE_OCI_CONFIG,
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": linuxkit_oci::MEDIA_TYPE_OCI_LAYER_GZIP,
            "digest": layer_digest,
            "size": layer_size,
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = cache.write_blob(&manifest_bytes)?;
    let desc = Descriptor::new(
        linuxkit_oci::MEDIA_TYPE_OCI_MANIFEST,
        manifest_digest,
        manifest_bytes.len() as u64,
    );
    cache.set_name(name, desc.clone())?;
    Ok(desc)
}

/// Run `push`.
pub fn run(cmd: PushCommand, cache_flag: Option<PathBuf>, reg: &RegistryFlags) -> Result<()> {
    match cmd {
        PushCommand::Registry {
            arch,
            file,
            reference,
        } => {
            match file.extension().and_then(|e| e.to_str()) {
                Some("tar") | Some("docker") => {}
                _ => bail!(
                    "{} is not a `tar` or `docker` build output (expected a .tar or .docker file from `linuxkit build --format tar|docker`)",
                    file.display()
                ),
            }
            let remote = Reference::parse(&reference)?;
            let root = cache_flag.unwrap_or_else(|| Cache::default_root(true));
            let cache = Cache::open(&root)
                .with_context(|| format!("cannot open the image cache {}", root.display()))?;
            let arch =
                Platform::linux(arch.as_deref().unwrap_or(std::env::consts::ARCH)).architecture;
            let mut named = remote.clone();
            if named.tag.is_none() && named.digest.is_none() {
                named.tag = Some("latest".into());
            }
            let name = named.canonical();
            let desc = import_output(&cache, &file, &name, &arch)?;
            let client = reg.client()?;
            let pushed = client
                .push(&cache, &name, &named, &PushOptions::default())
                .with_context(|| format!("cannot push {} to {named}", file.display()))?;
            println!("Pushed {} as {named} ({})", file.display(), desc.digest);
            debug_assert_eq!(pushed.root.digest, desc.digest);
            Ok(())
        }
        PushCommand::Equinixmetal(a) => push_ipxe(super::ipxe::Flavour::EquinixMetal, a),
        PushCommand::Ipxe(a) => push_ipxe(super::ipxe::Flavour::Ipxe, a),
        PushCommand::Other(args) => bail!(
            "`linuxkit push {}` is not implemented yet in linuxkit-rs (cloud uploads come with the cloud work); `linuxkit push registry FILE REF` pushes a tar or docker output to a registry",
            args.first().map(String::as_str).unwrap_or("")
        ),
    }
}

/// `push equinixmetal` / `push ipxe` (see `ipxe.rs`).
fn push_ipxe(flavour: super::ipxe::Flavour, a: crate::cli::PushIpxeArgs) -> Result<()> {
    let arm = std::env::consts::ARCH == "aarch64";
    let p = super::ipxe::IpxePush {
        flavour,
        prefix: a.prefix,
        name: a.img_name,
        base_url: a.base_url,
        arch: a
            .arch
            .unwrap_or_else(|| if arm { "aarch64" } else { "x86_64" }.into()),
        decompress: a.decompress.unwrap_or(arm),
        destination: a.destination,
    };
    let script = super::ipxe::push(&p)?;
    eprintln!("Wrote {}", script.display());
    Ok(())
}
