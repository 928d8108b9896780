//! `build.yml`: upstream's keys (strictly: an unknown key is an error, as
//! upstream's strict decoder has it) plus our native `contents:` section that
//! describes the image's layers (docs/packages.md). Every problem in the file
//! is reported with its line and column.

use crate::label::config_label;
use linuxkit_config::yaml::{self, Node, Value};
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

const TOP_KEYS: &[&str] = &[
    "image",
    "org",
    "tag",
    "dockerfile",
    "arches",
    "extra-sources",
    "gitrepo",
    "network",
    "disable-cache",
    "config",
    "buildArgs",
    "depends",
    "labels",
    "annotations",
    "contents",
];
const CONTENTS_KEYS: &[&str] = &["debian", "files", "symlinks", "cargo", "extract", "image"];
const DEBIAN_KEYS: &[&str] = &["packages", "exclude", "drop", "install"];
const EXTRACT_KEYS: &[&str] = &["from", "path", "as", "mode"];
const FILE_KEYS: &[&str] = &[
    "path",
    "source",
    "contents",
    "directory",
    "mode",
    "uid",
    "gid",
];
const SYMLINK_KEYS: &[&str] = &["path", "target"];
const CARGO_KEYS: &[&str] = &["package", "bin", "path"];
const IMAGE_KEYS: &[&str] = &["entrypoint", "cmd", "env", "workdir", "user"];

struct Ctx<'a> {
    file: &'a str,
    problems: Vec<String>,
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Ctx<'_> {
    fn err(&mut self, n: &Node, msg: String, hint: Option<String>) {
        let mut s = format!("{}:{}:{}: {msg}", self.file, n.line, n.column);
        if let Some(h) = hint {
            s.push_str(&format!("\n    hint: {h}"));
        }
        self.problems.push(s);
    }

    /// Check keys of a mapping; returns its pairs.
    fn map<'n>(&mut self, n: &'n Node, what: &str, allowed: &[&str]) -> Vec<(&'n str, &'n Node)> {
        let Value::Map(pairs) = &n.value else {
            self.err(
                n,
                format!("{what} must be a mapping, found {}", n.kind()),
                None,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in pairs {
            let key = k.as_str().unwrap_or(&k.raw);
            if !allowed.contains(&key) {
                let best = allowed.iter().min_by_key(|a| distance(key, a)).copied();
                let hint = best
                    .filter(|b| distance(key, b) <= 3)
                    .map(|b| format!("did you mean `{b}`?"))
                    .or_else(|| Some(format!("valid keys: {}", allowed.join(", "))));
                self.err(k, format!("unknown field `{key}` in {what}"), hint);
                continue;
            }
            out.push((key, v));
        }
        out
    }

    fn string(&mut self, n: &Node, what: &str) -> String {
        match &n.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => n.raw.clone(),
            _ => {
                self.err(
                    n,
                    format!("{what} must be a string, found {}", n.kind()),
                    None,
                );
                String::new()
            }
        }
    }

    fn bool(&mut self, n: &Node, what: &str) -> bool {
        match &n.value {
            Value::Bool(b) => *b,
            _ => {
                self.err(
                    n,
                    format!("{what} must be true or false, found {}", n.kind()),
                    None,
                );
                false
            }
        }
    }

    fn strings(&mut self, n: &Node, what: &str) -> Vec<String> {
        match &n.value {
            Value::Seq(items) => items.iter().map(|i| self.string(i, what)).collect(),
            Value::Null => Vec::new(),
            _ => {
                self.err(
                    n,
                    format!("{what} must be a list of strings, found {}", n.kind()),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn string_map(&mut self, n: &Node, what: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match &n.value {
            Value::Map(pairs) => {
                for (k, v) in pairs {
                    let key = self.string(k, what);
                    let val = self.string(v, what);
                    out.insert(key, val);
                }
            }
            Value::Null => {}
            _ => self.err(
                n,
                format!("{what} must be a mapping of strings, found {}", n.kind()),
                None,
            ),
        }
        out
    }

    fn seq<'n>(&mut self, n: &'n Node, what: &str) -> &'n [Node] {
        match &n.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.err(
                    n,
                    format!("{what} must be a list, found {}", n.kind()),
                    None,
                );
                &[]
            }
        }
    }

    fn id(&mut self, n: &Node, what: &str) -> u32 {
        match &n.value {
            Value::Int(i) if (0..=i128::from(u32::MAX)).contains(i) => *i as u32,
            _ => {
                self.err(
                    n,
                    format!(
                        "{what} must be a number from 0 to 4294967295, found {}",
                        n.kind()
                    ),
                    None,
                );
                0
            }
        }
    }

    fn mode(&mut self, n: &Node, what: &str) -> Option<u32> {
        let text = match &n.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) => n.raw.clone(),
            _ => {
                self.err(
                    n,
                    format!(
                        "{what} must be an octal mode such as \"0644\", found {}",
                        n.kind()
                    ),
                    None,
                );
                return None;
            }
        };
        match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
            Ok(m) if m <= 0o7777 => Some(m),
            _ => {
                self.err(
                    n,
                    format!("{what} {text:?} is not an octal mode"),
                    Some("write it like \"0644\" or \"0755\"".into()),
                );
                None
            }
        }
    }
}

/// Parse `build.yml` text; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<BuildYml, crate::PkgError> {
    let root = yaml::parse(text).map_err(|errs| crate::PkgError::BuildYml {
        problems: errs
            .iter()
            .map(|e| format!("{file}:{}:{}: {}", e.line, e.column, e.message))
            .collect(),
    })?;
    let mut cx = Ctx {
        file,
        problems: Vec::new(),
    };
    let mut b = BuildYml::default();
    let mut have_image = false;
    for (key, v) in cx.map(&root, "build.yml", TOP_KEYS) {
        match key {
            "image" => {
                b.image = cx.string(v, "image");
                have_image = !b.image.is_empty();
            }
            "org" => b.org = Some(cx.string(v, "org")),
            "tag" => b.tag = Some(cx.string(v, "tag")),
            "arches" => b.arches = cx.strings(v, "arches"),
            "network" => b.network = cx.bool(v, "network"),
            "disable-cache" => {
                cx.bool(v, "disable-cache");
            }
            "dockerfile" | "gitrepo" => {
                cx.string(v, key);
            }
            "extra-sources" | "buildArgs" => {
                cx.strings(v, key);
            }
            "depends" => {}
            "labels" => b.labels = cx.string_map(v, "labels"),
            "annotations" => b.annotations = cx.string_map(v, "annotations"),
            "config" => match config_label(v) {
                Ok(label) => b.config_label = Some(label),
                Err(msgs) => {
                    for (line, column, m) in msgs {
                        cx.problems
                            .push(format!("{file}:{line}:{column}: config: {m}"));
                    }
                }
            },
            "contents" => b.contents = contents(&mut cx, v),
            _ => {}
        }
    }
    if !have_image {
        cx.err(
            &root,
            "Image field is required".into(),
            Some("add `image: <name>`".into()),
        );
    }
    if b.arches.is_empty() {
        b.arches = vec!["amd64".into(), "arm64".into(), "riscv64".into()];
    }
    if cx.problems.is_empty() {
        Ok(b)
    } else {
        Err(crate::PkgError::BuildYml {
            problems: cx.problems,
        })
    }
}

fn contents(cx: &mut Ctx<'_>, n: &Node) -> Contents {
    let mut c = Contents::default();
    for (key, v) in cx.map(n, "contents", CONTENTS_KEYS) {
        let v: &Node = v;
        match key {
            "debian" => {
                let mut d = DebianContents {
                    install: true,
                    ..DebianContents::default()
                };
                for (k, v) in cx.map(v, "contents.debian", DEBIAN_KEYS) {
                    if k == "install" {
                        d.install = cx.bool(v, "contents.debian.install");
                        continue;
                    }
                    let list = cx.strings(v, &format!("contents.debian.{k}"));
                    match k {
                        "packages" => d.packages = list,
                        "exclude" => d.exclude = list,
                        _ => d.drop = list,
                    }
                }
                if d.packages.is_empty() {
                    cx.err(v, "contents.debian needs `packages`".into(), None);
                }
                c.debian = Some(d);
            }
            "files" => {
                for item in cx.seq(v, "contents.files") {
                    let mut f = FileItem {
                        at: format!("{}:{}:{}", cx.file, item.line, item.column),
                        ..FileItem::default()
                    };
                    for (k, v) in cx.map(item, "a contents.files entry", FILE_KEYS) {
                        match k {
                            "path" => f.path = cx.string(v, "path"),
                            "source" => f.source = Some(cx.string(v, "source")),
                            "contents" => f.contents = Some(cx.string(v, "contents")),
                            "directory" => f.directory = cx.bool(v, "directory"),
                            "mode" => f.mode = cx.mode(v, "mode"),
                            "uid" => f.uid = cx.id(v, "uid"),
                            _ => f.gid = cx.id(v, "gid"),
                        }
                    }
                    let kinds = usize::from(f.source.is_some())
                        + usize::from(f.contents.is_some())
                        + usize::from(f.directory);
                    if f.path.is_empty() {
                        cx.err(item, "a contents.files entry needs a `path`".into(), None);
                    } else if kinds != 1 {
                        cx.err(
                            item,
                            format!("contents.files entry {}: give exactly one of `source`, `contents`, `directory: true`", f.path),
                            None,
                        );
                    }
                    c.files.push(f);
                }
            }
            "symlinks" => {
                for item in cx.seq(v, "contents.symlinks") {
                    let mut s = SymlinkItem::default();
                    for (k, v) in cx.map(item, "a contents.symlinks entry", SYMLINK_KEYS) {
                        if k == "path" {
                            s.path = cx.string(v, "path");
                        } else {
                            s.target = cx.string(v, "target");
                        }
                    }
                    if s.path.is_empty() || s.target.is_empty() {
                        cx.err(
                            item,
                            "a contents.symlinks entry needs `path` and `target`".into(),
                            None,
                        );
                    }
                    c.symlinks.push(s);
                }
            }
            "cargo" => {
                for item in cx.seq(v, "contents.cargo") {
                    let mut g = CargoItem::default();
                    for (k, v) in cx.map(item, "a contents.cargo entry", CARGO_KEYS) {
                        match k {
                            "package" => g.package = cx.string(v, "package"),
                            "bin" => g.bin = Some(cx.string(v, "bin")),
                            _ => g.path = cx.string(v, "path"),
                        }
                    }
                    if g.package.is_empty() || g.path.is_empty() {
                        cx.err(
                            item,
                            "a contents.cargo entry needs `package` and `path`".into(),
                            None,
                        );
                    }
                    c.cargo.push(g);
                }
            }
            "extract" => {
                for item in cx.seq(v, "contents.extract") {
                    let mut x = ExtractItem {
                        at: format!("{}:{}:{}", cx.file, item.line, item.column),
                        ..ExtractItem::default()
                    };
                    for (k, v) in cx.map(item, "a contents.extract entry", EXTRACT_KEYS) {
                        match k {
                            "from" => x.from = cx.string(v, "from"),
                            "path" => x.path = cx.string(v, "path"),
                            "mode" => x.mode = cx.mode(v, "mode"),
                            _ => {
                                x.r#as = match cx.string(v, "as").as_str() {
                                    "file" => ExtractAs::File,
                                    "tar" => ExtractAs::Tar,
                                    "concat" => ExtractAs::Concat,
                                    other => {
                                        cx.err(
                                            v,
                                            format!(
                                                "`as: {other}` is not one of file, tar, concat"
                                            ),
                                            None,
                                        );
                                        ExtractAs::File
                                    }
                                }
                            }
                        }
                    }
                    if x.from.is_empty() || x.path.is_empty() {
                        cx.err(
                            item,
                            "a contents.extract entry needs `from` and `path`".into(),
                            None,
                        );
                    }
                    c.extract.push(x);
                }
            }
            "image" => {
                for (k, v) in cx.map(v, "contents.image", IMAGE_KEYS) {
                    match k {
                        "entrypoint" => c.image.entrypoint = Some(cx.strings(v, "entrypoint")),
                        "cmd" => c.image.cmd = Some(cx.strings(v, "cmd")),
                        "env" => c.image.env = Some(cx.strings(v, "env")),
                        "workdir" => c.image.workdir = Some(cx.string(v, "workdir")),
                        _ => c.image.user = Some(cx.string(v, "user")),
                    }
                }
            }
            _ => {}
        }
    }
    c
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
