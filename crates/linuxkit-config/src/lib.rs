//! LinuxKit YAML configuration: parsing with positioned diagnostics, schema
//! validation, `@pkg:` templates, multi-file merge, and generation of the OCI
//! `config.json` / `runtime.json` of each container, the `files:` entries and
//! the `metadata:` documents.
//!
//! The crate is pure: no file, network or registry access. The behavioural
//! reference is `reference/yaml.md`; deliberate differences from upstream are
//! documented where they are implemented (`volumes.rs`, `merge.rs`,
//! `model.rs`, `metadata.rs`).
//!
//! Pipeline of [`parse`]: YAML text → position-annotated tree (`yaml.rs`) →
//! schema check collecting every problem (`schema.rs`) → templates
//! (`template.rs`) → semantic checks (service/volume names, image references)
//! → typed [`Moby`] (`decode.rs`). Each key is declared once, in `model.rs`
//! (`config_struct!`): the schema, the decoder and the serialised names all
//! come from that declaration; `build.yml` (linuxkit-pkg) uses the same
//! macro and validator.

#[macro_use]
pub mod decode;
mod error;
mod files;
mod json;
mod label;
mod merge;
mod metadata;
mod model;
mod runtime;
pub mod schema;
mod spec;
mod template;
mod volumes;
pub mod yaml;
mod yaml_emit;

use std::path::Path;

use linuxkit_oci_spec::Reference;

pub use error::{ConfigError, Diagnostic, SpecError};
pub use files::{FileKind, FileSpec, MetadataFormat, file_spec, image_path};
pub use label::parse_label;
pub use merge::merge;
pub use metadata::{dry_run_yaml, metadata_json, metadata_yaml};
pub use model::*;
pub use runtime::{Runtime, RuntimeBindNs, RuntimeMount, merge_runtime, runtime_json};
pub use spec::{ALL_CAPABILITIES, ImageDefaults, OCI_VERSION, Spec, oci_spec};
pub use volumes::update_image_from_volumes;

use yaml::{Node, Value};

/// One configuration file to parse.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// File path, URL or `-`, used in messages.
    pub name: &'a str,
    /// The file's text.
    pub text: &'a str,
    /// `Some(directory of the YAML file)` for local files: enables `@pkg:` templates.
    pub template_dir: Option<&'a Path>,
}

/// Resolves a package directory to its canonical tag, e.g.
/// `docker.io/linuxkit/init:<treehash>`; `None` leaves the scalar unchanged.
pub type PkgResolver<'a> = &'a dyn Fn(&Path) -> Option<String>;

fn diag(
    input: &Input<'_>,
    line: usize,
    column: usize,
    message: String,
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic {
        file: input.name.to_string(),
        line,
        column,
        message,
        hint,
    }
}

/// Parse, validate and decode one configuration file.
///
/// Every problem of the file is reported, in document order; parsing stops
/// after the YAML and schema stages if those fail.
pub fn parse(input: &Input<'_>, resolver: Option<PkgResolver<'_>>) -> Result<Moby, ConfigError> {
    let (mut root, yaml_errors) = yaml::parse_lenient(input.text).map_err(|errs| ConfigError {
        diagnostics: errs
            .into_iter()
            .map(|e| diag(input, e.line, e.column, e.message, e.hint))
            .collect(),
    })?;
    let mut diagnostics: Vec<Diagnostic> = yaml_errors
        .into_iter()
        .map(|e| diag(input, e.line, e.column, e.message, e.hint))
        .collect();
    if !matches!(root.value, Value::Map(_)) {
        return Err(ConfigError::single(diag(
            input,
            root.line,
            root.column,
            format!(
                "the configuration must be a mapping (kernel, init, onboot, ...), found {}",
                root.kind()
            ),
            Some("a LinuxKit file starts with top-level keys such as `kernel:` and `init:`".into()),
        )));
    }
    let issues = schema::validate(&root, &model::TOP, "");
    diagnostics.extend(
        issues
            .into_iter()
            .map(|i| diag(input, i.line, i.column, i.message, i.hint)),
    );
    if !diagnostics.is_empty() {
        diagnostics.sort_by_key(|d| (d.line, d.column));
        return Err(ConfigError { diagnostics });
    }
    if let Some(dir) = input.template_dir {
        template::apply(&mut root, dir, resolver);
    }
    diagnostics.extend(semantic_checks(input, &root));
    let m = decode::moby(&root, input.name);
    diagnostics.extend(merge::duplicate_services(&m.services));
    diagnostics.extend(volume_names(input, &root));
    diagnostics.extend(merge::duplicate_volumes(&m.volumes));
    if !diagnostics.is_empty() {
        diagnostics.sort_by_key(|d| (d.line, d.column));
        return Err(ConfigError { diagnostics });
    }
    Ok(m)
}

fn entries<'a>(root: &'a Node, key: &str) -> &'a [Node] {
    match root.get(key).map(|n| &n.value) {
        Some(Value::Seq(v)) => v,
        _ => &[],
    }
}

fn volume_names(input: &Input<'_>, root: &Node) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for v in entries(root, "volumes") {
        let Some(n) = v.get("name") else { continue };
        let name = n.as_str().unwrap_or_default();
        if !name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
        {
            out.push(diag(
                input,
                n.line,
                n.column,
                format!("invalid volume name: {name}"),
                Some(
                    "volume names may only contain lower-case letters, digits, '_' and '-'".into(),
                ),
            ));
        }
    }
    out
}

/// Image references (yaml.md §1 step 8), with positions.
fn semantic_checks(input: &Input<'_>, root: &Node) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut check = |n: &Node, what: &str| {
        if let Some(s) = n.as_str()
            && let Err(e) = Reference::parse(s)
        {
            out.push(diag(
                input,
                n.line,
                n.column,
                format!("extract {what} image reference: {e}"),
                Some(
                    "image references look like `name[:tag][@sha256:digest]`, e.g. `linuxkit/init:<tag>` \
                     or `docker.io/library/alpine:3.21`"
                        .into(),
                ),
            ));
        }
    };
    if let Some(k) = root.get("kernel").and_then(|k| k.get("image"))
        && k.as_str().is_some_and(|s| !s.is_empty())
    {
        check(k, "kernel");
    }
    for n in entries(root, "init") {
        check(n, "init");
    }
    for (key, what) in [
        ("onboot", "on boot"),
        ("onshutdown", "on shutdown"),
        ("services", "service"),
    ] {
        for e in entries(root, key) {
            if let Some(n) = e.get("image") {
                check(n, what);
            }
        }
    }
    for v in entries(root, "volumes") {
        if let Some(n) = v.get("image")
            && n.as_str().is_some_and(|s| !s.is_empty())
        {
            check(n, "volume");
        }
    }
    out
}
