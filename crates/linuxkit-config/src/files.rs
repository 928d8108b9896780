//! `files:` entries (yaml.md §10): validation in upstream's order and with its
//! messages, default modes, and uid/gid resolution. Produces a [`FileSpec`]
//! describing what to write; reading `source` files and generating metadata
//! is the build crate's job.

use crate::SpecError;
use crate::error::parse_octal_go;
use crate::model::{File, IdMap};

/// What kind of entry a file produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A symlink to the target.
    Symlink(String),
    /// A regular file with these contents.
    Contents(String),
    /// A regular file read from the build host (CWD-relative, `~/` = `$HOME/`).
    Source {
        /// The path as written.
        path: String,
        /// Skip the entry silently if the source cannot be stat'ed.
        optional: bool,
    },
    /// The merged configuration in this format.
    Metadata(MetadataFormat),
}

/// `metadata:` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFormat {
    /// `metadata: yaml`.
    Yaml,
    /// `metadata: json`.
    Json,
}

/// A validated file entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Path with any leading `/` stripped.
    pub path: String,
    /// What to write.
    pub kind: FileKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// A path inside the image as written in the YAML or on the command line
/// (`files:` paths, `--sbom-output`), with any leading `/` removed. A `..`
/// component is refused: the name would go into the output verbatim and
/// escape the root when the output is unpacked (a deviation from upstream,
/// which writes it).
pub fn image_path(path: &str) -> Result<String, SpecError> {
    if path.split('/').any(|c| c == "..") {
        return Err(SpecError::PathOutside(path.to_string()));
    }
    Ok(path.trim_start_matches('/').to_string())
}

/// Validate a `files:` entry and resolve its mode and owner.
pub fn file_spec(file: &File, idmap: &IdMap) -> Result<FileSpec, SpecError> {
    if file.path.is_empty() {
        return Err(SpecError::FileNoPath);
    }
    let path = image_path(&file.path)?;
    let p = &file.path;
    if file.directory && file.contents.is_some() {
        return Err(SpecError::DirectoryWithContents);
    }
    let kind = if file.contents.is_none() && file.symlink.is_empty() && !file.directory {
        match (file.source.is_empty(), file.metadata.is_empty()) {
            (true, true) => return Err(SpecError::ContentsNotSpecified(p.clone())),
            (false, false) => return Err(SpecError::SourceAndMetadata(p.clone())),
            (false, true) => FileKind::Source {
                path: file.source.clone(),
                optional: file.optional,
            },
            (true, false) => match file.metadata.as_str() {
                "yaml" => FileKind::Metadata(MetadataFormat::Yaml),
                "json" => FileKind::Metadata(MetadataFormat::Json),
                other => return Err(SpecError::UnsupportedMetadata(other.to_string())),
            },
        }
    } else {
        if !file.metadata.is_empty() {
            return Err(SpecError::ContentsAndMetadata(p.clone()));
        }
        if !file.source.is_empty() {
            return Err(SpecError::ContentsAndSource(p.clone()));
        }
        if file.directory {
            FileKind::Directory
        } else if !file.symlink.is_empty() {
            FileKind::Symlink(file.symlink.clone())
        } else {
            FileKind::Contents(file.contents.clone().unwrap_or_default())
        }
    };
    let mode = if file.mode.is_empty() {
        if file.directory { 0o700 } else { 0o600 }
    } else {
        parse_octal_go(&file.mode, 32).map_err(SpecError::FileMode)? as u32
    };
    let uid = idmap.resolve(file.uid.as_ref())?;
    let gid = idmap.resolve(file.gid.as_ref())?;
    Ok(FileSpec {
        path,
        kind,
        mode,
        uid,
        gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Id;

    fn f(path: &str) -> File {
        File {
            path: path.into(),
            ..File::default()
        }
    }

    #[test]
    fn messages() {
        let m = IdMap::default();
        let err = |file: File| file_spec(&file, &m).unwrap_err().to_string();
        assert_eq!(
            err(File {
                contents: Some("y".into()),
                ..f("")
            }),
            "did not specify path for file"
        );
        assert_eq!(
            err(File {
                contents: Some("y".into()),
                source: "x.txt".into(),
                ..f("x")
            }),
            "specified Contents and Source for file: x"
        );
        assert_eq!(
            err(File {
                symlink: "/y".into(),
                metadata: "yaml".into(),
                ..f("x")
            }),
            "specified Contents and Metadata for file: x"
        );
        assert_eq!(
            err(File {
                metadata: "toml".into(),
                ..f("x")
            }),
            "unsupported metadata type: toml"
        );
        assert_eq!(
            err(File {
                contents: Some("y".into()),
                mode: "0999".into(),
                ..f("x")
            }),
            "cannot parse file mode as octal value: strconv.ParseInt: parsing \"0999\": invalid syntax"
        );
        assert_eq!(err(f("x")), "contents of file (x) not specified");
        assert_eq!(
            err(File {
                source: "a".into(),
                metadata: "yaml".into(),
                ..f("x")
            }),
            "specified Source and Metadata for file: x"
        );
        assert_eq!(
            err(File {
                directory: true,
                contents: Some(String::new()),
                ..f("x")
            }),
            "directory with contents not allowed"
        );
    }

    #[test]
    fn dotdot_paths_are_refused() {
        let m = IdMap::default();
        for p in ["..", "/..", "../../x", "a/../../b", "a/.."] {
            let e = file_spec(
                &File {
                    contents: Some("x".into()),
                    ..f(p)
                },
                &m,
            )
            .unwrap_err();
            assert_eq!(e, SpecError::PathOutside(p.into()), "{p}");
        }
        assert_eq!(image_path("/a..b/..c").unwrap(), "a..b/..c");
    }

    #[test]
    fn defaults_and_ids() {
        let mut m = IdMap::default();
        m.insert("svc", 105);
        let d = file_spec(
            &File {
                directory: true,
                ..f("/etc/x")
            },
            &m,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (d.path.as_str(), d.mode, d.kind.clone()),
            ("etc/x", 0o700, FileKind::Directory)
        );
        let c = file_spec(
            &File {
                contents: Some(String::new()),
                uid: Some(Id::Name("svc".into())),
                gid: Some(Id::Int(7)),
                mode: "0644".into(),
                ..f("a")
            },
            &m,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.mode, c.uid, c.gid), (0o644, 105, 7));
        let s = file_spec(
            &File {
                symlink: "t".into(),
                ..f("l")
            },
            &m,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.mode, s.kind), (0o600, FileKind::Symlink("t".into())));
    }
}
