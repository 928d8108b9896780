//! `runtime.json` (yaml.md §6.11) from the configuration side: merging the
//! label's and the YAML's `runtime` key by key, and the bytes written into
//! each bundle. The document's types are the host/VM contract and live in
//! `linuxkit-vm-abi` (re-exported here as [`Runtime`], [`RuntimeBindNs`],
//! [`RuntimeMount`]); this module only maps the configuration model onto
//! them. Pure data; the rootfs mounts themselves are computed by the build
//! crate (image-layout.md §5).

use linuxkit_vm_abi::runtime as abi;
use serde_json::Value;

use crate::json::go_indent;
use crate::model::{IdMapping, Interface, Mount, RuntimeConfig};

pub use linuxkit_vm_abi::runtime::{BindNs as RuntimeBindNs, Mount as RuntimeMount, Runtime};

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
    let mounts: Vec<Mount> = pick(l.mounts.as_ref(), y.mounts.as_ref()).unwrap_or_default();
    let interfaces: Vec<Interface> =
        pick(l.interfaces.as_ref(), y.interfaces.as_ref()).unwrap_or_default();
    Runtime {
        cgroups: pick(l.cgroups.as_ref(), y.cgroups.as_ref()).unwrap_or_default(),
        mounts: mounts.iter().map(abi_mount).collect(),
        mkdir: pick(l.mkdir.as_ref(), y.mkdir.as_ref()).unwrap_or_default(),
        interfaces: interfaces.iter().map(abi_interface).collect(),
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

/// The model's id mapping as written (ids are `uint32` in OCI's JSON; the
/// schema has already checked the range).
fn abi_idmapping(m: &IdMapping) -> abi::IdMapping {
    abi::IdMapping {
        container_id: m.container_id as u32,
        host_id: m.host_id as u32,
        size: m.size as u32,
    }
}

fn abi_mount(m: &Mount) -> abi::Mount {
    abi::Mount {
        destination: m.destination.clone(),
        r#type: m.r#type.clone(),
        source: m.source.clone(),
        options: m.options.clone(),
        uid_mappings: m.uid_mappings.iter().map(abi_idmapping).collect(),
        gid_mappings: m.gid_mappings.iter().map(abi_idmapping).collect(),
    }
}

fn abi_interface(i: &Interface) -> abi::Interface {
    abi::Interface {
        name: i.name.clone(),
        add: i.add.clone(),
        peer: i.peer.clone(),
        create_in_root: i.create_in_root,
    }
}

/// OCI `LinuxIDMapping` JSON.
pub(crate) fn idmapping_json(m: &IdMapping) -> Value {
    abi_idmapping(m).to_value()
}

/// OCI `Mount` JSON (`destination`, then non-empty `type`, `source`, `options`, mappings).
pub(crate) fn mount_json(m: &Mount) -> Value {
    abi_mount(m).to_value()
}

/// A `runtime.interfaces[]` entry's JSON (empty `name`, `add`, `peer` omitted).
pub(crate) fn interface_json(i: &Interface) -> Value {
    abi_interface(i).to_value()
}

/// The `runtime.json` object (rootfs mounts first, then `runtime.mounts`).
pub fn runtime_value(rootfs_mounts: &[RuntimeMount], runtime: &Runtime) -> Value {
    runtime.with_rootfs_mounts(rootfs_mounts).to_value()
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

    #[test]
    fn written_bytes_read_back_as_the_vm_sees_them() {
        let yaml = RuntimeConfig {
            mounts: Some(vec![Mount {
                destination: "/var/<x>".into(),
                r#type: "bind".into(),
                source: "/x&y".into(),
                options: vec!["rbind".into()],
                uid_mappings: vec![IdMapping {
                    container_id: 0,
                    host_id: 1000,
                    size: 1,
                }],
                ..Mount::default()
            }]),
            interfaces: Some(vec![Interface {
                name: "eth1".into(),
                ..Interface::default()
            }]),
            ..Default::default()
        };
        let runtime = merge_runtime(None, Some(&yaml));
        let rootfs = [RuntimeMount::new(
            "/containers/onboot/000-a/rootfs",
            "",
            "/l",
            &["bind"],
        )];
        let text = runtime_json(&rootfs, &runtime);
        // Go's HTML-safe escaping, which serde_json alone does not do.
        assert!(text.contains("/var/\\u003cx\\u003e"), "{text}");
        let back: Runtime = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, runtime.with_rootfs_mounts(&rootfs));
        assert_eq!(back.mounts[1].uid_mappings[0].host_id, 1000);
    }
}
