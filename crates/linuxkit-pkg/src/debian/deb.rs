//! Reading a `.deb` natively: the `ar` wrapper, `debian-binary`, the
//! `control.tar.*` (for the `control` fields, the list of maintainer scripts
//! and conffiles) and the `data.tar.*` (the files) — gzip, xz, zstd, bzip2,
//! lzma or uncompressed. Data members become [`Entry`]s in archive order,
//! names made relative (`./usr/bin/x` → `usr/bin/x`, the root dropped);
//! absolute names and `..` are refused. Owners, modes and mtimes are kept
//! as stored. It never writes anything and runs nothing.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use linuxkit_formats::{Entry, Kind};

use super::DebianError;
use super::ar::parse_ar;
use super::deb822;

/// A `.deb` read into memory.
#[derive(Debug, Clone)]
pub struct Deb {
    /// The fields of its `control` file (`Package`, `Version`, `Depends`...).
    pub control: BTreeMap<String, String>,
    /// The files of `data.tar`, in archive order.
    pub entries: Vec<Entry>,
    /// Maintainer scripts it ships (`preinst`, `postinst`, `prerm`,
    /// `postrm`, `config`, `triggers`): none of them is run, see the module
    /// documentation of `debian`.
    pub scripts: Vec<String>,
    /// Paths listed in its `conffiles` (relative, like the entries).
    pub conffiles: Vec<String>,
}

const SCRIPTS: &[&str] = &[
    "preinst", "postinst", "prerm", "postrm", "config", "triggers",
];

/// Read a `.deb` file.
pub fn read_deb(path: &Path) -> Result<Deb, DebianError> {
    let bytes = std::fs::read(path).map_err(|e| DebianError::Deb {
        package: package_from_file_name(path),
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    read_deb_bytes(&bytes, path)
}

/// Read a `.deb` held in memory; `path` names it in errors.
pub fn read_deb_bytes(bytes: &[u8], path: &Path) -> Result<Deb, DebianError> {
    let mut package = package_from_file_name(path);
    let err = |package: &str, message: String| DebianError::Deb {
        package: package.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let members =
        parse_ar(bytes).map_err(|e| err(&package, format!("not a Debian package: {e}")))?;
    let members: Vec<_> = members
        .iter()
        .filter(|m| !m.name.starts_with('_'))
        .collect();
    match members.first() {
        Some(m) if m.name == "debian-binary" => {
            let v = String::from_utf8_lossy(m.data);
            if !v.trim().starts_with("2.") {
                return Err(err(
                    &package,
                    format!(
                        "unsupported .deb format version {:?} (only 2.x is known)",
                        v.trim()
                    ),
                ));
            }
        }
        _ => {
            return Err(err(
                &package,
                "not a Debian package: the first member is not `debian-binary`".into(),
            ));
        }
    }
    let find = |prefix: &str| members.iter().find(|m| m.name.starts_with(prefix));
    let control_member = find("control.tar").ok_or_else(|| {
        err(
            &package,
            "no control.tar member: not a binary package".into(),
        )
    })?;
    let data_member = find("data.tar").ok_or_else(|| err(&package, "no data.tar member".into()))?;

    // control.tar: the control file, scripts, conffiles.
    let mut control = BTreeMap::new();
    let mut scripts = Vec::new();
    let mut conffiles = Vec::new();
    let reader =
        decompressor(&control_member.name, control_member.data).map_err(|e| err(&package, e))?;
    let control_entries = read_tar(reader).map_err(|e| {
        err(
            &package,
            format!("cannot read {}: {e}", control_member.name),
        )
    })?;
    for e in control_entries {
        let Ok(Some(name)) = clean_name(&e.path) else {
            continue;
        };
        if e.kind != Kind::File {
            continue;
        }
        match name.as_str() {
            "control" => {
                let text = String::from_utf8_lossy(&e.data);
                control = deb822::parse(&text).into_iter().next().unwrap_or_default();
            }
            "conffiles" => {
                conffiles = String::from_utf8_lossy(&e.data)
                    .lines()
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        l.trim_start_matches("remove-on-upgrade ")
                            .trim_start_matches('/')
                            .to_string()
                    })
                    .collect();
            }
            n if SCRIPTS.contains(&n) => scripts.push(n.to_string()),
            _ => {}
        }
    }
    match control.get("Package") {
        Some(p) => package = p.clone(),
        None => {
            return Err(err(
                &package,
                "control.tar has no control file with a Package field".into(),
            ));
        }
    }
    if let Some(v) = control.get("Version") {
        package = format!("{package} {v}");
    }
    scripts.sort();

    // data.tar: the files.
    let reader = decompressor(&data_member.name, data_member.data).map_err(|e| err(&package, e))?;
    let raw = read_tar(reader)
        .map_err(|e| err(&package, format!("cannot read {}: {e}", data_member.name)))?;
    let mut entries = Vec::with_capacity(raw.len());
    for mut e in raw {
        let name = clean_name(&e.path).map_err(|m| {
            err(
                &package,
                format!(
                    "{} member {m}; the package is malformed or hostile and is not used",
                    data_member.name
                ),
            )
        })?;
        let Some(name) = name else {
            continue; // the root directory itself
        };
        e.path = name;
        if e.kind == Kind::Hardlink {
            e.link = match clean_name(&e.link) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    return Err(err(
                        &package,
                        format!("hard link {} points at the root directory", e.path),
                    ));
                }
                Err(m) => {
                    return Err(err(
                        &package,
                        format!(
                            "hard link {} target {m}; the package is malformed or hostile and is not used",
                            e.path
                        ),
                    ));
                }
            };
        }
        entries.push(e);
    }
    Ok(Deb {
        control,
        entries,
        scripts,
        conffiles,
    })
}

/// `busybox-static_1%3a1.35.0_amd64.deb` → `busybox-static`.
fn package_from_file_name(path: &Path) -> String {
    let f = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    f.split('_').next().unwrap_or(&f).to_string()
}

/// Make a member name relative: `./usr/bin/x` → `usr/bin/x`, `./` → None.
/// Absolute names and `..` components are errors (the message completes
/// "member ...").
fn clean_name(raw: &str) -> Result<Option<String>, String> {
    if raw.starts_with('/') {
        return Err(format!("{raw:?} has an absolute name"));
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("{raw:?} has a `..` component")),
            c => parts.push(c),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A decompressing reader chosen by the member's name suffix.
fn decompressor<'a>(member: &str, data: &'a [u8]) -> Result<Box<dyn Read + 'a>, String> {
    let suffix = member.rsplit_once(".tar").map(|(_, s)| s).unwrap_or("");
    Ok(match suffix {
        "" => Box::new(data),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(data)),
        ".xz" => Box::new(lzma_rust2::XzReader::new(data, true)),
        ".zst" => Box::new(
            ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| format!("cannot read {member}: {e}"))?,
        ),
        ".bz2" => Box::new(bzip2::read::MultiBzDecoder::new(data)),
        ".lzma" => Box::new(
            lzma_rust2::LzmaReader::new_mem_limit(data, u32::MAX, None)
                .map_err(|e| format!("cannot read {member}: {e}"))?,
        ),
        other => {
            return Err(format!(
                "member {member} uses an unknown compression {other:?} (known: gz, xz, zst, bz2, lzma, none)"
            ));
        }
    })
}

/// Every member of a tar stream as an [`Entry`], names as stored.
fn read_tar(mut r: Box<dyn Read + '_>) -> io::Result<Vec<Entry>> {
    linuxkit_formats::tar::read_entries(&mut r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("./").unwrap(), None);
        assert_eq!(clean_name(".").unwrap(), None);
        assert_eq!(
            clean_name("./usr/bin/x").unwrap().as_deref(),
            Some("usr/bin/x")
        );
        assert_eq!(
            clean_name("./usr//share/./doc/").unwrap().as_deref(),
            Some("usr/share/doc")
        );
        assert!(clean_name("/etc/passwd").unwrap_err().contains("absolute"));
        assert!(clean_name("./usr/../../etc").unwrap_err().contains(".."));
        assert_eq!(
            package_from_file_name(Path::new("/s/busybox-static_1%3a1.35_amd64.deb")),
            "busybox-static"
        );
    }
}
