//! The typed configuration model (yaml.md §2–§4, §10, §11) and the id map (§6.9).
//!
//! Every optional key of an image entry is an `Option` so that *presence* is
//! kept: upstream's merge rules ("yaml if present, else label") and the
//! `metadata:` output depend on it. Nothing here does I/O or validation; the
//! tree-to-model conversion is in `decode.rs`.
//!
//! Schema spellings are honoured even where upstream's decoder silently drops
//! them (yaml.md §2.2): `hostID`/`containerID` in id mappings and the
//! multi-word `resources` keys (`kernelTCP`, `disableOOMKiller`,
//! `realtimeRuntime`, `realtimePeriod`, `leafWeight`, `weightDevice`,
//! `throttle*Device`, `hugepageLimits`, `classID`) all reach the OCI spec.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Where an item was written; ignored by equality so models compare by content.
#[derive(Debug, Clone, Default, Eq)]
pub struct Origin {
    /// File name as given to [`crate::parse`].
    pub file: String,
    /// 1-based line (0 = unknown).
    pub line: usize,
    /// 1-based column (0 = unknown).
    pub column: usize,
}

impl Origin {
    /// `FILE:LINE:COLUMN: ` for prefixing a message, or "" when unknown.
    pub fn prefix(&self) -> String {
        if self.line == 0 {
            String::new()
        } else {
            format!("{}:{}:{}: ", self.file, self.line, self.column)
        }
    }
}

impl PartialEq for Origin {
    fn eq(&self, _other: &Origin) -> bool {
        true
    }
}

config_struct! {
    /// A whole (possibly merged) configuration.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Moby in TOP("configuration") {
        /// `kernel:`.
        "kernel" => pub kernel: Kernel,
        /// `init:` image references.
        "init" => pub init: Vec<String>,
        /// `onboot:` containers.
        "onboot" => pub onboot: Vec<Image>,
        /// `onshutdown:` containers.
        "onshutdown" => pub onshutdown: Vec<Image>,
        /// `services:` containers.
        "services" => pub services: Vec<Image>,
        /// Accepted for compatibility and ignored, as upstream does.
        "trust" => pub trust: Option<Trust>,
        /// `files:` entries.
        "files" => pub files: Vec<File>,
        /// `volumes:` entries.
        "volumes" => pub volumes: Vec<Volume>,
    }
}

config_struct! {
    /// `trust:` (deprecated upstream; accepted and ignored).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Trust in TRUST("trust") {
        "image" => pub image: Vec<String>,
        "org" => pub org: Vec<String>,
    }
}

config_struct! {
    /// `kernel:` (yaml.md §3).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Kernel in KERNEL("kernel") {
        /// Kernel image reference; empty = no kernel.
        "image" => pub image: String,
        /// Kernel command line.
        "cmdline" => pub cmdline: String,
        /// Kernel binary name; `""` means the default `kernel`.
        "binary" => pub binary: String,
        /// `None` = absent (`kernel.tar`); `Some("")`/`Some("none")` = no tarball.
        "tar" => pub tar: Option<String>,
        /// Microcode cpio name; `None` = absent.
        "ucode" => pub ucode: Option<String>,
    }
}

/// A uid/gid value: a number or a container name (`root`/`""` = 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Id {
    /// A number (wraps to u32).
    Int(i64),
    /// A name resolved through the [`IdMap`].
    Name(String),
}

config_struct! {
    /// An OCI mount as written in `mounts:` / `runtime.mounts:`.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Mount in MOUNT("mount") {
        "destination" => pub destination: String,
        "type" => pub r#type: String,
        "source" => pub source: String,
        "options" => pub options: Vec<String>,
        "uidmappings" => pub uid_mappings: Vec<IdMapping>,
        "gidmappings" => pub gid_mappings: Vec<IdMapping>,
    }
}

config_struct! {
    /// An id mapping (`hostID`, `containerID`, `size`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct IdMapping in IDMAPPING("id mapping") {
        "hostID" => pub host_id: i64,
        "containerID" => pub container_id: i64,
        "size" => pub size: i64,
    }
}

config_struct! {
    /// A device node (`devices:`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Device in DEVICE("device") {
        /// `path`; `all` = a wildcard cgroup rule only.
        "path" => pub path: String,
        /// `type` (`c`, `b`, `a`, ...).
        "type" => pub r#type: String,
        "major" => pub major: i64,
        "minor" => pub minor: i64,
        /// `mode`, an octal string.
        "mode" => pub mode: String,
    }
}

config_struct! {
    /// `resources:` (OCI `linux.resources`).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Resources in RESOURCES("resources") {
        #[serde(skip_serializing_if = "Option::is_none")]
        "devices" => pub devices: Option<Vec<DeviceCgroup>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "memory" => pub memory: Option<Memory>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "cpu" => pub cpu: Option<Cpu>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "pids" => pub pids: Option<Pids>,
        /// `blockio` (OCI `blockIO`).
        #[serde(skip_serializing_if = "Option::is_none")]
        "blockio" => pub blockio: Option<BlockIo>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "hugepageLimits" => pub hugepage_limits: Option<Vec<HugepageLimit>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "network" => pub network: Option<Network>,
    }
}

config_struct! {
    /// A device cgroup rule.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DeviceCgroup in DEVICECGROUP("device cgroup rule") {
        "allow" => pub allow: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        "type" => pub r#type: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "major" => pub major: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "minor" => pub minor: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "access" => pub access: Option<String>,
    }
}

config_struct! {
    /// `resources.memory`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Memory in MEMORY("memory") {
        #[serde(skip_serializing_if = "Option::is_none")]
        "limit" => pub limit: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "reservation" => pub reservation: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "swap" => pub swap: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "kernel" => pub kernel: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "kernelTCP" => pub kernel_tcp: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "swappiness" => pub swappiness: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "disableOOMKiller" => pub disable_oom_killer: Option<bool>,
    }
}

config_struct! {
    /// `resources.cpu`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Cpu in CPU("cpu") {
        #[serde(skip_serializing_if = "Option::is_none")]
        "shares" => pub shares: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "quota" => pub quota: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "period" => pub period: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "realtimeRuntime" => pub realtime_runtime: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "realtimePeriod" => pub realtime_period: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "cpus" => pub cpus: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "mems" => pub mems: Option<String>,
    }
}

config_struct! {
    /// `resources.pids`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Pids in PIDS("pids") {
        #[serde(skip_serializing_if = "Option::is_none")]
        "limit" => pub limit: Option<i64>,
    }
}

config_struct! {
    /// `resources.blockio`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct BlockIo in BLOCKIO("blockio") {
        #[serde(skip_serializing_if = "Option::is_none")]
        "weight" => pub weight: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "leafWeight" => pub leaf_weight: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "weightDevice" => pub weight_device: Option<Vec<WeightDevice>>,
    /// `throttleReadBpsDevice`.
    #[serde(skip_serializing_if = "Option::is_none")]
        "throttleReadBpsDevice" => pub throttle_read_bps_device: Option<Vec<ThrottleDevice>>,
    /// `throttleWriteBpsDevice`.
    #[serde(skip_serializing_if = "Option::is_none")]
        "throttleWriteBpsDevice" => pub throttle_write_bps_device: Option<Vec<ThrottleDevice>>,
    /// `throttleReadIOPSDevice`.
    #[serde(skip_serializing_if = "Option::is_none")]
        "throttleReadIOPSDevice" => pub throttle_read_iops_device: Option<Vec<ThrottleDevice>>,
    /// `throttleWriteIOPSDevice`.
    #[serde(skip_serializing_if = "Option::is_none")]
        "throttleWriteIOPSDevice" => pub throttle_write_iops_device: Option<Vec<ThrottleDevice>>,
    }
}

config_struct! {
    /// A block-IO weight device.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct WeightDevice in WEIGHTDEVICE("weight device") {
        "major" => pub major: i64,
        "minor" => pub minor: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        "weight" => pub weight: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "leafWeight" => pub leaf_weight: Option<i64>,
    }
}

config_struct! {
    /// A block-IO throttle device.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ThrottleDevice in THROTTLEDEVICE("throttle device") {
        "major" => pub major: i64,
        "minor" => pub minor: i64,
        "rate" => pub rate: i64,
    }
}

config_struct! {
    /// A hugepage limit. The schema types `pageSize` as an integer; the OCI spec
    /// wants a string, so it is emitted as the decimal string.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct HugepageLimit in HUGEPAGELIMIT("hugepage limit") {
        "pageSize" => pub page_size: i64,
        "limit" => pub limit: i64,
    }
}

config_struct! {
    /// `resources.network`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Network in NETWORK("network") {
        #[serde(skip_serializing_if = "Option::is_none")]
        "classID" => pub class_id: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        "priorities" => pub priorities: Option<Vec<InterfacePriority>>,
    }
}

config_struct! {
    /// A network interface priority.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct InterfacePriority in INTERFACEPRIORITY("interface priority") {
        "name" => pub name: String,
        "priority" => pub priority: i64,
    }
}

config_struct! {
    /// `runtime.interfaces[]`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Interface in INTERFACE("interface") {
        "name" => pub name: String,
        /// `add` (e.g. `veth`).
        "add" => pub add: String,
        "peer" => pub peer: String,
        "createInRoot" => pub create_in_root: bool,
    }
}

config_struct! {
    /// `runtime.bindNS` as written (each key optional).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct BindNs in NAMESPACES("bindNS") {
        "cgroup" => pub cgroup: Option<String>,
        "ipc" => pub ipc: Option<String>,
        "mnt" => pub mnt: Option<String>,
        "net" => pub net: Option<String>,
        "pid" => pub pid: Option<String>,
        "user" => pub user: Option<String>,
        "uts" => pub uts: Option<String>,
    }
}

impl BindNs {
    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self == &BindNs::default()
    }
}

config_struct! {
    /// `runtime:` as written in yaml or label (merged by [`crate::oci_spec`]).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct RuntimeConfig in RUNTIME("runtime") {
        "cgroups" => pub cgroups: Option<Vec<String>>,
        "mounts" => pub mounts: Option<Vec<Mount>>,
        "mkdir" => pub mkdir: Option<Vec<String>>,
        "interfaces" => pub interfaces: Option<Vec<Interface>>,
        "bindNS" => pub bind_ns: BindNs,
        "namespace" => pub namespace: Option<String>,
    }
}

config_struct! {
    /// An image entry of `onboot`/`onshutdown`/`services`, or a parsed label (yaml.md §4).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Image in IMAGE("image entry", required ["name", "image"]) {
        "name" => pub name: String,
        "image" => pub image: String,
        "capabilities" => pub capabilities: Option<Vec<String>>,
        "capabilities.add" => pub capabilities_add: Option<Vec<String>>,
        "ambient" => pub ambient: Option<Vec<String>>,
        "mounts" => pub mounts: Option<Vec<Mount>>,
        "binds" => pub binds: Option<Vec<String>>,
        "binds.add" => pub binds_add: Option<Vec<String>>,
        "devices" => pub devices: Option<Vec<Device>>,
        "tmpfs" => pub tmpfs: Option<Vec<String>>,
        "command" => pub command: Option<Vec<String>>,
        "env" => pub env: Option<Vec<String>>,
        /// `cwd` (empty counts as unset).
        "cwd" => pub cwd: Option<String>,
        /// `net` (empty counts as unset).
        "net" => pub net: Option<String>,
        /// `pid` (empty counts as unset).
        "pid" => pub pid: Option<String>,
        /// `ipc` (empty counts as unset).
        "ipc" => pub ipc: Option<String>,
        /// `uts` (empty counts as unset).
        "uts" => pub uts: Option<String>,
        /// `userns` (empty counts as unset).
        "userns" => pub userns: Option<String>,
        /// `hostname` (empty counts as unset).
        "hostname" => pub hostname: Option<String>,
        "readonly" => pub readonly: Option<bool>,
        "maskedPaths" => pub masked_paths: Option<Vec<String>>,
        "readonlyPaths" => pub readonly_paths: Option<Vec<String>>,
        "uid" => pub uid: Option<Id>,
        "gid" => pub gid: Option<Id>,
        "additionalGids" => pub additional_gids: Option<Vec<Id>>,
        "noNewPrivileges" => pub no_new_privileges: Option<bool>,
        "oomScoreAdj" => pub oom_score_adj: Option<i64>,
        "rootfsPropagation" => pub rootfs_propagation: Option<String>,
        "cgroupsPath" => pub cgroups_path: Option<String>,
        "resources" => pub resources: Option<Resources>,
        "sysctl" => pub sysctl: Option<BTreeMap<String, String>>,
        "rlimits" => pub rlimits: Option<Vec<String>>,
        "uidMappings" => pub uid_mappings: Option<Vec<IdMapping>>,
        "gidMappings" => pub gid_mappings: Option<Vec<IdMapping>>,
        "annotations" => pub annotations: Option<BTreeMap<String, String>>,
        "runtime" => pub runtime: Option<RuntimeConfig>,
    }
    origin at "name"
}

config_struct! {
    /// A `volumes:` entry (yaml.md §11).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Volume in VOLUME("volume entry") {
        /// `name` (`^[a-z0-9_-]*$`).
        "name" => pub name: String,
        /// `image`, empty = blank volume.
        "image" => pub image: String,
        "readonly" => pub readonly: bool,
        /// `format`: `""`, `oci` or `filesystem`.
        "format" one of ["oci", "filesystem"] => pub format: String,
        /// `platforms` (for `oci`).
        "platforms" => pub platforms: Vec<String>,
    }
    origin at "name"
}

impl Volume {
    /// `/containers/volumes/<name>/merged`, where binds of this volume point.
    pub fn merged_dir(&self) -> String {
        format!("/containers/volumes/{}/merged", self.name)
    }
}

config_struct! {
    /// A `files:` entry (yaml.md §10).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct File in FILE("file entry") {
        "path" => pub path: String,
        "directory" => pub directory: bool,
        /// `symlink` target (empty = not a symlink).
        "symlink" => pub symlink: String,
        /// `contents` (`Some("")` is an empty file).
        "contents" => pub contents: Option<String>,
        /// `source` on the build host.
        "source" => pub source: String,
        /// `metadata` (`yaml`/`json`).
        "metadata" => pub metadata: String,
        "optional" => pub optional: bool,
        /// `mode`, an octal string.
        "mode" => pub mode: String,
        "uid" => pub uid: Option<Id>,
        "gid" => pub gid: Option<Id>,
    }
    origin at "path"
}

/// Container name → allocated uid/gid number (yaml.md §6.9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdMap {
    map: HashMap<String, u32>,
}

impl IdMap {
    /// Allocate 100, 101, … to onboot, then onshutdown, then services names;
    /// a repeated name takes the later number.
    pub fn new(m: &Moby) -> IdMap {
        let mut map = HashMap::new();
        let mut id: u32 = 100;
        for image in m.onboot.iter().chain(&m.onshutdown).chain(&m.services) {
            map.insert(image.name.clone(), id);
            id = id.wrapping_add(1);
        }
        IdMap { map }
    }

    /// The number allocated to a container name.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.map.get(name).copied()
    }

    /// Insert a mapping (tests and callers with extra names).
    pub fn insert(&mut self, name: &str, id: u32) {
        self.map.insert(name.to_string(), id);
    }

    /// `IDNumeric`: absent → 0, number → wrapping u32, `""`/`root` → 0, name → lookup.
    pub fn resolve(&self, id: Option<&Id>) -> Result<u32, crate::SpecError> {
        match id {
            None => Ok(0),
            Some(Id::Int(i)) => Ok(*i as u32),
            Some(Id::Name(s)) if s.is_empty() || s == "root" => Ok(0),
            Some(Id::Name(s)) => self
                .get(s)
                .ok_or_else(|| crate::SpecError::IdNotFound(s.clone())),
        }
    }
}
