//! The supervisor's state machine driven through a fake [`Host`]: onboot
//! order and failures, services, exits and restarts, the shutdown sequence
//! with its grace time, and `service list`.

use super::host::{Exit, Host, Launched, StartFailure};
use super::*;
use crate::container::Started;
use std::io::Read;
use std::os::unix::net::UnixStream;

/// A system that records what the supervisor asks of it.
struct Fake {
    bundles: Vec<Bundle>,
    /// Containers whose start fails, with the runtime's stderr.
    refuse: Vec<(String, String)>,
    next_pid: i32,
    /// `(pid, name)` of every container started, in order.
    started: Vec<(i32, String)>,
    /// `(name, signal)` in order.
    signals: Vec<(String, Signal)>,
    cleaned: Vec<String>,
    exits: Vec<(i32, Exit)>,
    console: Vec<String>,
    base: Instant,
    elapsed: Duration,
}

impl Fake {
    fn new(onboot: &[&str], services: &[&str], onshutdown: &[&str]) -> Fake {
        let mut bundles = Vec::new();
        for (phase, names) in [
            (Phase::Onboot, onboot),
            (Phase::Service, services),
            (Phase::Shutdown, onshutdown),
        ] {
            for n in names {
                bundles.push(Bundle {
                    name: n.to_string(),
                    dir: PathBuf::from(phase.dir()).join(n),
                    phase,
                });
            }
        }
        Fake {
            bundles,
            refuse: Vec::new(),
            next_pid: 100,
            started: Vec::new(),
            signals: Vec::new(),
            cleaned: Vec::new(),
            exits: Vec::new(),
            console: Vec::new(),
            base: Instant::now(),
            elapsed: Duration::ZERO,
        }
    }

    fn name_of(&self, pid: i32) -> String {
        self.started
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    fn pid_of(&self, name: &str) -> i32 {
        self.started
            .iter()
            .rev()
            .find(|(_, n)| n == name)
            .map(|(p, _)| *p)
            .unwrap_or_else(|| panic!("{name} was never started: {:?}", self.started))
    }

    fn names_started(&self) -> Vec<&str> {
        self.started.iter().map(|(_, n)| n.as_str()).collect()
    }

    fn said(&self, part: &str) -> bool {
        self.console.iter().any(|l| l.contains(part))
    }
}

impl Host for Fake {
    fn bundles(&mut self, phase: Phase) -> Vec<Bundle> {
        self.bundles
            .iter()
            .filter(|b| b.phase == phase)
            .cloned()
            .collect()
    }

    fn start(&mut self, b: &Bundle) -> Result<Launched, StartFailure> {
        if let Some((_, err)) = self.refuse.iter().find(|(n, _)| *n == b.name) {
            return Err(StartFailure {
                reason: "create: no such file".into(),
                stdout: Vec::new(),
                stderr: err.clone().into_bytes(),
            });
        }
        self.next_pid += 1;
        let pid = self.next_pid;
        self.started.push((pid, b.name.clone()));
        let (stdout, _) = nix::unistd::pipe().unwrap();
        let (stderr, _) = nix::unistd::pipe().unwrap();
        Ok(Launched {
            started: Started {
                pid,
                mounts: vec![b.dir.join("rootfs")],
                cgroup: format!("/{}", b.name),
            },
            stdout,
            stderr,
        })
    }

    fn signal(&mut self, pid: i32, cgroup: &str, sig: Signal) {
        let name = self.name_of(pid);
        assert_eq!(cgroup, format!("/{name}"), "signal to the right cgroup");
        self.signals.push((name, sig));
    }

    fn cleanup(&mut self, name: &str, mounts: &[PathBuf]) {
        assert_eq!(mounts.len(), 1, "the mounts of {name} are undone");
        self.cleaned.push(name.to_string());
    }

    fn reap(&mut self) -> Option<(i32, Exit)> {
        if self.exits.is_empty() {
            None
        } else {
            Some(self.exits.remove(0))
        }
    }

    fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    fn uptime_ms(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1000.0
    }

    fn console(&mut self, line: &str) {
        self.console.push(line.to_string());
    }
}

fn sup(f: Fake) -> Sup<Fake> {
    let opts = Options {
        init_start_ms: 0.0,
        echo_services: false,
        log_files: false,
    };
    let mut s = Sup::new(f, opts, Ring::default());
    s.advance();
    s
}

/// One turn of the main loop after the host's state changed.
fn turn(s: &mut Sup<Fake>) {
    s.reap();
    s.enforce_deadlines();
    s.advance();
}

/// The container `name` ends with `exit`.
fn ends(s: &mut Sup<Fake>, name: &str, exit: Exit) {
    let pid = s.host.pid_of(name);
    s.host.exits.push((pid, exit));
    turn(s);
}

fn later(s: &mut Sup<Fake>, d: Duration) {
    s.host.elapsed += d;
    turn(s);
}

/// Send a control request; returns the reply lines.
fn request(s: &mut Sup<Fake>, words: &[&str]) -> UnixStream {
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    ours.write_all(proto::request(words).as_bytes()).unwrap();
    s.client(theirs);
    ours
}

fn reply(mut c: UnixStream) -> String {
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    text
}

fn state(s: &Sup<Fake>, name: &str) -> State {
    s.ctrs
        .iter()
        .find(|c| c.bundle.name == name)
        .map(|c| c.state.clone())
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn onboot_containers_run_one_at_a_time_in_order_then_services_together() {
    let mut s = sup(Fake::new(&["000-a", "001-b"], &["getty", "sshd"], &[]));
    assert_eq!(
        s.host.names_started(),
        ["000-a"],
        "only the first onboot runs"
    );
    assert_eq!(s.stage, Stage::Onboot);
    turn(&mut s);
    assert_eq!(s.host.names_started(), ["000-a"], "it runs until it ends");
    ends(&mut s, "000-a", Exit::Status(0));
    assert_eq!(s.host.names_started(), ["000-a", "001-b"]);
    assert_eq!(s.host.cleaned, ["000-a"]);
    ends(&mut s, "001-b", Exit::Status(0));
    assert_eq!(
        s.host.names_started(),
        ["000-a", "001-b", "getty", "sshd"],
        "all services start after the last onboot container"
    );
    assert_eq!(s.stage, Stage::Running);
    assert!(s.host.said("onboot containers done"));
    assert!(s.host.said("all services started (2)"));
    // A clean onboot exit is not worth a line; a service's is.
    assert!(!s.host.said("onboot 000-a"));
}

#[test]
fn a_failing_onboot_container_is_logged_and_the_next_one_runs() {
    let mut f = Fake::new(&["000-bad", "001-fails", "002-ok"], &["svc"], &[]);
    f.refuse
        .push(("000-bad".into(), "runtime: cannot mount\n".into()));
    let mut s = sup(f);
    assert!(
        s.host
            .said("onboot 000-bad failed to start: create: no such file")
    );
    assert!(
        s.host.said("000-bad: runtime: cannot mount"),
        "the runtime's own words are logged: {:?}",
        s.host.console
    );
    assert_eq!(s.host.names_started(), ["001-fails"]);
    ends(&mut s, "001-fails", Exit::Status(3));
    assert!(s.host.said("onboot 001-fails failed: exited (status 3)"));
    assert_eq!(s.host.names_started(), ["001-fails", "002-ok"]);
    ends(&mut s, "002-ok", Exit::Status(0));
    assert_eq!(s.stage, Stage::Running);
    assert_eq!(
        state(&s, "000-bad"),
        State::Failed("create: no such file".into())
    );
    assert_eq!(state(&s, "001-fails"), State::Exited(3));
    assert_eq!(state(&s, "svc"), State::Running);
}

#[test]
fn service_exits_are_reported_and_not_restarted() {
    let mut s = sup(Fake::new(&[], &["a", "b"], &[]));
    ends(&mut s, "a", Exit::Status(0));
    ends(&mut s, "b", Exit::Signal("SIGSEGV".into()));
    assert!(s.host.said("service a exited (status 0)"));
    assert!(s.host.said("service b failed: killed (SIGSEGV)"));
    assert_eq!(s.host.names_started(), ["a", "b"], "no automatic restart");
    assert_eq!(s.stage, Stage::Running);
    // An unknown pid (an orphan reaped as subreaper) changes nothing.
    s.host.exits.push((9999, Exit::Status(1)));
    turn(&mut s);
    assert_eq!(state(&s, "a"), State::Exited(0));
}

#[test]
fn service_list_shows_every_state() {
    let mut f = Fake::new(&["000-init"], &["broken", "done", "up"], &[]);
    f.refuse.push(("broken".into(), String::new()));
    let mut s = sup(f);
    ends(&mut s, "000-init", Exit::Status(0));
    ends(&mut s, "done", Exit::Status(2));
    // A service added to the disk is listed but not started.
    s.host.bundles.push(Bundle {
        name: "zlate".into(),
        dir: PathBuf::from("/containers/services/zlate"),
        phase: Phase::Service,
    });
    let text = reply(request(&mut s, &["list"]));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.get(1) == Some(&name))
            .unwrap_or_else(|| panic!("{name} not listed: {text}"))
            .clone()
    };
    assert_eq!(rows[0], ["o", "NAME", "PHASE", "PID", "STATE"]);
    let up = s.host.pid_of("up").to_string();
    assert_eq!(row("up"), ["o", "up", "service", up.as_str(), "running"]);
    assert_eq!(
        row("000-init")[2..],
        ["onboot", "-", "exited", "(status", "0)"]
    );
    assert_eq!(
        row("done")[2..],
        ["service", "-", "exited", "(status", "2)"]
    );
    assert_eq!(
        row("broken")[2..],
        ["service", "-", "failed:", "create:", "no", "such", "file"]
    );
    assert_eq!(row("zlate")[2..], ["service", "-", "not", "started"]);
    assert_eq!(text.lines().last(), Some("x 0"));
}

#[test]
fn stop_waits_for_the_exit_then_answers() {
    let mut s = sup(Fake::new(&[], &["web"], &[]));
    let client = request(&mut s, &["stop", "web"]);
    assert_eq!(s.host.signals, [("web".to_string(), Signal::SIGTERM)]);
    ends(&mut s, "web", Exit::Signal("SIGTERM".into()));
    assert_eq!(reply(client), "o stopped web\nx 0\n");
    assert!(s.host.said("service web stopped (killed (SIGTERM))"));
    let again = reply(request(&mut s, &["stop", "web"]));
    assert_eq!(again, "e web is not running\nx 1\n");
}

#[test]
fn restart_starts_the_service_again_after_it_ended() {
    let mut s = sup(Fake::new(&[], &["web"], &[]));
    let first = s.host.pid_of("web");
    let client = request(&mut s, &["restart", "web"]);
    ends(&mut s, "web", Exit::Status(0));
    let second = s.host.pid_of("web");
    assert_ne!(first, second);
    assert_eq!(
        reply(client),
        format!("o restarted web (pid {second})\nx 0\n")
    );
    assert_eq!(state(&s, "web"), State::Running);
}

#[test]
fn a_stopped_service_that_ignores_sigterm_is_killed_after_its_grace() {
    let mut s = sup(Fake::new(&[], &["stubborn"], &[]));
    let client = request(&mut s, &["stop", "stubborn"]);
    later(&mut s, STOP_GRACE - Duration::from_millis(1));
    assert_eq!(s.host.signals.len(), 1, "only SIGTERM within the grace");
    later(&mut s, Duration::from_millis(1));
    assert_eq!(s.host.signals[1], ("stubborn".to_string(), Signal::SIGKILL));
    assert!(
        s.host
            .said("service stubborn did not stop 10.0 s after SIGTERM: killed"),
        "{:?}",
        s.host.console
    );
    ends(&mut s, "stubborn", Exit::Signal("SIGKILL".into()));
    assert_eq!(reply(client), "o stopped stubborn\nx 0\n");
}

#[test]
fn shutdown_stops_services_then_runs_onshutdown_in_order() {
    let mut s = sup(Fake::new(&[], &["a", "b"], &["000-x", "001-y"]));
    ends(&mut s, "b", Exit::Status(0));
    s.request_shutdown();
    assert_eq!(s.stage, Stage::Stopping);
    assert_eq!(
        s.host.signals,
        [("a".to_string(), Signal::SIGTERM)],
        "only running services get SIGTERM"
    );
    turn(&mut s);
    assert_eq!(s.host.names_started(), ["a", "b"], "onshutdown waits for a");
    ends(&mut s, "a", Exit::Status(0));
    assert!(s.host.said("service a stopped (exited (status 0))"));
    assert_eq!(s.host.names_started(), ["a", "b", "000-x"]);
    ends(&mut s, "000-x", Exit::Status(1));
    assert_eq!(s.host.names_started(), ["a", "b", "000-x", "001-y"]);
    assert!(s.host.said("onshutdown 000-x failed: exited (status 1)"));
    ends(&mut s, "001-y", Exit::Status(0));
    assert_eq!(s.stage, Stage::Done);
    assert!(!s.host.said("held the shutdown"));
}

#[test]
fn a_service_ignoring_sigterm_holds_the_shutdown_for_its_grace_and_is_named() {
    let mut s = sup(Fake::new(&[], &["getty", "http"], &["000-last"]));
    s.request_shutdown();
    ends(&mut s, "getty", Exit::Signal("SIGTERM".into()));
    later(&mut s, SHUTDOWN_GRACE - Duration::from_millis(1));
    assert_eq!(s.stage, Stage::Stopping, "the grace is kept");
    assert!(
        !s.host
            .signals
            .iter()
            .any(|(_, sig)| *sig == Signal::SIGKILL)
    );
    later(&mut s, Duration::from_millis(1));
    assert_eq!(
        s.host.signals.last(),
        Some(&("http".to_string(), Signal::SIGKILL))
    );
    let held: Vec<&String> = s
        .host
        .console
        .iter()
        .filter(|l| l.contains("held the shutdown"))
        .collect();
    assert_eq!(
        held,
        [
            "linuxkit-init: service http held the shutdown: still running 5.0 s after SIGTERM; killed"
        ],
        "exactly the service that held it is named"
    );
    assert!(
        s.ring
            .lines(&|src: &str| src == "init")
            .any(|l| l.msg.contains("service http held the shutdown")),
        "the line is in the log too"
    );
    ends(&mut s, "http", Exit::Signal("SIGKILL".into()));
    assert_eq!(s.host.names_started().last(), Some(&"000-last"));
}

#[test]
fn shutdown_goes_on_when_a_killed_service_never_ends() {
    let mut s = sup(Fake::new(&[], &["stuck"], &["000-last"]));
    s.request_shutdown();
    later(&mut s, SHUTDOWN_GRACE);
    assert!(s.host.said("service stuck held the shutdown"));
    later(&mut s, Duration::from_millis(1999));
    assert_eq!(s.stage, Stage::Stopping);
    later(&mut s, Duration::from_millis(1));
    assert_eq!(s.host.names_started().last(), Some(&"000-last"));
}

#[test]
fn shutdown_during_onboot_skips_the_rest_and_the_services() {
    let mut s = sup(Fake::new(&["000-a", "001-b"], &["svc"], &["000-z"]));
    s.request_shutdown();
    assert_eq!(
        s.stage,
        Stage::Onboot,
        "the running onboot container finishes"
    );
    ends(&mut s, "000-a", Exit::Status(0));
    assert_eq!(s.host.names_started(), ["000-a", "000-z"]);
    ends(&mut s, "000-z", Exit::Status(0));
    assert_eq!(s.stage, Stage::Done);
}

#[test]
fn a_second_shutdown_request_changes_nothing() {
    let mut s = sup(Fake::new(&[], &["a"], &[]));
    s.request_shutdown();
    s.host.elapsed += Duration::from_secs(3);
    s.request_shutdown();
    later(&mut s, Duration::from_secs(2));
    assert_eq!(
        s.host.signals,
        [
            ("a".to_string(), Signal::SIGTERM),
            ("a".to_string(), Signal::SIGKILL)
        ],
        "the grace started at the first request"
    );
}
