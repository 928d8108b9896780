//! OCI `config.json` generation (yaml.md §5, §6): merge the yaml entry, the
//! image label and the image config with the ordered-override rules, then
//! assemble mounts, namespaces, capabilities, rlimits, user, devices and the
//! `linux` section, and serialise exactly like upstream (Go field order,
//! 4-space indent, HTML escaping, no trailing newline).
//!
//! No I/O: the caller supplies the image config as [`ImageDefaults`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::SpecError;
use crate::error::parse_octal_go;
use crate::json::go_indent;
use crate::label::parse_label;
use crate::model::*;
use crate::runtime::{Runtime, idmapping_json, merge_runtime, mount_json};

/// The OCI runtime-spec version written to `ociVersion`.
pub const OCI_VERSION: &str = "1.2.1";

/// The 41 capabilities known to upstream, in kernel-number order.
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// What the build needs from the image config itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageDefaults {
    /// Image `Env` (`None` = absent).
    pub env: Option<Vec<String>>,
    /// Image `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// Image `Cmd`.
    pub cmd: Vec<String>,
    /// Image `WorkingDir`.
    pub working_dir: String,
    /// The `org.mobyproject.config` label text (`None`/empty = no label).
    pub label: Option<String>,
}

/// The result of [`oci_spec`].
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// `config.json` bytes.
    pub config_json: String,
    /// Merged `readonly` (decides the bundle layout).
    pub readonly: bool,
    /// Merged `runtime` for `runtime.json`.
    pub runtime: Runtime,
}

/// OCI `Spec`, the `config.json` document, in upstream's (specs-go) field
/// order; empty values are omitted as Go's `omitempty` does.
#[derive(Serialize)]
struct OciSpec {
    #[serde(rename = "ociVersion")]
    oci_version: &'static str,
    process: Process,
    root: Root,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mounts: Vec<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    linux: Linux,
}

/// OCI `Process`.
#[derive(Serialize)]
struct Process {
    user: User,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<String>,
    cwd: String,
    capabilities: Capabilities,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rlimits: Vec<Rlimit>,
    #[serde(rename = "noNewPrivileges", skip_serializing_if = "is_false")]
    no_new_privileges: bool,
    #[serde(rename = "oomScoreAdj", skip_serializing_if = "Option::is_none")]
    oom_score_adj: Option<i64>,
}

/// OCI `User`.
#[derive(Serialize)]
struct User {
    uid: u32,
    gid: u32,
    #[serde(rename = "additionalGids", skip_serializing_if = "Vec::is_empty")]
    additional_gids: Vec<u32>,
}

/// OCI `LinuxCapabilities`.
#[derive(Serialize)]
struct Capabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bounding: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    effective: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inheritable: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    permitted: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ambient: Vec<String>,
}

/// OCI `Root`.
#[derive(Serialize)]
struct Root {
    path: &'static str,
    #[serde(skip_serializing_if = "is_false")]
    readonly: bool,
}

/// OCI `Linux`.
#[derive(Serialize)]
struct Linux {
    #[serde(rename = "uidMappings", skip_serializing_if = "Vec::is_empty")]
    uid_mappings: Vec<Value>,
    #[serde(rename = "gidMappings", skip_serializing_if = "Vec::is_empty")]
    gid_mappings: Vec<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    sysctl: BTreeMap<String, String>,
    resources: OciResources,
    #[serde(rename = "cgroupsPath", skip_serializing_if = "String::is_empty")]
    cgroups_path: String,
    namespaces: Vec<Namespace>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<LinuxDevice>,
    #[serde(rename = "rootfsPropagation", skip_serializing_if = "String::is_empty")]
    rootfs_propagation: String,
    #[serde(rename = "maskedPaths", skip_serializing_if = "Vec::is_empty")]
    masked_paths: Vec<String>,
    #[serde(rename = "readonlyPaths", skip_serializing_if = "Vec::is_empty")]
    readonly_paths: Vec<String>,
}

/// OCI `LinuxDevice`.
#[derive(Serialize)]
struct LinuxDevice {
    path: String,
    r#type: String,
    major: i64,
    minor: i64,
    #[serde(rename = "fileMode")]
    file_mode: u32,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn or<'a, T>(label: &'a Option<T>, yaml: &'a Option<T>) -> Option<&'a T> {
    yaml.as_ref().or(label.as_ref())
}

/// Non-empty strings override, in order (`assignStringEmpty`).
fn first_non_empty<'a>(vals: &[Option<&'a str>]) -> Option<&'a str> {
    vals.iter().rev().flatten().find(|s| !s.is_empty()).copied()
}

/// Upstream's `mergeStrings`: plain concatenation, duplicates kept.
fn merge_strings(v1: &Option<Vec<String>>, v2: &Option<Vec<String>>) -> Vec<String> {
    match (v1, v2) {
        (None, None) => Vec::new(),
        (Some(a), None) => a.clone(),
        (None, Some(b)) => b.clone(),
        (Some(a), Some(b)) => a.iter().chain(b).cloned().collect(),
    }
}

fn expand_caps(mut caps: Vec<String>) -> Result<Vec<String>, SpecError> {
    if caps.len() == 1 {
        match caps[0].to_lowercase().as_str() {
            "none" => caps = Vec::new(),
            "all" => caps = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            _ => {}
        }
    }
    for c in &caps {
        if !ALL_CAPABILITIES.contains(&c.as_str()) {
            return Err(SpecError::UnknownCapability(c.clone()));
        }
    }
    Ok(caps)
}

fn go_string_slice(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

fn parse_limit(s: &str) -> Result<u64, SpecError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") {
        return Ok(u64::MAX);
    }
    crate::error::parse_uint_go(t).map_err(|detail| SpecError::RlimitValue {
        value: t.to_string(),
        detail,
    })
}

/// OCI `POSIXRlimit`.
#[derive(Serialize)]
struct Rlimit {
    r#type: String,
    hard: u64,
    soft: u64,
}

fn rlimits(list: &[String]) -> Result<Vec<Rlimit>, SpecError> {
    let mut out = Vec::new();
    for l in list {
        let parts: Vec<&str> = l.splitn(3, ',').collect();
        if parts.len() != 3 {
            return Err(SpecError::Rlimit(go_string_slice(list)));
        }
        let mut name = parts[0].trim().to_uppercase();
        if !name.starts_with("RLIMIT_") {
            name = format!("RLIMIT_{name}");
        }
        let soft = parse_limit(parts[1])?;
        let hard = parse_limit(parts[2])?;
        if !RLIMITS.contains(&name.as_str()) {
            return Err(SpecError::UnknownLimit(name));
        }
        out.push(Rlimit {
            r#type: name,
            hard,
            soft,
        });
    }
    Ok(out)
}

/// OCI `LinuxNamespace`.
#[derive(Serialize)]
struct Namespace {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

fn namespace(out: &mut Vec<Namespace>, ty: &'static str, value: &str, none_is_new: bool) {
    if value == "host" || value == "root" {
        return;
    }
    let is_new = value == "new" || value.is_empty() || (none_is_new && value == "none");
    out.push(Namespace {
        r#type: ty,
        path: (!is_new).then(|| value.to_string()),
    });
}

/// Empty strings and lists are omitted from the OCI spec: `None` for them.
fn set<T: Clone>(v: &Option<T>, empty: impl Fn(&T) -> bool) -> Option<T> {
    v.as_ref().filter(|x| !empty(x)).cloned()
}

/// OCI `LinuxHugepageLimit` (`pageSize` is a string there).
#[derive(Serialize)]
struct OciHugepageLimit {
    #[serde(rename = "pageSize")]
    page_size: String,
    limit: i64,
}

/// OCI `LinuxResources`: the model's sub-objects with empty values dropped.
#[derive(Serialize)]
pub(crate) struct OciResources {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<DeviceCgroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids: Option<Pids>,
    #[serde(rename = "blockIO", skip_serializing_if = "Option::is_none")]
    block_io: Option<BlockIo>,
    #[serde(rename = "hugepageLimits", skip_serializing_if = "Vec::is_empty")]
    hugepage_limits: Vec<OciHugepageLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network>,
}

/// OCI `LinuxResources` with the extra device rules appended.
pub(crate) fn oci_resources(r: &Resources, extra_devices: &[DeviceCgroup]) -> OciResources {
    let nonempty = |s: &Option<String>| set(s, String::is_empty);
    let devices = r
        .devices
        .iter()
        .flatten()
        .chain(extra_devices)
        .map(|d| DeviceCgroup {
            r#type: nonempty(&d.r#type),
            access: nonempty(&d.access),
            ..d.clone()
        })
        .collect();
    OciResources {
        devices,
        memory: r.memory.clone(),
        cpu: r.cpu.as_ref().map(|c| Cpu {
            cpus: nonempty(&c.cpus),
            mems: nonempty(&c.mems),
            ..c.clone()
        }),
        pids: r.pids.as_ref().map(|p| Pids {
            limit: Some(p.limit.unwrap_or(0)),
        }),
        block_io: r.blockio.as_ref().map(|b| BlockIo {
            weight_device: set(&b.weight_device, Vec::is_empty),
            throttle_read_bps_device: set(&b.throttle_read_bps_device, Vec::is_empty),
            throttle_write_bps_device: set(&b.throttle_write_bps_device, Vec::is_empty),
            throttle_read_iops_device: set(&b.throttle_read_iops_device, Vec::is_empty),
            throttle_write_iops_device: set(&b.throttle_write_iops_device, Vec::is_empty),
            ..b.clone()
        }),
        hugepage_limits: r
            .hugepage_limits
            .iter()
            .flatten()
            .map(|l| OciHugepageLimit {
                page_size: l.page_size.to_string(),
                limit: l.limit,
            })
            .collect(),
        network: r.network.as_ref().map(|n| Network {
            class_id: n.class_id,
            priorities: set(&n.priorities, Vec::is_empty),
        }),
    }
}

fn mounts(image: &Image, label: &Image, readonly: bool) -> Result<Vec<Value>, SpecError> {
    let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut dev = o(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    let mut sys = o(&["nosuid", "noexec", "nodev"]);
    if readonly {
        dev.push("ro".into());
        sys.push("ro".into());
    }
    let mk = |d: &str, t: &str, s: &str, opts: Vec<String>| Mount {
        destination: d.into(),
        r#type: t.into(),
        source: s.into(),
        options: opts,
        ..Mount::default()
    };
    let mut map: BTreeMap<String, Mount> = BTreeMap::new();
    for m in [
        mk(
            "/proc",
            "proc",
            "proc",
            o(&["nosuid", "nodev", "noexec", "relatime"]),
        ),
        mk("/dev", "tmpfs", "tmpfs", dev),
        mk(
            "/dev/pts",
            "devpts",
            "devpts",
            o(&[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ]),
        ),
        mk("/sys", "sysfs", "sysfs", sys),
        mk(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            o(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ),
    ] {
        map.insert(m.destination.clone(), m);
    }
    for t in or(&label.tmpfs, &image.tmpfs).into_iter().flatten() {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 2 {
            return Err(SpecError::TmpfsTooManyColons(t.clone()));
        }
        let opts = match parts.get(1) {
            Some(p) => p.split(',').map(str::to_string).collect(),
            None => Vec::new(),
        };
        map.insert(parts[0].to_string(), mk(parts[0], "tmpfs", "tmpfs", opts));
    }
    let binds = match &image.binds {
        Some(b) => b.clone(),
        None => merge_strings(&label.binds, &image.binds_add),
    };
    for b in &binds {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 {
            return Err(SpecError::BindMissingColon(b.clone()));
        }
        if parts.len() > 3 {
            return Err(SpecError::BindTooManyColons(b.clone()));
        }
        let opts = if parts.len() == 3 {
            let mut v: Vec<String> = parts[2].split(',').map(str::to_string).collect();
            v.push("rbind".into());
            v
        } else {
            o(&["rw", "rbind", "rshared"])
        };
        map.insert(parts[1].to_string(), mk(parts[1], "bind", parts[0], opts));
    }
    for m in or(&label.mounts, &image.mounts).into_iter().flatten() {
        let mut tp = m.r#type.clone();
        if tp.is_empty()
            && matches!(
                m.source.as_str(),
                "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup"
            )
        {
            tp = m.source.clone();
        }
        if tp.is_empty() && m.destination == "/dev" {
            tp = "tmpfs".into();
        }
        if tp.is_empty() {
            return Err(SpecError::MountMissingType(m.destination.clone()));
        }
        let src = if m.source.is_empty() {
            tp.clone()
        } else {
            m.source.clone()
        };
        let mut dest = m.destination.clone();
        if dest.is_empty() {
            dest = match tp.as_str() {
                "proc" => "/proc",
                "devpts" => "/dev/pts",
                "sysfs" => "/sys",
                "cgroup" => "/sys/fs/cgroup",
                "mqueue" => "/dev/mqueue",
                _ => return Err(SpecError::MountMissingDestination(tp)),
            }
            .into();
        }
        map.insert(
            dest.clone(),
            Mount {
                destination: dest,
                r#type: tp,
                source: src,
                options: m.options.clone(),
                uid_mappings: m.uid_mappings.clone(),
                gid_mappings: m.gid_mappings.clone(),
            },
        );
    }
    Ok(map.values().map(mount_json).collect())
}

/// Build `config.json` (and the merged readonly/runtime) for one container (yaml.md §5–§6).
pub fn oci_spec(image: &Image, defaults: &ImageDefaults, idmap: &IdMap) -> Result<Spec, SpecError> {
    let label = match defaults.label.as_deref() {
        Some(text) if !text.is_empty() => parse_label(text)?,
        _ => Image::default(),
    };
    let y = image;
    let l = &label;

    let image_cmd: Vec<String> = defaults
        .entrypoint
        .iter()
        .chain(&defaults.cmd)
        .cloned()
        .collect();
    let args = or(&l.command, &y.command).cloned().unwrap_or(image_cmd);
    let env = or(&l.env, &y.env).cloned().or_else(|| defaults.env.clone());
    let cwd = first_non_empty(&[
        Some("/"),
        Some(defaults.working_dir.as_str()),
        l.cwd.as_deref(),
        y.cwd.as_deref(),
    ])
    .unwrap_or("/")
    .to_string();
    let readonly = or(&l.readonly, &y.readonly).copied().unwrap_or(false);

    let mount_list = mounts(y, l, readonly)?;

    let mut namespaces = Vec::new();
    let ns = |lv: &Option<String>, yv: &Option<String>, def: &'static str| {
        first_non_empty(&[Some(def), lv.as_deref(), yv.as_deref()])
            .unwrap_or(def)
            .to_string()
    };
    namespace(
        &mut namespaces,
        "network",
        &ns(&l.net, &y.net, "root"),
        true,
    );
    namespace(&mut namespaces, "ipc", &ns(&l.ipc, &y.ipc, "root"), false);
    namespace(&mut namespaces, "uts", &ns(&l.uts, &y.uts, "root"), false);
    namespace(&mut namespaces, "pid", &ns(&l.pid, &y.pid, ""), false);
    namespace(
        &mut namespaces,
        "user",
        &ns(&l.userns, &y.userns, "root"),
        false,
    );
    namespace(&mut namespaces, "mount", "", false);

    let caps = match &y.capabilities {
        Some(c) => c.clone(),
        None => merge_strings(&l.capabilities, &y.capabilities_add),
    };
    let caps = expand_caps(caps)?;
    let ambient = expand_caps(or(&l.ambient, &y.ambient).cloned().unwrap_or_default())?;
    let bounding: Vec<String> = caps
        .iter()
        .chain(&ambient)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let rl = rlimits(or(&l.rlimits, &y.rlimits).map(Vec::as_slice).unwrap_or(&[]))?;

    let uid = idmap.resolve(or(&l.uid, &y.uid))?;
    let gid = idmap.resolve(or(&l.gid, &y.gid))?;
    let mut additional = Vec::new();
    for g in or(&l.additional_gids, &y.additional_gids)
        .into_iter()
        .flatten()
    {
        additional.push(idmap.resolve(Some(g))?);
    }

    let mut linux_devices = Vec::new();
    let mut cgroup_devices = Vec::new();
    for d in or(&l.devices, &y.devices).into_iter().flatten() {
        if d.path == "all" {
            cgroup_devices.push(DeviceCgroup {
                allow: true,
                r#type: Some(d.r#type.clone()),
                access: Some("rwm".into()),
                ..DeviceCgroup::default()
            });
            continue;
        }
        let mode = parse_octal_go(&d.mode, 32).map_err(SpecError::DeviceMode)?;
        linux_devices.push(LinuxDevice {
            path: d.path.clone(),
            r#type: d.r#type.clone(),
            major: d.major,
            minor: d.minor,
            file_mode: mode as u32,
        });
        cgroup_devices.push(DeviceCgroup {
            allow: true,
            r#type: Some(d.r#type.clone()),
            major: Some(d.major),
            minor: Some(d.minor),
            access: Some("rwm".into()),
        });
    }

    let nonempty = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
    let mappings = |v: Option<&Vec<IdMapping>>| {
        v.into_iter()
            .flatten()
            .map(idmapping_json)
            .collect::<Vec<_>>()
    };
    let resources = or(&l.resources, &y.resources).cloned().unwrap_or_default();
    let spec = OciSpec {
        oci_version: OCI_VERSION,
        process: Process {
            user: User {
                uid,
                gid,
                additional_gids: additional,
            },
            args,
            env: env.unwrap_or_default(),
            cwd,
            capabilities: Capabilities {
                bounding: bounding.clone(),
                effective: caps,
                inheritable: bounding.clone(),
                permitted: bounding,
                ambient,
            },
            rlimits: rl,
            no_new_privileges: or(&l.no_new_privileges, &y.no_new_privileges)
                .copied()
                .unwrap_or(false),
            oom_score_adj: or(&l.oom_score_adj, &y.oom_score_adj).copied(),
        },
        root: Root {
            path: "rootfs",
            readonly,
        },
        hostname: first_non_empty(&[l.hostname.as_deref(), y.hostname.as_deref()])
            .map(str::to_string),
        mounts: mount_list,
        annotations: or(&l.annotations, &y.annotations)
            .cloned()
            .unwrap_or_default(),
        linux: Linux {
            uid_mappings: mappings(or(&l.uid_mappings, &y.uid_mappings)),
            gid_mappings: mappings(or(&l.gid_mappings, &y.gid_mappings)),
            sysctl: or(&l.sysctl, &y.sysctl).cloned().unwrap_or_default(),
            resources: oci_resources(&resources, &cgroup_devices),
            cgroups_path: or(&l.cgroups_path, &y.cgroups_path)
                .cloned()
                .unwrap_or_default(),
            namespaces,
            devices: linux_devices,
            rootfs_propagation: or(&l.rootfs_propagation, &y.rootfs_propagation)
                .cloned()
                .unwrap_or_default(),
            masked_paths: nonempty(or(&l.masked_paths, &y.masked_paths)),
            readonly_paths: nonempty(or(&l.readonly_paths, &y.readonly_paths)),
        },
    };

    Ok(Spec {
        config_json: go_indent(&spec),
        readonly,
        runtime: merge_runtime(l.runtime.as_ref(), y.runtime.as_ref()),
    })
}
