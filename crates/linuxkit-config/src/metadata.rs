//! The `files: - metadata: yaml|json` documents (yaml.md §10.1) and the
//! `--dry-run` output: the merged configuration written back out.
//!
//! YAML follows go yaml.v2's emitter (block style, sequences not indented
//! under their key, quoting chosen like libyaml), JSON follows Go's
//! `MarshalIndent` with 4 spaces. The YAML must round-trip through
//! [`crate::parse`] (`--input-tar` re-reads it), so where upstream would print
//! keys its own schema rejects we print the schema spellings instead:
//! `hostID`/`containerID` in id mappings, and only the set `resources` keys
//! with their schema names (upstream prints every Go field, e.g. `memory: null`).

use serde_json::{Map, Value};

use crate::json::{go_indent, strs};
use crate::model::*;
use crate::runtime::{idmapping_json, interface_json, mount_json};
use crate::spec::oci_resources;
use linuxkit_oci_spec::Reference;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Yaml,
    Json,
}

fn canonical(s: &str) -> String {
    Reference::parse(s)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| s.to_string())
}

fn canonicalised(m: &Moby) -> Moby {
    let mut m = m.clone();
    if !m.kernel.image.is_empty() {
        m.kernel.image = canonical(&m.kernel.image);
    }
    for i in &mut m.init {
        *i = canonical(i);
    }
    for img in m
        .onboot
        .iter_mut()
        .chain(&mut m.onshutdown)
        .chain(&mut m.services)
    {
        img.image = canonical(&img.image);
    }
    m
}

fn put_strs(o: &mut Map<String, Value>, k: &str, v: &Option<Vec<String>>) {
    if let Some(v) = v {
        o.insert(k.into(), strs(v));
    }
}

fn put_nonempty(o: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
        o.insert(k.into(), Value::String(v.clone()));
    }
}

fn put_str(o: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        o.insert(k.into(), Value::String(v.clone()));
    }
}

fn id_value(id: &Id) -> Value {
    match id {
        Id::Int(i) => Value::from(*i),
        Id::Name(s) => Value::String(s.clone()),
    }
}

fn mount_value(m: &Mount, f: Fmt) -> Value {
    if f == Fmt::Json {
        return mount_json(m);
    }
    let maps = |v: &[IdMapping]| Value::Array(v.iter().map(idmapping_json).collect());
    let mut o = Map::new();
    o.insert("destination".into(), Value::String(m.destination.clone()));
    o.insert("type".into(), Value::String(m.r#type.clone()));
    o.insert("source".into(), Value::String(m.source.clone()));
    o.insert("options".into(), strs(&m.options));
    o.insert("uidmappings".into(), maps(&m.uid_mappings));
    o.insert("gidmappings".into(), maps(&m.gid_mappings));
    Value::Object(o)
}

/// A serde-derived value as JSON (serialising the model cannot fail: every map has string keys).
fn value(x: &impl serde::Serialize) -> Value {
    serde_json::to_value(x).unwrap_or_default()
}

fn runtime_value(r: &RuntimeConfig, f: Fmt) -> Value {
    let mut o = Map::new();
    put_strs(&mut o, "cgroups", &r.cgroups);
    if let Some(m) = &r.mounts {
        o.insert(
            "mounts".into(),
            Value::Array(m.iter().map(|m| mount_value(m, f)).collect()),
        );
    }
    put_strs(&mut o, "mkdir", &r.mkdir);
    if let Some(i) = &r.interfaces {
        let arr = i
            .iter()
            .map(|i| {
                if f == Fmt::Json {
                    return interface_json(i);
                }
                let mut x = Map::new();
                for (k, v) in [("name", &i.name), ("add", &i.add), ("peer", &i.peer)] {
                    if !v.is_empty() {
                        x.insert(k.into(), Value::String(v.clone()));
                    }
                }
                x.insert("createInRoot".into(), Value::Bool(i.create_in_root));
                Value::Object(x)
            })
            .collect();
        o.insert("interfaces".into(), Value::Array(arr));
    }
    let b = &r.bind_ns;
    if f == Fmt::Json || !b.is_empty() {
        let mut x = Map::new();
        for (k, v) in [
            ("cgroup", &b.cgroup),
            ("ipc", &b.ipc),
            ("mnt", &b.mnt),
            ("net", &b.net),
            ("pid", &b.pid),
            ("user", &b.user),
            ("uts", &b.uts),
        ] {
            put_str(&mut x, k, v);
        }
        o.insert("bindNS".into(), Value::Object(x));
    }
    put_str(&mut o, "namespace", &r.namespace);
    Value::Object(o)
}

fn image_value(i: &Image, f: Fmt) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), Value::String(i.name.clone()));
    o.insert("image".into(), Value::String(i.image.clone()));
    put_strs(&mut o, "capabilities", &i.capabilities);
    put_strs(&mut o, "capabilities.add", &i.capabilities_add);
    put_strs(&mut o, "ambient", &i.ambient);
    if let Some(m) = &i.mounts {
        o.insert(
            "mounts".into(),
            Value::Array(m.iter().map(|m| mount_value(m, f)).collect()),
        );
    }
    put_strs(&mut o, "binds", &i.binds);
    put_strs(&mut o, "binds.add", &i.binds_add);
    if let Some(d) = &i.devices {
        let arr = d
            .iter()
            .map(|d| {
                let mut x = Map::new();
                x.insert("path".into(), Value::String(d.path.clone()));
                x.insert("type".into(), Value::String(d.r#type.clone()));
                x.insert("major".into(), Value::from(d.major));
                x.insert("minor".into(), Value::from(d.minor));
                if !d.mode.is_empty() {
                    x.insert("mode".into(), Value::String(d.mode.clone()));
                }
                Value::Object(x)
            })
            .collect();
        o.insert("devices".into(), Value::Array(arr));
    }
    put_strs(&mut o, "tmpfs", &i.tmpfs);
    put_strs(&mut o, "command", &i.command);
    put_strs(&mut o, "env", &i.env);
    put_nonempty(&mut o, "cwd", &i.cwd);
    put_nonempty(&mut o, "net", &i.net);
    put_nonempty(&mut o, "pid", &i.pid);
    put_nonempty(&mut o, "ipc", &i.ipc);
    put_nonempty(&mut o, "uts", &i.uts);
    put_nonempty(&mut o, "userns", &i.userns);
    put_nonempty(&mut o, "hostname", &i.hostname);
    if let Some(b) = i.readonly {
        o.insert("readonly".into(), Value::Bool(b));
    }
    put_strs(&mut o, "maskedPaths", &i.masked_paths);
    put_strs(&mut o, "readonlyPaths", &i.readonly_paths);
    if let Some(u) = &i.uid {
        o.insert("uid".into(), id_value(u));
    }
    if let Some(g) = &i.gid {
        o.insert("gid".into(), id_value(g));
    }
    if let Some(a) = &i.additional_gids {
        o.insert(
            "additionalGids".into(),
            Value::Array(a.iter().map(id_value).collect()),
        );
    }
    if let Some(b) = i.no_new_privileges {
        o.insert("noNewPrivileges".into(), Value::Bool(b));
    }
    if let Some(v) = i.oom_score_adj {
        o.insert("oomScoreAdj".into(), Value::from(v));
    }
    put_str(&mut o, "rootfsPropagation", &i.rootfs_propagation);
    put_str(&mut o, "cgroupsPath", &i.cgroups_path);
    if let Some(r) = &i.resources {
        let v = match f {
            Fmt::Yaml => value(r),
            Fmt::Json => value(&oci_resources(r, &[])),
        };
        o.insert("resources".into(), v);
    }
    if let Some(m) = &i.sysctl {
        let x: Map<String, Value> = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        o.insert("sysctl".into(), Value::Object(x));
    }
    put_strs(&mut o, "rlimits", &i.rlimits);
    for (k, v) in [
        ("uidMappings", &i.uid_mappings),
        ("gidMappings", &i.gid_mappings),
    ] {
        if let Some(v) = v {
            o.insert(
                k.into(),
                Value::Array(v.iter().map(idmapping_json).collect()),
            );
        }
    }
    if let Some(m) = &i.annotations {
        let x: Map<String, Value> = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        o.insert("annotations".into(), Value::Object(x));
    }
    if let Some(r) = &i.runtime {
        o.insert("runtime".into(), runtime_value(r, f));
    }
    Value::Object(o)
}

fn file_value(file: &File) -> Value {
    let mut o = Map::new();
    o.insert("path".into(), Value::String(file.path.clone()));
    o.insert("directory".into(), Value::Bool(file.directory));
    if !file.symlink.is_empty() {
        o.insert("symlink".into(), Value::String(file.symlink.clone()));
    }
    put_str(&mut o, "contents", &file.contents);
    for (k, v) in [("source", &file.source), ("metadata", &file.metadata)] {
        if !v.is_empty() {
            o.insert(k.into(), Value::String(v.clone()));
        }
    }
    o.insert("optional".into(), Value::Bool(file.optional));
    if !file.mode.is_empty() {
        o.insert("mode".into(), Value::String(file.mode.clone()));
    }
    if let Some(u) = &file.uid {
        o.insert("uid".into(), id_value(u));
    }
    if let Some(g) = &file.gid {
        o.insert("gid".into(), id_value(g));
    }
    Value::Object(o)
}

fn volume_value(v: &Volume) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), Value::String(v.name.clone()));
    if !v.image.is_empty() {
        o.insert("image".into(), Value::String(v.image.clone()));
    }
    if v.readonly {
        o.insert("readonly".into(), Value::Bool(true));
    }
    if !v.format.is_empty() {
        o.insert("format".into(), Value::String(v.format.clone()));
    }
    if !v.platforms.is_empty() {
        o.insert("platforms".into(), strs(&v.platforms));
    }
    Value::Object(o)
}

fn moby_value(m: &Moby, f: Fmt) -> Value {
    let mut k = Map::new();
    k.insert("image".into(), Value::String(m.kernel.image.clone()));
    for (key, v) in [("cmdline", &m.kernel.cmdline), ("binary", &m.kernel.binary)] {
        if !v.is_empty() {
            k.insert(key.into(), Value::String(v.clone()));
        }
    }
    put_str(&mut k, "tar", &m.kernel.tar);
    put_str(&mut k, "ucode", &m.kernel.ucode);
    let list = |v: Vec<Value>| {
        if v.is_empty() && f == Fmt::Json {
            Value::Null
        } else {
            Value::Array(v)
        }
    };
    let images = |v: &[Image]| list(v.iter().map(|i| image_value(i, f)).collect());
    let mut o = Map::new();
    o.insert("kernel".into(), Value::Object(k));
    o.insert(
        "init".into(),
        list(m.init.iter().map(|s| Value::String(s.clone())).collect()),
    );
    o.insert("onboot".into(), images(&m.onboot));
    o.insert("onshutdown".into(), images(&m.onshutdown));
    o.insert("services".into(), images(&m.services));
    o.insert(
        "files".into(),
        list(m.files.iter().map(file_value).collect()),
    );
    o.insert(
        "volumes".into(),
        list(m.volumes.iter().map(volume_value).collect()),
    );
    Value::Object(o)
}

/// `metadata: yaml`: the merged config with canonical image names, yaml.v2 style.
pub fn metadata_yaml(m: &Moby) -> String {
    crate::yaml_emit::emit(&moby_value(&canonicalised(m), Fmt::Yaml))
}

/// `metadata: json`: the merged config with canonical image names, 4-space JSON
/// (absent lists are `null`).
pub fn metadata_json(m: &Moby) -> String {
    go_indent(&moby_value(&canonicalised(m), Fmt::Json))
}

/// `build --dry-run` output: the merged, template-resolved YAML (names as written).
pub fn dry_run_yaml(m: &Moby) -> String {
    crate::yaml_emit::emit(&moby_value(m, Fmt::Yaml))
}
