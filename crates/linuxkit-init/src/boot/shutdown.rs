//! The end of the system, as upstream's `rc.shutdown` does it once the
//! supervisor has stopped the services and run the onshutdown containers:
//! SIGTERM to every process, up to [`GRACE`] for them to end (naming any that
//! hold the shutdown), SIGKILL, sync, unmount the disk filesystems in reverse
//! mount order, sync, reboot(2). The kernel calls are behind [`Kernel`] so
//! the sequence can be tested.

use nix::mount::MntFlags;
use nix::sys::reboot::RebootMode;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How long processes have between SIGTERM and SIGKILL (upstream: 5 s).
pub const GRACE: Duration = Duration::from_secs(5);

/// What PID 1 does once shutdown has been asked for.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Action {
    /// reboot(2) with `RB_POWER_OFF`.
    PowerOff,
    /// reboot(2) with `RB_AUTOBOOT`.
    Reboot,
}

impl Action {
    /// The action a signal to PID 1 asks for: SIGTERM and SIGINT
    /// (Ctrl-Alt-Del) reboot, SIGCHLD none, every other one powers off.
    pub fn for_signal(sig: Signal) -> Option<Action> {
        match sig {
            Signal::SIGCHLD => None,
            Signal::SIGTERM | Signal::SIGINT => Some(Action::Reboot),
            _ => Some(Action::PowerOff),
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            Action::PowerOff => RebootMode::RB_POWER_OFF,
            Action::Reboot => RebootMode::RB_AUTOBOOT,
        }
    }
}

/// The result of one non-blocking wait for a child.
#[derive(Debug, PartialEq)]
pub enum Wait {
    /// A child was reaped.
    Reaped,
    /// Children remain, none has ended.
    Running,
    /// No child is left.
    NoChildren,
}

/// The kernel calls of the end of the system.
pub trait Kernel {
    /// `kill(-1, sig)`: every process but PID 1.
    fn kill_all(&mut self, sig: Signal);
    /// `waitpid(-1, WNOHANG)`.
    fn wait_child(&mut self) -> Wait;
    /// Reap every child, waiting, until none is left.
    fn reap_all(&mut self);
    /// The children still alive, as `pid (name)`, for the log.
    fn children(&mut self) -> Vec<String>;
    /// Pause between polls.
    fn sleep(&mut self, d: Duration);
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// `sync(2)`.
    fn sync(&mut self);
    /// The text of `/proc/mounts`.
    fn mounts(&mut self) -> String;
    /// `umount2(2)`, errors ignored.
    fn unmount(&mut self, target: &str, flags: MntFlags);
    /// `reboot(2)`; returns only if it failed.
    fn reboot(&mut self, mode: RebootMode);
    /// A line on the console.
    fn log(&mut self, msg: &str);
}

/// The filesystems to unmount, last mounted first: disk filesystems and
/// overlays normally, network filesystems lazily, nothing else.
pub fn unmount_plan(mounts: &str) -> Vec<(String, MntFlags)> {
    let mut plan = Vec::new();
    for line in mounts.lines().rev() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(target), Some(fstype)) = (f.get(1), f.get(2)) else {
            continue;
        };
        let flags = match *fstype {
            "ext2" | "ext3" | "ext4" | "btrfs" | "xfs" | "vfat" | "msdos" | "overlay" => {
                MntFlags::empty()
            }
            "nfs" | "nfs4" | "cifs" => MntFlags::MNT_DETACH,
            _ => continue,
        };
        plan.push((target.to_string(), flags));
    }
    plan
}

/// Kill everything, sync, unmount and reboot(2) with `action`'s mode.
/// Returns only when reboot(2) failed.
pub fn finish(k: &mut impl Kernel, action: Action) {
    k.kill_all(Signal::SIGTERM);
    let start = k.now();
    let until = start + GRACE;
    let mut all_ended = false;
    while k.now() < until {
        match k.wait_child() {
            Wait::NoChildren => {
                all_ended = true;
                break;
            }
            Wait::Running => k.sleep(Duration::from_millis(20)),
            Wait::Reaped => {}
        }
    }
    if !all_ended {
        let held = k.children();
        if !held.is_empty() {
            let waited = k.now().saturating_duration_since(start).as_secs_f64();
            k.log(&format!(
                "{} held the shutdown: still running {waited:.1} s after SIGTERM; killed",
                held.join(", ")
            ));
        }
    }
    k.kill_all(Signal::SIGKILL);
    k.reap_all();
    k.sync();
    let mounts = k.mounts();
    for (target, flags) in unmount_plan(&mounts) {
        k.unmount(&target, flags);
    }
    k.sync();
    k.reboot(action.mode());
}

/// The real kernel.
pub struct Linux;

impl Kernel for Linux {
    fn kill_all(&mut self, sig: Signal) {
        let _ = kill(Pid::from_raw(-1), sig);
    }

    fn wait_child(&mut self) -> Wait {
        match waitpid(
            Pid::from_raw(-1),
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Err(nix::errno::Errno::ECHILD) => Wait::NoChildren,
            Ok(WaitStatus::StillAlive) => Wait::Running,
            _ => Wait::Reaped,
        }
    }

    fn reap_all(&mut self) {
        while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
            if st == WaitStatus::StillAlive {
                break;
            }
        }
    }

    fn children(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return out;
        };
        let me = std::process::id().to_string();
        for e in rd.flatten() {
            let pid = e.file_name().to_string_lossy().to_string();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let ppid = stat[close + 1..].split_whitespace().nth(1);
            if ppid == Some(me.as_str()) {
                out.push(format!("pid {pid} ({})", &stat[open + 1..close]));
            }
        }
        out.sort();
        out
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sync(&mut self) {
        nix::unistd::sync()
    }

    fn mounts(&mut self) -> String {
        std::fs::read_to_string("/proc/mounts").unwrap_or_default()
    }

    fn unmount(&mut self, target: &str, flags: MntFlags) {
        let _ = nix::mount::umount2(target, flags);
    }

    fn reboot(&mut self, mode: RebootMode) {
        let _ = nix::sys::reboot::reboot(mode);
    }

    fn log(&mut self, msg: &str) {
        super::log(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every call in order; children end when the clock reaches
    /// their time (`None`: never, they ignore SIGTERM).
    struct Fake {
        calls: Vec<String>,
        children: Vec<(&'static str, Option<Duration>)>,
        base: Instant,
        elapsed: Duration,
        mounts: &'static str,
    }

    impl Fake {
        fn new(children: Vec<(&'static str, Option<Duration>)>) -> Fake {
            Fake {
                calls: Vec::new(),
                children,
                base: Instant::now(),
                elapsed: Duration::ZERO,
                mounts: "",
            }
        }

        fn first(&self, prefix: &str) -> usize {
            self.calls
                .iter()
                .position(|c| c.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {:?}", self.calls))
        }
    }

    impl Kernel for Fake {
        fn kill_all(&mut self, sig: Signal) {
            self.calls.push(format!("kill {sig}"));
            if sig == Signal::SIGKILL {
                for c in &mut self.children {
                    c.1 = Some(Duration::ZERO);
                }
            }
        }
        fn wait_child(&mut self) -> Wait {
            if self.children.is_empty() {
                return Wait::NoChildren;
            }
            let now = self.elapsed;
            match self
                .children
                .iter()
                .position(|(_, end)| end.is_some_and(|e| e <= now))
            {
                Some(i) => {
                    self.children.remove(i);
                    Wait::Reaped
                }
                None => Wait::Running,
            }
        }
        fn reap_all(&mut self) {
            self.calls.push("reap".into());
            self.children.clear();
        }
        fn children(&mut self) -> Vec<String> {
            self.children.iter().map(|(n, _)| n.to_string()).collect()
        }
        fn sleep(&mut self, d: Duration) {
            self.elapsed += d;
        }
        fn now(&self) -> Instant {
            self.base + self.elapsed
        }
        fn sync(&mut self) {
            self.calls.push("sync".into());
        }
        fn mounts(&mut self) -> String {
            self.mounts.into()
        }
        fn unmount(&mut self, target: &str, flags: MntFlags) {
            let lazy = if flags.contains(MntFlags::MNT_DETACH) {
                " lazy"
            } else {
                ""
            };
            self.calls.push(format!("umount {target}{lazy}"));
        }
        fn reboot(&mut self, mode: RebootMode) {
            self.calls.push(format!("reboot {mode:?}"));
        }
        fn log(&mut self, msg: &str) {
            self.calls.push(format!("log {msg}"));
        }
    }

    #[test]
    fn signals_map_to_actions() {
        assert_eq!(Action::for_signal(Signal::SIGCHLD), None);
        assert_eq!(Action::for_signal(Signal::SIGTERM), Some(Action::Reboot));
        assert_eq!(Action::for_signal(Signal::SIGINT), Some(Action::Reboot));
        for s in [Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGPWR] {
            assert_eq!(Action::for_signal(s), Some(Action::PowerOff), "{s}");
        }
    }

    #[test]
    fn processes_that_end_are_not_waited_for() {
        let mut k = Fake::new(vec![("a", Some(Duration::from_millis(100)))]);
        k.mounts = "/dev/vda1 /var/lib ext4 rw 0 0\n";
        finish(&mut k, Action::PowerOff);
        assert!(k.elapsed < GRACE, "{:?}", k.elapsed);
        assert!(!k.calls.iter().any(|c| c.contains("held")), "{:?}", k.calls);
        assert_eq!(
            k.calls,
            [
                "kill SIGTERM",
                "kill SIGKILL",
                "reap",
                "sync",
                "umount /var/lib",
                "sync",
                "reboot RB_POWER_OFF"
            ]
        );
    }

    #[test]
    fn a_process_ignoring_sigterm_gets_the_grace_then_is_named_and_killed() {
        let mut k = Fake::new(vec![
            ("pid 7 (quick)", Some(Duration::from_millis(40))),
            ("pid 9 (httpd)", None),
        ]);
        finish(&mut k, Action::Reboot);
        assert!(k.elapsed >= GRACE, "the grace is kept: {:?}", k.elapsed);
        let held = k.first("log ");
        assert_eq!(
            k.calls[held],
            "log pid 9 (httpd) held the shutdown: still running 5.0 s after SIGTERM; killed"
        );
        assert!(held < k.first("kill SIGKILL"));
        assert_eq!(
            k.calls.last().map(String::as_str),
            Some("reboot RB_AUTOBOOT")
        );
    }

    #[test]
    fn disks_are_unmounted_last_first_and_network_filesystems_lazily() {
        let mounts = "proc /proc proc rw 0 0\n\
                      /dev/vda1 /var/lib/docker ext4 rw 0 0\n\
                      tmpfs /run tmpfs rw 0 0\n\
                      overlay /containers/services/x/rootfs overlay rw 0 0\n\
                      srv:/x /mnt/nfs nfs4 rw 0 0\n\
                      broken\n";
        let plan: Vec<String> = unmount_plan(mounts)
            .into_iter()
            .map(|(t, f)| format!("{t}{}", if f.is_empty() { "" } else { " lazy" }))
            .collect();
        assert_eq!(
            plan,
            [
                "/mnt/nfs lazy",
                "/containers/services/x/rootfs",
                "/var/lib/docker"
            ]
        );
    }
}
