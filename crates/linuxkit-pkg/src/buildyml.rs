//! `build.yml`: upstream's keys (strictly: an unknown key is an error, as
//! upstream's strict decoder has it) plus our native `contents:` section that
//! describes the image's layers (docs/packages.md). Every problem in the file
//! is reported with its line and column.

use crate::label::config_label;
use linuxkit_config::decode::Decode;
use linuxkit_config::schema::{self, Custom, Issue, Ty, mismatch};
use linuxkit_config::yaml::{self, Node, Value};
use linuxkit_config::{Origin, config_struct};
use serde::Serialize;
use std::collections::BTreeMap;

/// A parsed `build.yml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildYml {
    /// `image` (required): the image name without org.
    pub image: String,
    /// `org` (default `linuxkit`).
    pub org: Option<String>,
    /// `tag` template (default `{{.Hash}}`).
    pub tag: Option<String>,
    /// `arches` (default `[amd64, arm64, riscv64]`).
    pub arches: Vec<String>,
    /// `network` (accepted; our builds use the network only through apt).
    pub network: bool,
    /// `config` turned into the `org.mobyproject.config` label text.
    pub config_label: Option<String>,
    /// `labels`: extra image labels.
    pub labels: BTreeMap<String, String>,
    /// `annotations`: manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// `contents`: what the image holds.
    pub contents: Contents,
}

/// The native `contents:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contents {
    /// Debian packages.
    pub debian: Option<DebianContents>,
    /// Files and directories from the package directory or literal.
    pub files: Vec<FileItem>,
    /// Symbolic links.
    pub symlinks: Vec<SymlinkItem>,
    /// Static binaries built by cargo from this workspace.
    pub cargo: Vec<CargoItem>,
    /// Paths taken out of the unpacked Debian packages.
    pub extract: Vec<ExtractItem>,
    /// The image config.
    pub image: ImageSpec,
}

/// How an extracted path is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExtractAs {
    /// The single matching file, as it is.
    #[default]
    File,
    /// A tar archive of the matching directories' trees.
    Tar,
    /// The matching files' contents concatenated, in name order.
    Concat,
}

/// `contents.extract[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtractItem {
    /// Glob (`*` within one path component) over the Debian packages' paths.
    pub from: String,
    /// Path in the image.
    pub path: String,
    /// File, tar or concat.
    pub r#as: ExtractAs,
    /// Mode of the written file (default: the source's for `file`, 0644 otherwise).
    pub mode: Option<u32>,
    /// Position, for errors.
    pub at: String,
}

/// `contents.debian`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DebianContents {
    /// Packages to install with their dependencies.
    pub packages: Vec<String>,
    /// Whether the unpacked packages become a layer (default true); false
    /// when they are only a source for `extract`.
    pub install: bool,
    /// Dependencies not to install.
    pub exclude: Vec<String>,
    /// Path prefixes dropped from the unpacked packages (docs, man pages...).
    pub drop: Vec<String>,
}

/// `contents.files[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileItem {
    /// Path in the image.
    pub path: String,
    /// File (or directory, copied recursively) in the package directory.
    pub source: Option<String>,
    /// Literal contents.
    pub contents: Option<String>,
    /// An empty directory.
    pub directory: bool,
    /// Mode (octal string in YAML); default 0644 files, 0755 directories and sources that are executable.
    pub mode: Option<u32>,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Position, for errors.
    pub at: String,
}

/// `contents.symlinks[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymlinkItem {
    /// Path of the link.
    pub path: String,
    /// Its target.
    pub target: String,
}

/// `contents.cargo[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CargoItem {
    /// Workspace package to build.
    pub package: String,
    /// Binary name (default: the package name).
    pub bin: Option<String>,
    /// Path in the image.
    pub path: String,
}

/// `contents.image`: the OCI image config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSpec {
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    pub cmd: Option<Vec<String>>,
    /// Env (`KEY=value`).
    pub env: Option<Vec<String>>,
    /// Working directory.
    pub workdir: Option<String>,
    /// User.
    pub user: Option<String>,
}

// The keys of `build.yml`, each declared once (linuxkit-config's
// `config_struct!`: one declaration gives the schema, with every problem
// positioned and hinted, and the decoder). `parse` then applies the checks
// and defaults that involve more than one key.
config_struct! {
    /// `build.yml` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Raw in RAW("build.yml", place "in build.yml") {
        "image" => pub image: Text,
        "org" => pub org: Option<Text>,
        "tag" => pub tag: Option<Text>,
        "dockerfile" => pub dockerfile: Option<Text>,
        "arches" => pub arches: Texts,
        "extra-sources" => pub extra_sources: Texts,
        "gitrepo" => pub gitrepo: Option<Text>,
        "network" => pub network: bool,
        "disable-cache" => pub disable_cache: bool,
        /// Checked by [`config_label`].
        #[serde(skip)]
        "config" => pub config: Any,
        "buildArgs" => pub build_args: Texts,
        #[serde(skip)]
        "depends" => pub depends: Any,
        "labels" => pub labels: TextMap,
        "annotations" => pub annotations: TextMap,
        "contents" => pub contents: RawContents,
    }
    origin at ""
}

config_struct! {
    /// `contents:` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawContents in RAW_CONTENTS("contents", place "in contents") {
        "debian" => pub debian: Option<RawDebian>,
        "files" => pub files: Vec<RawFile>,
        "symlinks" => pub symlinks: Vec<RawSymlink>,
        "cargo" => pub cargo: Vec<RawCargo>,
        "extract" => pub extract: Vec<RawExtract>,
        "image" => pub image: RawImage,
    }
}

config_struct! {
    /// `contents.debian` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawDebian in RAW_DEBIAN("contents.debian", place "in contents.debian") {
        "packages" => pub packages: Texts,
        "exclude" => pub exclude: Texts,
        "drop" => pub drop: Texts,
        "install" => pub install: Option<bool>,
    }
    origin at ""
}

config_struct! {
    /// `contents.extract[]` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawExtract in RAW_EXTRACT("contents.extract entry", place "in a contents.extract entry") {
        "from" => pub from: Text,
        "path" => pub path: Text,
        "as" one of ["file", "tar", "concat"] => pub r#as: String,
        "mode" => pub mode: Mode,
    }
    origin at ""
}

config_struct! {
    /// `contents.files[]` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawFile in RAW_FILE("contents.files entry", place "in a contents.files entry") {
        "path" => pub path: Text,
        "source" => pub source: Option<Text>,
        "contents" => pub contents: Option<Text>,
        "directory" => pub directory: bool,
        "mode" => pub mode: Mode,
        "uid" => pub uid: Uid,
        "gid" => pub gid: Uid,
    }
    origin at ""
}

config_struct! {
    /// `contents.symlinks[]` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawSymlink in RAW_SYMLINK("contents.symlinks entry", place "in a contents.symlinks entry") {
        "path" => pub path: Text,
        "target" => pub target: Text,
    }
    origin at ""
}

config_struct! {
    /// `contents.cargo[]` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawCargo in RAW_CARGO("contents.cargo entry", place "in a contents.cargo entry") {
        "package" => pub package: Text,
        "bin" => pub bin: Option<Text>,
        "path" => pub path: Text,
    }
    origin at ""
}

config_struct! {
    /// `contents.image` as written.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct RawImage in RAW_IMAGE("contents.image", place "in contents.image") {
        "entrypoint" => pub entrypoint: Option<Texts>,
        "cmd" => pub cmd: Option<Texts>,
        "env" => pub env: Option<Texts>,
        "workdir" => pub workdir: Option<Text>,
        "user" => pub user: Option<Text>,
    }
}

fn is_scalar(n: &Node) -> bool {
    matches!(
        n.value,
        Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
    )
}

fn scalar_text(n: &Node) -> String {
    match &n.value {
        Value::Str(s) => s.clone(),
        _ if is_scalar(n) => n.raw.clone(),
        _ => String::new(),
    }
}

/// A string; as in upstream's decoder any scalar is taken as its text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

static TEXT: Custom = Custom {
    expected: "a string",
    check: |n, path, out| {
        if !is_scalar(n) {
            mismatch(n, &Ty::Custom(&TEXT), path, out);
        }
    },
};

impl Decode for Text {
    fn ty() -> Ty {
        Ty::Custom(&TEXT)
    }
    fn decode(n: &Node, _: &str) -> Self {
        Text(scalar_text(n))
    }
    fn absent() -> Self {
        Text::default()
    }
}

/// A list of strings; null is the empty list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Texts(pub Vec<String>);

static TEXTS: Custom = Custom {
    expected: "a list of strings",
    check: |n, path, out| match &n.value {
        Value::Null => {}
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if !is_scalar(item) {
                    mismatch(item, &Ty::Custom(&TEXT), &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => mismatch(n, &Ty::Custom(&TEXTS), path, out),
    },
};

impl Decode for Texts {
    fn ty() -> Ty {
        Ty::Custom(&TEXTS)
    }
    fn decode(n: &Node, _: &str) -> Self {
        match &n.value {
            Value::Seq(items) => Texts(items.iter().map(scalar_text).collect()),
            _ => Texts::default(),
        }
    }
    fn absent() -> Self {
        Texts::default()
    }
}

/// A mapping of strings to strings; null is the empty mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct TextMap(pub BTreeMap<String, String>);

static TEXTMAP: Custom = Custom {
    expected: "a mapping of strings",
    check: |n, path, out| match &n.value {
        Value::Null => {}
        Value::Map(pairs) => {
            for (k, v) in pairs {
                for x in [k, v] {
                    if !is_scalar(x) {
                        mismatch(x, &Ty::Custom(&TEXT), path, out);
                    }
                }
            }
        }
        _ => mismatch(n, &Ty::Custom(&TEXTMAP), path, out),
    },
};

impl Decode for TextMap {
    fn ty() -> Ty {
        Ty::Custom(&TEXTMAP)
    }
    fn decode(n: &Node, _: &str) -> Self {
        match &n.value {
            Value::Map(pairs) => TextMap(
                pairs
                    .iter()
                    .map(|(k, v)| (scalar_text(k), scalar_text(v)))
                    .collect(),
            ),
            _ => TextMap::default(),
        }
    }
    fn absent() -> Self {
        TextMap::default()
    }
}

/// Any value (checked elsewhere, or ignored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Any;

static ANY: Custom = Custom {
    expected: "anything",
    check: |_, _, _| {},
};

impl Decode for Any {
    fn ty() -> Ty {
        Ty::Custom(&ANY)
    }
    fn decode(_: &Node, _: &str) -> Self {
        Any
    }
    fn absent() -> Self {
        Any
    }
}

fn octal(n: &Node) -> Option<Result<u32, String>> {
    let text = match &n.value {
        Value::Str(s) => s.clone(),
        Value::Int(_) => n.raw.clone(),
        _ => return None,
    };
    Some(
        match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
            Ok(m) if m <= 0o7777 => Ok(m),
            _ => Err(text),
        },
    )
}

/// An octal mode such as `"0644"` (absent = `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Mode(pub Option<u32>);

static MODE: Custom = Custom {
    expected: "an octal mode such as \"0644\"",
    check: |n, path, out| match octal(n) {
        None => mismatch(n, &Ty::Custom(&MODE), path, out),
        Some(Ok(_)) => {}
        Some(Err(text)) => {
            let key = path.rsplit('.').next().unwrap_or(path);
            out.push(Issue {
                line: n.line,
                column: n.column,
                message: format!("{key} {text:?} is not an octal mode"),
                hint: Some("write it like \"0644\" or \"0755\"".into()),
            });
        }
    },
};

impl Decode for Mode {
    fn ty() -> Ty {
        Ty::Custom(&MODE)
    }
    fn decode(n: &Node, _: &str) -> Self {
        Mode(octal(n).and_then(Result::ok))
    }
    fn absent() -> Self {
        Mode(None)
    }
}

/// A numeric owner id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Uid(pub u32);

fn uid(n: &Node) -> Option<u32> {
    match n.value {
        Value::Int(i) => u32::try_from(i).ok(),
        _ => None,
    }
}

static UID: Custom = Custom {
    expected: "a number from 0 to 4294967295",
    check: |n, path, out| {
        if uid(n).is_none() {
            mismatch(n, &Ty::Custom(&UID), path, out);
        }
    },
};

impl Decode for Uid {
    fn ty() -> Ty {
        Ty::Custom(&UID)
    }
    fn decode(n: &Node, _: &str) -> Self {
        Uid(uid(n).unwrap_or(0))
    }
    fn absent() -> Self {
        Uid(0)
    }
}

fn at(o: &Origin) -> String {
    format!("{}:{}:{}", o.file, o.line, o.column)
}

/// Parse `build.yml` text; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<BuildYml, crate::PkgError> {
    let root = yaml::parse(text).map_err(|errs| crate::PkgError::BuildYml {
        problems: errs
            .iter()
            .map(|e| format!("{file}:{}:{}: {}", e.line, e.column, e.message))
            .collect(),
    })?;
    if !matches!(root.value, Value::Map(_)) {
        return Err(crate::PkgError::BuildYml {
            problems: vec![format!(
                "{file}:{}:{}: build.yml must be a mapping, found {}",
                root.line,
                root.column,
                root.kind()
            )],
        });
    }
    let mut issues = schema::validate(&root, &RAW, "");
    let mut config = None;
    if let Some(v) = root.get("config") {
        match config_label(v) {
            Ok(label) => config = Some(label),
            Err(msgs) => issues.extend(msgs.into_iter().map(|(line, column, m)| Issue {
                line,
                column,
                message: format!("config: {m}"),
                hint: None,
            })),
        }
    }
    let raw = Raw::decode(&root, file);
    let mut err = |o: &Origin, message: String, hint: Option<&str>| {
        issues.push(Issue {
            line: o.line,
            column: o.column,
            message,
            hint: hint.map(str::to_string),
        })
    };
    if raw.image.0.is_empty() {
        err(
            &raw.origin,
            "Image field is required".into(),
            Some("add `image: <name>`"),
        );
    }
    let c = raw.contents;
    if let Some(d) = &c.debian
        && d.packages.0.is_empty()
    {
        err(&d.origin, "contents.debian needs `packages`".into(), None);
    }
    for f in &c.files {
        let kinds = usize::from(f.source.is_some())
            + usize::from(f.contents.is_some())
            + usize::from(f.directory);
        if f.path.0.is_empty() {
            err(
                &f.origin,
                "a contents.files entry needs a `path`".into(),
                None,
            );
        } else if kinds != 1 {
            err(
                &f.origin,
                format!(
                    "contents.files entry {}: give exactly one of `source`, `contents`, `directory: true`",
                    f.path.0
                ),
                None,
            );
        }
    }
    for s in &c.symlinks {
        if s.path.0.is_empty() || s.target.0.is_empty() {
            err(
                &s.origin,
                "a contents.symlinks entry needs `path` and `target`".into(),
                None,
            );
        }
    }
    for g in &c.cargo {
        if g.package.0.is_empty() || g.path.0.is_empty() {
            err(
                &g.origin,
                "a contents.cargo entry needs `package` and `path`".into(),
                None,
            );
        }
    }
    for x in &c.extract {
        if x.from.0.is_empty() || x.path.0.is_empty() {
            err(
                &x.origin,
                "a contents.extract entry needs `from` and `path`".into(),
                None,
            );
        }
    }
    if !issues.is_empty() {
        issues.sort_by_key(|i| (i.line, i.column));
        return Err(crate::PkgError::BuildYml {
            problems: issues
                .into_iter()
                .map(|i| {
                    let mut s = format!("{file}:{}:{}: {}", i.line, i.column, i.message);
                    if let Some(h) = i.hint {
                        s.push_str(&format!("\n    hint: {h}"));
                    }
                    s
                })
                .collect(),
        });
    }
    let arches = if raw.arches.0.is_empty() {
        vec!["amd64".into(), "arm64".into(), "riscv64".into()]
    } else {
        raw.arches.0
    };
    let text = |t: Option<Text>| t.map(|t| t.0);
    let texts = |t: Option<Texts>| t.map(|t| t.0);
    Ok(BuildYml {
        image: raw.image.0,
        org: text(raw.org),
        tag: text(raw.tag),
        arches,
        network: raw.network,
        config_label: config,
        labels: raw.labels.0,
        annotations: raw.annotations.0,
        contents: Contents {
            debian: c.debian.map(|d| DebianContents {
                packages: d.packages.0,
                install: d.install.unwrap_or(true),
                exclude: d.exclude.0,
                drop: d.drop.0,
            }),
            files: c
                .files
                .into_iter()
                .map(|f| FileItem {
                    at: at(&f.origin),
                    path: f.path.0,
                    source: text(f.source),
                    contents: text(f.contents),
                    directory: f.directory,
                    mode: f.mode.0,
                    uid: f.uid.0,
                    gid: f.gid.0,
                })
                .collect(),
            symlinks: c
                .symlinks
                .into_iter()
                .map(|s| SymlinkItem {
                    path: s.path.0,
                    target: s.target.0,
                })
                .collect(),
            cargo: c
                .cargo
                .into_iter()
                .map(|g| CargoItem {
                    package: g.package.0,
                    bin: text(g.bin),
                    path: g.path.0,
                })
                .collect(),
            extract: c
                .extract
                .into_iter()
                .map(|x| ExtractItem {
                    at: at(&x.origin),
                    from: x.from.0,
                    path: x.path.0,
                    r#as: match x.r#as.as_str() {
                        "tar" => ExtractAs::Tar,
                        "concat" => ExtractAs::Concat,
                        _ => ExtractAs::File,
                    },
                    mode: x.mode.0,
                })
                .collect(),
            image: ImageSpec {
                entrypoint: texts(c.image.entrypoint),
                cmd: texts(c.image.cmd),
                env: texts(c.image.env),
                workdir: text(c.image.workdir),
                user: text(c.image.user),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_bomb_in_build_yml_is_refused_with_position() {
        // build.yml goes through the same expansion bound as linuxkit YAML.
        let mut text = format!("image: x\nx-s: &s \"{}\"\nargs:\n", "A".repeat(10_000));
        for _ in 0..4000 {
            text.push_str("  - *s\n");
        }
        let e = parse("p/build.yml", &text).unwrap_err().to_string();
        assert!(
            e.contains("p/build.yml:") && e.contains("too large after expanding aliases"),
            "{e}"
        );
    }

    #[test]
    fn upstream_getty_build_yml_gives_upstream_label() {
        let text = "image: getty\nconfig:\n  pid: host\n  net: host\n  binds:\n    - /run:/run\n  devices:\n    - path: \"/dev/console\"\n      type: c\n      major: 5\n      minor: 1\n      mode: 0666\n  capabilities:\n    - all\n";
        let b = parse("build.yml", text).unwrap();
        assert_eq!(b.image, "getty");
        assert_eq!(
            b.config_label.unwrap(),
            r#"{"capabilities":["all"],"binds":["/run:/run"],"devices":[{"path":"/dev/console","type":"c","major":5,"minor":1,"mode":"0666"}],"net":"host","pid":"host"}"#
        );
    }

    #[test]
    fn every_problem_is_reported_with_position() {
        let text = "org: x\nimgae: y\ncontents:\n  files:\n    - path: /a\n      mode: \"0999\"\n      contents: hi\n    - path: /b\n  debain: {}\n";
        let e = parse("p/build.yml", text).unwrap_err().to_string();
        assert!(
            e.contains("p/build.yml:2:1: unknown field `imgae` in build.yml"),
            "{e}"
        );
        assert!(e.contains("did you mean `image`?"), "{e}");
        assert!(
            e.contains("p/build.yml:6:13: mode \"0999\" is not an octal mode"),
            "{e}"
        );
        assert!(e.contains("p/build.yml:8:7:"), "{e}");
        assert!(e.contains("unknown field `debain` in contents"), "{e}");
        assert!(e.contains("Image field is required"), "{e}");
    }

    #[test]
    fn native_contents() {
        let text = "image: t\narches: [amd64]\ncontents:\n  debian:\n    packages: [busybox-static]\n  files:\n    - path: /etc/motd\n      contents: hi\n      mode: \"0600\"\n  symlinks:\n    - path: /bin/sh\n      target: busybox\n  image:\n    cmd: [/bin/sh]\n";
        let b = parse("build.yml", text).unwrap();
        assert_eq!(b.contents.debian.unwrap().packages, ["busybox-static"]);
        assert_eq!(b.contents.files[0].mode, Some(0o600));
        assert_eq!(b.contents.symlinks[0].target, "busybox");
        assert_eq!(
            b.contents.image.cmd.as_deref(),
            Some(&["/bin/sh".to_string()][..])
        );
        assert_eq!(b.arches, ["amd64"]);
    }
}
