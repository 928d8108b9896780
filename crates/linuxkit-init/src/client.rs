//! The `service` and `logread` commands: talk to the supervisor over its
//! unix socket; `service exec` and `service ps` act on the container
//! directly (libcontainer's exec into a running container, the container's
//! cgroup for its processes).

use crate::container::STATE_ROOT;
use crate::proto;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

const SERVICE_HELP: &str = "Usage: service COMMAND [ARGS]

Manage the containers of this LinuxKit system.

Commands:
  list                   every onboot, service and onshutdown container with its state
  start SERVICE          start a service that is not running
  stop SERVICE           stop a service (SIGTERM, SIGKILL after 10 s)
  restart SERVICE        stop then start a service
  logs [-f] SERVICE      a container's output (stdout and stderr); -f follows
  exec SERVICE CMD...    run CMD inside a running service
  ps SERVICE             the processes of a service
";

/// Connect to the supervisor and send one request.
fn send(words: &[&str]) -> Result<UnixStream, String> {
    let sock = proto::client_socket();
    let mut s = UnixStream::connect(&sock).map_err(|e| {
        format!(
            "cannot reach the supervisor at {sock}: {e} (is this a linuxkit-rs system? set LINUXKIT_SERVICE_SOCKET if /run is elsewhere)"
        )
    })?;
    s.write_all(proto::request(words).as_bytes())
        .map_err(|e| format!("{sock}: {e}"))?;
    Ok(s)
}

/// Send a request and print the reply; returns the exit status.
fn call(words: &[&str]) -> i32 {
    let s = match send(words) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        if let Some(t) = line.strip_prefix("o ") {
            let _ = writeln!(out, "{t}");
            let _ = out.flush();
        } else if let Some(t) = line.strip_prefix("e ") {
            eprintln!("{t}");
        } else if let Some(c) = line.strip_prefix("x ") {
            return c.trim().parse().unwrap_or(1);
        } else if line == "o" {
            let _ = writeln!(out);
        }
    }
    0
}

fn info(name: &str) -> Result<(i32, String), String> {
    let s = send(&["info", name])?;
    let (mut pid, mut cgroup, mut err) = (0, String::new(), String::new());
    for line in BufReader::new(s).lines().map_while(Result::ok) {
        if let Some(p) = line.strip_prefix("o pid ") {
            pid = p.trim().parse().unwrap_or(0);
        } else if let Some(c) = line.strip_prefix("o cgroup ") {
            cgroup = c.trim().to_string();
        } else if let Some(e) = line.strip_prefix("e ") {
            err = e.to_string();
        }
    }
    if !err.is_empty() {
        return Err(err);
    }
    if pid == 0 {
        return Err(format!("{name} is not running"));
    }
    Ok((pid, cgroup))
}

/// `service ...`; returns the exit status.
pub fn service(args: &[String]) -> i32 {
    // upstream's global flags
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !matches!(*a, "-q" | "-v" | "--quiet" | "--verbose"))
        .collect();
    match args.as_slice() {
        [] | ["help" | "-h" | "--help"] => {
            print!("{SERVICE_HELP}");
            if args.is_empty() { 2 } else { 0 }
        }
        ["list"] | ["ls"] => call(&["list"]),
        [verb @ ("start" | "stop" | "restart"), name] => call(&[verb, name]),
        ["logs", "-f", name] | ["logs", name, "-f"] => call(&["logs", name, "-f"]),
        ["logs", name] => call(&["logs", name]),
        ["exec", name, cmd @ ..] if !cmd.is_empty() => exec(name, cmd),
        ["ps", name] => ps(name),
        _ => {
            eprintln!(
                "service: bad arguments: {}\n\n{SERVICE_HELP}",
                args.join(" ")
            );
            2
        }
    }
}

/// `logread [-f|-F]`.
pub fn logread(args: &[String]) -> i32 {
    let follow = args.iter().any(|a| a == "-f" || a == "-F");
    if let Some(bad) = args.iter().find(|a| !matches!(a.as_str(), "-f" | "-F")) {
        eprintln!("logread: unknown argument {bad}\nUsage: logread [-f]");
        return 2;
    }
    if follow {
        call(&["logread", "-f"])
    } else {
        call(&["logread"])
    }
}

/// Join PID 1's mount and cgroup namespaces when we are not in them (called
/// from a container such as getty, whose /sys/fs/cgroup and paths differ):
/// the runtime needs the host's view of the container state and cgroups.
fn join_host_namespaces() -> Result<(), String> {
    use nix::sched::{CloneFlags, setns};
    for (ns, flag) in [
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).ok();
        let init = std::fs::read_link(format!("/proc/1/ns/{ns}")).ok();
        if init.is_none() || ours == init {
            continue;
        }
        let f = std::fs::File::open(format!("/proc/1/ns/{ns}"))
            .map_err(|e| format!("/proc/1/ns/{ns}: {e}"))?;
        setns(&f, flag).map_err(|e| {
            format!("cannot join PID 1's {ns} namespace ({e}); run `service exec` with CAP_SYS_ADMIN in the host's PID namespace")
        })?;
    }
    std::env::set_current_dir("/").map_err(|e| e.to_string())
}

fn exec(name: &str, cmd: &[&str]) -> i32 {
    if let Err(e) = info(name) {
        eprintln!("service exec: {e}");
        return 1;
    }
    if let Err(e) = join_host_namespaces() {
        eprintln!("service exec: {e}");
        return 1;
    }
    let built = ContainerBuilder::new(name.to_string(), SyscallType::Linux)
        .with_root_path(STATE_ROOT)
        .map(|b| {
            b.as_tenant()
                .with_container_args(cmd.iter().map(|s| s.to_string()).collect())
                .with_detach(false)
                .build()
        });
    let pid = match built {
        Ok(Ok(pid)) => pid,
        Ok(Err(e)) | Err(e) => {
            eprintln!("service exec {name}: {e}");
            return 1;
        }
    };
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => continue,
            Err(_) => return 0,
        }
    }
}

fn ps(name: &str) -> i32 {
    let (pid, cgroup) = match info(name) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("service ps: {e}");
            return 1;
        }
    };
    let mut pids = crate::container::cgroup_pids(&cgroup);
    if pids.is_empty() {
        pids.push(pid);
    }
    println!("{:>7} COMMAND", "PID");
    for p in pids {
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).to_string())
            .collect();
        println!("{p:>7} {}", cmd.join(" "));
    }
    0
}
