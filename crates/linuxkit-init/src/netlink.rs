//! Network interfaces for a container, from the `interfaces` section of
//! LinuxKit's `runtime.json`.
//!
//! The supervisor calls [`apply_interfaces`] after the container's process
//! has been created (so its network namespace exists) and before it is
//! started. The semantics are those of upstream LinuxKit's `service`
//! program:
//!
//! * `peer` without `add` means `add: "veth"`; `name` is always required and
//!   a veth pair requires `peer`.
//! * `add: "veth"` or `createInRoot: true`: the link is created in the root
//!   (our own) network namespace and `name` is then moved into the
//!   container's namespace. For a veth pair the `peer` end stays in the root
//!   namespace. If the move fails, the link just created is deleted again.
//! * any other `add` kind (`dummy`, `bridge`, `wireguard`, ...): the link is
//!   created directly inside the container's namespace, by a short-lived
//!   forked helper process that enters it with `setns(2)`. No threads are
//!   used; the helper reports its result through a pipe and is reaped with
//!   `waitpid` on its own pid.
//! * neither `add` nor `peer`: the existing interface `name` is moved from
//!   the root namespace into the container's namespace.
//!
//! Links are created with no kind-specific options (upstream does the
//! same), so kinds that need a parent link or other `IFLA_INFO_DATA`
//! (`vlan`, `macvlan`, `vxlan`, ...) are rejected by the kernel, and the
//! error is returned. Nothing is configured on the links (no addresses, no
//! `up`); that is left to the container.
//!
//! Everything is done with raw rtnetlink messages over a `NETLINK_ROUTE`
//! socket: `RTM_NEWLINK` (with `IFLA_LINKINFO`) to create, `RTM_SETLINK`
//! with `IFLA_NET_NS_PID` to move and `RTM_DELLINK` to roll back. Every
//! request asks for an acknowledgement, and a kernel error is returned as
//! its errno, together with the kernel's extended-ack message when there is
//! one.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::net::if_::if_nametoindex;
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recvfrom, sendto,
    socket,
};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

/// One entry of runtime.json `interfaces` (the host/VM contract).
pub use linuxkit_vm_abi::runtime::Interface;

/// Why an `interfaces` entry could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The target pid cannot name a process.
    #[error("cannot set up interfaces for pid {0}: not a valid process id")]
    InvalidPid(i32),
    /// The `interfaces` entry itself is unusable; nothing was done for it.
    #[error("interface {interface:?}: {reason}")]
    InvalidConfig { interface: String, reason: String },
    /// A system call failed (socket, namespace, helper process, lookup, ...).
    #[error("interface {interface}: {op}: {source}")]
    Os {
        interface: String,
        op: String,
        #[source]
        source: io::Error,
    },
    /// The kernel answered the rtnetlink request with an error.
    #[error("interface {interface}: {op}: {source}{}", kernel_detail(.message))]
    Kernel {
        interface: String,
        op: String,
        #[source]
        source: io::Error,
        /// The kernel's extended-ack message, when it sent one.
        message: Option<String>,
    },
    /// The kernel or the helper process answered something unexpected.
    #[error("interface {interface}: {op}: {reason}")]
    Protocol {
        interface: String,
        op: String,
        reason: String,
    },
}

fn kernel_detail(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(" (kernel: {m})"),
        _ => String::new(),
    }
}

/// Apply the `interfaces` of a container whose process is `pid`.
///
/// All entries are validated first, then applied in order; the first
/// failure is returned (entries applied before it are left in place, as
/// upstream does). Needs `CAP_NET_ADMIN` and `CAP_SYS_ADMIN`. Kinds created
/// inside the container use a forked helper process whose code is
/// async-signal-safe, and which is reaped by its pid before this returns.
/// The helper's result travels through a pipe, so it is still known if a
/// `SIGCHLD` handler elsewhere reaps the helper first.
pub fn apply_interfaces(pid: i32, interfaces: &[Interface]) -> Result<(), NetlinkError> {
    let target = u32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or(NetlinkError::InvalidPid(pid))?;
    let plans = interfaces.iter().map(plan).collect::<Result<Vec<_>, _>>()?;
    let mut root = None;
    for p in &plans {
        apply_one(&mut root, pid, target, p)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Planning: the upstream rules, checked before anything is done.

#[derive(Debug, PartialEq, Eq)]
enum Plan<'a> {
    /// Create the pair in the root namespace, move `name` into the container.
    Veth { name: &'a str, peer: &'a str },
    /// Create `name` of `kind` in the root namespace, then move it.
    CreateInRoot { name: &'a str, kind: &'a str },
    /// Create `name` of `kind` inside the container's namespace.
    CreateInside { name: &'a str, kind: &'a str },
    /// Move the existing `name` into the container's namespace.
    Move { name: &'a str },
}

/// Longest interface name the kernel accepts (`IFNAMSIZ - 1`).
const MAX_IFNAME: usize = 15;
/// Generous bound on a link kind such as `wireguard`.
const MAX_KIND: usize = 64;

fn plan(iface: &Interface) -> Result<Plan<'_>, NetlinkError> {
    let invalid = |reason: String| NetlinkError::InvalidConfig {
        interface: iface.name.clone(),
        reason,
    };
    if iface.name.is_empty() {
        return Err(invalid("an interface requires a name".into()));
    }
    check_ifname(&iface.name).map_err(|r| invalid(format!("invalid name: {r}")))?;
    let kind = if iface.add.is_empty() && !iface.peer.is_empty() {
        "veth"
    } else {
        iface.add.as_str()
    };
    if kind.len() > MAX_KIND || kind.contains('\0') {
        return Err(invalid(format!("invalid link kind {kind:?}")));
    }
    if kind == "veth" {
        if iface.peer.is_empty() {
            return Err(invalid("creating a veth pair requires a peer".into()));
        }
        check_ifname(&iface.peer).map_err(|r| invalid(format!("invalid peer name: {r}")))?;
        if iface.peer == iface.name {
            return Err(invalid("a veth peer needs a name of its own".into()));
        }
        return Ok(Plan::Veth {
            name: &iface.name,
            peer: &iface.peer,
        });
    }
    Ok(match (kind.is_empty(), iface.create_in_root) {
        (true, _) => Plan::Move { name: &iface.name },
        (false, true) => Plan::CreateInRoot {
            name: &iface.name,
            kind,
        },
        (false, false) => Plan::CreateInside {
            name: &iface.name,
            kind,
        },
    })
}

/// The kernel's `dev_valid_name`, so that mistakes get a clear message.
fn check_ifname(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("empty")
    } else if name.len() > MAX_IFNAME {
        Err("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Err("\".\" and \"..\" are not interface names")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        Err("contains '/', ':', NUL or whitespace")
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Execution.

fn apply_one(
    root: &mut Option<NlSocket>,
    pid: i32,
    target: u32,
    plan: &Plan<'_>,
) -> Result<(), NetlinkError> {
    match *plan {
        Plan::Veth { name, peer } => {
            let op = format!("creating veth pair {name} <-> {peer} in the root network namespace");
            let msg = create_link_request(next_seq(), name, "veth", Some(peer));
            root_request(root, &msg, name, &op)?;
            move_or_roll_back(root, pid, target, name)
        }
        Plan::CreateInRoot { name, kind } => {
            let op = format!("creating {kind} link in the root network namespace");
            let msg = create_link_request(next_seq(), name, kind, None);
            root_request(root, &msg, name, &op)?;
            move_or_roll_back(root, pid, target, name)
        }
        Plan::CreateInside { name, kind } => {
            let op = format!("creating {kind} link in the network namespace of pid {pid}");
            let msg = create_link_request(next_seq(), name, kind, None);
            request_in_netns(pid, &msg, name, &op)
        }
        Plan::Move { name } => move_link(root, pid, target, name),
    }
}

/// Move `name`; if that fails, delete the link we just created in the root
/// namespace (for a veth pair that removes both ends).
fn move_or_roll_back(
    root: &mut Option<NlSocket>,
    pid: i32,
    target: u32,
    name: &str,
) -> Result<(), NetlinkError> {
    let moved = move_link(root, pid, target, name);
    if moved.is_err()
        && let Ok(index) = if_nametoindex(name)
    {
        // Best effort: the move's error is the one worth reporting.
        let msg = delete_link_request(next_seq(), index);
        let _ = root_request(root, &msg, name, "deleting the link after a failed move");
    }
    moved
}

fn move_link(
    root: &mut Option<NlSocket>,
    pid: i32,
    target: u32,
    name: &str,
) -> Result<(), NetlinkError> {
    let index = if_nametoindex(name).map_err(|e| NetlinkError::Os {
        interface: name.to_owned(),
        op: "looking up the interface in the root network namespace".into(),
        source: io::Error::from(e),
    })?;
    let op = format!("moving the link into the network namespace of pid {pid}");
    let msg = move_link_request(next_seq(), index, target);
    root_request(root, &msg, name, &op)
}

/// Send `msg` on the (lazily opened) socket of the root namespace.
fn root_request(
    root: &mut Option<NlSocket>,
    msg: &[u8],
    interface: &str,
    op: &str,
) -> Result<(), NetlinkError> {
    let sock = match root {
        Some(sock) => sock,
        None => root.insert(NlSocket::open().map_err(|e| raw_to_error(e, interface, op))?),
    };
    sock.request(msg)
        .map_err(|e| raw_to_error(e, interface, op))
}

/// Send `msg` from inside the network namespace of `pid`, in a forked
/// helper process, so that this process never changes namespace.
fn request_in_netns(pid: i32, msg: &[u8], interface: &str, op: &str) -> Result<(), NetlinkError> {
    let os = |what: &str, source: io::Error| NetlinkError::Os {
        interface: interface.to_owned(),
        op: format!("{op}: {what}"),
        source,
    };
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&ns_path).map_err(|e| os(&format!("opening {ns_path}"), e))?;
    let (read_end, write_end) =
        pipe2(OFlag::O_CLOEXEC).map_err(|e| os("creating a pipe", e.into()))?;

    // SAFETY: between fork and _exit the child runs only `helper_main`,
    // which performs async-signal-safe system calls (setns, socket,
    // setsockopt, bind, sendto, recvfrom, write, close) on memory that
    // already exists (no allocation, no locks), so it is sound even if the
    // parent had other threads.
    let forked = unsafe { fork() }.map_err(|e| os("forking a helper process", e.into()))?;
    let child = match forked {
        ForkResult::Child => {
            drop(read_end);
            let code = helper_main(&ns, msg, &write_end);
            // SAFETY: _exit ends the helper at once, without running the
            // parent's atexit handlers or flushing its stdio buffers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(write_end);
    drop(ns);

    let mut report = Vec::new();
    let read = File::from(read_end).read_to_end(&mut report);
    let status = wait_for(child);
    if let Err(e) = read {
        return Err(os("reading the helper's report", e));
    }
    match decode_report(&report) {
        Some(Ok(())) => Ok(()),
        Some(Err(raw)) => Err(raw_to_error(raw, interface, op)),
        None => Err(NetlinkError::Protocol {
            interface: interface.to_owned(),
            op: op.to_owned(),
            reason: format!(
                "the helper process in the network namespace of pid {pid} {}",
                match status {
                    Ok(WaitStatus::Exited(_, code)) => {
                        format!("exited with status {code} without a report")
                    }
                    Ok(WaitStatus::Signaled(_, sig, _)) => format!("was killed by {sig}"),
                    Ok(other) => format!("ended without a report ({other:?})"),
                    Err(e) => format!("ended without a report (waitpid: {e})"),
                }
            ),
        }),
    }
}

fn wait_for(child: Pid) -> Result<WaitStatus, Errno> {
    loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// The forked helper: enter the namespace, send the request, report.
fn helper_main(ns: &File, msg: &[u8], report: &OwnedFd) -> libc::c_int {
    let run = || -> Result<(), RawError> {
        setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| RawError::os(Stage::EnterNamespace, e))?;
        NlSocket::open()?.request(msg)
    };
    match std::panic::catch_unwind(run) {
        Ok(result) => {
            let (record, len) = encode_report(&result);
            let mut written = 0;
            while written < len {
                match nix::unistd::write(report, &record[written..len]) {
                    Ok(0) => break,
                    Ok(n) => written += n,
                    Err(Errno::EINTR) => {}
                    Err(_) => break,
                }
            }
            if result.is_ok() { 0 } else { 1 }
        }
        Err(_) => 2,
    }
}

// ---------------------------------------------------------------------------
// Allocation-free errors, shared by this process and the helper.

/// Where a request failed; the discriminants travel through the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Stage {
    OpenSocket = 1,
    Bind = 2,
    Send = 3,
    Receive = 4,
    EnterNamespace = 5,
    /// The kernel refused the request; errno is the kernel's.
    Kernel = 6,
    /// The reply could not be understood; the detail says why.
    BadReply = 7,
}

impl Stage {
    fn from_u8(b: u8) -> Option<Stage> {
        Some(match b {
            1 => Stage::OpenSocket,
            2 => Stage::Bind,
            3 => Stage::Send,
            4 => Stage::Receive,
            5 => Stage::EnterNamespace,
            6 => Stage::Kernel,
            7 => Stage::BadReply,
            _ => return None,
        })
    }

    fn describe(self) -> &'static str {
        match self {
            Stage::OpenSocket => "opening a netlink socket",
            Stage::Bind => "binding the netlink socket",
            Stage::Send => "sending the netlink request",
            Stage::Receive => "receiving the netlink reply",
            Stage::EnterNamespace => "entering the network namespace",
            Stage::Kernel => "kernel",
            Stage::BadReply => "bad netlink reply",
        }
    }
}

/// Room for the kernel's extended-ack message (they are short); small
/// enough to keep `RawError` cheap to return.
const DETAIL_MAX: usize = 112;
const _: () = assert!(DETAIL_MAX < 256);

#[derive(Clone, Copy)]
struct RawError {
    stage: Stage,
    errno: i32,
    detail: [u8; DETAIL_MAX],
    detail_len: u8,
}

impl RawError {
    fn os(stage: Stage, errno: Errno) -> RawError {
        RawError {
            stage,
            errno: errno as i32,
            detail: [0; DETAIL_MAX],
            detail_len: 0,
        }
    }

    fn with_detail(stage: Stage, errno: i32, detail: &[u8]) -> RawError {
        let mut e = RawError {
            stage,
            errno,
            detail: [0; DETAIL_MAX],
            detail_len: 0,
        };
        let n = detail.len().min(DETAIL_MAX);
        e.detail[..n].copy_from_slice(&detail[..n]);
        // DETAIL_MAX < 256, so the length fits in a byte.
        e.detail_len = n as u8;
        e
    }

    fn detail(&self) -> &[u8] {
        &self.detail[..usize::from(self.detail_len).min(DETAIL_MAX)]
    }
}

impl std::fmt::Debug for RawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawError")
            .field("stage", &self.stage)
            .field("errno", &self.errno)
            .field("detail", &String::from_utf8_lossy(self.detail()))
            .finish()
    }
}

fn raw_to_error(raw: RawError, interface: &str, op: &str) -> NetlinkError {
    let detail = String::from_utf8_lossy(raw.detail()).into_owned();
    match raw.stage {
        Stage::Kernel => NetlinkError::Kernel {
            interface: interface.to_owned(),
            op: op.to_owned(),
            source: io::Error::from_raw_os_error(raw.errno),
            message: Some(detail).filter(|d| !d.is_empty()),
        },
        Stage::BadReply => NetlinkError::Protocol {
            interface: interface.to_owned(),
            op: op.to_owned(),
            reason: format!("bad netlink reply: {detail}"),
        },
        stage => NetlinkError::Os {
            interface: interface.to_owned(),
            op: format!("{op}: {}", stage.describe()),
            source: io::Error::from_raw_os_error(raw.errno),
        },
    }
}

/// Report record: `[0]` for success, or `[stage, errno (4 bytes, native),
/// detail length, detail...]`.
const REPORT_MAX: usize = 6 + DETAIL_MAX;

fn encode_report(result: &Result<(), RawError>) -> ([u8; REPORT_MAX], usize) {
    let mut record = [0u8; REPORT_MAX];
    match result {
        Ok(()) => (record, 1),
        Err(e) => {
            let detail = e.detail();
            record[0] = e.stage as u8;
            record[1..5].copy_from_slice(&e.errno.to_ne_bytes());
            record[5] = e.detail_len;
            record[6..6 + detail.len()].copy_from_slice(detail);
            (record, 6 + detail.len())
        }
    }
}

fn decode_report(record: &[u8]) -> Option<Result<(), RawError>> {
    match record {
        [0] => Some(Ok(())),
        [stage, e0, e1, e2, e3, len, rest @ ..] => {
            let stage = Stage::from_u8(*stage)?;
            let detail = rest.get(..usize::from(*len))?;
            let errno = i32::from_ne_bytes([*e0, *e1, *e2, *e3]);
            Some(Err(RawError::with_detail(stage, errno, detail)))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// rtnetlink protocol. Constants from <linux/netlink.h>, <linux/rtnetlink.h>,
// <linux/if_link.h> and <linux/veth.h>; all integers are in host order.

const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_SETLINK: u16 = 19;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// In an `NLMSG_ERROR`: only the header of the request was echoed.
const NLM_F_CAPPED: u16 = 0x100;
/// In an `NLMSG_ERROR`: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

static SEQ: AtomicU32 = AtomicU32::new(1);

fn next_seq() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Builds one netlink message; lengths are patched in as attributes close.
/// Payloads are bounded by the validation in [`plan`], far below 64 KiB.
struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    fn new(msg_type: u16, flags: u16, seq: u32) -> MessageBuilder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set in finish
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        MessageBuilder { buf }
    }

    /// `struct ifinfomsg` with family `AF_UNSPEC` and the given index.
    fn ifinfomsg(&mut self, index: u32) {
        self.buf.extend_from_slice(&[0, 0]); // ifi_family, padding
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        self.buf.extend_from_slice(&index.to_ne_bytes()); // ifi_index
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // ifi_flags
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    /// A NUL-terminated string attribute.
    fn attr_str(&mut self, ty: u16, s: &str) {
        let len = (NLA_HDRLEN + s.len() + 1) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Open a nested attribute (without `NLA_F_NESTED`, like iproute2);
    /// returns its offset for [`Self::end_nested`].
    fn begin_nested(&mut self, ty: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        start
    }

    fn end_nested(&mut self, start: usize) {
        self.pad();
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        self.pad();
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// `RTM_NEWLINK` creating `name` of `kind`, with a veth `peer` if given.
fn create_link_request(seq: u32, name: &str, kind: &str, peer: Option<&str>) -> Vec<u8> {
    let mut m = MessageBuilder::new(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
    );
    m.ifinfomsg(0);
    m.attr_str(IFLA_IFNAME, name);
    let linkinfo = m.begin_nested(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, kind);
    if let Some(peer) = peer {
        let data = m.begin_nested(IFLA_INFO_DATA);
        let peer_attr = m.begin_nested(VETH_INFO_PEER);
        m.ifinfomsg(0);
        m.attr_str(IFLA_IFNAME, peer);
        m.end_nested(peer_attr);
        m.end_nested(data);
    }
    m.end_nested(linkinfo);
    m.finish()
}

/// `RTM_SETLINK` moving link `index` into the network namespace of `pid`.
fn move_link_request(seq: u32, index: u32, pid: u32) -> Vec<u8> {
    let mut m = MessageBuilder::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    m.ifinfomsg(index);
    m.attr(IFLA_NET_NS_PID, &pid.to_ne_bytes());
    m.finish()
}

/// `RTM_DELLINK` for link `index`.
fn delete_link_request(seq: u32, index: u32) -> Vec<u8> {
    let mut m = MessageBuilder::new(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    m.ifinfomsg(index);
    m.finish()
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

#[derive(Debug)]
enum Reply {
    /// The request with our sequence number was acknowledged.
    Ack,
    /// It failed (kernel errno) or the reply was malformed.
    Failed(RawError),
    /// Nothing about our request in this datagram.
    Pending,
}

/// Look through one received datagram for the answer to request `seq`.
fn parse_reply(buf: &[u8], seq: u32) -> Reply {
    let bad = |why: &str| Reply::Failed(RawError::with_detail(Stage::BadReply, 0, why.as_bytes()));
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let (Some(len), Some(ty), Some(flags), Some(msg_seq)) = (
            u32_at(buf, off),
            u16_at(buf, off + 4),
            u16_at(buf, off + 6),
            u32_at(buf, off + 8),
        ) else {
            return bad("truncated message header");
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            return bad("message length out of bounds");
        }
        let msg = &buf[off..off + len];
        if msg_seq == seq {
            match ty {
                NLMSG_ERROR => return parse_error(msg, flags),
                NLMSG_DONE => return Reply::Ack,
                _ => {}
            }
        }
        off += align4(len);
    }
    Reply::Pending
}

/// An `NLMSG_ERROR` message: `nlmsghdr`, then `struct nlmsgerr` (errno and
/// the echoed request), then optional extended-ack attributes.
fn parse_error(msg: &[u8], flags: u16) -> Reply {
    let bad = |why: &str| Reply::Failed(RawError::with_detail(Stage::BadReply, 0, why.as_bytes()));
    let Some(error) = u32_at(msg, NLMSG_HDRLEN).map(|e| e as i32) else {
        return bad("truncated error message");
    };
    if error == 0 {
        return Reply::Ack;
    }
    let Some(errno) = error.checked_neg().filter(|e| *e > 0) else {
        return bad("positive error code");
    };
    let mut message: &[u8] = &[];
    if flags & NLM_F_ACK_TLVS != 0 {
        // After the errno comes the request's header, or all of the request
        // unless the kernel says it capped it.
        let echoed = NLMSG_HDRLEN + 4;
        let tlvs = if flags & NLM_F_CAPPED != 0 {
            Some(echoed + NLMSG_HDRLEN)
        } else {
            u32_at(msg, echoed).map(|l| echoed + align4(l as usize))
        };
        if let Some(tlvs) = tlvs {
            message = ext_ack_message(msg.get(tlvs..).unwrap_or_default());
        }
    }
    Reply::Failed(RawError::with_detail(Stage::Kernel, errno, message))
}

/// The `NLMSGERR_ATTR_MSG` string among extended-ack attributes, if any.
fn ext_ack_message(mut attrs: &[u8]) -> &[u8] {
    while let (Some(len), Some(ty)) = (u16_at(attrs, 0), u16_at(attrs, 2)) {
        let len = usize::from(len);
        let Some(payload) = attrs.get(NLA_HDRLEN..len) else {
            break;
        };
        if ty & 0x3fff == NLMSGERR_ATTR_MSG {
            let end = payload
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(payload.len());
            return &payload[..end];
        }
        attrs = attrs.get(align4(len)..).unwrap_or_default();
    }
    &[]
}

/// A bound `NETLINK_ROUTE` socket of the current network namespace.
struct NlSocket {
    fd: OwnedFd,
}

impl NlSocket {
    fn open() -> Result<NlSocket, RawError> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| RawError::os(Stage::OpenSocket, e))?;
        // Both are optional niceties: short acks, and error messages.
        for opt in [NETLINK_CAP_ACK, NETLINK_EXT_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: `fd` is an open socket, and the value pointer and
            // length describe `one`, which outlives the call.
            let _ = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    (&raw const one).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| RawError::os(Stage::Bind, e))?;
        Ok(NlSocket { fd })
    }

    /// Send one request that asks for an ack, and wait for that ack.
    fn request(&self, msg: &[u8]) -> Result<(), RawError> {
        let Some(seq) = u32_at(msg, 8) else {
            return Err(RawError::with_detail(Stage::Send, 0, b"short request"));
        };
        let kernel = NetlinkAddr::new(0, 0);
        loop {
            match sendto(self.fd.as_raw_fd(), msg, &kernel, MsgFlags::empty()) {
                Ok(n) if n == msg.len() => break,
                Ok(_) => return Err(RawError::os(Stage::Send, Errno::EMSGSIZE)),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(RawError::os(Stage::Send, e)),
            }
        }
        let mut buf = [0u8; 8192];
        loop {
            let n = match recvfrom::<NetlinkAddr>(self.fd.as_raw_fd(), &mut buf) {
                Ok((n, from)) => {
                    if from.is_some_and(|a| a.pid() != 0) {
                        continue; // not from the kernel
                    }
                    n
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(RawError::os(Stage::Receive, e)),
            };
            match parse_reply(&buf[..n.min(buf.len())], seq) {
                Reply::Ack => return Ok(()),
                Reply::Failed(e) => return Err(e),
                Reply::Pending => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ne16(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }

    fn ne32(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    #[test]
    fn veth_create_request_layout() {
        let msg = create_link_request(7, "eth0", "veth", Some("veth0"));
        let mut want = Vec::new();
        // nlmsghdr
        want.extend(ne32(96));
        want.extend(ne16(RTM_NEWLINK));
        want.extend(ne16(0x1 | 0x4 | 0x400 | 0x200));
        want.extend(ne32(7));
        want.extend(ne32(0));
        // ifinfomsg
        want.extend([0u8; 16]);
        // IFLA_IFNAME "eth0\0" + 3 bytes of padding
        want.extend(ne16(9));
        want.extend(ne16(3));
        want.extend(b"eth0\0\0\0\0");
        // IFLA_LINKINFO
        want.extend(ne16(52));
        want.extend(ne16(18));
        //   IFLA_INFO_KIND "veth\0" + 3
        want.extend(ne16(9));
        want.extend(ne16(1));
        want.extend(b"veth\0\0\0\0");
        //   IFLA_INFO_DATA
        want.extend(ne16(36));
        want.extend(ne16(2));
        //     VETH_INFO_PEER: ifinfomsg + IFLA_IFNAME "veth0\0" + 2
        want.extend(ne16(32));
        want.extend(ne16(1));
        want.extend([0u8; 16]);
        want.extend(ne16(10));
        want.extend(ne16(3));
        want.extend(b"veth0\0\0\0");
        assert_eq!(want.len(), 96);
        assert_eq!(msg, want);
    }

    #[test]
    fn generic_create_request_has_no_info_data() {
        let msg = create_link_request(1, "br0", "bridge", None);
        // header + ifinfomsg + IFNAME(8) + LINKINFO(4 + KIND "bridge\0" 12)
        assert_eq!(msg.len(), 16 + 16 + 8 + 16);
        assert_eq!(u32_at(&msg, 0), Some(56));
        assert_eq!(u16_at(&msg, 40), Some(16)); // IFLA_LINKINFO length
        assert_eq!(u16_at(&msg, 42), Some(IFLA_LINKINFO));
        assert_eq!(u16_at(&msg, 44), Some(11)); // "bridge\0" unpadded
        assert_eq!(&msg[48..56], b"bridge\0\0");
    }

    #[test]
    fn move_and_delete_request_layout() {
        let msg = move_link_request(9, 42, 1234);
        let mut want = Vec::new();
        want.extend(ne32(40));
        want.extend(ne16(RTM_SETLINK));
        want.extend(ne16(0x1 | 0x4));
        want.extend(ne32(9));
        want.extend(ne32(0));
        want.extend([0u8, 0]);
        want.extend(ne16(0));
        want.extend(ne32(42));
        want.extend(ne32(0));
        want.extend(ne32(0));
        want.extend(ne16(8));
        want.extend(ne16(19));
        want.extend(ne32(1234));
        assert_eq!(msg, want);

        let del = delete_link_request(3, 5);
        assert_eq!(del.len(), 32);
        assert_eq!(u16_at(&del, 4), Some(RTM_DELLINK));
        assert_eq!(u32_at(&del, 20), Some(5));
    }

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        for n in 0..=12 {
            let name = "x".repeat(n);
            let mut m = MessageBuilder::new(RTM_NEWLINK, NLM_F_REQUEST, 1);
            m.attr_str(IFLA_IFNAME, &name);
            m.attr(IFLA_NET_NS_PID, &[1, 2, 3][..n % 4]);
            let msg = m.finish();
            // rta_len counts the NUL but not the padding.
            assert_eq!(u16_at(&msg, 16), Some((4 + n + 1) as u16));
            let second = 16 + align4(4 + n + 1);
            assert_eq!(u16_at(&msg, second), Some((4 + n % 4) as u16));
            assert_eq!(msg.len() % 4, 0);
            assert_eq!(msg.len(), second + align4(4 + n % 4));
            assert_eq!(u32_at(&msg, 0), Some(msg.len() as u32));
            // Padding bytes are zero.
            assert!(msg[16 + 4 + n..second].iter().all(|b| *b == 0));
        }
        assert_eq!(align4(0), 0);
        assert_eq!(align4(1), 4);
        assert_eq!(align4(4), 4);
        assert_eq!(align4(5), 8);
    }

    /// An `NLMSG_ERROR` reply as the kernel would send it.
    fn error_reply(seq: u32, error: i32, flags: u16, ext_msg: Option<&str>) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend(error.to_ne_bytes());
        // Echoed request header (as with NETLINK_CAP_ACK).
        payload.extend(ne32(32));
        payload.extend(ne16(RTM_NEWLINK));
        payload.extend(ne16(5));
        payload.extend(ne32(seq));
        payload.extend(ne32(0));
        if let Some(m) = ext_msg {
            let len = 4 + m.len() + 1;
            payload.extend(ne16(len as u16));
            payload.extend(ne16(NLMSGERR_ATTR_MSG));
            payload.extend(m.as_bytes());
            payload.push(0);
            payload.resize(align4(payload.len()), 0);
        }
        let mut msg = Vec::new();
        msg.extend(ne32((16 + payload.len()) as u32));
        msg.extend(ne16(NLMSG_ERROR));
        msg.extend(ne16(flags));
        msg.extend(ne32(seq));
        msg.extend(ne32(4242));
        msg.extend(payload);
        msg
    }

    #[test]
    fn parses_acks_errors_and_garbage() {
        assert!(matches!(
            parse_reply(&error_reply(5, 0, 0, None), 5),
            Reply::Ack
        ));
        assert!(matches!(
            parse_reply(&error_reply(4, 0, 0, None), 5),
            Reply::Pending
        ));

        let reply = error_reply(5, -17, NLM_F_CAPPED | NLM_F_ACK_TLVS, Some("exists"));
        let Reply::Failed(e) = parse_reply(&reply, 5) else {
            panic!("expected a failure");
        };
        assert_eq!(e.stage, Stage::Kernel);
        assert_eq!(e.errno, 17);
        assert_eq!(e.detail(), b"exists");

        // Uncapped: the whole request (here just its 16-byte header, whose
        // length field says 32) is echoed, so the TLVs are looked for after
        // 32 bytes and none are found in this short reply; no panic.
        let reply = error_reply(5, -1, NLM_F_ACK_TLVS, Some("x"));
        let Reply::Failed(e) = parse_reply(&reply, 5) else {
            panic!("expected a failure");
        };
        assert_eq!((e.stage, e.errno), (Stage::Kernel, 1));

        // Two messages in one datagram: the first is someone else's.
        let mut two = error_reply(1, -22, 0, None);
        two.extend(error_reply(2, 0, 0, None));
        assert!(matches!(parse_reply(&two, 2), Reply::Ack));

        // Truncated and lying lengths are errors, never panics.
        let reply = error_reply(5, -17, 0, None);
        for cut in 0..reply.len() {
            let r = parse_reply(&reply[..cut], 5);
            assert!(!matches!(r, Reply::Ack), "cut at {cut}");
        }
        let mut lying = reply.clone();
        lying[..4].copy_from_slice(&ne32(1000));
        assert!(matches!(
            parse_reply(&lying, 5),
            Reply::Failed(RawError {
                stage: Stage::BadReply,
                ..
            })
        ));
        let mut tiny = reply;
        tiny[..4].copy_from_slice(&ne32(4));
        assert!(matches!(parse_reply(&tiny, 5), Reply::Failed(_)));
    }

    #[test]
    fn report_round_trip() {
        let (rec, len) = encode_report(&Ok(()));
        assert!(matches!(decode_report(&rec[..len]), Some(Ok(()))));
        let err = RawError::with_detail(Stage::Kernel, 95, b"Unknown device type");
        let (rec, len) = encode_report(&Err(err));
        let Some(Err(back)) = decode_report(&rec[..len]) else {
            panic!("expected an error record");
        };
        assert_eq!((back.stage, back.errno), (Stage::Kernel, 95));
        assert_eq!(back.detail(), b"Unknown device type");
        assert!(decode_report(&[]).is_none());
        assert!(decode_report(&rec[..len - 1]).is_none());
        assert!(decode_report(&[99, 0, 0, 0, 0, 0]).is_none());
        let long = [b'a'; 400];
        assert_eq!(
            RawError::with_detail(Stage::BadReply, 0, &long)
                .detail()
                .len(),
            DETAIL_MAX
        );
    }

    fn iface(name: &str, add: &str, peer: &str, create_in_root: bool) -> Interface {
        Interface {
            name: name.into(),
            add: add.into(),
            peer: peer.into(),
            create_in_root,
        }
    }

    #[test]
    fn plans_follow_upstream_rules() {
        let p = iface("eth0", "", "veth0", false);
        assert_eq!(
            plan(&p).ok(),
            Some(Plan::Veth {
                name: "eth0",
                peer: "veth0"
            })
        );
        let p = iface("eth0", "veth", "veth0", true);
        assert!(matches!(plan(&p), Ok(Plan::Veth { .. })));
        let p = iface("wg0", "wireguard", "", false);
        assert_eq!(
            plan(&p).ok(),
            Some(Plan::CreateInside {
                name: "wg0",
                kind: "wireguard"
            })
        );
        let p = iface("wg0", "wireguard", "", true);
        assert_eq!(
            plan(&p).ok(),
            Some(Plan::CreateInRoot {
                name: "wg0",
                kind: "wireguard"
            })
        );
        let p = iface("eth1", "", "", false);
        assert_eq!(plan(&p).ok(), Some(Plan::Move { name: "eth1" }));

        for bad in [
            iface("", "dummy", "", false),
            iface("eth0", "veth", "", false),
            iface("eth0", "", "eth0", false),
            iface("sixteen-chars-xx", "dummy", "", false),
            iface("a b", "dummy", "", false),
            iface("a/b", "", "", false),
            iface("..", "", "", false),
            iface("eth0", "", "sixteen-chars-xx", false),
        ] {
            let err = plan(&bad).expect_err(&format!("{bad:?} should be rejected"));
            assert!(matches!(err, NetlinkError::InvalidConfig { .. }), "{err}");
        }
        let err = plan(&iface("eth0", "veth", "", false)).expect_err("no peer");
        assert_eq!(
            err.to_string(),
            "interface \"eth0\": creating a veth pair requires a peer"
        );
    }

    #[test]
    fn invalid_input_is_rejected_before_anything_is_done() {
        assert!(matches!(
            apply_interfaces(0, &[]),
            Err(NetlinkError::InvalidPid(0))
        ));
        assert!(matches!(
            apply_interfaces(-3, &[]),
            Err(NetlinkError::InvalidPid(-3))
        ));
        // The second entry is invalid, so the first (which would need
        // privileges) is never attempted.
        let list = [
            iface("nosuchif0", "", "", false),
            iface("x", "veth", "", false),
        ];
        assert!(matches!(
            apply_interfaces(1, &list),
            Err(NetlinkError::InvalidConfig { .. })
        ));
        assert!(apply_interfaces(1, &[]).is_ok());
    }

    #[test]
    fn deserializes_runtime_json_entries() {
        let json = r#"[
            {"name": "eth0", "add": "veth", "peer": "veth-ct0", "createInRoot": false},
            {"name": "wg0", "add": "wireguard", "createInRoot": true},
            {"name": "eth1"}
        ]"#;
        let list: Vec<Interface> = serde_json::from_str(json).expect("valid json");
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].peer, "veth-ct0");
        assert!(list[1].create_in_root);
        assert_eq!(list[1].add, "wireguard");
        assert_eq!((list[2].add.as_str(), list[2].create_in_root), ("", false));
        assert!(serde_json::from_str::<Interface>(r#"{"add": "dummy"}"#).is_err());
    }

    #[test]
    fn error_messages_name_interface_operation_and_os_error() {
        let raw = RawError::with_detail(Stage::Kernel, 17, b"some detail");
        let e = raw_to_error(raw, "eth0", "creating veth pair eth0 <-> veth0");
        let s = e.to_string();
        assert!(
            s.starts_with("interface eth0: creating veth pair eth0 <-> veth0: "),
            "{s}"
        );
        assert!(s.contains("os error 17"), "{s}");
        assert!(s.ends_with(" (kernel: some detail)"), "{s}");
        let e = raw_to_error(RawError::os(Stage::OpenSocket, Errno::EACCES), "x", "op");
        let s = e.to_string();
        assert!(s.contains("op: opening a netlink socket: "), "{s}");
        assert!(s.contains("os error 13"), "{s}");
    }

    // ----------------------------------------------------------------------
    // Privileged tests. The outer test re-runs this test binary under
    // `unshare --net`, so that the "root" namespace of the inner test is a
    // throw-away one and the host's interfaces are never touched.

    const INNER_ENV: &str = "LINUXKIT_NETLINK_TEST_INNER";

    fn have(tool: &str) -> bool {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
    }

    #[test]
    fn privileged_links_in_throwaway_namespaces() {
        if !nix::unistd::geteuid().is_root() {
            println!("skipping: needs root to create network namespaces");
            return;
        }
        if let Some(missing) = ["ip", "nsenter", "unshare"].into_iter().find(|t| !have(t)) {
            println!("skipping: `{missing}` is not installed");
            return;
        }
        if std::process::Command::new("unshare")
            .args(["--net", "true"])
            .status()
            .map_or(true, |s| !s.success())
        {
            println!("skipping: cannot create a network namespace here");
            return;
        }
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, rest)| rest);
        let exe = std::env::current_exe().expect("test executable");
        let host_ns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
        let out = std::process::Command::new("unshare")
            .arg("--net")
            .arg("--")
            .arg(exe)
            .arg(format!("{module}::privileged_inner"))
            .args(["--exact", "--include-ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(INNER_ENV, host_ns)
            .output()
            .expect("run the inner test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{stdout}");
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "inner test failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
    }

    /// A process in a network namespace of its own; killed on drop.
    struct Target(std::process::Child);

    impl Target {
        fn spawn() -> Target {
            let child = std::process::Command::new("unshare")
                .args(["--net", "sleep", "30"])
                .spawn()
                .expect("spawn unshare");
            let target = Target(child);
            let ours = std::fs::read_link("/proc/self/ns/net").expect("own netns");
            let path = format!("/proc/{}/ns/net", target.pid());
            for _ in 0..500 {
                if std::fs::read_link(&path).is_ok_and(|ns| ns != ours) {
                    return target;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("pid {} never entered a network namespace", target.pid());
        }

        fn pid(&self) -> i32 {
            self.0.id() as i32
        }
    }

    impl Drop for Target {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Link names from `ip -o link`, in our namespace or that of `pid`.
    fn links(pid: Option<i32>) -> Vec<String> {
        let mut cmd = match pid {
            Some(pid) => {
                let mut c = std::process::Command::new("nsenter");
                c.args(["-t", &pid.to_string(), "-n", "ip", "-o", "link"]);
                c
            }
            None => {
                let mut c = std::process::Command::new("ip");
                c.args(["-o", "link"]);
                c
            }
        };
        let out = cmd.output().expect("run ip");
        assert!(out.status.success(), "{cmd:?} failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .collect()
    }

    fn ip(args: &[&str]) -> bool {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    #[ignore = "run by privileged_links_in_throwaway_namespaces inside `unshare --net`"]
    fn privileged_inner() {
        // The outer test passes the namespace it ran in; refuse to touch
        // that one if the `unshare --net` somehow did not happen.
        let Some(outer_ns) = std::env::var_os(INNER_ENV) else {
            println!("skipping: only runs inside a throw-away network namespace");
            return;
        };
        let our_ns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
        assert_ne!(
            our_ns.as_os_str(),
            outer_ns,
            "not in a throw-away network namespace"
        );

        // A kind that can be created and moved: dummy, or ifb without it.
        let kind = ["dummy", "ifb"]
            .into_iter()
            .find(|k| {
                let ok = ip(&["link", "add", "lkprobe0", "type", k]);
                ok && ip(&["link", "del", "lkprobe0"])
            })
            .expect("the kernel supports neither dummy nor ifb links");
        println!("using {kind} for the simple link kind");

        let target = Target::spawn();
        let pid = target.pid();
        assert!(ip(&["link", "add", "mv-dum0", "type", kind]));

        // Everything in one call, as the supervisor does it.
        let list = [
            // (a) veth pair, peer stays here
            iface("ct-veth0", "", "rt-veth0", false),
            // (b) created directly inside
            iface("ct-dum0", kind, "", false),
            iface("ct-br0", "bridge", "", false),
            // (c) moving an existing link
            iface("mv-dum0", "", "", false),
            // (d) created here, then moved
            iface("cr-dum0", kind, "", true),
        ];
        apply_interfaces(pid, &list).expect("apply interfaces");

        let inside = links(Some(pid));
        let here = links(None);
        println!("target: {inside:?}\nroot: {here:?}");
        for name in ["ct-veth0", "ct-dum0", "ct-br0", "mv-dum0", "cr-dum0"] {
            assert!(inside.iter().any(|n| n == name), "{name} not in target");
            assert!(!here.iter().any(|n| n == name), "{name} still in root");
        }
        assert!(here.iter().any(|n| n == "rt-veth0"), "peer not in root");
        assert!(!inside.iter().any(|n| n == "rt-veth0"), "peer in target");

        // Kernel errors come back with the interface, operation and errno,
        // also through the helper process.
        let err = apply_interfaces(pid, &[iface("ct-dum0", kind, "", false)])
            .expect_err("duplicate link");
        let s = err.to_string();
        println!("{s}");
        assert!(matches!(err, NetlinkError::Kernel { .. }), "{s}");
        assert!(s.contains("ct-dum0") && s.contains("os error 17"), "{s}");

        let err =
            apply_interfaces(pid, &[iface("nosuch0", "", "", false)]).expect_err("missing link");
        let s = err.to_string();
        println!("{s}");
        assert!(s.contains("nosuch0") && s.contains("os error 19"), "{s}");

        let err = apply_interfaces(pid, &[iface("ct-odd0", "nosuchkind", "", false)])
            .expect_err("unknown kind");
        println!("{err}");
        assert!(err.to_string().contains("ct-odd0"));

        // A failed move deletes what was created: bridges cannot change
        // namespace, and a dead pid has no namespace.
        let err = apply_interfaces(pid, &[iface("rt-br0", "bridge", "", true)])
            .expect_err("bridges are netns-local");
        println!("{err}");
        assert!(err.to_string().contains("moving"), "{err}");
        let mut dead = std::process::Command::new("true").spawn().expect("true");
        let dead_pid = dead.id() as i32;
        dead.wait().expect("wait for true");
        let err = apply_interfaces(dead_pid, &[iface("dd-veth0", "veth", "dd-peer0", false)])
            .expect_err("dead pid");
        println!("{err}");
        let err = apply_interfaces(dead_pid, &[iface("dd-dum0", kind, "", false)])
            .expect_err("dead pid, inside");
        println!("{err}");
        assert!(err.to_string().contains("/proc/"), "{err}");
        let here = links(None);
        for name in ["rt-br0", "dd-veth0", "dd-peer0"] {
            assert!(!here.iter().any(|n| n == name), "{name} left behind");
        }
        drop(target);
    }
}
