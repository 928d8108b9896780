//! Conversion of a validated YAML tree into the typed model.
//!
//! Runs after `schema.rs` accepted the tree, so it never reports errors: a
//! value of an unexpected type (impossible after validation) decodes as
//! absent/default instead of panicking. Unknown keys (`trust`) are ignored.

use std::collections::BTreeMap;

use crate::model::*;
use crate::yaml::{Node, Value};

fn s(n: Option<&Node>) -> String {
    n.and_then(Node::as_str).unwrap_or_default().to_string()
}

fn opt_s(n: Option<&Node>) -> Option<String> {
    n.and_then(Node::as_str).map(str::to_string)
}

fn b(n: Option<&Node>) -> bool {
    opt_b(n).unwrap_or(false)
}

fn opt_b(n: Option<&Node>) -> Option<bool> {
    match n.map(|n| &n.value) {
        Some(Value::Bool(v)) => Some(*v),
        _ => None,
    }
}

fn opt_i(n: Option<&Node>) -> Option<i64> {
    match n.map(|n| &n.value) {
        Some(Value::Int(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
}

fn i(n: Option<&Node>) -> i64 {
    opt_i(n).unwrap_or(0)
}

fn items(n: Option<&Node>) -> Option<&[Node]> {
    match n.map(|n| &n.value) {
        Some(Value::Seq(v)) => Some(v),
        _ => None,
    }
}

fn strings(n: Option<&Node>) -> Option<Vec<String>> {
    items(n).map(|v| {
        v.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

fn list<T>(n: Option<&Node>, f: impl Fn(&Node) -> T) -> Option<Vec<T>> {
    items(n).map(|v| v.iter().map(f).collect())
}

fn id(n: Option<&Node>) -> Option<Id> {
    match n.map(|n| &n.value) {
        Some(Value::Int(v)) => Some(Id::Int(i64::try_from(*v).unwrap_or(0))),
        Some(Value::Str(v)) => Some(Id::Name(v.clone())),
        _ => None,
    }
}

fn map_str(n: Option<&Node>) -> Option<BTreeMap<String, String>> {
    match n.map(|n| &n.value) {
        Some(Value::Map(pairs)) => Some(
            pairs
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect(),
        ),
        _ => None,
    }
}

fn obj(n: Option<&Node>) -> Option<&Node> {
    n.filter(|n| matches!(n.value, Value::Map(_)))
}

/// Decode a whole configuration file (the root must be a mapping).
pub(crate) fn moby(root: &Node, file: &str) -> Moby {
    let k = obj(root.get("kernel"));
    let kernel = Kernel {
        image: s(k.and_then(|k| k.get("image"))),
        cmdline: s(k.and_then(|k| k.get("cmdline"))),
        binary: s(k.and_then(|k| k.get("binary"))),
        tar: opt_s(k.and_then(|k| k.get("tar"))),
        ucode: opt_s(k.and_then(|k| k.get("ucode"))),
    };
    let images = |key: &str| list(root.get(key), |n| image(n, file)).unwrap_or_default();
    Moby {
        kernel,
        init: strings(root.get("init")).unwrap_or_default(),
        onboot: images("onboot"),
        onshutdown: images("onshutdown"),
        services: images("services"),
        files: list(root.get("files"), |n| file_entry(n, file)).unwrap_or_default(),
        volumes: list(root.get("volumes"), |n| volume(n, file)).unwrap_or_default(),
    }
}

fn origin(n: &Node, file: &str) -> Origin {
    let at = n.get("name").unwrap_or(n);
    Origin {
        file: file.to_string(),
        line: at.line,
        column: at.column,
    }
}

fn file_entry(n: &Node, file: &str) -> File {
    let at = n.get("path").unwrap_or(n);
    File {
        origin: Origin {
            file: file.to_string(),
            line: at.line,
            column: at.column,
        },
        path: s(n.get("path")),
        directory: b(n.get("directory")),
        symlink: s(n.get("symlink")),
        contents: opt_s(n.get("contents")),
        source: s(n.get("source")),
        metadata: s(n.get("metadata")),
        optional: b(n.get("optional")),
        mode: s(n.get("mode")),
        uid: id(n.get("uid")),
        gid: id(n.get("gid")),
    }
}

fn volume(n: &Node, file: &str) -> Volume {
    Volume {
        name: s(n.get("name")),
        image: s(n.get("image")),
        readonly: b(n.get("readonly")),
        format: s(n.get("format")),
        platforms: strings(n.get("platforms")).unwrap_or_default(),
        origin: origin(n, file),
    }
}

fn idmapping(n: &Node) -> IdMapping {
    IdMapping {
        container_id: i(n.get("containerID")),
        host_id: i(n.get("hostID")),
        size: i(n.get("size")),
    }
}

fn mount(n: &Node) -> Mount {
    Mount {
        destination: s(n.get("destination")),
        r#type: s(n.get("type")),
        source: s(n.get("source")),
        options: strings(n.get("options")).unwrap_or_default(),
        uid_mappings: list(n.get("uidmappings"), idmapping).unwrap_or_default(),
        gid_mappings: list(n.get("gidmappings"), idmapping).unwrap_or_default(),
    }
}

fn device(n: &Node) -> Device {
    Device {
        path: s(n.get("path")),
        r#type: s(n.get("type")),
        major: i(n.get("major")),
        minor: i(n.get("minor")),
        mode: s(n.get("mode")),
    }
}

fn throttle(n: &Node) -> ThrottleDevice {
    ThrottleDevice {
        major: i(n.get("major")),
        minor: i(n.get("minor")),
        rate: i(n.get("rate")),
    }
}

fn resources(n: &Node) -> Resources {
    Resources {
        devices: list(n.get("devices"), |d| DeviceCgroup {
            allow: b(d.get("allow")),
            r#type: opt_s(d.get("type")),
            major: opt_i(d.get("major")),
            minor: opt_i(d.get("minor")),
            access: opt_s(d.get("access")),
        }),
        memory: obj(n.get("memory")).map(|m| Memory {
            limit: opt_i(m.get("limit")),
            reservation: opt_i(m.get("reservation")),
            swap: opt_i(m.get("swap")),
            kernel: opt_i(m.get("kernel")),
            kernel_tcp: opt_i(m.get("kernelTCP")),
            swappiness: opt_i(m.get("swappiness")),
            disable_oom_killer: opt_b(m.get("disableOOMKiller")),
        }),
        cpu: obj(n.get("cpu")).map(|c| Cpu {
            shares: opt_i(c.get("shares")),
            quota: opt_i(c.get("quota")),
            period: opt_i(c.get("period")),
            realtime_runtime: opt_i(c.get("realtimeRuntime")),
            realtime_period: opt_i(c.get("realtimePeriod")),
            cpus: opt_s(c.get("cpus")),
            mems: opt_s(c.get("mems")),
        }),
        pids: obj(n.get("pids")).map(|p| Pids {
            limit: opt_i(p.get("limit")),
        }),
        blockio: obj(n.get("blockio")).map(|bio| BlockIo {
            weight: opt_i(bio.get("weight")),
            leaf_weight: opt_i(bio.get("leafWeight")),
            weight_device: list(bio.get("weightDevice"), |w| WeightDevice {
                major: i(w.get("major")),
                minor: i(w.get("minor")),
                weight: opt_i(w.get("weight")),
                leaf_weight: opt_i(w.get("leafWeight")),
            }),
            throttle_read_bps_device: list(bio.get("throttleReadBpsDevice"), throttle),
            throttle_write_bps_device: list(bio.get("throttleWriteBpsDevice"), throttle),
            throttle_read_iops_device: list(bio.get("throttleReadIOPSDevice"), throttle),
            throttle_write_iops_device: list(bio.get("throttleWriteIOPSDevice"), throttle),
        }),
        hugepage_limits: list(n.get("hugepageLimits"), |h| HugepageLimit {
            page_size: i(h.get("pageSize")),
            limit: i(h.get("limit")),
        }),
        network: obj(n.get("network")).map(|nw| Network {
            class_id: opt_i(nw.get("classID")),
            priorities: list(nw.get("priorities"), |p| InterfacePriority {
                name: s(p.get("name")),
                priority: i(p.get("priority")),
            }),
        }),
    }
}

fn runtime(n: &Node) -> RuntimeConfig {
    let ns = obj(n.get("bindNS"));
    let nsk = |k: &str| opt_s(ns.and_then(|x| x.get(k)));
    RuntimeConfig {
        cgroups: strings(n.get("cgroups")),
        mounts: list(n.get("mounts"), mount),
        mkdir: strings(n.get("mkdir")),
        interfaces: list(n.get("interfaces"), |x| Interface {
            name: s(x.get("name")),
            add: s(x.get("add")),
            peer: s(x.get("peer")),
            create_in_root: b(x.get("createInRoot")),
        }),
        bind_ns: BindNs {
            cgroup: nsk("cgroup"),
            ipc: nsk("ipc"),
            mnt: nsk("mnt"),
            net: nsk("net"),
            pid: nsk("pid"),
            user: nsk("user"),
            uts: nsk("uts"),
        },
        namespace: opt_s(n.get("namespace")),
    }
}

/// Decode an image entry (or a label: `name`/`image` then stay empty).
pub(crate) fn image(n: &Node, file: &str) -> Image {
    Image {
        name: s(n.get("name")),
        image: s(n.get("image")),
        capabilities: strings(n.get("capabilities")),
        capabilities_add: strings(n.get("capabilities.add")),
        ambient: strings(n.get("ambient")),
        mounts: list(n.get("mounts"), mount),
        binds: strings(n.get("binds")),
        binds_add: strings(n.get("binds.add")),
        devices: list(n.get("devices"), device),
        tmpfs: strings(n.get("tmpfs")),
        command: strings(n.get("command")),
        env: strings(n.get("env")),
        cwd: opt_s(n.get("cwd")),
        net: opt_s(n.get("net")),
        pid: opt_s(n.get("pid")),
        ipc: opt_s(n.get("ipc")),
        uts: opt_s(n.get("uts")),
        userns: opt_s(n.get("userns")),
        hostname: opt_s(n.get("hostname")),
        readonly: opt_b(n.get("readonly")),
        masked_paths: strings(n.get("maskedPaths")),
        readonly_paths: strings(n.get("readonlyPaths")),
        uid: id(n.get("uid")),
        gid: id(n.get("gid")),
        additional_gids: items(n.get("additionalGids"))
            .map(|v| v.iter().filter_map(|x| id(Some(x))).collect()),
        no_new_privileges: opt_b(n.get("noNewPrivileges")),
        oom_score_adj: opt_i(n.get("oomScoreAdj")),
        rootfs_propagation: opt_s(n.get("rootfsPropagation")),
        cgroups_path: opt_s(n.get("cgroupsPath")),
        resources: obj(n.get("resources")).map(resources),
        sysctl: map_str(n.get("sysctl")),
        rlimits: strings(n.get("rlimits")),
        uid_mappings: list(n.get("uidMappings"), idmapping),
        gid_mappings: list(n.get("gidMappings"), idmapping),
        annotations: map_str(n.get("annotations")),
        runtime: obj(n.get("runtime")).map(runtime),
        origin: origin(n, file),
    }
}
