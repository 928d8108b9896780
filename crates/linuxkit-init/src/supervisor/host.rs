//! What the supervisor asks of the system, behind one trait: listing the
//! bundles, starting a container with its output on pipes, signalling and
//! cleaning up after it, reaping, the clocks and the console. [`System`] is
//! the real implementation (the kernel, libcontainer); the supervisor's
//! tests drive the state machine with a fake one.

use crate::container::{self, Bundle, Phase, Started};
use crate::sys;
use nix::libc;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

/// How a container's init process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Exit {
    /// It exited with this status.
    Status(i32),
    /// A signal (named as `SIGKILL`) ended it.
    Signal(String),
}

/// A container that runs, with the read ends of its output pipes
/// (non-blocking).
#[derive(Debug)]
pub struct Launched {
    /// What the runtime did for it.
    pub started: Started,
    /// Its standard output.
    pub stdout: OwnedFd,
    /// Its standard error.
    pub stderr: OwnedFd,
}

/// A container that could not be started.
#[derive(Debug, Default)]
pub struct StartFailure {
    /// Why, in words.
    pub reason: String,
    /// What the runtime's processes wrote on standard output before failing.
    pub stdout: Vec<u8>,
    /// The same for standard error.
    pub stderr: Vec<u8>,
}

/// The system calls of the supervisor.
pub trait Host {
    /// The bundles of a phase, in name order.
    fn bundles(&mut self, phase: Phase) -> Vec<Bundle>;
    /// Prepare, create and start a bundle (stdin /dev/null, output on pipes).
    fn start(&mut self, bundle: &Bundle) -> Result<Launched, StartFailure>;
    /// Send `sig` to a container: its init `pid` and every process of `cgroup`.
    fn signal(&mut self, pid: i32, cgroup: &str, sig: Signal);
    /// Undo what `start` did, once the container's init has exited.
    fn cleanup(&mut self, name: &str, mounts: &[PathBuf]);
    /// One child that has ended, without waiting (`None`: none has).
    fn reap(&mut self) -> Option<(i32, Exit)>;
    /// The monotonic clock, for grace times.
    fn now(&self) -> Instant;
    /// Guest uptime in milliseconds, for the boot time lines.
    fn uptime_ms(&self) -> f64;
    /// Write one line to the console.
    fn console(&mut self, line: &str);
}

/// The real system.
pub struct System;

impl Host for System {
    fn bundles(&mut self, phase: Phase) -> Vec<Bundle> {
        Bundle::list(phase)
    }

    fn start(&mut self, bundle: &Bundle) -> Result<Launched, StartFailure> {
        let pipes = (|| -> std::io::Result<(OwnedFd, OwnedFd, OwnedFd, OwnedFd)> {
            let (or, ow) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let (er, ew) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            Ok((or, ow, er, ew))
        })();
        let (or, ow, er, ew) = pipes.map_err(|e| StartFailure {
            reason: format!("pipes: {e}"),
            ..Default::default()
        })?;
        match container::start(bundle, ow, ew) {
            Ok(started) => {
                for fd in [&or, &er] {
                    // SAFETY: fcntl on a descriptor we own.
                    unsafe {
                        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
                    }
                }
                Ok(Launched {
                    started,
                    stdout: or,
                    stderr: er,
                })
            }
            Err(e) => {
                // The write ends are closed now: read what was said.
                let mut f = StartFailure {
                    reason: e.to_string(),
                    ..Default::default()
                };
                let _ = std::fs::File::from(or).read_to_end(&mut f.stdout);
                let _ = std::fs::File::from(er).read_to_end(&mut f.stderr);
                Err(f)
            }
        }
    }

    fn signal(&mut self, pid: i32, cgroup: &str, sig: Signal) {
        container::signal_all(pid, cgroup, sig)
    }

    fn cleanup(&mut self, name: &str, mounts: &[PathBuf]) {
        container::cleanup(name, mounts)
    }

    fn reap(&mut self) -> Option<(i32, Exit)> {
        loop {
            match waitpid(
                Pid::from_raw(-1),
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            ) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    return Some((pid.as_raw(), Exit::Status(code)));
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    return Some((pid.as_raw(), Exit::Signal(sig.as_str().to_string())));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn uptime_ms(&self) -> f64 {
        sys::uptime_ms()
    }

    fn console(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
