//! Getting every image a build needs into the cache, in upstream's order
//! (reference cli.md §5.2): local packages named by `@pkg:` are built
//! first unless cached; then each image the cache lacks for the target
//! platform (every image with `--pull`, except those local packages) is
//! pulled through the caller's [`Registry`]; the boot loader image is
//! built or pulled only when a format needs it. The registry client, its
//! flags and its progress display are the caller's: this crate only asks
//! for a pull.

use crate::error::BuildError;
use crate::formats::BootFiles;
use crate::images::{self, Images};
use linuxkit_config::Moby;
use linuxkit_oci::{Cache, Platform};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Why a pull failed, with its whole `source()` chain.
pub type PullError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Pulls images into the cache (the CLI implements it with its registry
/// client; tests and offline callers can refuse every pull).
pub trait Registry {
    /// Pull `written` (the reference as the configuration writes it) for
    /// `platform` into `cache`, and name it `canonical` there.
    fn pull(
        &mut self,
        cache: &Cache,
        written: &str,
        canonical: &str,
        platform: &Platform,
    ) -> Result<(), PullError>;
}

/// A [`Registry`] that refuses every pull: builds from the cache alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct Offline;

impl Registry for Offline {
    fn pull(&mut self, _: &Cache, written: &str, _: &str, _: &Platform) -> Result<(), PullError> {
        Err(format!("could not pull image {written}: this build has no registry access").into())
    }
}

/// An error and its causes as one line, `a: b: c`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Resolves a build's images into one cache for one platform.
pub(crate) struct Resolver<'a> {
    pub cache: &'a Cache,
    pub platform: &'a Platform,
    pub registry: &'a mut dyn Registry,
    pub pkg: linuxkit_pkg::build::BuildOptions,
}

impl Resolver<'_> {
    /// Build the local packages into the cache (each is skipped if its
    /// image is cached); returns their canonical names.
    pub fn build_packages(&self, dirs: &[PathBuf]) -> Result<HashSet<String>, BuildError> {
        let mut local = HashSet::new();
        for dir in dirs {
            let b = linuxkit_pkg::build::build(dir, self.cache, &self.pkg).map_err(|e| {
                BuildError::Package {
                    context: format!("cannot build package {} named by @pkg:", dir.display()),
                    source: Box::new(e),
                }
            })?;
            local.insert(b.tag.canonical);
        }
        Ok(local)
    }

    /// Pull what the cache lacks (everything with `force`, except `local`).
    pub fn pull_missing(
        &mut self,
        moby: &Moby,
        force: bool,
        local: &HashSet<String>,
    ) -> Result<(), BuildError> {
        for written in image_refs(moby) {
            let canonical = images::canonical(&written)?;
            if local.contains(&canonical) {
                continue;
            }
            let cached = if force {
                None
            } else {
                match self.cache.resolve(&canonical, self.platform) {
                    Ok(_) => continue,
                    Err(e) => Some(e),
                }
            };
            if let Err(pull) = self
                .registry
                .pull(self.cache, &written, &canonical, self.platform)
            {
                return Err(match cached {
                    Some(why) => BuildError::Unavailable {
                        cached: Box::new(why),
                        pull,
                    },
                    None => BuildError::Pull(pull),
                });
            }
        }
        Ok(())
    }

    /// The boot loader files: `@pkg:DIR` builds the package into the
    /// cache (unless cached), anything else is an image reference, pulled
    /// if the cache lacks it.
    pub fn boot_files(&mut self, flag: &str) -> Result<BootFiles, BuildError> {
        let reference = match flag.strip_prefix("@pkg:") {
            Some(dir) => {
                let dir = Path::new(dir);
                linuxkit_pkg::build::build(dir, self.cache, &self.pkg)
                    .map_err(|e| BuildError::Package {
                        context: format!(
                            "cannot build the boot loader package {} (give another with --bootloaders REF)",
                            dir.display()
                        ),
                        source: Box::new(e),
                    })?
                    .tag
                    .canonical
            }
            None => {
                let canonical = images::canonical(flag)?;
                if self.cache.resolve(&canonical, self.platform).is_err() {
                    self.registry
                        .pull(self.cache, flag, &canonical, self.platform)
                        .map_err(BuildError::Pull)?;
                }
                flag.to_string()
            }
        };
        let images = Images::new(self.cache, self.platform.clone());
        let unreadable = |e| BuildError::BootLoader {
            reference: reference.clone(),
            source: Box::new(e),
        };
        let img = images.get(&reference).map_err(unreadable)?;
        let entries = images.entries(&img).map_err(unreadable)?;
        Ok(BootFiles::from_entries(&reference, &entries))
    }
}

/// Every image a configuration names, as written, in order, once each.
fn image_refs(moby: &Moby) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !r.is_empty() && !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    };
    add(&moby.kernel.image);
    moby.init.iter().for_each(|i| add(i));
    for i in moby
        .onboot
        .iter()
        .chain(&moby.services)
        .chain(&moby.onshutdown)
    {
        add(&i.image);
    }
    for v in &moby.volumes {
        add(&v.image);
    }
    out
}
