//! Folding several files into one configuration (yaml.md §7).
//!
//! Kernel strings are replaced when the later value is non-empty, `tar` and
//! `ucode` when the later file has the key at all, lists are concatenated.
//! Service names must stay unique. Unlike upstream, the volume table is the
//! merged list of all files, so a bind may name a volume declared in an
//! earlier file, and a volume name declared in two files is an error.

use std::collections::HashMap;

use crate::error::{ConfigError, Diagnostic};
use crate::model::{Image, Moby, Origin, Volume};

fn diag(origin: &Origin, message: String, first: &Origin) -> Diagnostic {
    Diagnostic {
        file: origin.file.clone(),
        line: origin.line,
        column: origin.column,
        message,
        hint: Some(if first.line == 0 {
            format!("first defined in {}", first.file)
        } else {
            format!(
                "first defined at {}:{}:{}",
                first.file, first.line, first.column
            )
        }),
    }
}

/// Duplicate service names, one diagnostic per repeat, in order.
pub(crate) fn duplicate_services(services: &[Image]) -> Vec<Diagnostic> {
    let mut seen: HashMap<&str, &Origin> = HashMap::new();
    let mut out = Vec::new();
    for s in services {
        match seen.get(s.name.as_str()) {
            Some(first) => out.push(diag(
                &s.origin,
                format!("duplicate service name: {}", s.name),
                first,
            )),
            None => {
                seen.insert(&s.name, &s.origin);
            }
        }
    }
    out
}

/// Duplicate volume names, one diagnostic per repeat, in order.
pub(crate) fn duplicate_volumes(volumes: &[Volume]) -> Vec<Diagnostic> {
    let mut seen: HashMap<&str, &Origin> = HashMap::new();
    let mut out = Vec::new();
    for v in volumes {
        match seen.get(v.name.as_str()) {
            Some(first) => out.push(diag(
                &v.origin,
                format!("duplicate volume name: {}", v.name),
                first,
            )),
            None => {
                seen.insert(&v.name, &v.origin);
            }
        }
    }
    out
}

/// Append `next` to `base` (yaml.md §7), re-checking service and volume uniqueness.
/// On error `base` is left unchanged.
pub fn merge(base: &mut Moby, next: Moby) -> Result<(), ConfigError> {
    let mut m = base.clone();
    let k = next.kernel;
    if !k.image.is_empty() {
        m.kernel.image = k.image;
    }
    if !k.cmdline.is_empty() {
        m.kernel.cmdline = k.cmdline;
    }
    if !k.binary.is_empty() {
        m.kernel.binary = k.binary;
    }
    if k.tar.is_some() {
        m.kernel.tar = k.tar;
    }
    if k.ucode.is_some() {
        m.kernel.ucode = k.ucode;
    }
    m.init.extend(next.init);
    m.onboot.extend(next.onboot);
    m.onshutdown.extend(next.onshutdown);
    m.services.extend(next.services);
    m.files.extend(next.files);
    m.volumes.extend(next.volumes);
    let mut diagnostics = duplicate_services(&m.services);
    diagnostics.extend(duplicate_volumes(&m.volumes));
    if !diagnostics.is_empty() {
        return Err(ConfigError { diagnostics });
    }
    *base = m;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kernel;

    #[test]
    fn kernel_rules() {
        let mut base = Moby {
            kernel: Kernel {
                image: "k".into(),
                cmdline: "a".into(),
                ucode: Some("intel-ucode.cpio".into()),
                ..Kernel::default()
            },
            init: vec!["i1".into()],
            ..Moby::default()
        };
        let next = Moby {
            kernel: Kernel {
                cmdline: String::new(),
                ucode: Some(String::new()),
                tar: Some("none".into()),
                ..Kernel::default()
            },
            init: vec!["i2".into()],
            ..Moby::default()
        };
        merge(&mut base, next).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(base.kernel.image, "k");
        assert_eq!(base.kernel.cmdline, "a");
        assert_eq!(base.kernel.ucode.as_deref(), Some(""));
        assert_eq!(base.kernel.tar.as_deref(), Some("none"));
        assert_eq!(base.init, vec!["i1".to_string(), "i2".to_string()]);
    }

    #[test]
    fn duplicate_service_across_files() {
        let svc = |file: &str| Image {
            name: "getty".into(),
            image: "linuxkit/getty:x".into(),
            origin: Origin {
                file: file.into(),
                line: 3,
                column: 11,
            },
            ..Image::default()
        };
        let mut base = Moby {
            services: vec![svc("a.yml")],
            ..Moby::default()
        };
        let next = Moby {
            services: vec![svc("b.yml")],
            ..Moby::default()
        };
        let err = merge(&mut base, next).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.yml:3:11: duplicate service name: getty\n    hint: first defined at a.yml:3:11"
        );
        assert_eq!(base.services.len(), 1);
    }
}
