//! `runtime.json` (yaml.md §6.11): the per-container actions `/init` does
//! around the OCI runtime — mounts, directories and cgroups before the
//! container exists; interfaces and `bindNS` once it exists, before it
//! starts. The build writes it beside `config.json` in every bundle
//! (`linuxkit-config` merges the label and the YAML into a [`Runtime`]);
//! `linuxkit-init` reads it back into the same type.
//!
//! Field order is upstream's (conformance compares the bytes); the writer
//! side adds Go's escaping and indentation. Every key may be missing when
//! read (a missing `runtime.json` means no actions), except an interface's
//! `name`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole `runtime.json` document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    /// Cgroups to create (relative to `/sys/fs/cgroup`).
    pub cgroups: Vec<String>,
    /// Mounts done before the container exists: the bundle's rootfs mounts
    /// first (written by the build), then the YAML's `runtime.mounts`.
    /// Relative destinations are under the bundle's `rootfs`.
    pub mounts: Vec<Mount>,
    /// Directories to create (relative ones under the bundle's `rootfs`).
    pub mkdir: Vec<String>,
    /// Network interfaces to create or move into the container.
    pub interfaces: Vec<Interface>,
    /// Namespaces to bind-mount once the container exists.
    #[serde(rename = "bindNS")]
    pub bind_ns: BindNs,
    /// containerd namespace (services); names the cgroup parent.
    pub namespace: String,
}

impl Runtime {
    /// The same actions with `rootfs` mounts done first (the bundle's root
    /// filesystem set-up precedes the configured mounts).
    pub fn with_rootfs_mounts(&self, rootfs: &[Mount]) -> Runtime {
        let mut r = self.clone();
        r.mounts = rootfs.iter().chain(&self.mounts).cloned().collect();
        r
    }

    /// The document as a JSON value, keys in upstream's order.
    pub fn to_value(&self) -> Value {
        value(self)
    }
}

/// An OCI `Mount` (the shape of `config.json`'s mounts as well):
/// `destination`, then `type`, `source`, `options` and the id mappings, each
/// omitted when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Mount {
    /// Mount point.
    pub destination: String,
    /// Filesystem type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    /// Source.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Flags and data (`bind`, `ro`, `lowerdir=...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// User id mappings of an idmapped mount.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// Group id mappings of an idmapped mount.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
}

impl Mount {
    /// A mount without id mappings.
    pub fn new(destination: &str, r#type: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            destination: destination.to_string(),
            r#type: r#type.to_string(),
            source: source.to_string(),
            options: options.iter().map(|s| s.to_string()).collect(),
            ..Mount::default()
        }
    }

    /// The mount as a JSON value.
    pub fn to_value(&self) -> Value {
        value(self)
    }
}

/// An OCI `LinuxIDMapping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IdMapping {
    /// First id in the container.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// First id on the host.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// How many ids.
    pub size: u32,
}

impl IdMapping {
    /// The mapping as a JSON value.
    pub fn to_value(&self) -> Value {
        value(self)
    }
}

/// One entry of `interfaces`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interface {
    /// The interface's name in the container. Required when read (an
    /// interface without a name cannot be set up); omitted when empty on
    /// write, as upstream writes it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Link kind to create (`veth`, `wireguard`, ...); empty: move an existing one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub add: String,
    /// The other end of a veth pair (stays in the root namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer: String,
    /// Create the link in the root namespace, then move it.
    #[serde(default, rename = "createInRoot")]
    pub create_in_root: bool,
}

impl Interface {
    /// The entry as a JSON value.
    pub fn to_value(&self) -> Value {
        value(self)
    }
}

/// `bindNS`: where to bind each namespace of the container (`""` = nowhere).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BindNs {
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

impl BindNs {
    /// `(namespace kind as in /proc/<pid>/ns/<kind>, path)` for all seven.
    pub fn entries(&self) -> [(&'static str, &str); 7] {
        [
            ("cgroup", &self.cgroup),
            ("ipc", &self.ipc),
            ("mnt", &self.mnt),
            ("net", &self.net),
            ("pid", &self.pid),
            ("user", &self.user),
            ("uts", &self.uts),
        ]
    }
}

/// Serialise one of this module's types. They hold only strings, numbers,
/// booleans and sequences, for which serde_json cannot fail; `Null` would
/// only mark an impossible error.
fn value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Runtime {
        Runtime {
            cgroups: vec!["podruntime/x".into()],
            mounts: vec![Mount {
                uid_mappings: vec![IdMapping {
                    container_id: 0,
                    host_id: 100_000,
                    size: 65_536,
                }],
                ..Mount::new("/var/x", "bind", "/x", &["rbind", "ro"])
            }],
            mkdir: vec!["/var/lib/x".into()],
            interfaces: vec![Interface {
                name: "eth1".into(),
                add: "veth".into(),
                peer: "veth-x".into(),
                create_in_root: false,
            }],
            bind_ns: BindNs {
                net: "/run/netns/x".into(),
                ..BindNs::default()
            },
            namespace: "services.linuxkit".into(),
        }
    }

    #[test]
    fn empty_runtime_has_every_key_in_order() {
        let v = Runtime::default().to_value();
        assert_eq!(
            v,
            json!({"cgroups": [], "mounts": [], "mkdir": [], "interfaces": [],
                "bindNS": {"cgroup": "", "ipc": "", "mnt": "", "net": "", "pid": "", "user": "", "uts": ""},
                "namespace": ""})
        );
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "cgroups",
                "mounts",
                "mkdir",
                "interfaces",
                "bindNS",
                "namespace"
            ]
        );
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let text = serde_json::to_string(&r).unwrap_or_default();
        let back: Runtime = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, r);
        // A missing file's worth of keys reads as no actions.
        assert_eq!(
            serde_json::from_str::<Runtime>("{}").ok(),
            Some(Runtime::default())
        );
    }

    #[test]
    fn mounts_omit_empty_fields_and_keep_oci_order() {
        let m = Mount::new("/tmp", "", "", &[]).to_value();
        assert_eq!(m, json!({"destination": "/tmp"}));
        let m = sample().mounts[0].to_value();
        let keys: Vec<&String> = m
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            ["destination", "type", "source", "options", "uidMappings"]
        );
        assert_eq!(
            m["uidMappings"],
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
        );
    }

    #[test]
    fn rootfs_mounts_come_first() {
        let r = sample().with_rootfs_mounts(&[Mount::new(
            "/containers/onboot/000-x/rootfs",
            "",
            "/l",
            &["bind"],
        )]);
        let dests: Vec<&str> = r.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dests, ["/containers/onboot/000-x/rootfs", "/var/x"]);
    }

    #[test]
    fn interfaces_need_a_name_when_read() {
        let i: Interface = serde_json::from_str(r#"{"name": "eth1"}"#).unwrap_or_default();
        assert_eq!(
            (i.name.as_str(), i.add.as_str(), i.create_in_root),
            ("eth1", "", false)
        );
        assert!(serde_json::from_str::<Interface>(r#"{"add": "dummy"}"#).is_err());
        assert_eq!(
            Interface::default().to_value(),
            json!({"createInRoot": false})
        );
    }

    #[test]
    fn bind_ns_entries_follow_the_keys() {
        let b = sample().bind_ns;
        let v = serde_json::to_value(&b).unwrap_or_default();
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let kinds: Vec<&str> = b.entries().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, kinds);
        assert_eq!(b.entries()[3], ("net", "/run/netns/x"));
    }
}
