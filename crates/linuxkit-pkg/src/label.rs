//! `build.yml`'s `config:` → the `org.mobyproject.config` label, the JSON
//! upstream writes (Go's encoding of its ImageConfig: fields in struct order,
//! scalars decoded by type, so an unquoted `mode: 0666` becomes `"0666"`).
//! The result is validated as a label with the same rules `build` applies.

use linuxkit_config::yaml::{Node, Value};
use serde_json::{Map, Value as Json};

/// Keys whose scalar values keep their YAML type (numbers, booleans, int-or-string ids);
/// every other scalar is a string in upstream's structs and keeps its source text.
const TYPED: &[&str] = &[
    "major",
    "minor",
    "readonly",
    "noNewPrivileges",
    "oomScoreAdj",
    "uid",
    "gid",
    "additionalGids",
    "hostID",
    "containerID",
    "size",
    "createInRoot",
    "allow",
];

fn convert(n: &Node, key: &str, typed: bool) -> Json {
    match &n.value {
        Value::Null => Json::Null,
        Value::Seq(items) => Json::Array(items.iter().map(|i| convert(i, key, typed)).collect()),
        Value::Map(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                let name = k.as_str().unwrap_or(&k.raw).to_string();
                let t = typed || TYPED.contains(&name.as_str());
                m.insert(name.clone(), convert(v, &name, t));
            }
            Json::Object(m)
        }
        Value::Str(s) => Json::String(s.clone()),
        Value::Bool(b) if typed => Json::Bool(*b),
        Value::Int(i) if typed => i64::try_from(*i)
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(n.raw.clone())),
        Value::Float(f) if typed => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        _ => {
            let _ = key;
            Json::String(n.raw.clone())
        }
    }
}

/// Build the label text; errors are `(line, column, message)`.
pub fn config_label(config: &Node) -> Result<String, Vec<(usize, usize, String)>> {
    let at = |m: String| vec![(config.line, config.column, m)];
    let Value::Map(pairs) = &config.value else {
        return Err(at(format!("must be a mapping, found {}", config.kind())));
    };
    let mut fields: Vec<(String, Json)> = Vec::new();
    for (k, v) in pairs {
        let name = k.as_str().unwrap_or(&k.raw).to_string();
        // `resources` holds only numbers and strings typed by the OCI spec.
        let typed = TYPED.contains(&name.as_str()) || name == "resources";
        fields.push((name.clone(), convert(v, &name, typed)));
    }
    // Top-level keys in upstream's struct order (yaml.md §4), which is the
    // order the image entry's keys are declared in.
    let keys = linuxkit_config::Image::FIELDS;
    fields.sort_by_key(|(k, _)| keys.iter().position(|f| f.key == k).unwrap_or(keys.len()));
    let mut obj = Map::new();
    for (k, v) in fields {
        obj.insert(k, v);
    }
    let text = serde_json::to_string(&Json::Object(obj)).map_err(|e| at(e.to_string()))?;
    linuxkit_config::parse_label(&text).map_err(|e| at(e.to_string()))?;
    Ok(text)
}
