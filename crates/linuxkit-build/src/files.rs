//! The `files` section: literal contents, host files (`source`, relative to
//! the working directory, `~/` = `$HOME`), directories, symlinks and the
//! generated `metadata` file, each preceded by its missing leading
//! directories (yaml.md §10, image-layout.md §6).
//!
//! Deviations from upstream, which writes whatever it is given: a path with a
//! `..` component (`linuxkit_config::image_path`) and a path under a symlink
//! that an earlier `files:` entry created are refused with the entry's
//! FILE:LINE:COL, since either would write outside the root when the output
//! is unpacked; a `source:` that is not a regular file (a device such as
//! `/dev/zero`, a FIFO, a socket) is refused instead of read without end.

use crate::Sink;
use crate::error::BuildError;
use crate::image::Origin;
use linuxkit_config::{FileKind, IdMap, MetadataFormat, Moby};
use linuxkit_formats::{Entry, Kind};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `source:` paths are resolved.
#[derive(Debug, Clone)]
pub struct FileContext {
    /// The working directory.
    pub cwd: PathBuf,
    /// `$HOME`, for `~/` sources.
    pub home: Option<PathBuf>,
}

fn dir_mode(mode: u32) -> u32 {
    let mut m = mode;
    if mode & 0o700 != 0 {
        m |= 0o100;
    }
    if mode & 0o070 != 0 {
        m |= 0o010;
    }
    if mode & 0o007 != 0 {
        m |= 0o001;
    }
    m
}

fn resolve_source(p: &str, ctx: &FileContext) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(h) = &ctx.home
    {
        return h.join(rest);
    }
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        ctx.cwd.join(path)
    }
}

/// The components of an image path that name something (no empty or `.`
/// components), for comparing paths written differently (`a//b`, `./a/b`).
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// Read a `source:` file: it must be a regular file (checked on the opened
/// file, so nothing can swap it in between). The open does not block on a
/// FIFO, and no more than the size it had when opened is read.
fn read_source(full: &Path) -> std::io::Result<Result<Vec<u8>, &'static str>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(full)?;
    let meta = file.metadata()?;
    let ft = meta.file_type();
    if !ft.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Ok(Err(what));
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(meta.len()).read_to_end(&mut data)?;
    Ok(Ok(data))
}

/// Emit the files section.
pub fn write_files(
    moby: &Moby,
    idmap: &IdMap,
    ctx: &FileContext,
    mtime: i64,
    sink: &mut dyn Sink,
) -> Result<(), BuildError> {
    tracing::info!("Add files:");
    let mut dirs: HashSet<String> = HashSet::new();
    // Symlinks written by earlier entries: normalised path → where written.
    let mut symlinks: HashMap<Vec<String>, String> = HashMap::new();
    for (i, f) in moby.files.iter().enumerate() {
        let at = f.origin.prefix();
        let spec = linuxkit_config::file_spec(f, idmap).map_err(|e| BuildError::Files {
            at: at.clone(),
            message: e.to_string(),
        })?;
        let parts = components(&spec.path);
        for n in 1..parts.len() {
            let prefix: Vec<String> = parts[..n].iter().map(|c| c.to_string()).collect();
            if let Some(link_at) = symlinks.get(&prefix) {
                return Err(BuildError::Files {
                    at,
                    message: format!(
                        "{} is under {}, a symlink written by the entry at {}: a file \
                         written through a symlink can land outside the root; write it \
                         at the symlink's target instead",
                        f.path,
                        prefix.join("/"),
                        link_at.trim_end_matches(": ")
                    ),
                });
            }
        }
        if matches!(spec.kind, FileKind::Symlink(_)) {
            symlinks.insert(parts.iter().map(|c| c.to_string()).collect(), at.clone());
        }
        let origin = Origin {
            source: Arc::from("linuxkit.files"),
            location: Arc::from(format!("files[{i}]")),
            mtime,
        };
        let mut entry = match &spec.kind {
            FileKind::Directory => origin.dir(spec.path.clone()),
            FileKind::Symlink(t) => origin.symlink(spec.path.clone(), t, spec.mode),
            FileKind::Contents(c) => origin.file(spec.path.clone(), spec.mode, c.as_bytes()),
            FileKind::Source { path, optional } => {
                let full = resolve_source(path, ctx);
                match read_source(&full) {
                    Ok(Ok(data)) => origin.file(spec.path.clone(), spec.mode, data),
                    Ok(Err(what)) => {
                        return Err(BuildError::Files {
                            at,
                            message: format!(
                                "source {path} is {what}: only regular files can be copied \
                                 (use `contents:`, `directory:` or `symlink:` instead)"
                            ),
                        });
                    }
                    Err(e) if *optional && std::fs::metadata(&full).is_err() => {
                        tracing::debug!("skipping optional file {path}: {e}");
                        continue;
                    }
                    Err(e) => {
                        let why = match e.kind() {
                            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                            _ => e.to_string(),
                        };
                        return Err(BuildError::Files {
                            at,
                            message: format!("open {path}: {why}"),
                        });
                    }
                }
            }
            FileKind::Metadata(fmt) => {
                let text = match fmt {
                    MetadataFormat::Yaml => linuxkit_config::metadata_yaml(moby),
                    MetadataFormat::Json => linuxkit_config::metadata_json(moby),
                };
                origin.file(spec.path.clone(), spec.mode, text.into_bytes())
            }
        };
        tracing::info!("  {}", spec.path);
        entry.mode = spec.mode;
        entry.uid = u64::from(spec.uid);
        entry.gid = u64::from(spec.gid);
        let parts: Vec<&str> = spec.path.split('/').collect();
        let mut root = String::new();
        for p in &parts[..parts.len().saturating_sub(1)] {
            if !root.is_empty() {
                root.push('/');
            }
            root.push_str(p);
            if dirs.insert(root.clone()) {
                let mut d = Entry::dir(root.clone(), dir_mode(spec.mode), mtime)
                    .with_origin(&origin.source, &origin.location);
                d.uid = u64::from(spec.uid);
                d.gid = u64::from(spec.gid);
                sink.put(d)?;
            }
        }
        debug_assert!(entry.kind != Kind::Hardlink);
        sink.put(entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dir_mode;

    #[test]
    fn leading_dir_modes() {
        assert_eq!(dir_mode(0o600), 0o700);
        assert_eq!(dir_mode(0o644), 0o755);
        assert_eq!(dir_mode(0o640), 0o750);
    }
}
