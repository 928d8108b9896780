//! One LinuxKit bundle (`/containers/{onboot,services,onshutdown}/<name>`):
//! its `runtime.json` (mounts, mkdir, cgroups done before the container
//! exists; interfaces and bindNS after it exists and before it starts), a
//! copy of its `config.json` with the rootfs made absolute and a default
//! `cgroupsPath`, and creating + starting it with `libcontainer`.
//!
//! `libcontainer` clones with raw `clone3` and waits for its own children, so
//! the caller must be single-threaded and must not reap concurrently: every
//! container is created in a short-lived forked helper, whose result comes
//! back through a pipe. The container's init is reparented to the supervisor
//! (a child subreaper) when the helper exits.

use crate::netlink;
use crate::sys;
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::mount::{MntFlags, MsFlags, umount2};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where libcontainer keeps container state.
pub const STATE_ROOT: &str = "/run/linuxkit/containers";
/// Where the adjusted bundles (config.json copies) are written.
pub const BUNDLE_ROOT: &str = "/run/linuxkit/bundles";

/// What went wrong with a container, in words for the log.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// `runtime.json` could not be read or parsed.
    #[error("{path}: invalid runtime.json: {reason}")]
    Runtime {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `config.json` could not be read or parsed.
    #[error("{path}: invalid config.json: {reason}")]
    Spec {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A mount, mkdir or cgroup of runtime.json failed.
    #[error("preparing the filesystem: {0}")]
    Prepare(std::io::Error),
    /// The runtime refused or failed.
    #[error("{0}")]
    Runtime2(String),
}

pub use linuxkit_vm_abi::bundle::Phase;
use linuxkit_vm_abi::bundle::{CONFIG_JSON, ROOTFS, RUNTIME_JSON};
use linuxkit_vm_abi::runtime::{BindNs, Runtime};

/// How the supervisor names a phase's containers (the bundle layout
/// itself, [`Phase`], is the host/VM contract in `linuxkit-vm-abi`).
pub trait PhaseNames {
    /// Log source prefix (`onboot.`, ``, `shutdown.`).
    fn log_prefix(self) -> &'static str;
    /// Word for listings.
    fn word(self) -> &'static str;
}

impl PhaseNames for Phase {
    fn log_prefix(self) -> &'static str {
        match self {
            Phase::Onboot => "onboot.",
            Phase::Service => "",
            Phase::Shutdown => "shutdown.",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Phase::Onboot => "onboot",
            Phase::Service => "service",
            Phase::Shutdown => "onshutdown",
        }
    }
}

/// One bundle on disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Directory name = container id.
    pub name: String,
    /// The bundle directory.
    pub dir: PathBuf,
    /// Its phase.
    pub phase: Phase,
}

/// A container that was created and started.
#[derive(Debug)]
pub struct Started {
    /// Its init process.
    pub pid: i32,
    /// Mounts done for it in the root namespace, to undo when it ends.
    pub mounts: Vec<PathBuf>,
    /// Its cgroup (relative to /sys/fs/cgroup, with a leading /).
    pub cgroup: String,
}

impl Bundle {
    /// The bundles of a phase, in name order (none when the directory is missing).
    pub fn list(phase: Phase) -> Vec<Bundle> {
        let mut v: Vec<Bundle> = std::fs::read_dir(phase.dir())
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .map(|e| Bundle {
                        name: e.file_name().to_string_lossy().to_string(),
                        dir: e.path(),
                        phase,
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Read `runtime.json` (a missing file means no actions).
    pub fn runtime(&self) -> Result<Runtime, ContainerError> {
        let path = self.dir.join(RUNTIME_JSON);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| ContainerError::Runtime {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Runtime::default()),
            Err(e) => Err(ContainerError::Runtime {
                path,
                reason: e.to_string(),
            }),
        }
    }

    fn abs(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            self.dir.join(ROOTFS).join(p)
        }
    }

    /// The cgroup used when config.json names none: `/<id>` for onboot and
    /// onshutdown (like runc), `/<namespace>/<id>` for services (like containerd).
    pub fn default_cgroup(&self, namespace: &str) -> String {
        match self.phase {
            Phase::Service => {
                let ns = if namespace.is_empty() {
                    "services.linuxkit"
                } else {
                    namespace
                };
                format!("/{ns}/{}", self.name)
            }
            _ => format!("/{}", self.name),
        }
    }

    /// Do runtime.json's mounts, mkdirs and cgroups; returns the mount
    /// targets (undone by [`cleanup`]). Undoes its own mounts on failure.
    pub fn prepare(&self, rt: &Runtime) -> Result<Vec<PathBuf>, ContainerError> {
        let mut done = Vec::new();
        let res = (|| -> std::io::Result<()> {
            for m in &rt.mounts {
                let dest = self.abs(&m.destination);
                sys::mkdir_p(&dest, 0o755)?;
                for o in &m.options {
                    if let Some(d) = o
                        .strip_prefix("upperdir=")
                        .or_else(|| o.strip_prefix("workdir="))
                    {
                        sys::mkdir_p(Path::new(d), 0o755)?;
                    }
                }
                sys::mount_with_options(&m.source, &dest, &m.r#type, &m.options)?;
                done.push(dest);
            }
            for d in &rt.mkdir {
                sys::mkdir_p(&self.abs(d), 0o755)?;
            }
            for c in &rt.cgroups {
                sys::mkdir_p(
                    &Path::new("/sys/fs/cgroup").join(c.trim_start_matches('/')),
                    0o755,
                )?;
            }
            Ok(())
        })();
        match res {
            Ok(()) => Ok(done),
            Err(e) => {
                unmount_all(&done);
                Err(ContainerError::Prepare(e))
            }
        }
    }

    /// Write the adjusted config.json (absolute rootfs, default cgroupsPath)
    /// into a bundle directory under [`BUNDLE_ROOT`]; returns it and the cgroup.
    pub fn write_spec(
        &self,
        namespace: &str,
        out_root: &Path,
    ) -> Result<(PathBuf, String), ContainerError> {
        let path = self.dir.join(CONFIG_JSON);
        let err = |reason: String| ContainerError::Spec {
            path: path.clone(),
            reason,
        };
        let data = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
        let mut spec: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| err(e.to_string()))?;
        let obj = spec
            .as_object_mut()
            .ok_or_else(|| err("not a JSON object".into()))?;
        let root = obj
            .entry("root")
            .or_insert_with(|| serde_json::json!({"path": ROOTFS}));
        let rootp = root
            .get("path")
            .and_then(|p| p.as_str())
            .unwrap_or(ROOTFS)
            .to_string();
        // root.path is relative to the bundle directory (runtime.json paths
        // are relative to the rootfs).
        let rootp = if rootp.starts_with('/') {
            PathBuf::from(rootp)
        } else {
            self.dir.join(rootp)
        };
        root["path"] = serde_json::Value::String(rootp.to_string_lossy().to_string());
        let linux = obj.entry("linux").or_insert_with(|| serde_json::json!({}));
        let linux = linux
            .as_object_mut()
            .ok_or_else(|| err("`linux` is not an object".into()))?;
        let cgroup = match linux.get("cgroupsPath").and_then(|c| c.as_str()) {
            Some(c) if !c.is_empty() => {
                if c.starts_with('/') {
                    c.to_string()
                } else {
                    format!("/{c}")
                }
            }
            _ => self.default_cgroup(namespace),
        };
        linux.insert(
            "cgroupsPath".into(),
            serde_json::Value::String(cgroup.clone()),
        );
        // Parse with the runtime's own types now, for a clear error before anything starts.
        let text = serde_json::to_vec_pretty(&spec).map_err(|e| err(e.to_string()))?;
        serde_json::from_slice::<libcontainer::oci_spec::runtime::Spec>(&text)
            .map_err(|e| err(e.to_string()))?;
        let out = out_root.join(&self.name);
        sys::mkdir_p(&out, 0o700).map_err(ContainerError::Prepare)?;
        sys::write(out.join(CONFIG_JSON), &text).map_err(ContainerError::Prepare)?;
        Ok((out, cgroup))
    }
}

/// Lazily unmount targets in reverse order (errors ignored).
pub fn unmount_all(targets: &[PathBuf]) {
    for t in targets.iter().rev() {
        let _ = umount2(t, MntFlags::MNT_DETACH);
    }
}

/// Prepare, create and start a bundle with its stdout and stderr on the
/// given descriptors (stdin is /dev/null).
pub fn start(bundle: &Bundle, stdout: OwnedFd, stderr: OwnedFd) -> Result<Started, ContainerError> {
    let rt = bundle.runtime()?;
    let (spec_dir, cgroup) = bundle.write_spec(&rt.namespace, Path::new(BUNDLE_ROOT))?;
    forget_state(&bundle.name);
    let mounts = bundle.prepare(&rt)?;
    match create_in_helper(&bundle.name, &spec_dir, stdout, stderr, &rt) {
        Ok(pid) => Ok(Started {
            pid,
            mounts,
            cgroup,
        }),
        Err(e) => {
            forget_state(&bundle.name);
            unmount_all(&mounts);
            Err(e)
        }
    }
}

/// Remove libcontainer's state (and cgroup) of a container that has ended.
pub fn forget_state(name: &str) {
    let dir = Path::new(STATE_ROOT).join(name);
    if !dir.exists() {
        return;
    }
    if let Ok(mut c) = Container::load(dir.clone()) {
        let _ = c.delete(true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Create the mount points that the bundles' config.json mounts need in
/// their rootfs, while the root filesystem is still writable (PID 1 calls
/// this before remounting / read-only; a read-only container's rootfs is
/// part of it). A bind of a file gets an empty file, everything else a
/// directory. Bundles with `lower/` get an overlay on rootfs at start and
/// need nothing. Returns how many were made.
pub fn precreate_mountpoints() -> usize {
    let mut made = 0;
    for phase in Phase::ALL {
        for b in Bundle::list(phase) {
            // The directory the container's root really is: the rootfs, or
            // the source that runtime.json binds onto it (the build stores
            // an image used twice only once); an overlay root is writable.
            let mut rootfs = b.dir.join(ROOTFS);
            let rt = b.runtime().unwrap_or_default();
            let mut overlay = false;
            for m in &rt.mounts {
                if b.abs(&m.destination) == rootfs {
                    if m.r#type == "overlay" {
                        overlay = true;
                    } else if m.options.iter().any(|o| o == "bind" || o == "rbind") {
                        rootfs = PathBuf::from(&m.source);
                    }
                }
            }
            if overlay || !rootfs.is_dir() {
                continue;
            }
            let Ok(data) = std::fs::read(b.dir.join(CONFIG_JSON)) else {
                continue;
            };
            let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&data) else {
                continue;
            };
            let Some(mounts) = spec.get("mounts").and_then(|m| m.as_array()) else {
                continue;
            };
            for m in mounts {
                let Some(dest) = m.get("destination").and_then(|d| d.as_str()) else {
                    continue;
                };
                let target = rootfs.join(dest.trim_start_matches('/'));
                // never follow a symlink out of the rootfs
                if std::fs::symlink_metadata(&target).is_ok() || dest.split('/').any(|c| c == "..")
                {
                    continue;
                }
                let source = m.get("source").and_then(|s| s.as_str()).unwrap_or("");
                let is_bind = m.get("type").and_then(|t| t.as_str()) == Some("bind")
                    || m.get("options")
                        .and_then(|o| o.as_array())
                        .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"));
                let file = is_bind && std::fs::metadata(source).is_ok_and(|m| !m.is_dir());
                let ok = if file {
                    target
                        .parent()
                        .map(|p| sys::mkdir_p(p, 0o755).is_ok())
                        .unwrap_or(false)
                        && std::fs::File::create(&target).is_ok()
                } else {
                    sys::mkdir_p(&target, 0o755).is_ok()
                };
                if ok {
                    made += 1;
                } else {
                    eprintln!(
                        "linuxkit-init: cannot create mount point {}",
                        target.display()
                    );
                }
            }
        }
    }
    made
}

/// Check a bundle directory the way [`start`] would, without running it:
/// runtime.json and config.json parse, and the runtime loads the spec.
pub fn validate(dir: &Path) -> Result<String, ContainerError> {
    let b = Bundle {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        dir: dir.to_path_buf(),
        phase: Phase::Service,
    };
    let rt = b.runtime()?;
    let tmp = std::env::temp_dir().join(format!("linuxkit-validate-{}", std::process::id()));
    let (spec_dir, cgroup) = b.write_spec(&rt.namespace, &tmp)?;
    let res = (|| {
        let mut spec = libcontainer::oci_spec::runtime::Spec::load(spec_dir.join(CONFIG_JSON))
            .map_err(|e| ContainerError::Runtime2(format!("load: {}", chain(&e))))?;
        let root = spec.root().as_ref().map(|r| r.path().clone());
        spec.canonicalize_rootfs(&spec_dir)
            .map_err(|e| ContainerError::Runtime2(format!("rootfs {root:?}: {}", chain(&e))))?;
        Ok(format!("ok: cgroup {cgroup}, root {root:?}"))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

/// Undo what [`start`] did once the container's init has exited.
pub fn cleanup(name: &str, mounts: &[PathBuf]) {
    forget_state(name);
    unmount_all(mounts);
}

fn create_in_helper(
    name: &str,
    spec_dir: &Path,
    stdout: OwnedFd,
    stderr: OwnedFd,
    rt: &Runtime,
) -> Result<i32, ContainerError> {
    let (r, w) = pipe().map_err(|e| ContainerError::Runtime2(format!("pipe: {e}")))?;
    // SAFETY: the caller (the supervisor) is single-threaded, so the child may
    // run arbitrary code after fork; it only uses its own copies of the data.
    match unsafe { fork() } {
        Err(e) => Err(ContainerError::Runtime2(format!("fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop(r);
            // The supervisor blocks signals it reads through a signalfd; the
            // container must start with none blocked.
            let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
            // The runtime's own log: errors always, everything with
            // linuxkit.runc_debug=1; to our stderr (the console).
            let debug =
                sys::cmdline_value(&sys::cmdline(), "linuxkit.runc_debug").as_deref() == Some("1");
            let _ = tracing_subscriber::fmt()
                .with_max_level(if debug {
                    tracing::Level::DEBUG
                } else {
                    tracing::Level::ERROR
                })
                .with_writer(std::io::stderr)
                .without_time()
                .with_target(false)
                .try_init();
            let mut w = std::fs::File::from(w);
            let msg = match create_and_start(name, spec_dir, stdout, stderr, rt) {
                Ok(pid) => format!("ok {pid}"),
                Err(e) => format!("err {e}"),
            };
            let _ = w.write_all(msg.as_bytes());
            drop(w);
            // SAFETY: _exit ends the helper without running the parent's
            // atexit handlers or flushing its copied buffers.
            unsafe { nix::libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            drop(stdout);
            drop(stderr);
            let mut msg = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut msg);
            // Reap the helper itself (the container's init is not our child yet).
            loop {
                match waitpid(child, Some(WaitPidFlag::__WALL)) {
                    Ok(WaitStatus::StillAlive) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    _ => break,
                }
            }
            if let Some(pid) = msg.strip_prefix("ok ") {
                pid.trim()
                    .parse()
                    .map_err(|_| ContainerError::Runtime2(format!("bad pid from helper: {pid}")))
            } else if let Some(e) = msg.strip_prefix("err ") {
                Err(ContainerError::Runtime2(e.to_string()))
            } else {
                Err(ContainerError::Runtime2(
                    "the container helper died without a result".into(),
                ))
            }
        }
    }
}

/// An error with its chain of causes: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn create_and_start(
    name: &str,
    spec_dir: &Path,
    stdout: OwnedFd,
    stderr: OwnedFd,
    rt: &Runtime,
) -> Result<i32, String> {
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let mut c = ContainerBuilder::new(name.to_string(), SyscallType::Linux)
        .with_root_path(STATE_ROOT)
        .map_err(|e| chain(&e))?
        .with_stdin(null)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .as_init(spec_dir)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| format!("create: {}", chain(&e)))?;
    let pid = c
        .pid()
        .ok_or_else(|| "create: the runtime reported no pid".to_string())?
        .as_raw();
    netlink::apply_interfaces(pid, &rt.interfaces).map_err(|e| format!("interfaces: {e}"))?;
    bind_namespaces(pid, &rt.bind_ns).map_err(|e| format!("bindNS: {e}"))?;
    c.start().map_err(|e| format!("start: {}", chain(&e)))?;
    Ok(pid)
}

/// Bind-mount `/proc/<pid>/ns/<kind>` onto each requested path.
fn bind_namespaces(pid: i32, b: &BindNs) -> std::io::Result<()> {
    for (kind, path) in b.entries() {
        if path.is_empty() {
            continue;
        }
        let target = Path::new(path);
        if let Some(parent) = target.parent() {
            sys::mkdir_p(parent, 0o755)?;
        }
        if !target.exists() {
            std::fs::File::create(target)?;
        }
        let src = format!("/proc/{pid}/ns/{kind}");
        sys::mount_fs(Some(&src), target, None, MsFlags::MS_BIND, None)?;
    }
    Ok(())
}

/// The processes of a cgroup (`/sys/fs/cgroup<cgroup>/cgroup.procs`).
pub fn cgroup_pids(cgroup: &str) -> Vec<i32> {
    std::fs::read_to_string(format!("/sys/fs/cgroup{cgroup}/cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Send `sig` to every process of the cgroup and to `pid`.
pub fn signal_all(pid: i32, cgroup: &str, sig: nix::sys::signal::Signal) {
    let mut pids = cgroup_pids(cgroup);
    pids.push(pid);
    for p in pids {
        let _ = nix::sys::signal::kill(Pid::from_raw(p), sig);
    }
    if sig == nix::sys::signal::Signal::SIGKILL {
        let _ = std::fs::write(format!("/sys/fs/cgroup{cgroup}/cgroup.kill"), "1");
    }
}
