//! OCI `config.json` generation (yaml.md §5, §6): merge the yaml entry, the
//! image label and the image config with the ordered-override rules, then
//! assemble mounts, namespaces, capabilities, rlimits, user, devices and the
//! `linux` section, and serialise exactly like upstream (Go field order,
//! 4-space indent, HTML escaping, no trailing newline).
//!
//! No I/O: the caller supplies the image config as [`ImageDefaults`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::SpecError;
use crate::error::parse_octal_go;
use crate::json::{go_indent, strs};
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

fn rlimits(list: &[String]) -> Result<Vec<Value>, SpecError> {
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
        let mut o = Map::new();
        o.insert("type".into(), Value::String(name));
        o.insert("hard".into(), Value::from(hard));
        o.insert("soft".into(), Value::from(soft));
        out.push(Value::Object(o));
    }
    Ok(out)
}

fn namespace(out: &mut Vec<Value>, ty: &str, value: &str, none_is_new: bool) {
    if value == "host" || value == "root" {
        return;
    }
    let mut o = Map::new();
    o.insert("type".into(), Value::String(ty.into()));
    let is_new = value == "new" || value.is_empty() || (none_is_new && value == "none");
    if !is_new {
        o.insert("path".into(), Value::String(value.into()));
    }
    out.push(Value::Object(o));
}

fn put_i(o: &mut Map<String, Value>, k: &str, v: Option<i64>) {
    if let Some(v) = v {
        o.insert(k.into(), Value::from(v));
    }
}

fn device_cgroup_json(d: &DeviceCgroup) -> Value {
    let mut o = Map::new();
    o.insert("allow".into(), Value::Bool(d.allow));
    if let Some(t) = d.r#type.as_ref().filter(|t| !t.is_empty()) {
        o.insert("type".into(), Value::String(t.clone()));
    }
    put_i(&mut o, "major", d.major);
    put_i(&mut o, "minor", d.minor);
    if let Some(a) = d.access.as_ref().filter(|a| !a.is_empty()) {
        o.insert("access".into(), Value::String(a.clone()));
    }
    Value::Object(o)
}

fn throttle_json(list: &[ThrottleDevice]) -> Value {
    Value::Array(
        list.iter()
            .map(|t| {
                let mut o = Map::new();
                o.insert("major".into(), Value::from(t.major));
                o.insert("minor".into(), Value::from(t.minor));
                o.insert("rate".into(), Value::from(t.rate));
                Value::Object(o)
            })
            .collect(),
    )
}

/// OCI `LinuxResources` JSON with the extra device rules appended.
pub(crate) fn resources_json(r: &Resources, extra_devices: &[DeviceCgroup]) -> Value {
    let mut o = Map::new();
    let devices: Vec<Value> = r
        .devices
        .iter()
        .flatten()
        .chain(extra_devices)
        .map(device_cgroup_json)
        .collect();
    if !devices.is_empty() {
        o.insert("devices".into(), Value::Array(devices));
    }
    if let Some(m) = &r.memory {
        let mut x = Map::new();
        put_i(&mut x, "limit", m.limit);
        put_i(&mut x, "reservation", m.reservation);
        put_i(&mut x, "swap", m.swap);
        put_i(&mut x, "kernel", m.kernel);
        put_i(&mut x, "kernelTCP", m.kernel_tcp);
        put_i(&mut x, "swappiness", m.swappiness);
        if let Some(b) = m.disable_oom_killer {
            x.insert("disableOOMKiller".into(), Value::Bool(b));
        }
        o.insert("memory".into(), Value::Object(x));
    }
    if let Some(c) = &r.cpu {
        let mut x = Map::new();
        put_i(&mut x, "shares", c.shares);
        put_i(&mut x, "quota", c.quota);
        put_i(&mut x, "period", c.period);
        put_i(&mut x, "realtimeRuntime", c.realtime_runtime);
        put_i(&mut x, "realtimePeriod", c.realtime_period);
        for (k, v) in [("cpus", &c.cpus), ("mems", &c.mems)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                x.insert(k.into(), Value::String(v.clone()));
            }
        }
        o.insert("cpu".into(), Value::Object(x));
    }
    if let Some(p) = &r.pids {
        let mut x = Map::new();
        x.insert("limit".into(), Value::from(p.limit.unwrap_or(0)));
        o.insert("pids".into(), Value::Object(x));
    }
    if let Some(b) = &r.blockio {
        let mut x = Map::new();
        put_i(&mut x, "weight", b.weight);
        put_i(&mut x, "leafWeight", b.leaf_weight);
        if let Some(w) = b.weight_device.as_ref().filter(|w| !w.is_empty()) {
            let arr = w
                .iter()
                .map(|d| {
                    let mut o = Map::new();
                    o.insert("major".into(), Value::from(d.major));
                    o.insert("minor".into(), Value::from(d.minor));
                    put_i(&mut o, "weight", d.weight);
                    put_i(&mut o, "leafWeight", d.leaf_weight);
                    Value::Object(o)
                })
                .collect();
            x.insert("weightDevice".into(), Value::Array(arr));
        }
        for (k, v) in [
            ("throttleReadBpsDevice", &b.throttle_read_bps_device),
            ("throttleWriteBpsDevice", &b.throttle_write_bps_device),
            ("throttleReadIOPSDevice", &b.throttle_read_iops_device),
            ("throttleWriteIOPSDevice", &b.throttle_write_iops_device),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                x.insert(k.into(), throttle_json(v));
            }
        }
        o.insert("blockIO".into(), Value::Object(x));
    }
    if let Some(h) = r.hugepage_limits.as_ref().filter(|h| !h.is_empty()) {
        let arr = h
            .iter()
            .map(|l| {
                let mut o = Map::new();
                o.insert("pageSize".into(), Value::String(l.page_size.to_string()));
                o.insert("limit".into(), Value::from(l.limit));
                Value::Object(o)
            })
            .collect();
        o.insert("hugepageLimits".into(), Value::Array(arr));
    }
    if let Some(n) = &r.network {
        let mut x = Map::new();
        put_i(&mut x, "classID", n.class_id);
        if let Some(p) = n.priorities.as_ref().filter(|p| !p.is_empty()) {
            let arr = p
                .iter()
                .map(|p| {
                    let mut o = Map::new();
                    o.insert("name".into(), Value::String(p.name.clone()));
                    o.insert("priority".into(), Value::from(p.priority));
                    Value::Object(o)
                })
                .collect();
            x.insert("priorities".into(), Value::Array(arr));
        }
        o.insert("network".into(), Value::Object(x));
    }
    Value::Object(o)
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

    // process
    let mut user = Map::new();
    user.insert("uid".into(), Value::from(uid));
    user.insert("gid".into(), Value::from(gid));
    if !additional.is_empty() {
        user.insert(
            "additionalGids".into(),
            Value::Array(additional.into_iter().map(Value::from).collect()),
        );
    }
    let mut process = Map::new();
    process.insert("user".into(), Value::Object(user));
    if !args.is_empty() {
        process.insert("args".into(), strs(&args));
    }
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        process.insert("env".into(), strs(&env));
    }
    process.insert("cwd".into(), Value::String(cwd));
    let mut capabilities = Map::new();
    for (k, v) in [
        ("bounding", &bounding),
        ("effective", &caps),
        ("inheritable", &bounding),
        ("permitted", &bounding),
        ("ambient", &ambient),
    ] {
        if !v.is_empty() {
            capabilities.insert(k.into(), strs(v));
        }
    }
    process.insert("capabilities".into(), Value::Object(capabilities));
    if !rl.is_empty() {
        process.insert("rlimits".into(), Value::Array(rl));
    }
    if or(&l.no_new_privileges, &y.no_new_privileges)
        .copied()
        .unwrap_or(false)
    {
        process.insert("noNewPrivileges".into(), Value::Bool(true));
    }
    if let Some(o) = or(&l.oom_score_adj, &y.oom_score_adj) {
        process.insert("oomScoreAdj".into(), Value::from(*o));
    }

    // root
    let mut root = Map::new();
    root.insert("path".into(), Value::String("rootfs".into()));
    if readonly {
        root.insert("readonly".into(), Value::Bool(true));
    }

    // devices
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
        let mut o = Map::new();
        o.insert("path".into(), Value::String(d.path.clone()));
        o.insert("type".into(), Value::String(d.r#type.clone()));
        o.insert("major".into(), Value::from(d.major));
        o.insert("minor".into(), Value::from(d.minor));
        o.insert("fileMode".into(), Value::from(mode as u32));
        linux_devices.push(Value::Object(o));
        cgroup_devices.push(DeviceCgroup {
            allow: true,
            r#type: Some(d.r#type.clone()),
            major: Some(d.major),
            minor: Some(d.minor),
            access: Some("rwm".into()),
        });
    }

    // linux
    let mut linux = Map::new();
    for (k, v) in [
        ("uidMappings", or(&l.uid_mappings, &y.uid_mappings)),
        ("gidMappings", or(&l.gid_mappings, &y.gid_mappings)),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            linux.insert(
                k.into(),
                Value::Array(v.iter().map(idmapping_json).collect()),
            );
        }
    }
    if let Some(s) = or(&l.sysctl, &y.sysctl).filter(|s| !s.is_empty()) {
        let m: Map<String, Value> = s
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        linux.insert("sysctl".into(), Value::Object(m));
    }
    let resources = or(&l.resources, &y.resources).cloned().unwrap_or_default();
    linux.insert(
        "resources".into(),
        resources_json(&resources, &cgroup_devices),
    );
    if let Some(c) = or(&l.cgroups_path, &y.cgroups_path).filter(|c| !c.is_empty()) {
        linux.insert("cgroupsPath".into(), Value::String(c.clone()));
    }
    linux.insert("namespaces".into(), Value::Array(namespaces));
    if !linux_devices.is_empty() {
        linux.insert("devices".into(), Value::Array(linux_devices));
    }
    if let Some(r) = or(&l.rootfs_propagation, &y.rootfs_propagation).filter(|r| !r.is_empty()) {
        linux.insert("rootfsPropagation".into(), Value::String(r.clone()));
    }
    for (k, v) in [
        ("maskedPaths", or(&l.masked_paths, &y.masked_paths)),
        ("readonlyPaths", or(&l.readonly_paths, &y.readonly_paths)),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            linux.insert(k.into(), strs(v));
        }
    }

    let mut spec = Map::new();
    spec.insert("ociVersion".into(), Value::String(OCI_VERSION.into()));
    spec.insert("process".into(), Value::Object(process));
    spec.insert("root".into(), Value::Object(root));
    if let Some(h) = first_non_empty(&[l.hostname.as_deref(), y.hostname.as_deref()]) {
        spec.insert("hostname".into(), Value::String(h.to_string()));
    }
    if !mount_list.is_empty() {
        spec.insert("mounts".into(), Value::Array(mount_list));
    }
    if let Some(a) = or(&l.annotations, &y.annotations).filter(|a| !a.is_empty()) {
        let m: Map<String, Value> = a
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        spec.insert("annotations".into(), Value::Object(m));
    }
    spec.insert("linux".into(), Value::Object(linux));

    Ok(Spec {
        config_json: go_indent(&Value::Object(spec)),
        readonly,
        runtime: merge_runtime(l.runtime.as_ref(), y.runtime.as_ref()),
    })
}
