//! `--input-tar`: reuse the unchanged sections of a previous `tar` output.
//! The previous configuration is read back from the last `metadata` file the
//! new configuration writes; a section is reused when its image (and, for
//! containers, its whole entry) is unchanged, by copying the entries whose
//! `LINUXKIT.source` / `LINUXKIT.location` records match (cli.md §2).
//! Unlike upstream, reused volumes are found (upstream looks them up under
//! the wrong location label and drops them).

use crate::Sink;
use crate::error::BuildError;
use crate::images::canonical;
use crate::layers::read_tar_entries;
use linuxkit_config::{FileKind, IdMap, Image, Moby, Volume};
use linuxkit_formats::Entry;
use std::path::{Path, PathBuf};

/// A previous build's tar and configuration.
pub struct InputTar {
    path: PathBuf,
    entries: Vec<Entry>,
    old: Option<Moby>,
}

fn canon_or_raw(s: &str) -> String {
    canonical(s).unwrap_or_else(|_| s.to_string())
}

fn canon_image(i: &Image) -> Image {
    let mut c = i.clone();
    c.image = canon_or_raw(&i.image);
    c
}

impl InputTar {
    /// Read `path` and the old configuration it holds.
    pub fn load(path: &Path, moby: &Moby) -> Result<InputTar, BuildError> {
        let err = |message: String| BuildError::InputTar {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let mut reader = std::io::BufReader::new(file);
        let entries =
            read_tar_entries(&mut reader).map_err(|e| err(format!("cannot read: {e}")))?;
        let idmap = IdMap::new(moby);
        let meta_path = moby
            .files
            .iter()
            .filter_map(|f| linuxkit_config::file_spec(f, &idmap).ok())
            .filter(|s| matches!(s.kind, FileKind::Metadata(_)))
            .map(|s| s.path)
            .next_back();
        let old = match meta_path {
            None => {
                tracing::info!(
                    "input tar {}: the configuration has no metadata file, nothing can be reused",
                    path.display()
                );
                None
            }
            Some(p) => {
                match entries.iter().rev().find(|e| e.path == p) {
                    None => {
                        tracing::info!(
                            "input tar {}: no {p} in it, nothing can be reused",
                            path.display()
                        );
                        None
                    }
                    Some(e) => {
                        let text = String::from_utf8_lossy(&e.data).to_string();
                        let name = format!("{}:{p}", path.display());
                        let input = linuxkit_config::Input {
                            name: &name,
                            text: &text,
                            template_dir: None,
                        };
                        Some(linuxkit_config::parse(&input, None).map_err(|e| {
                            err(format!("cannot parse the old configuration {p}: {e}"))
                        })?)
                    }
                }
            }
        };
        Ok(InputTar {
            path: path.to_path_buf(),
            entries,
            old,
        })
    }

    /// The kernel is unchanged.
    pub fn kernel_reusable(&self, canonical: &str) -> bool {
        self.old.as_ref().is_some_and(|o| {
            !o.kernel.image.is_empty() && canon_or_raw(&o.kernel.image) == canonical
        })
    }

    /// `init[i]` is unchanged.
    pub fn init_reusable(&self, i: usize, canonical: &str) -> bool {
        self.old
            .as_ref()
            .and_then(|o| o.init.get(i))
            .is_some_and(|r| canon_or_raw(r) == canonical)
    }

    /// `volumes[i]` is unchanged and has an image: its canonical name.
    pub fn volume_reusable(&self, i: usize, v: &Volume) -> Option<String> {
        let old = self.old.as_ref()?.volumes.get(i)?;
        (!v.image.is_empty() && old.image == v.image && old.format == v.format)
            .then(|| canon_or_raw(&v.image))
    }

    /// `section[i]` is identical: its canonical image name.
    pub fn container_reusable(&self, section: &str, i: usize, c: &Image) -> Option<String> {
        let o = self.old.as_ref()?;
        let list = match section {
            "onboot" => &o.onboot,
            "onshutdown" => &o.onshutdown,
            _ => &o.services,
        };
        let old = list.get(i)?;
        (canon_image(old) == canon_image(c)).then(|| canon_or_raw(&c.image))
    }

    /// Copy the entries of one section.
    pub fn copy(
        &self,
        label: &str,
        canonical: &str,
        sink: &mut dyn Sink,
    ) -> Result<(), BuildError> {
        tracing::info!("Copy {label} files from input tar: {canonical}");
        let mut n = 0usize;
        for e in &self.entries {
            if &*e.source == canonical && &*e.location == label {
                sink.put(e.clone())?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(BuildError::InputTar {
                path: self.path.clone(),
                message: format!(
                    "holds no entries for {label} ({canonical}) although its configuration lists it; rebuild without --input-tar"
                ),
            });
        }
        Ok(())
    }
}
