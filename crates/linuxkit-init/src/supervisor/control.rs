//! The control socket's requests (`service list|info|start|stop|restart|logs`,
//! `logread`), answered from the supervisor's state: one request line, reply
//! lines and an exit status (see `proto`).

use super::host::Host;
use super::{Follower, State, Sup};
use crate::container::{Phase, PhaseNames};
use crate::proto;
use crate::ring;
use nix::sys::signal::Signal;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

impl<H: Host> Sup<H> {
    /// Answer one client of the control socket.
    pub(super) fn client(&mut self, stream: UnixStream) {
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
                for b in self.host.bundles(Phase::Service) {
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
                let Some(b) = self
                    .host
                    .bundles(Phase::Service)
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
                        && let Some(b) = self
                            .host
                            .bundles(Phase::Service)
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
                        c.term_sent = Some(self.host.now());
                        c.kill_at = Some(self.host.now() + super::STOP_GRACE);
                        c.waiters.push(w);
                        self.host.signal(pid, &c.cgroup, Signal::SIGTERM);
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
                    || self
                        .host
                        .bundles(Phase::Service)
                        .iter()
                        .any(|b| b.name == *name);
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
