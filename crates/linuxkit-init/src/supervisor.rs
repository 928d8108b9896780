//! The supervisor: a single-threaded process forked by PID 1 after the
//! system is set up. It runs the onboot containers in order (each to its
//! end), starts every service, then serves the control socket (`service`,
//! `logread`), collects every container's output and the kernel log into the
//! ring, reaps (as a child subreaper) and reports exits. On SIGTERM from
//! PID 1 it stops the services, runs the onshutdown containers and exits.

use crate::container::{self, Bundle, Phase, PhaseNames};
use crate::proto;
use crate::ring::{self, Ring};
use crate::sys;
use nix::libc;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a stopped service has between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The same at shutdown (upstream's rc.shutdown waits 5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings from PID 1.
#[derive(Debug, Clone)]
pub struct Options {
    /// Guest uptime (ms) when /init started.
    pub init_start_ms: f64,
    /// Copy services' output to the console (`linuxkit.runc_console=1`).
    pub echo_services: bool,
    /// Write each log source to /var/log/<source>.log, rotated.
    pub log_files: bool,
}

/// A container's state, as `service list` shows it.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Running,
    Exited(i32),
    Killed(String),
    Failed(String),
}

impl State {
    fn word(&self) -> String {
        match self {
            State::Running => "running".into(),
            State::Exited(0) => "exited (status 0)".into(),
            State::Exited(c) => format!("exited (status {c})"),
            State::Killed(s) => format!("killed ({s})"),
            State::Failed(r) => format!("failed: {r}"),
        }
    }
}

#[derive(Debug)]
struct Ctr {
    bundle: Bundle,
    state: State,
    pid: Option<i32>,
    mounts: Vec<PathBuf>,
    cgroup: String,
    kill_at: Option<Instant>,
    restart: bool,
    stopping: bool,
    waiters: Vec<UnixStream>,
}

struct Stream {
    file: std::fs::File,
    source: String,
    echo: bool,
}

struct Follower {
    stream: UnixStream,
    name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Onboot,
    Services,
    Running,
    Stopping,
    Shutdown,
    Done,
}

struct Sup {
    opts: Options,
    ring: Ring,
    ctrs: Vec<Ctr>,
    streams: HashMap<RawFd, Stream>,
    followers: Vec<Follower>,
    stage: Stage,
    queue: Vec<Bundle>,
    current: Option<usize>,
    shutdown_requested: bool,
    stop_deadline: Option<Instant>,
}

/// Run the supervisor; never returns.
pub fn run(opts: Options) -> ! {
    let code = match main_loop(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("linuxkit-init: supervisor: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn main_loop(opts: Options) -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        mask.add(s);
    }
    mask.thread_block().map_err(std::io::Error::from)?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(std::io::Error::from)?;

    sys::mkdir_p(std::path::Path::new("/run/linuxkit"), 0o755)?;
    let _ = std::fs::remove_file(proto::SOCKET);
    let listener = UnixListener::bind(proto::SOCKET)?;
    listener.set_nonblocking(true)?;
    let kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .ok();

    let mut ring = Ring::default();
    if opts.log_files {
        ring.files = Some(ring::Files::new(PathBuf::from("/var/log"), 1 << 20, 2));
    }
    let mut s = Sup {
        opts,
        ring,
        ctrs: Vec::new(),
        streams: HashMap::new(),
        followers: Vec::new(),
        stage: Stage::Onboot,
        queue: Bundle::list(Phase::Onboot),
        current: None,
        shutdown_requested: false,
        stop_deadline: None,
    };
    s.queue.reverse();

    let mut buf = vec![0u8; 65536];
    loop {
        s.advance();
        if s.stage == Stage::Done {
            return Ok(());
        }
        let mut fds: Vec<libc::pollfd> = vec![
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Some(k) = &kmsg {
            fds.push(libc::pollfd {
                fd: k.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for fd in s.streams.keys() {
            fds.push(libc::pollfd {
                fd: *fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let timeout = s
            .next_deadline()
            .map(|d| {
                d.saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32
                    + 1
            })
            .unwrap_or(-1);
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if p.fd == sfd.as_raw_fd() {
                while let Ok(Some(info)) = sfd.read_signal() {
                    match Signal::try_from(info.ssi_signo as i32) {
                        Ok(Signal::SIGCHLD) => s.reap(),
                        Ok(_) => s.request_shutdown(),
                        Err(_) => {}
                    }
                }
            } else if p.fd == listener.as_raw_fd() {
                while let Ok((client, _)) = listener.accept() {
                    s.client(client);
                }
            } else if kmsg.as_ref().map(|k| k.as_raw_fd()) == Some(p.fd) {
                if let Some(k) = &kmsg {
                    s.read_kmsg(k, &mut buf);
                }
            } else {
                s.read_stream(p.fd, &mut buf);
            }
        }
        // A SIGCHLD may have been merged with others; reaping is cheap.
        s.reap();
        s.enforce_deadlines();
    }
}

fn console(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl Sup {
    /// Log a line of our own (console and ring).
    fn say(&mut self, msg: &str) {
        console(&format!("linuxkit-init: {msg}"));
        let l = self.ring.push("init", msg);
        self.deliver(&l);
    }

    fn deliver(&mut self, l: &ring::Line) {
        self.followers.retain_mut(|f| {
            let wanted = match &f.name {
                None => true,
                Some(n) => ring::source_of(&l.source, n),
            };
            if !wanted {
                return true;
            }
            let text = if f.name.is_some() {
                l.msg.clone()
            } else {
                l.render()
            };
            f.stream.write_all(proto::out(&text).as_bytes()).is_ok()
        });
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ctrs
            .iter()
            .filter_map(|c| c.kill_at)
            .chain(self.stop_deadline)
            .min()
    }

    fn enforce_deadlines(&mut self) {
        let now = Instant::now();
        let mut killed = Vec::new();
        for c in &mut self.ctrs {
            if let (Some(at), Some(pid)) = (c.kill_at, c.pid)
                && at <= now
            {
                container::signal_all(pid, &c.cgroup, Signal::SIGKILL);
                c.kill_at = None;
                killed.push(c.bundle.name.clone());
            }
        }
        for k in killed {
            self.say(&format!("{k} did not stop after SIGTERM: killed"));
        }
    }

    /// Move through the stages: onboot one by one, services, then wait.
    fn advance(&mut self) {
        loop {
            match self.stage {
                Stage::Onboot | Stage::Shutdown => {
                    if self.current.is_some() {
                        return;
                    }
                    if self.stage == Stage::Onboot && self.shutdown_requested {
                        self.queue.clear();
                    }
                    match self.queue.pop() {
                        Some(b) => {
                            if let Some(i) = self.launch(b) {
                                self.current = Some(i);
                            }
                        }
                        None => {
                            if self.stage == Stage::Onboot {
                                let ms = sys::uptime_ms() - self.opts.init_start_ms;
                                self.say(&format!("onboot containers done at {ms:.1} ms"));
                            }
                            self.stage = if self.stage == Stage::Onboot {
                                if self.shutdown_requested {
                                    self.begin_stopping();
                                    Stage::Stopping
                                } else {
                                    Stage::Services
                                }
                            } else {
                                Stage::Done
                            };
                        }
                    }
                }
                Stage::Services => {
                    let services = Bundle::list(Phase::Service);
                    let n = services.len();
                    for b in services {
                        self.launch(b);
                    }
                    let ms = sys::uptime_ms() - self.opts.init_start_ms;
                    self.say(&format!(
                        "all services started ({n}) in {ms:.1} ms since /init started"
                    ));
                    self.stage = if self.shutdown_requested {
                        self.begin_stopping();
                        Stage::Stopping
                    } else {
                        Stage::Running
                    };
                }
                Stage::Running => return,
                Stage::Stopping => {
                    let running = self
                        .ctrs
                        .iter()
                        .any(|c| c.bundle.phase == Phase::Service && c.state == State::Running);
                    let late = self.stop_deadline.is_some_and(|d| d <= Instant::now());
                    if running && !late {
                        return;
                    }
                    self.stop_deadline = None;
                    self.queue = Bundle::list(Phase::Shutdown);
                    self.queue.reverse();
                    self.stage = Stage::Shutdown;
                }
                Stage::Done => return,
            }
        }
    }

    fn request_shutdown(&mut self) {
        if self.shutdown_requested {
            return;
        }
        self.shutdown_requested = true;
        if self.stage == Stage::Running {
            self.begin_stopping();
            self.stage = Stage::Stopping;
        }
    }

    fn begin_stopping(&mut self) {
        self.say("stopping services");
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        for c in &mut self.ctrs {
            if c.bundle.phase == Phase::Service
                && c.state == State::Running
                && let Some(pid) = c.pid
            {
                c.stopping = true;
                c.kill_at = Some(deadline);
                container::signal_all(pid, &c.cgroup, Signal::SIGTERM);
            }
        }
        self.stop_deadline = Some(deadline + Duration::from_secs(2));
    }

    /// Create and start a bundle; returns its index in `ctrs` when it runs.
    fn launch(&mut self, b: Bundle) -> Option<usize> {
        let idx = match self
            .ctrs
            .iter()
            .position(|c| c.bundle.name == b.name && c.bundle.phase == b.phase)
        {
            Some(i) => i,
            None => {
                self.ctrs.push(Ctr {
                    bundle: b.clone(),
                    state: State::Failed("not started".into()),
                    pid: None,
                    mounts: Vec::new(),
                    cgroup: String::new(),
                    kill_at: None,
                    restart: false,
                    stopping: false,
                    waiters: Vec::new(),
                });
                self.ctrs.len() - 1
            }
        };
        let prefix = format!("{}{}", b.phase.log_prefix(), b.name);
        let echo = b.phase != Phase::Service || self.opts.echo_services;
        let pipes = (|| -> std::io::Result<(OwnedFd, OwnedFd, OwnedFd, OwnedFd)> {
            let (or, ow) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let (er, ew) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            Ok((or, ow, er, ew))
        })();
        let (or, ow, er, ew) = match pipes {
            Ok(p) => p,
            Err(e) => {
                self.fail(idx, format!("pipes: {e}"));
                return None;
            }
        };
        match container::start(&b, ow, ew) {
            Ok(st) => {
                for (fd, source) in [(or, format!("{prefix}.out")), (er, prefix.clone())] {
                    let file = std::fs::File::from(fd);
                    // SAFETY: fcntl on an fd we own.
                    unsafe {
                        let fl = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
                        libc::fcntl(file.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
                    }
                    self.streams
                        .insert(file.as_raw_fd(), Stream { file, source, echo });
                }
                let c = &mut self.ctrs[idx];
                c.state = State::Running;
                c.pid = Some(st.pid);
                c.mounts = st.mounts;
                c.cgroup = st.cgroup;
                c.stopping = false;
                c.kill_at = None;
                Some(idx)
            }
            Err(e) => {
                // What the runtime's processes said before failing is the
                // detail of the reason: log it (the write ends are closed now).
                for (fd, source) in [(or, format!("{prefix}.out")), (er, prefix.clone())] {
                    let mut text = Vec::new();
                    let _ = std::fs::File::from(fd).read_to_end(&mut text);
                    for l in self
                        .ring
                        .feed(&source, &text)
                        .into_iter()
                        .chain(self.ring.flush(&source))
                    {
                        console(&format!("{}: {}", b.name, l.msg));
                        self.deliver(&l);
                    }
                }
                self.fail(idx, e.to_string());
                None
            }
        }
    }

    fn fail(&mut self, idx: usize, reason: String) {
        let c = &mut self.ctrs[idx];
        c.state = State::Failed(reason.clone());
        c.pid = None;
        let what = format!("{} {}", c.bundle.phase.word(), c.bundle.name);
        self.say(&format!("{what} failed to start: {reason}"));
        self.answer_waiters(idx, &format!("{what} failed to start: {reason}"), 1);
    }

    fn answer_waiters(&mut self, idx: usize, msg: &str, code: i32) {
        for mut w in std::mem::take(&mut self.ctrs[idx].waiters) {
            let line = if code == 0 {
                proto::out(msg)
            } else {
                proto::err(msg)
            };
            let _ = w.write_all(format!("{line}{}", proto::exit(code)).as_bytes());
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(
                Pid::from_raw(-1),
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            ) {
                Ok(WaitStatus::Exited(pid, code)) => self.exited(pid.as_raw(), State::Exited(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exited(pid.as_raw(), State::Killed(sig.as_str().to_string()))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }

    fn exited(&mut self, pid: i32, state: State) {
        let Some(idx) = self.ctrs.iter().position(|c| c.pid == Some(pid)) else {
            return;
        };
        let (name, phase, stopping, restart) = {
            let c = &mut self.ctrs[idx];
            c.pid = None;
            c.kill_at = None;
            c.state = state.clone();
            container::cleanup(&c.bundle.name, &c.mounts);
            c.mounts.clear();
            let r = (c.bundle.name.clone(), c.bundle.phase, c.stopping, c.restart);
            c.stopping = false;
            c.restart = false;
            r
        };
        let what = format!("{} {name}", phase.word());
        match (&state, stopping) {
            (_, true) => self.say(&format!("{what} stopped ({})", state.word())),
            (State::Exited(0), false) if phase != Phase::Service => {}
            (State::Exited(0), false) => self.say(&format!("{what} exited (status 0)")),
            (_, false) => self.say(&format!("{what} failed: {}", state.word())),
        }
        if self.current == Some(idx) {
            self.current = None;
        }
        if restart && !self.shutdown_requested {
            let b = self.ctrs[idx].bundle.clone();
            if self.launch(b).is_some() {
                let pid = self.ctrs[idx].pid.unwrap_or(0);
                self.answer_waiters(idx, &format!("restarted {name} (pid {pid})"), 0);
            }
        } else {
            self.answer_waiters(idx, &format!("stopped {name}"), 0);
        }
    }

    fn read_stream(&mut self, fd: RawFd, buf: &mut [u8]) {
        let Some(st) = self.streams.get_mut(&fd) else {
            return;
        };
        match st.file.read(buf) {
            Ok(0) => {
                let st = self.streams.remove(&fd);
                if let Some(st) = st
                    && let Some(l) = self.ring.flush(&st.source)
                {
                    if st.echo {
                        console(&l.msg);
                    }
                    self.deliver(&l);
                }
            }
            Ok(n) => {
                let (source, echo) = (st.source.clone(), st.echo);
                let lines = self.ring.feed(&source, &buf[..n]);
                for l in lines {
                    if echo {
                        console(&l.msg);
                    }
                    self.deliver(&l);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                self.streams.remove(&fd);
            }
        }
    }

    fn read_kmsg(&mut self, mut k: &std::fs::File, buf: &mut [u8]) {
        for _ in 0..256 {
            match k.read(buf) {
                Ok(0) => return,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let msg = rec
                        .split_once(';')
                        .map(|(_, m)| m)
                        .unwrap_or(&rec)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let l = self.ring.push("kmsg", &msg);
                    self.deliver(&l);
                }
                // EPIPE: records were overwritten; the next read continues.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => return,
            }
        }
    }

    fn find_service(&self, name: &str) -> Option<usize> {
        self.ctrs
            .iter()
            .position(|c| c.bundle.name == name && c.bundle.phase == Phase::Service)
    }

    fn client(&mut self, stream: UnixStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        let Ok(reader) = stream.try_clone() else {
            return;
        };
        if BufReader::new(reader).read_line(&mut line).is_err() {
            return;
        }
        let words = proto::parse_request(&line);
        let mut w = stream;
        let reply = |w: &mut UnixStream, lines: &[String], code: i32| {
            let mut s: String = lines.concat();
            s.push_str(&proto::exit(code));
            let _ = w.write_all(s.as_bytes());
        };
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["list"] => {
                let mut out = vec![proto::out(&format!(
                    "{:<24} {:<10} {:<8} STATE",
                    "NAME", "PHASE", "PID"
                ))];
                for c in &self.ctrs {
                    out.push(proto::out(&format!(
                        "{:<24} {:<10} {:<8} {}",
                        c.bundle.name,
                        c.bundle.phase.word(),
                        c.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        c.state.word()
                    )));
                }
                for b in Bundle::list(Phase::Service) {
                    if self.find_service(&b.name).is_none() {
                        out.push(proto::out(&format!(
                            "{:<24} {:<10} {:<8} not started",
                            b.name, "service", "-"
                        )));
                    }
                }
                reply(&mut w, &out, 0);
            }
            ["info", name] => match self
                .find_service(name)
                .or_else(|| self.ctrs.iter().position(|c| c.bundle.name == *name))
            {
                Some(i) => {
                    let c = &self.ctrs[i];
                    let out = vec![
                        proto::out(&format!("pid {}", c.pid.unwrap_or(0))),
                        proto::out(&format!("cgroup {}", c.cgroup)),
                        proto::out(&format!("state {}", c.state.word())),
                    ];
                    reply(&mut w, &out, 0);
                }
                None => reply(&mut w, &[proto::err(&no_such(name))], 1),
            },
            ["start", name] => {
                let idx = self.find_service(name);
                if let Some(i) = idx
                    && self.ctrs[i].state == State::Running
                {
                    reply(
                        &mut w,
                        &[proto::err(&format!("{name} is already running"))],
                        1,
                    );
                    return;
                }
                let Some(b) = Bundle::list(Phase::Service)
                    .into_iter()
                    .find(|b| b.name == *name)
                else {
                    reply(&mut w, &[proto::err(&no_such(name))], 1);
                    return;
                };
                match self.launch(b) {
                    Some(i) => {
                        let pid = self.ctrs[i].pid.unwrap_or(0);
                        reply(
                            &mut w,
                            &[proto::out(&format!("started {name} (pid {pid})"))],
                            0,
                        )
                    }
                    None => {
                        let why = self
                            .find_service(name)
                            .map(|i| self.ctrs[i].state.word())
                            .unwrap_or_default();
                        reply(&mut w, &[proto::err(&format!("{name}: {why}"))], 1)
                    }
                }
            }
            [verb @ ("stop" | "restart"), name] => {
                let restart = *verb == "restart";
                let Some(i) = self.find_service(name) else {
                    if restart
                        && let Some(b) = Bundle::list(Phase::Service)
                            .into_iter()
                            .find(|b| b.name == *name)
                    {
                        let ok = self.launch(b).is_some();
                        let msg = if ok {
                            proto::out(&format!("started {name}"))
                        } else {
                            proto::err(&format!("{name} failed to start"))
                        };
                        reply(&mut w, &[msg], if ok { 0 } else { 1 });
                        return;
                    }
                    reply(&mut w, &[proto::err(&no_such(name))], 1);
                    return;
                };
                let c = &mut self.ctrs[i];
                match (c.state == State::Running, c.pid) {
                    (true, Some(pid)) => {
                        c.stopping = true;
                        c.restart = restart;
                        c.kill_at = Some(Instant::now() + STOP_GRACE);
                        c.waiters.push(w);
                        container::signal_all(pid, &c.cgroup, Signal::SIGTERM);
                    }
                    _ if restart => {
                        let b = c.bundle.clone();
                        match self.launch(b) {
                            Some(_) => reply(&mut w, &[proto::out(&format!("started {name}"))], 0),
                            None => {
                                reply(&mut w, &[proto::err(&format!("{name} failed to start"))], 1)
                            }
                        }
                    }
                    _ => reply(&mut w, &[proto::err(&format!("{name} is not running"))], 1),
                }
            }
            ["logs", name, rest @ ..] => {
                let follow = rest.contains(&"-f");
                let known = self.ctrs.iter().any(|c| c.bundle.name == *name)
                    || Bundle::list(Phase::Service).iter().any(|b| b.name == *name);
                if !known {
                    reply(&mut w, &[proto::err(&no_such(name))], 1);
                    return;
                }
                let n = name.to_string();
                let filter = move |s: &str| ring::source_of(s, &n);
                let out: Vec<String> = self
                    .ring
                    .lines(&filter)
                    .map(|l| proto::out(&l.msg))
                    .collect();
                if follow {
                    let _ = w.write_all(out.concat().as_bytes());
                    self.followers.push(Follower {
                        stream: w,
                        name: Some(name.to_string()),
                    });
                } else {
                    reply(&mut w, &out, 0);
                }
            }
            ["logread", rest @ ..] => {
                let follow = rest.contains(&"-f") || rest.contains(&"-F");
                let all = |_: &str| true;
                let out: Vec<String> = self
                    .ring
                    .lines(&all)
                    .map(|l| proto::out(&l.render()))
                    .collect();
                if follow {
                    let _ = w.write_all(out.concat().as_bytes());
                    self.followers.push(Follower {
                        stream: w,
                        name: None,
                    });
                } else {
                    reply(&mut w, &out, 0);
                }
            }
            _ => reply(
                &mut w,
                &[proto::err(&format!("unknown request: {}", words.join(" ")))],
                2,
            ),
        }
    }
}

fn no_such(name: &str) -> String {
    format!("no service named {name}; `service list` shows them")
}
