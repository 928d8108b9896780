//! `metadata: yaml|json` output against the reference copies in
//! `shared/conformance/cases/*/expected/metadata/` (compared as data), plus
//! round-trips through `parse` (the file is re-read by `--input-tar`).

use std::fs;
use std::path::{Path, PathBuf};

use linuxkit_config::yaml::{self, Node, Value as Y};
use linuxkit_config::*;
use serde_json::Value;

fn cases() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases");
    p.is_dir().then_some(p)
}

fn to_json(n: &Node) -> Value {
    match &n.value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Int(i) => serde_json::json!(*i as i64),
        Y::Float(f) => serde_json::json!(*f),
        Y::Str(s) => Value::String(s.clone()),
        Y::Seq(v) => Value::Array(v.iter().map(to_json).collect()),
        Y::Map(p) => Value::Object(
            p.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

fn yaml_data(text: &str) -> Value {
    to_json(&yaml::parse(text).unwrap_or_else(|e| panic!("{e:?}\n{text}")))
}

fn load(dir: &Path) -> Moby {
    let case: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("case.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    let args: Vec<&str> = case["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut m = Moby::default();
    for f in case["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !args.contains(&f) {
            continue;
        }
        let text = fs::read_to_string(dir.join("input").join(f)).unwrap_or_default();
        let next = parse(
            &Input {
                name: f,
                text: &text,
                template_dir: None,
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        merge(&mut m, next).unwrap_or_else(|e| panic!("{e}"));
    }
    m
}

#[test]
fn metadata_matches_reference_as_data() {
    let Some(cases) = cases() else { return };
    let mut compared = 0;
    let mut dirs: Vec<_> = fs::read_dir(&cases)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let case: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("case.json")).unwrap_or_default())
                .unwrap_or(Value::Null);
        let Some(files) = case["metadata_files"].as_object().filter(|o| !o.is_empty()) else {
            continue;
        };
        let m = load(&dir);
        for (path, fmt) in files {
            let want =
                fs::read_to_string(dir.join("expected/metadata").join(path)).unwrap_or_default();
            match fmt.as_str() {
                Some("yaml") => {
                    let got = metadata_yaml(&m);
                    assert_eq!(
                        yaml_data(&got),
                        yaml_data(&want),
                        "{}\n{got}",
                        dir.display()
                    );
                }
                _ => {
                    let got: Value =
                        serde_json::from_str(&metadata_json(&m)).unwrap_or(Value::Null);
                    let want: Value = serde_json::from_str(&want).unwrap_or(Value::Null);
                    assert_eq!(got, want, "{}", dir.display());
                }
            }
            compared += 1;
        }
    }
    eprintln!("metadata: {compared} files compared");
    assert!(compared > 0);
}

/// Every positive case's merged config survives metadata → parse → metadata.
#[test]
fn metadata_round_trips_through_parse() {
    let Some(cases) = cases() else { return };
    let mut n = 0;
    for dir in fs::read_dir(&cases)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
    {
        let case: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("case.json")).unwrap_or_default())
                .unwrap_or(Value::Null);
        if case["expect"] != "success" {
            continue;
        }
        let m = load(&dir);
        let text = metadata_yaml(&m);
        let again = parse(
            &Input {
                name: "metadata",
                text: &text,
                template_dir: None,
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{}: {e}\n{text}", dir.display()));
        assert_eq!(metadata_yaml(&again), text, "{}", dir.display());
        let dry = dry_run_yaml(&m);
        let again = parse(
            &Input {
                name: "dry-run",
                text: &dry,
                template_dir: None,
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{}: {e}\n{dry}", dir.display()));
        assert_eq!(again, m, "{}", dir.display());
        let json: Value = serde_json::from_str(&metadata_json(&m)).unwrap_or(Value::Null);
        assert!(json.is_object());
        n += 1;
    }
    assert!(n > 100);
}
