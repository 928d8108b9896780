//! Error types of the crate.
//!
//! [`ConfigError`] is what [`crate::parse`] and [`crate::merge`] return: a list
//! of [`Diagnostic`]s, each naming a file, a 1-based line and column and, where
//! it helps, a hint. [`SpecError`] is what the build-time functions
//! ([`crate::oci_spec`], [`crate::file_spec`], [`crate::update_image_from_volumes`])
//! return; their texts are upstream LinuxKit's so that scripts grepping for
//! them keep working.

use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File path, URL or `-`, as given to [`crate::parse`].
    pub file: String,
    /// 1-based line; 0 when the problem has no position (e.g. an empty file).
    pub line: usize,
    /// 1-based column; 0 when the problem has no position.
    pub column: usize,
    /// What is wrong, naming the offending key or value.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n    hint: {h}")?;
        }
        Ok(())
    }
}

/// A rejected configuration: every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, one per line when displayed.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// A single-diagnostic error.
    pub fn single(d: Diagnostic) -> ConfigError {
        ConfigError {
            diagnostics: vec![d],
        }
    }
}

/// Errors found while turning a config into OCI specs and files, with upstream's texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The label text is not a mapping.
    #[error("JSON is an array not an object: {0}")]
    LabelNotObject(String),
    /// The label is not valid YAML or fails the schema.
    #[error("invalid configuration label: {}", .0.join("; "))]
    InvalidLabel(Vec<String>),
    /// The label sets `name`.
    #[error("name cannot be set in metadata label")]
    LabelSetsName,
    /// The label sets `image`.
    #[error("image cannot be set in metadata label")]
    LabelSetsImage,
    /// A capability name that is not one of the 41 known ones.
    #[error("unknown capability: {0}")]
    UnknownCapability(String),
    /// `tmpfs` entry with more than one `:`.
    #[error("cannot parse tmpfs, too many ':': {0}")]
    TmpfsTooManyColons(String),
    /// `binds` entry without `:`.
    #[error("cannot parse bind, missing ':': {0}")]
    BindMissingColon(String),
    /// `binds` entry with more than two `:`.
    #[error("cannot parse bind, too many ':': {0}")]
    BindTooManyColons(String),
    /// A mount whose type cannot be inferred.
    #[error("mount for destination {0} is missing type")]
    MountMissingType(String),
    /// A mount whose destination cannot be inferred.
    #[error("mount type {0} is missing destination")]
    MountMissingDestination(String),
    /// A device mode that is not an octal string (carries Go's strconv text).
    #[error("cannot parse device mode as octal value: {0}")]
    DeviceMode(String),
    /// An rlimit entry that is not `name,soft,hard` (carries the whole list, Go-formatted).
    #[error("cannot parse rlimit: {0}")]
    Rlimit(String),
    /// An rlimit value that is not a u64 or `unlimited`.
    #[error("cannot parse {value} as uint64: {detail}")]
    RlimitValue {
        /// The offending value.
        value: String,
        /// Go's strconv text.
        detail: String,
    },
    /// An rlimit name that is not known (upstream prints an empty name; we print it).
    #[error("unknown limit: {0}")]
    UnknownLimit(String),
    /// A uid/gid name that is no container's name.
    #[error("cannot find id: {0}")]
    IdNotFound(String),
    /// A uid/gid of a type other than integer or string.
    #[error("bad type for uid or gid")]
    BadIdType,
    /// A bind of an undeclared volume (`what` = `bin` or `mount`, upstream's words).
    #[error("volume {volume} not found in onboot image {what} {index}")]
    VolumeNotFound {
        /// Volume name.
        volume: String,
        /// `bin` for binds/binds.add, `mount` for mounts.
        what: &'static str,
        /// Position of the bind/mount in its list.
        index: usize,
    },
    /// A read-only volume mounted read-write.
    #[error("volume {0} is read-only, but attempting to write into container read-write")]
    VolumeReadOnly(String),
    /// A file entry without `path`.
    #[error("did not specify path for file")]
    FileNoPath,
    /// `directory: true` with `contents`.
    #[error("directory with contents not allowed")]
    DirectoryWithContents,
    /// Neither contents, source nor metadata.
    #[error("contents of file ({0}) not specified")]
    ContentsNotSpecified(String),
    /// Both source and metadata.
    #[error("specified Source and Metadata for file: {0}")]
    SourceAndMetadata(String),
    /// Contents/symlink/directory plus metadata.
    #[error("specified Contents and Metadata for file: {0}")]
    ContentsAndMetadata(String),
    /// Contents/symlink/directory plus source.
    #[error("specified Contents and Source for file: {0}")]
    ContentsAndSource(String),
    /// A file mode that is not an octal string (carries Go's strconv text).
    #[error("cannot parse file mode as octal value: {0}")]
    FileMode(String),
    /// `metadata:` other than yaml/json.
    #[error("unsupported metadata type: {0}")]
    UnsupportedMetadata(String),
    /// A path in the image with a `..` component (a deviation: upstream
    /// writes it verbatim, and unpacking the output could then write outside
    /// the root).
    #[error(
        "path {0:?} has a `..` component: paths in the image must stay inside it \
         (write the path without `..`)"
    )]
    PathOutside(String),
}

/// Go's `strconv.ParseInt(s, 8, bits)` with its error texts.
pub(crate) fn parse_octal_go(s: &str, bits: u32) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s));
    let range = || {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )
    };
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
        return Err(syntax());
    }
    let limit: i128 = 1i128 << (bits - 1);
    let mut v: i128 = 0;
    for c in digits.bytes() {
        v = v * 8 + i128::from(c - b'0');
        if v > limit {
            return Err(range());
        }
    }
    let v = if neg { -v } else { v };
    if v >= limit || v < -limit {
        return Err(range());
    }
    i64::try_from(v).map_err(|_| range())
}

/// Go's `strconv.ParseUint(s, 10, 64)` with its error texts.
pub(crate) fn parse_uint_go(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<u64>().map_err(|_| {
        format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

/// Go's `strconv.Quote` for the common cases (printable text).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_like_go() {
        assert_eq!(parse_octal_go("0666", 32), Ok(438));
        assert_eq!(parse_octal_go("644", 32), Ok(420));
        assert_eq!(
            parse_octal_go("", 32),
            Err("strconv.ParseInt: parsing \"\": invalid syntax".into())
        );
        assert_eq!(
            parse_octal_go("0999", 32),
            Err("strconv.ParseInt: parsing \"0999\": invalid syntax".into())
        );
        assert!(parse_octal_go("77777777777777", 32).is_err());
    }

    #[test]
    fn diagnostic_display() {
        let d = Diagnostic {
            file: "a.yml".into(),
            line: 3,
            column: 5,
            message: "unknown field `colour`".into(),
            hint: Some("did you mean `command`?".into()),
        };
        assert_eq!(
            d.to_string(),
            "a.yml:3:5: unknown field `colour`\n    hint: did you mean `command`?"
        );
    }
}
