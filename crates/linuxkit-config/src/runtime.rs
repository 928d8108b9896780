//! `runtime.json` (yaml.md §6.11): the per-container actions of the in-VM
//! `service` tool, merged label-vs-yaml key by key, serialised with the
//! bundle's rootfs mounts first. Pure data; the rootfs mounts themselves are
//! computed by the build crate (image-layout.md §5).

use serde_json::{Map, Value};

use crate::json::{go_indent, strs};
use crate::model::{IdMapping, Interface, Mount, RuntimeConfig};

/// The merged `runtime` of a container (all keys resolved).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Runtime {
    /// Cgroups to create.
    pub cgroups: Vec<String>,
    /// Mounts done before the container starts (after the rootfs mounts).
    pub mounts: Vec<Mount>,
    /// Directories to create.
    pub mkdir: Vec<String>,
    /// Network interfaces to create/move.
    pub interfaces: Vec<Interface>,
    /// Namespaces to bind-mount after start.
    pub bind_ns: RuntimeBindNs,
    /// containerd namespace (services).
    pub namespace: String,
}

/// The seven `bindNS` paths, `""` when unset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeBindNs {
    /// `cgroup`.
    pub cgroup: String,
    /// `ipc`.
    pub ipc: String,
    /// `mnt`.
    pub mnt: String,
    /// `net`.
    pub net: String,
    /// `pid`.
    pub pid: String,
    /// `user`.
    pub user: String,
    /// `uts`.
    pub uts: String,
}

/// A mount prepended by the build (bundle rootfs set-up).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeMount {
    /// `destination`.
    pub destination: String,
    /// `type` (omitted when empty).
    pub r#type: String,
    /// `source` (omitted when empty).
    pub source: String,
    /// `options` (omitted when empty).
    pub options: Vec<String>,
}

fn pick<T: Clone>(label: Option<&T>, yaml: Option<&T>) -> Option<T> {
    yaml.or(label).cloned()
}

/// Merge label and yaml `runtime` (yaml.md §6.11): yaml ?? label ?? empty, per key.
pub fn merge_runtime(label: Option<&RuntimeConfig>, yaml: Option<&RuntimeConfig>) -> Runtime {
    let l = label.cloned().unwrap_or_default();
    let y = yaml.cloned().unwrap_or_default();
    let ns = |lv: &Option<String>, yv: &Option<String>| {
        pick(lv.as_ref(), yv.as_ref()).unwrap_or_default()
    };
    Runtime {
        cgroups: pick(l.cgroups.as_ref(), y.cgroups.as_ref()).unwrap_or_default(),
        mounts: pick(l.mounts.as_ref(), y.mounts.as_ref()).unwrap_or_default(),
        mkdir: pick(l.mkdir.as_ref(), y.mkdir.as_ref()).unwrap_or_default(),
        interfaces: pick(l.interfaces.as_ref(), y.interfaces.as_ref()).unwrap_or_default(),
        bind_ns: RuntimeBindNs {
            cgroup: ns(&l.bind_ns.cgroup, &y.bind_ns.cgroup),
            ipc: ns(&l.bind_ns.ipc, &y.bind_ns.ipc),
            mnt: ns(&l.bind_ns.mnt, &y.bind_ns.mnt),
            net: ns(&l.bind_ns.net, &y.bind_ns.net),
            pid: ns(&l.bind_ns.pid, &y.bind_ns.pid),
            user: ns(&l.bind_ns.user, &y.bind_ns.user),
            uts: ns(&l.bind_ns.uts, &y.bind_ns.uts),
        },
        namespace: pick(l.namespace.as_ref(), y.namespace.as_ref()).unwrap_or_default(),
    }
}

/// OCI `LinuxIDMapping` JSON.
pub(crate) fn idmapping_json(m: &IdMapping) -> Value {
    let mut o = Map::new();
    o.insert("containerID".into(), Value::from(m.container_id as u32));
    o.insert("hostID".into(), Value::from(m.host_id as u32));
    o.insert("size".into(), Value::from(m.size as u32));
    Value::Object(o)
}

/// OCI `Mount` JSON (`destination`, then non-empty `type`, `source`, `options`, mappings).
pub(crate) fn mount_json(m: &Mount) -> Value {
    let mut o = Map::new();
    o.insert("destination".into(), Value::String(m.destination.clone()));
    if !m.r#type.is_empty() {
        o.insert("type".into(), Value::String(m.r#type.clone()));
    }
    if !m.source.is_empty() {
        o.insert("source".into(), Value::String(m.source.clone()));
    }
    if !m.options.is_empty() {
        o.insert("options".into(), strs(&m.options));
    }
    if !m.uid_mappings.is_empty() {
        o.insert(
            "uidMappings".into(),
            Value::Array(m.uid_mappings.iter().map(idmapping_json).collect()),
        );
    }
    if !m.gid_mappings.is_empty() {
        o.insert(
            "gidMappings".into(),
            Value::Array(m.gid_mappings.iter().map(idmapping_json).collect()),
        );
    }
    Value::Object(o)
}

pub(crate) fn interface_json(i: &Interface) -> Value {
    let mut o = Map::new();
    if !i.name.is_empty() {
        o.insert("name".into(), Value::String(i.name.clone()));
    }
    if !i.add.is_empty() {
        o.insert("add".into(), Value::String(i.add.clone()));
    }
    if !i.peer.is_empty() {
        o.insert("peer".into(), Value::String(i.peer.clone()));
    }
    o.insert("createInRoot".into(), Value::Bool(i.create_in_root));
    Value::Object(o)
}

/// The `runtime.json` object (rootfs mounts first, then `runtime.mounts`).
pub fn runtime_value(rootfs_mounts: &[RuntimeMount], runtime: &Runtime) -> Value {
    let mut mounts: Vec<Value> = rootfs_mounts
        .iter()
        .map(|m| {
            mount_json(&Mount {
                destination: m.destination.clone(),
                r#type: m.r#type.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
                ..Mount::default()
            })
        })
        .collect();
    mounts.extend(runtime.mounts.iter().map(mount_json));
    let mut o = Map::new();
    o.insert("cgroups".into(), strs(&runtime.cgroups));
    o.insert("mounts".into(), Value::Array(mounts));
    o.insert("mkdir".into(), strs(&runtime.mkdir));
    o.insert(
        "interfaces".into(),
        Value::Array(runtime.interfaces.iter().map(interface_json).collect()),
    );
    let b = &runtime.bind_ns;
    let mut ns = Map::new();
    for (k, v) in [
        ("cgroup", &b.cgroup),
        ("ipc", &b.ipc),
        ("mnt", &b.mnt),
        ("net", &b.net),
        ("pid", &b.pid),
        ("user", &b.user),
        ("uts", &b.uts),
    ] {
        ns.insert(k.into(), Value::String(v.clone()));
    }
    o.insert("bindNS".into(), Value::Object(ns));
    o.insert("namespace".into(), Value::String(runtime.namespace.clone()));
    Value::Object(o)
}

/// `runtime.json` bytes: 4-space indented, Go escaping, no trailing newline.
pub fn runtime_json(rootfs_mounts: &[RuntimeMount], runtime: &Runtime) -> String {
    go_indent(&runtime_value(rootfs_mounts, runtime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_runtime_has_every_key() {
        let text = runtime_json(&[], &Runtime::default());
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            v,
            serde_json::json!({"cgroups": [], "mounts": [], "mkdir": [], "interfaces": [],
                "bindNS": {"cgroup": "", "ipc": "", "mnt": "", "net": "", "pid": "", "user": "", "uts": ""},
                "namespace": ""})
        );
    }

    #[test]
    fn yaml_overrides_label_per_key() {
        let label = RuntimeConfig {
            mkdir: Some(vec!["/a".into()]),
            cgroups: Some(vec!["x".into()]),
            ..Default::default()
        };
        let yaml = RuntimeConfig {
            mkdir: Some(vec![]),
            ..Default::default()
        };
        let r = merge_runtime(Some(&label), Some(&yaml));
        assert!(r.mkdir.is_empty());
        assert_eq!(r.cgroups, vec!["x".to_string()]);
    }
}
