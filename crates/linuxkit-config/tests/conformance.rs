//! Oracle tests against the reference implementation's outputs in
//! `shared/conformance`: every positive case must parse, and every container's
//! `config.json` / `runtime.json` must equal (as JSON) the reference's; every
//! negative case must be rejected by this crate unless its error comes from
//! outside it (a missing `source:` file, a CLI flag check).
//!
//! Skipped (with a message) when `shared/` is not beside the repository.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use linuxkit_config::*;
use serde_json::Value;

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.join("conformance/cases").is_dir().then_some(p)
}

/// Image configs of the synthetic cache, by canonical name.
struct Cache {
    root: PathBuf,
    names: HashMap<String, String>,
}

fn read_json(p: &Path) -> Value {
    let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

impl Cache {
    fn open(root: PathBuf) -> Cache {
        let index = read_json(&root.join("index.json"));
        let mut names = HashMap::new();
        for m in index["manifests"].as_array().into_iter().flatten() {
            if let (Some(n), Some(d)) = (
                m["annotations"]["org.opencontainers.image.ref.name"].as_str(),
                m["digest"].as_str(),
            ) {
                names.insert(n.to_string(), d.to_string());
            }
        }
        Cache { root, names }
    }

    fn blob(&self, digest: &str) -> Value {
        let hex = digest.trim_start_matches("sha256:");
        read_json(&self.root.join("blobs/sha256").join(hex))
    }

    fn defaults(&self, image: &str) -> Option<ImageDefaults> {
        let canonical = linuxkit_oci_spec::Reference::parse(image).ok()?.canonical();
        let mut doc = self.blob(self.names.get(&canonical)?);
        if doc["manifests"].is_array() {
            let m = doc["manifests"]
                .as_array()?
                .iter()
                .find(|m| m["platform"]["architecture"] == "amd64")?
                .clone();
            doc = self.blob(m["digest"].as_str()?);
        }
        let config = self.blob(doc["config"]["digest"].as_str()?);
        let c = &config["config"];
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(ImageDefaults {
            env: c["Env"].as_array().map(|_| strs(&c["Env"])),
            entrypoint: strs(&c["Entrypoint"]),
            cmd: strs(&c["Cmd"]),
            working_dir: c["WorkingDir"].as_str().unwrap_or_default().to_string(),
            label: c["Labels"]["org.mobyproject.config"]
                .as_str()
                .map(str::to_string),
        })
    }
}

fn inputs(case: &Value) -> Vec<String> {
    // The YAML files are the trailing arguments after the last flag value.
    case["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .filter(|f| {
            case["args"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(f)))
        })
        .collect()
}

/// Parse and merge the case's YAML files.
fn load(dir: &Path, files: &[String]) -> Result<Moby, String> {
    let mut m = Moby::default();
    for f in files {
        let p = dir.join("input").join(f);
        let text = fs::read_to_string(&p).map_err(|e| e.to_string())?;
        let parent = p.parent().map(Path::to_path_buf).unwrap_or_default();
        let input = Input {
            name: f,
            text: &text,
            template_dir: Some(&parent),
        };
        let next = parse(&input, None).map_err(|e| e.to_string())?;
        merge(&mut m, next).map_err(|e| e.to_string())?;
    }
    Ok(m)
}

struct Built {
    /// tar path → JSON text
    files: Vec<(String, String)>,
}

/// Everything the build crate would do with this crate for one config.
fn build(m: &Moby, cache: &Cache) -> Result<Built, String> {
    let idmap = IdMap::new(m);
    let mut out = Vec::new();
    let mut first: HashMap<String, String> = HashMap::new();
    for (section, list) in [
        ("onboot", &m.onboot),
        ("onshutdown", &m.onshutdown),
        ("services", &m.services),
    ] {
        for (i, img) in list.iter().enumerate() {
            let img = update_image_from_volumes(img, &m.volumes).map_err(|e| e.to_string())?;
            let defaults = cache
                .defaults(&img.image)
                .ok_or_else(|| format!("image {} not in cache", img.image))?;
            let spec = oci_spec(&img, &defaults, &idmap).map_err(|e| e.to_string())?;
            let p = linuxkit_vm_abi::bundle::bundle_dir(section, i, &img.name);
            let key = linuxkit_oci_spec::Reference::parse(&img.image)
                .map(|r| r.canonical())
                .unwrap_or_else(|_| img.image.clone());
            let mount = |d: String, t: &str, s: &str, o: &[String]| RuntimeMount {
                destination: d,
                r#type: t.into(),
                source: s.into(),
                options: o.to_vec(),
                ..RuntimeMount::default()
            };
            let lower = match first.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let f = format!("/{p}/{}", if spec.readonly { "rootfs" } else { "lower" });
                    first.insert(key, f.clone());
                    f
                }
            };
            let rootfs = if spec.readonly {
                vec![mount(format!("/{p}/rootfs"), "", &lower, &["bind".into()])]
            } else {
                vec![
                    mount(format!("/{p}/tmp"), "tmpfs", "tmpfs", &[]),
                    mount(
                        format!("/{p}/tmp"),
                        "",
                        "",
                        &["remount".into(), "private".into()],
                    ),
                    mount(
                        format!("/{p}/rootfs"),
                        "overlay",
                        "overlay",
                        &[
                            format!("lowerdir={lower}"),
                            format!("upperdir=/{p}/tmp/upper"),
                            format!("workdir=/{p}/tmp/work"),
                        ],
                    ),
                ]
            };
            out.push((format!("{p}/config.json"), spec.config_json));
            out.push((
                format!("{p}/runtime.json"),
                runtime_json(&rootfs, &spec.runtime),
            ));
        }
    }
    for f in &m.files {
        file_spec(f, &idmap).map_err(|e| e.to_string())?;
    }
    Ok(Built { files: out })
}

/// Cases whose reference error comes from outside this crate.
const NOT_OURS: &[&str] = &[
    "syn-neg-source-missing",
    "tc-000_build-060_input_tar-010_same_filename-same",
];

/// Cases where we deliberately differ from the reference (see volumes.rs).
const DEVIATIONS: &[&str] = &["tc-000_build-070_volumes-006_mount_types"];

#[test]
fn conformance_cases() {
    let Some(shared) = shared() else {
        eprintln!("shared/conformance not found; skipping");
        return;
    };
    let cache = Cache::open(shared.join("conformance/images/cache"));
    let mut dirs: Vec<PathBuf> = fs::read_dir(shared.join("conformance/cases"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    let (mut pass, mut fail, mut containers) = (0, Vec::new(), 0);
    for dir in &dirs {
        let case = read_json(&dir.join("case.json"));
        let id = case["id"].as_str().unwrap_or_default().to_string();
        let positive = case["expect"] == "success";
        let result = load(dir, &inputs(&case)).and_then(|m| build(&m, &cache));
        match (positive, result) {
            (true, Err(e)) => fail.push(format!("{id}: unexpected error: {e}")),
            (false, Ok(_)) if NOT_OURS.contains(&id.as_str()) => pass += 1,
            (false, Ok(_)) => fail.push(format!(
                "{id}: accepted, reference rejects: {}",
                case["error"]
            )),
            (false, Err(_)) => pass += 1,
            (true, Ok(built)) => {
                let expected = read_json(&dir.join("expected/containers.json"));
                let mut ok = true;
                let n_expected = expected.as_object().map_or(0, |o| o.len());
                if n_expected != built.files.len() {
                    fail.push(format!(
                        "{id}: {} container files, expected {n_expected}",
                        built.files.len()
                    ));
                    ok = false;
                }
                for (path, text) in &built.files {
                    let got: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                    if got != expected[path.as_str()] {
                        if !DEVIATIONS.contains(&id.as_str()) {
                            fail.push(format!(
                                "{id}: {path} differs\n got: {got}\nwant: {}",
                                expected[path.as_str()]
                            ));
                        }
                        ok = false;
                    }
                    containers += 1;
                }
                if ok || DEVIATIONS.contains(&id.as_str()) {
                    pass += 1;
                }
            }
        }
    }
    eprintln!(
        "conformance: {pass} of {} cases agree ({containers} config/runtime files compared); deviations: {DEVIATIONS:?}",
        dirs.len()
    );
    assert!(
        fail.is_empty(),
        "{} failures:\n{}",
        fail.len(),
        fail.join("\n")
    );
}

/// `tc-000_build-070_volumes-006_mount_types`: the only difference is the fixed
/// mount source (upstream keeps the bare volume name).
#[test]
fn mount_types_deviation_is_only_the_source() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("conformance/cases/tc-000_build-070_volumes-006_mount_types");
    let cache = Cache::open(shared.join("conformance/images/cache"));
    let m = load(&dir, &["test.yml".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let built = build(&m, &cache).unwrap_or_else(|e| panic!("{e}"));
    let expected = read_json(&dir.join("expected/containers.json"));
    let mut differing = 0;
    for (path, text) in &built.files {
        let got: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if got != expected[path.as_str()] {
            differing += 1;
            let fixed = text.replace("/containers/volumes/vola/merged", "vola");
            let got: Value = serde_json::from_str(&fixed).unwrap_or(Value::Null);
            assert_eq!(got, expected[path.as_str()], "{path}");
        }
    }
    assert_eq!(differing, 1);
}

/// Where the reference tar is stored, `config.json`/`runtime.json` must match byte for byte.
#[test]
fn byte_exact_where_reference_tar_is_stored() {
    use std::io::Read;
    let Some(shared) = shared() else { return };
    let cache = Cache::open(shared.join("conformance/images/cache"));
    let mut compared = 0;
    for entry in fs::read_dir(shared.join("conformance/cases")).unwrap_or_else(|e| panic!("{e}")) {
        let Ok(entry) = entry else { continue };
        let dir = entry.path();
        let tgz = dir.join("expected/output.tar.gz");
        let Ok(file) = fs::File::open(&tgz) else {
            continue;
        };
        let case = read_json(&dir.join("case.json"));
        let m = load(&dir, &inputs(&case)).unwrap_or_else(|e| panic!("{e}"));
        let built = build(&m, &cache).unwrap_or_else(|e| panic!("{e}"));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for e in archive.entries().unwrap_or_else(|e| panic!("{e}")) {
            let mut e = e.unwrap_or_else(|e| panic!("{e}"));
            let path = e
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !path.ends_with(".json") {
                continue;
            }
            let mut want = String::new();
            e.read_to_string(&mut want)
                .unwrap_or_else(|e| panic!("{e}"));
            let got = built
                .files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, t)| t.as_str())
                .unwrap_or_default();
            assert_eq!(got, want, "{}: {path}", dir.display());
            compared += 1;
        }
    }
    eprintln!("byte-exact: {compared} files");
}
