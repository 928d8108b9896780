//! Image references: parsing, the upstream expansion rules (`alpine` →
//! `docker.io/library/alpine`) and the canonical string used as cache name,
//! dedup key and `LINUXKIT.source` value. Pure string handling; no I/O.

use std::fmt;

/// Error for a reference that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image name {expanded}: could not parse reference: {expanded}{}", .hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct ReferenceError {
    /// The reference after expansion, as upstream prints it.
    pub expanded: String,
    /// What is wrong, when we can say.
    pub hint: Option<String>,
}

/// A parsed image reference: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/alpine`.
    pub repository: String,
    /// Tag, if one was given (no implicit `latest`).
    pub tag: Option<String>,
    /// Digest (`sha256:<hex>`), if one was given.
    pub digest: Option<String>,
}

/// Expand a reference the way upstream's `build` does (yaml.md §9.1):
/// one component → `docker.io/library/…`; two components whose first has no
/// `.`/`:` and is not `localhost` → `docker.io/…`; otherwise unchanged.
pub fn expand(reference: &str) -> String {
    let parts: Vec<&str> = reference.split('/').collect();
    match parts.len() {
        1 => format!("docker.io/library/{reference}"),
        2 if !parts[0].contains('.') && !parts[0].contains(':') && parts[0] != "localhost" => {
            format!("docker.io/{reference}")
        }
        _ => reference.to_string(),
    }
}

fn is_component(s: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // separator run
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_registry(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

impl Reference {
    /// Parse a user-written reference, applying the upstream expansion.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let expanded = expand(input);
        let err = |hint: &str| ReferenceError {
            expanded: expanded.clone(),
            hint: Some(hint.to_string()),
        };
        let (name_tag, digest) = match expanded.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (expanded.as_str(), None),
        };
        if let Some(d) = digest
            && !crate::digest::is_reference_digest(d)
        {
            return Err(err(
                "a digest must be sha256: followed by 64 lower-case hex digits",
            ));
        }
        let last_slash = name_tag.rfind('/').unwrap_or(0);
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if i > last_slash => (&name_tag[..i], Some(&name_tag[i + 1..])),
            _ => (name_tag, None),
        };
        if let Some(t) = tag
            && !is_tag(t)
        {
            return Err(err(
                "a tag may hold only letters, digits, '_', '.' and '-', at most 128",
            ));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((r, rest)) => (r, rest),
            None => return Err(err("missing repository")),
        };
        if !is_registry(registry) {
            return Err(err("bad registry host"));
        }
        if repository.is_empty() || !repository.split('/').all(is_component) {
            return Err(err(
                "repository names must be lower-case letters, digits and separators ('.', '_', '__', '-')",
            ));
        }
        if name.len() > 255 {
            return Err(err("name longer than 255 characters"));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn locator(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The canonical string `registry/repository[:tag][@digest]` (yaml.md §9.2).
    pub fn canonical(&self) -> String {
        let mut s = self.locator();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The tag or digest to fetch from a registry (`latest` when neither is set).
    pub fn identifier(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// A platform `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Architecture in GOARCH spelling, e.g. `amd64`.
    pub architecture: String,
    /// Optional variant, e.g. `v8`.
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<arch>`.
    pub fn linux(arch: &str) -> Platform {
        Platform {
            os: "linux".into(),
            architecture: normalize_arch(arch).into(),
            variant: None,
        }
    }

    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let p: Vec<&str> = s.split('/').collect();
        match p.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Some(Platform {
                os: os.to_string(),
                architecture: normalize_arch(arch).into(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
                Some(Platform {
                    os: os.to_string(),
                    architecture: normalize_arch(arch).into(),
                    variant: Some(v.to_string()),
                })
            }
            _ => None,
        }
    }

    /// The host's platform in GOARCH spelling.
    pub fn host() -> Platform {
        Platform::linux(std::env::consts::ARCH)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Map Rust/uname architecture names to GOARCH names (`x86_64` → `amd64`).
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "riscv64gc" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        assert_eq!(expand("alpine"), "docker.io/library/alpine");
        assert_eq!(expand("busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(expand("linuxkit/init:abc"), "docker.io/linuxkit/init:abc");
        assert_eq!(expand("quay.io/x/y"), "quay.io/x/y");
        assert_eq!(expand("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(expand("localhost/x"), "localhost/x");
        assert_eq!(expand("foo/bar/baz"), "foo/bar/baz");
    }

    #[test]
    fn canonical_forms() {
        let r = Reference::parse("alpine:3.21").unwrap();
        assert_eq!(r.canonical(), "docker.io/library/alpine:3.21");
        let r = Reference::parse("localhost:5000/a/b").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.tag, None);
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("linuxkit/x:1@{d}")).unwrap();
        assert_eq!(r.canonical(), format!("docker.io/linuxkit/x:1@{d}"));
        assert_eq!(r.identifier(), d);
    }

    #[test]
    fn rejects_bad_references() {
        assert!(Reference::parse("UPPER/case:v1").is_err());
        assert!(Reference::parse("linuxkit/getty:bad tag").is_err());
        assert!(Reference::parse("a@sha256:xyz").is_err());
        assert!(Reference::parse("").is_err());
        let e = Reference::parse("UPPER/case:v1").unwrap_err();
        assert!(e.to_string().contains("docker.io/UPPER/case:v1"));
    }

    #[test]
    fn platforms() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(Platform::linux("x86_64").architecture, "amd64");
        assert!(Platform::parse("linux").is_none());
    }
}
