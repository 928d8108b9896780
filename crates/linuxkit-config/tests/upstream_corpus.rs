//! Every file of the upstream YAML corpus (`shared/reference/upstream-yaml`,
//! classified in its `INDEX.md`) is accepted or rejected like upstream:
//! `valid`/`fragment` configs parse, package `build.yml`s, unrelated YAML, the
//! schema-invalid test and the invalid-YAML `static-ip.yml` are rejected.

use std::fs;
use std::path::{Path, PathBuf};

use linuxkit_config::{Input, parse};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/upstream-yaml");
    p.join("INDEX.md").is_file().then_some(p)
}

#[test]
fn upstream_corpus_classification() {
    let Some(root) = corpus() else { return };
    let index = fs::read_to_string(root.join("INDEX.md")).unwrap_or_default();
    let (mut accepted, mut rejected) = (0, 0);
    let mut wrong = Vec::new();
    for line in index.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || !cols[1].starts_with('`') {
            continue;
        }
        let file = cols[1].trim_matches('`');
        let status = cols[2];
        // `@pkg:` templates cannot resolve without the upstream tree (see below).
        let want_ok = match status {
            _ if file == "linuxkit-template.yml" => false,
            "valid" | "fragment" => true,
            "pkg" | "other" | "INVALID (schema)" | "INVALID (yaml)" => false,
            _ => continue, // templates need substitution first
        };
        let path = root.join(file);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let res = parse(
            &Input {
                name: file,
                text: &text,
                template_dir: Some(&dir),
            },
            None,
        );
        match (want_ok, res) {
            (true, Ok(_)) => accepted += 1,
            (false, Err(_)) => rejected += 1,
            (true, Err(e)) => wrong.push(format!("{file}: rejected: {e}")),
            (false, Ok(_)) => {
                wrong.push(format!("{file}: accepted but upstream rejects ({status})"))
            }
        }
    }
    eprintln!("upstream corpus: {accepted} accepted, {rejected} rejected as upstream");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(accepted > 150 && rejected > 90);
}

#[test]
fn static_ip_example_is_invalid_yaml() {
    let Some(root) = corpus() else { return };
    let text = fs::read_to_string(root.join("examples/static-ip.yml")).unwrap_or_default();
    let err = parse(
        &Input {
            name: "examples/static-ip.yml",
            text: &text,
            template_dir: None,
        },
        None,
    )
    .expect_err("static-ip.yml must be rejected");
    let d = &err.diagnostics[0];
    assert!(d.message.starts_with("invalid YAML"), "{err}");
    assert!(d.line >= 25, "{err}");
}

#[test]
fn template_file_resolves_with_a_resolver() {
    let Some(root) = corpus() else { return };
    let text = fs::read_to_string(root.join("linuxkit-template.yml")).unwrap_or_default();
    let resolver = |p: &Path| -> Option<String> {
        let name = p.file_name()?.to_string_lossy().into_owned();
        assert!(p.ends_with(Path::new("pkg").join(&name)), "{}", p.display());
        assert!(
            p.to_string_lossy().contains("upstream-yaml/pkg/"),
            "{}",
            p.display()
        );
        Some(format!("docker.io/linuxkit/{name}:0123456789abcdef"))
    };
    let m = parse(
        &Input {
            name: "linuxkit-template.yml",
            text: &text,
            template_dir: Some(&root),
        },
        Some(&resolver),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.init[0], "docker.io/linuxkit/init:0123456789abcdef");
    assert!(
        m.services
            .iter()
            .any(|s| s.image == "docker.io/linuxkit/getty:0123456789abcdef")
    );
}
