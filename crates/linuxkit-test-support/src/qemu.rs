//! Bounded boots with `linuxkit run qemu` and a reader of the serial console.
//!
//! Every run is bounded: [`Boot::run`] waits until a marker appears on the
//! console, the process exits, or the limit passes; [`Boot::background`]
//! returns a [`Background`] whose drop stops the run. Stopping kills the
//! QEMU that `run qemu` started (found by the `qemu.pid` it writes into its
//! state directory) and then `linuxkit`, so no VM outlives its test.

use crate::tools::Run;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A `linuxkit run qemu [FLAGS] TARGET` to start in a directory.
#[derive(Debug, Clone)]
pub struct Boot {
    exe: PathBuf,
    dir: PathBuf,
    target: OsString,
    flags: Vec<OsString>,
    state: Option<PathBuf>,
    /// Environment changes after `HOME=dir` (`None`: remove).
    env: Vec<(OsString, Option<OsString>)>,
}

/// How a bounded run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code, if the process ended by itself.
    pub code: Option<i32>,
    /// Whether the marker appeared on the console (then the run was stopped).
    pub found: bool,
    /// The console (stdout of `run qemu`).
    pub stdout: String,
    pub stderr: String,
    /// From the start to the marker, the exit or the limit.
    pub took: Duration,
}

impl Boot {
    /// Boot `target` (an image name prefix such as `minimal`, or a file) with
    /// the `linuxkit` binary `exe`, in `dir`, which is also `$HOME`.
    pub fn new(exe: impl AsRef<Path>, dir: impl AsRef<Path>, target: impl AsRef<OsStr>) -> Boot {
        Boot {
            exe: exe.as_ref().to_path_buf(),
            dir: dir.as_ref().to_path_buf(),
            target: target.as_ref().to_os_string(),
            flags: Vec::new(),
            state: None,
            env: Vec::new(),
        }
    }

    /// Extra `run qemu` flags (before the target).
    pub fn flags<S: AsRef<OsStr>>(mut self, flags: &[S]) -> Boot {
        self.flags
            .extend(flags.iter().map(|f| f.as_ref().to_os_string()));
        self
    }

    /// `--state DIR` (default: `run qemu`'s `TARGET-state` in the directory).
    pub fn state(mut self, dir: impl AsRef<Path>) -> Boot {
        self.state = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Set an environment variable (`HOME` too: it defaults to the directory).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Boot {
        self.env.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    /// Remove an environment variable.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Boot {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// The pidfile `run qemu` writes QEMU's pid into.
    pub fn pidfile(&self) -> PathBuf {
        match &self.state {
            Some(s) => s.join("qemu.pid"),
            None => {
                let mut name = Path::new(&self.target)
                    .file_name()
                    .unwrap_or(&self.target)
                    .to_os_string();
                name.push("-state");
                self.dir.join(name).join("qemu.pid")
            }
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.current_dir(&self.dir)
            .args(["run", "qemu"])
            .env("HOME", &self.dir);
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(s) = &self.state {
            cmd.arg("--state").arg(s);
        }
        cmd.args(&self.flags).arg(&self.target);
        cmd
    }

    /// Run with stdin closed until `marker` appears on the console (`None`:
    /// only until it exits) or `limit` passes, then stop it.
    pub fn run(&self, marker: Option<&str>, limit: Duration) -> Outcome {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let (out, err) = (tmp.path().join("out"), tmp.path().join("err"));
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("console file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .run_spawn();
        let start = Instant::now();
        let (code, found) = loop {
            if let Some(m) = marker
                && read_lossy(&out).contains(m)
            {
                break (None, true);
            }
            if let Some(s) = child.try_wait().expect("wait for linuxkit") {
                break (s.code(), false);
            }
            if start.elapsed() > limit {
                break (None, false);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let took = start.elapsed();
        if code.is_none() {
            stop(&mut child, &self.pidfile());
        }
        Outcome {
            code,
            found,
            stdout: read_lossy(&out),
            stderr: read_lossy(&err),
            took,
        }
    }

    /// Start in the background with stdin piped; the console goes to
    /// `DIR/NAME.console` and stderr to `DIR/NAME.stderr` (NAME: the target's
    /// file name).
    pub fn background(&self) -> Background {
        let name = Path::new(&self.target)
            .file_name()
            .unwrap_or(&self.target)
            .to_string_lossy()
            .into_owned();
        let console = self.dir.join(format!("{name}.console"));
        let stderr = self.dir.join(format!("{name}.stderr"));
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&console).expect("console file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .run_spawn();
        let stdin = child.stdin.take();
        Background {
            child: Some(child),
            console,
            stderr,
            stdin,
            pidfile: self.pidfile(),
        }
    }
}

/// A boot running in the background; dropping it stops it.
#[derive(Debug)]
pub struct Background {
    child: Option<Child>,
    /// The console file.
    pub console: PathBuf,
    /// The stderr file.
    pub stderr: PathBuf,
    /// The console's input (the guest's serial line).
    pub stdin: Option<ChildStdin>,
    pidfile: PathBuf,
}

impl Background {
    /// Wait until the console contains `marker` (false after `limit`).
    pub fn wait_console(&self, marker: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.console().contains(marker) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// The console so far.
    pub fn console(&self) -> String {
        read_lossy(&self.console)
    }

    /// Type `text` on the console (ignoring a guest that is gone).
    pub fn type_text(&mut self, text: &[u8]) {
        use std::io::Write;
        if let Some(s) = self.stdin.as_mut() {
            let _ = s.write_all(text);
            let _ = s.flush();
        }
    }

    /// Stop QEMU and `linuxkit` (also done on drop).
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c, &self.pidfile);
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Kill the QEMU of `pidfile`, then `child` (QEMU runs as a child of
/// `linuxkit`: it must not outlive the test).
fn stop(child: &mut Child, pidfile: &Path) {
    if let Ok(pid) = std::fs::read_to_string(pidfile)
        && let Ok(pid) = pid.trim().parse::<u32>()
    {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn read_lossy(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// The last 3000 bytes of `s` (at a character boundary), for messages.
pub fn tail(s: &str) -> &str {
    let mut i = s.len().saturating_sub(3000);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `linuxkit`: a shell script that writes its own
    /// "qemu.pid" (a sleeping child) and prints a console line.
    fn fake(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("fake-linuxkit");
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    }

    #[test]
    fn a_run_stops_at_the_marker_and_kills_the_vm_of_the_pidfile() {
        let t = tempfile::tempdir().unwrap();
        let exe = fake(
            t.path(),
            "mkdir -p \"$5-state\"; sleep 600 & echo $! > \"$5-state/qemu.pid\"; echo \"args: $*\"; echo READY; exec sleep 600",
        );
        let o = Boot::new(&exe, t.path(), "sys")
            .flags(&["-mem", "64"])
            .run(Some("READY"), Duration::from_secs(60));
        assert!(o.found, "{o:?}");
        assert_eq!(o.code, None);
        assert!(o.stdout.contains("args: run qemu -mem 64 sys"), "{o:?}");
        let pid = std::fs::read_to_string(t.path().join("sys-state/qemu.pid")).unwrap();
        // the "VM" is gone (killed; reaped by init or a zombie at most)
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        assert!(
            stat.is_err() || stat.unwrap().split_whitespace().nth(2) == Some("Z"),
            "the process of the pidfile still runs"
        );
    }

    #[test]
    fn a_run_reports_the_exit_code_and_the_limit() {
        let t = tempfile::tempdir().unwrap();
        let exe = fake(t.path(), "echo out; echo err >&2; exit 3");
        let o = Boot::new(&exe, t.path(), "x").run(None, Duration::from_secs(60));
        assert_eq!((o.code, o.found), (Some(3), false));
        assert_eq!((o.stdout.as_str(), o.stderr.as_str()), ("out\n", "err\n"));
        let exe = fake(t.path(), "exec sleep 600");
        let o = Boot::new(&exe, t.path(), "x").run(Some("never"), Duration::from_millis(300));
        assert_eq!((o.code, o.found), (None, false));
    }

    #[test]
    fn a_background_boot_reads_its_input_and_console() {
        let t = tempfile::tempdir().unwrap();
        let exe = fake(t.path(), "while read l; do echo \"got $l\"; done");
        let mut b = Boot::new(&exe, t.path(), "bg")
            .state(t.path().join("st"))
            .background();
        b.type_text(b"hello\n");
        assert!(
            b.wait_console("got hello", Duration::from_secs(60)),
            "{}",
            b.console()
        );
        b.stop();
    }

    #[test]
    fn tail_keeps_the_end_at_a_char_boundary() {
        let s = format!("é{}", "x".repeat(2999));
        assert_eq!(tail(&s), "x".repeat(2999));
        assert_eq!(tail("short"), "short");
    }
}
