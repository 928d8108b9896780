//! PID 1: the boot sequence of upstream LinuxKit's init and rc.init (root
//! filesystem handling, pseudo filesystems, cgroup v2, modules, sysctls,
//! rlimits, hostname, loopback, resolv.conf, /etc/issue, volumes), then the
//! supervisor process, then a signal loop that reaps orphans and turns
//! poweroff (SIGUSR2, SIGPWR, SIGUSR1), reboot (SIGTERM), Ctrl-Alt-Del
//! (SIGINT) and the ACPI power button into an orderly shutdown: services
//! stopped, onshutdown containers run, processes killed, filesystems
//! unmounted, then reboot(2).

mod shutdown;

use crate::{modules, supervisor, sys};
use nix::libc;
use nix::mount::MsFlags;
use nix::sys::reboot::RebootMode;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use shutdown::Action;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

const RAMFS_MAGIC: u64 = 0x858458f6;
const TMPFS_MAGIC: u64 = 0x01021994;

fn log(msg: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "linuxkit-init: {msg}");
    let _ = o.flush();
}

fn warn(what: &str, r: std::io::Result<()>) {
    if let Err(e) = r {
        log(&format!("warning: {what}: {e}"));
    }
}

/// Run as PID 1; never returns.
pub fn run() -> ! {
    let start = sys::uptime_ms();
    if crate::rootdisk::is_first_stage() {
        let why = crate::rootdisk::run();
        log(&format!("error: cannot boot the root file system: {why}"));
        log("powering off in 10 s");
        std::thread::sleep(Duration::from_secs(10));
        let _ = nix::sys::reboot::reboot(RebootMode::RB_POWER_OFF);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    // Block the signals the loop below waits for (inherited by the threads).
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        mask.add(s);
    }
    let _ = mask.thread_block();

    let mut loader = modules::Loader::new();
    let words = setup(&mut loader);
    let opts = supervisor::Options {
        init_start_ms: start,
        echo_services: sys::cmdline_value(&words, "linuxkit.runc_console").as_deref() == Some("1"),
        log_files: sys::cmdline_value(&words, "linuxkit.log_files").as_deref() != Some("0"),
    };
    log(&format!(
        "system set up in {:.1} ms (kernel start to /init: {start:.0} ms)",
        sys::uptime_ms() - start
    ));
    let sup = spawn_supervisor(opts);
    let late: Vec<String> = modules::LATE.iter().map(|s| s.to_string()).collect();
    load_modules(&mut loader, &late, "more ");
    power_button();
    signal_loop(sup, &mask)
}

fn spawn_supervisor(opts: supervisor::Options) -> Option<Pid> {
    // SAFETY: PID 1 is still single-threaded here (the power button thread
    // starts after this fork), so the child may run normal code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => supervisor::run(opts),
        Ok(ForkResult::Parent { child }) => Some(child),
        Err(e) => {
            log(&format!("cannot start the supervisor: {e}"));
            None
        }
    }
}

/// Load kernel modules and log what was loaded and any problem.
fn load_modules(loader: &mut modules::Loader, names: &[String], more: &str) {
    let t = Instant::now();
    let (loaded, problems) = loader.load(names);
    for p in problems {
        log(&format!("warning: {p}"));
    }
    if !loaded.is_empty() {
        log(&format!(
            "loaded {} {more}modules in {:.1} ms: {}",
            loaded.len(),
            t.elapsed().as_secs_f64() * 1000.0,
            loaded.join(" ")
        ));
    }
}

/// Set the system up; returns the kernel command line (read once /proc is
/// mounted).
fn setup(loader: &mut modules::Loader) -> Vec<String> {
    warn("moving the root filesystem", move_root());
    for d in ["proc", "sys", "dev", "run", "tmp", "var", "mnt"] {
        let p = Path::new("/").join(d);
        if !p.exists() {
            let _ = sys::mkdir_p(&p, 0o755);
        }
    }
    let nne = MsFlags::MS_NODEV | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME;
    warn(
        "/proc",
        sys::mount_fs(Some("proc"), Path::new("/proc"), Some("proc"), nne, None),
    );
    let words = &sys::cmdline();
    warn(
        "/dev",
        sys::mount_fs(
            Some("dev"),
            Path::new("/dev"),
            Some("devtmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME,
            Some("size=10m,nr_inodes=248418,mode=755"),
        ),
    );
    reopen_console();
    setup_dev();
    warn(
        "/sys",
        sys::mount_fs(Some("sysfs"), Path::new("/sys"), Some("sysfs"), nne, None),
    );
    if sys::cmdline_value(words, "linuxkit.unified_cgroup_hierarchy").as_deref() == Some("0") {
        log(
            "warning: linuxkit.unified_cgroup_hierarchy=0 (cgroup v1) is not supported; using cgroup v2",
        );
    }
    warn(
        "/sys/fs/cgroup",
        sys::mount_fs(
            Some("cgroup2"),
            Path::new("/sys/fs/cgroup"),
            Some("cgroup2"),
            nne,
            Some("nsdelegate"),
        ),
    );
    enable_controllers();
    for (src, target, fstype) in [
        ("securityfs", "/sys/kernel/security", "securityfs"),
        ("debugfs", "/sys/kernel/debug", "debugfs"),
        ("configfs", "/sys/kernel/config", "configfs"),
        ("fusectl", "/sys/fs/fuse/connections", "fusectl"),
        ("selinuxfs", "/sys/fs/selinux", "selinuxfs"),
        ("pstore", "/sys/fs/pstore", "pstore"),
        ("bpffs", "/sys/fs/bpf", "bpf"),
        ("efivarfs", "/sys/firmware/efi/efivars", "efivarfs"),
        ("binfmt_misc", "/proc/sys/fs/binfmt_misc", "binfmt_misc"),
    ] {
        if Path::new(target).is_dir() {
            let _ = sys::mount_fs(Some(src), Path::new(target), Some(fstype), nne, None);
        }
    }
    for (target, data) in [
        ("/run", "size=10%,mode=755"),
        ("/tmp", "size=10%,mode=1777"),
        ("/var", "size=50%,mode=755"),
    ] {
        warn(
            target,
            sys::mount_fs(
                Some("tmpfs"),
                Path::new(target),
                Some("tmpfs"),
                nne,
                Some(data),
            ),
        );
    }
    for (d, mode) in [
        ("cache", 0o755),
        ("empty", 0o555),
        ("lib", 0o755),
        ("lib/containerd", 0o755),
        ("local", 0o755),
        ("lock", 0o755),
        ("log", 0o755),
        ("opt", 0o755),
        ("spool", 0o755),
        ("tmp", 0o1777),
    ] {
        warn(d, sys::mkdir_mode(&Path::new("/var").join(d), mode));
    }
    let _ = std::os::unix::fs::symlink("/run", "/var/run");
    warn(
        "making / shared",
        sys::mount_fs(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_SHARED,
            None,
        ),
    );
    load_modules(loader, &modules::requested(words), "");
    if Path::new("/sbin/mdev").exists() {
        let _ = sys::write("/proc/sys/kernel/hotplug", "/sbin/mdev");
    }
    rlimits();
    hostname();
    warn("loopback", loopback_up());
    resolv_conf();
    sysctls();
    let made = crate::container::precreate_mountpoints();
    if made > 0 {
        log(&format!(
            "created {made} mount points in container root filesystems"
        ));
    }
    // The root filesystem, /containers included, is immutable at runtime.
    let _ = sys::mount_fs(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None,
    );
    issue(words);
    volumes();
    let _ = nix::sys::reboot::set_cad_enabled(false);
    words.clone()
}

/// `pivot_root` does not work when the root is the initramfs: bind the root
/// onto /mnt, move that mount onto /, and chroot into it (runtime-notes.md).
fn move_root() -> std::io::Result<()> {
    let st = nix::sys::statfs::statfs("/").map_err(std::io::Error::from)?;
    #[allow(clippy::unnecessary_cast)]
    let kind = st.filesystem_type().0 as u64;
    if kind != RAMFS_MAGIC && kind != TMPFS_MAGIC {
        return Ok(());
    }
    sys::mkdir_p(Path::new("/mnt"), 0o755)?;
    sys::mount_fs(
        Some("/"),
        Path::new("/mnt"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    std::env::set_current_dir("/mnt")?;
    sys::mount_fs(Some("."), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
    nix::unistd::chroot(".").map_err(std::io::Error::from)?;
    std::env::set_current_dir("/")
}

/// Make sure fds 0-2 are the console (the kernel opens it only if
/// /dev/console was in the initramfs).
fn reopen_console() {
    // SAFETY: fcntl(F_GETFD) only queries descriptor 1.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } >= 0 {
        return;
    }
    if let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors from an open file.
            unsafe { libc::dup2(f.as_raw_fd(), fd) };
        }
    }
}

fn setup_dev() {
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("kcore", "/proc/kcore"),
    ] {
        let _ = std::os::unix::fs::symlink(target, Path::new("/dev").join(name));
    }
    let f = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for (dir, src, fstype, flags, data, mode) in [
        ("/dev/mqueue", "mqueue", "mqueue", f, None, 0o755),
        ("/dev/shm", "shm", "tmpfs", f, Some("mode=1777"), 0o1777),
        (
            "/dev/pts",
            "devpts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("gid=5,mode=0620,ptmxmode=666"),
            0o755,
        ),
    ] {
        let _ = sys::mkdir_mode(Path::new(dir), mode);
        warn(
            dir,
            sys::mount_fs(Some(src), Path::new(dir), Some(fstype), flags, data),
        );
    }
}

/// Let child cgroups use every controller the kernel offers.
fn enable_controllers() {
    let c = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    let line: Vec<String> = c.split_whitespace().map(|c| format!("+{c}")).collect();
    if !line.is_empty() {
        let _ = sys::write("/sys/fs/cgroup/cgroup.subtree_control", line.join(" "));
    }
}

fn rlimits() {
    use nix::sys::resource::{Resource, setrlimit};
    let _ = setrlimit(Resource::RLIMIT_NOFILE, 1048576, 1048576);
    let _ = setrlimit(
        Resource::RLIMIT_NPROC,
        libc::RLIM_INFINITY,
        libc::RLIM_INFINITY,
    );
}

fn hostname() {
    let want = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let want = want.trim();
    if !want.is_empty() {
        warn(
            "hostname",
            nix::unistd::sethostname(want).map_err(std::io::Error::from),
        );
        return;
    }
    let cur = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_string())
        .unwrap_or_default();
    if cur.is_empty() || cur == "(none)" {
        let mac = std::fs::read_to_string("/sys/class/net/eth0/address").unwrap_or_default();
        let mac: String = mac.trim().chars().filter(|c| *c != ':').collect();
        let name = if mac.is_empty() {
            "linuxkit".to_string()
        } else {
            format!("linuxkit-{mac}")
        };
        let _ = nix::unistd::sethostname(name);
    }
}

/// `ip link set lo up` (the kernel gives it 127.0.0.1/8 and ::1).
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed, correctly sized ifreq
    // whose name is NUL-terminated; the socket is closed before returning.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut r = libc::ioctl(s, libc::SIOCGIFFLAGS as _, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(s, libc::SIOCSIFFLAGS as _, &req);
        }
        let e = std::io::Error::last_os_error();
        libc::close(s);
        if r != 0 { Err(e) } else { Ok(()) }
    }
}

/// If /etc/resolv.conf is a symlink, create its target (and directory) empty.
fn resolv_conf() {
    let Ok(target) = std::fs::read_link("/etc/resolv.conf") else {
        return;
    };
    let target = Path::new("/etc").join(target);
    if let Some(d) = target.parent() {
        let _ = sys::mkdir_p(d, 0o755);
    }
    if !target.exists() {
        let _ = std::fs::File::create(&target);
    }
}

/// Apply /etc/sysctl.conf and /etc/sysctl.d/*.conf of the root filesystem.
fn sysctls() {
    let mut files = vec![std::path::PathBuf::from("/etc/sysctl.conf")];
    if let Ok(rd) = std::fs::read_dir("/etc/sysctl.d") {
        let mut v: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        files.extend(
            v.into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "conf")),
        );
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (k, v) in parse_sysctl(&text) {
            let path = Path::new("/proc/sys").join(k.replace('.', "/"));
            if let Err(e) = std::fs::write(&path, v) {
                log(&format!("warning: sysctl {k}={v} ({}): {e}", f.display()));
            }
        }
    }
}

/// The `key = value` settings of a sysctl.conf text, in order (comments
/// `#`/`;` and lines without `=` skipped; a leading `-`, "ignore errors",
/// dropped: every error is only a warning here).
fn parse_sysctl(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        out.push((k.trim().trim_start_matches('-'), v.trim()));
    }
    out
}

/// Print /etc/issue on every `console=` tty.
fn issue(words: &[String]) {
    let Ok(text) = std::fs::read("/etc/issue") else {
        return;
    };
    let consoles = sys::consoles(words);
    let consoles = if consoles.is_empty() {
        vec!["console".to_string()]
    } else {
        consoles
    };
    for c in consoles {
        let path = Path::new("/dev").join(&c);
        let is_char = std::fs::metadata(&path)
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false);
        if !is_char {
            continue;
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(&path)
        {
            let _ = f.write_all(&text);
        }
    }
}

/// Volumes (`/containers/volumes/<v>`): a writable overlay on `merged/`.
fn volumes() {
    use linuxkit_vm_abi::bundle::{LOWER, MERGED, TMP, VOLUMES_DIR};
    let Ok(rd) = std::fs::read_dir(VOLUMES_DIR) else {
        return;
    };
    let mut dirs: Vec<_> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for v in dirs {
        let (lower, merged, tmp) = (v.join(LOWER), v.join(MERGED), v.join(TMP));
        if !lower.is_dir() || !merged.is_dir() {
            log(&format!(
                "volume {}: needs lower/ and merged/ directories",
                v.display()
            ));
            continue;
        }
        let r = (|| -> std::io::Result<()> {
            if tmp.is_dir() {
                sys::mount_fs(Some("tmpfs"), &tmp, Some("tmpfs"), MsFlags::empty(), None)?;
                sys::mkdir_p(&tmp.join("upper"), 0o755)?;
                sys::mkdir_p(&tmp.join("work"), 0o755)?;
                let data = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lower.display(),
                    tmp.join("upper").display(),
                    tmp.join("work").display()
                );
                sys::mount_fs(
                    Some("overlay"),
                    &merged,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(&data),
                )
            } else {
                sys::mount_fs(
                    Some(&lower.to_string_lossy()),
                    &merged,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
            }
        })();
        warn(&format!("volume {}", v.display()), r);
    }
}

/// Watch the ACPI power button (an input device named "Power Button") and
/// turn a press into SIGUSR2 for PID 1 (poweroff).
fn power_button() {
    let Ok(rd) = std::fs::read_dir("/sys/class/input") else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if !n.starts_with("event") {
            continue;
        }
        let name = std::fs::read_to_string(e.path().join("device/name")).unwrap_or_default();
        if name.trim() != "Power Button" {
            continue;
        }
        let dev = Path::new("/dev/input").join(&n);
        let _ = std::thread::Builder::new()
            .name("power-button".into())
            .spawn(move || {
                use std::io::Read;
                let Ok(mut f) = std::fs::File::open(&dev) else {
                    return;
                };
                let mut ev = [0u8; 24];
                while f.read_exact(&mut ev).is_ok() {
                    let kind = u16::from_le_bytes([ev[16], ev[17]]);
                    let code = u16::from_le_bytes([ev[18], ev[19]]);
                    let value = i32::from_le_bytes([ev[20], ev[21], ev[22], ev[23]]);
                    // EV_KEY, KEY_POWER, pressed
                    if kind == 1 && code == 116 && value == 1 {
                        let _ = kill(Pid::from_raw(1), Signal::SIGUSR2);
                    }
                }
            });
    }
}

fn signal_loop(mut sup: Option<Pid>, mask: &SigSet) -> ! {
    let mut shutdown: Option<(Action, Instant)> = None;
    loop {
        let timeout = match shutdown {
            Some(_) => Duration::from_millis(200),
            None => Duration::from_secs(3600),
        };
        let sig = wait_signal(mask, timeout);
        if let Some(action) = sig.and_then(Action::for_signal) {
            shutdown.get_or_insert_with(|| begin(action, sup));
        }
        // Reap everything; note when the supervisor ends.
        loop {
            match waitpid(
                Pid::from_raw(-1),
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            ) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(st) => {
                    if st.pid().is_some() && st.pid() == sup {
                        if shutdown.is_none() {
                            log(&format!("the supervisor ended unexpectedly: {st:?}"));
                        }
                        sup = None;
                    }
                }
            }
        }
        if let Some((action, started)) = shutdown
            && (sup.is_none() || started.elapsed() > Duration::from_secs(120))
        {
            finish(action);
        }
    }
}

fn begin(action: Action, sup: Option<Pid>) -> (Action, Instant) {
    log(match action {
        Action::PowerOff => "powering off",
        Action::Reboot => "rebooting",
    });
    if let Some(p) = sup {
        let _ = kill(p, Signal::SIGTERM);
    }
    (action, Instant::now())
}

fn wait_signal(mask: &SigSet, timeout: Duration) -> Option<Signal> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait with a valid signal set, a null siginfo pointer
    // (allowed) and a valid timespec.
    let r = unsafe { libc::sigtimedwait(mask.as_ref(), std::ptr::null_mut(), &ts) };
    if r <= 0 {
        return None;
    }
    Signal::try_from(r).ok()
}

/// The end: kill everything, sync, unmount, reboot(2).
fn finish(action: Action) -> ! {
    shutdown::finish(&mut shutdown::Linux, action);
    // reboot(2) does not return on success.
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_files_are_parsed_like_procps() {
        let text =
            "# comment\n; also\n\nnet.ipv4.ip_forward = 1\n-kernel.x=a b \nnonsense\n vm.y=\n";
        assert_eq!(
            parse_sysctl(text),
            [
                ("net.ipv4.ip_forward", "1"),
                ("kernel.x", "a b"),
                ("vm.y", "")
            ]
        );
    }
}
