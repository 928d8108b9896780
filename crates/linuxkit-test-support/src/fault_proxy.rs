//! A fault-injecting HTTP/1.1 proxy in front of a plain-HTTP registry, for
//! testing the registry client's retries, resumption and verification.
//!
//! One request per client connection: the proxy reads one request head (and
//! its body, by `Content-Length` or chunked), forwards it to the upstream on
//! a fresh connection with `Connection: close` (the `Host` header is kept,
//! so the registry's absolute `Location` URLs point back at the proxy),
//! relays the response with `Connection: close`, and closes. Clients must
//! therefore cope with the server closing after each response. Threads
//! only, no async runtime.
//!
//! The plan ([`Fault`]) is shared and can be changed between requests with
//! [`FaultProxy::set`].

use crate::registry::{
    BodyReader, Framing, Head, finish_body, read_head, reason_phrase, request_framing,
    response_framing, write_body_part,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the proxy does to the next matching request(s).
///
/// "Blob GET" means `GET /v2/<name>/blobs/sha256:<hex>` (not
/// `/blobs/uploads/`) whose upstream answer is 2xx; body faults
/// (`DropBlobAfter`, `CorruptBlob`, `Throttle`) only touch those, and leave
/// every other request (the `/v2/` ping, manifests, uploads, non-2xx
/// answers) alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything untouched.
    None,
    /// For the next blob GET: forward the status line, the headers (with the
    /// full `Content-Length`) and only this many body bytes, then close the
    /// connection. Once: the plan then reverts to `None`.
    DropBlobAfter(u64),
    /// Answer the next `times` GET or HEAD requests for a blob
    /// (`/v2/<name>/blobs/<digest>`) or a manifest (`/v2/<name>/manifests/<ref>`)
    /// with this status, an empty body (`Content-Length: 0`) and
    /// `Retry-After: <secs>` if set, without contacting the upstream. The
    /// `/v2/` ping, tag lists and uploads are not affected. The plan reverts
    /// to `None` after the last one.
    Status {
        code: u16,
        times: u32,
        retry_after: Option<u32>,
    },
    /// Flip (xor 0xff) the byte in the middle (offset len/2) of every blob
    /// GET response body, until changed.
    CorruptBlob,
    /// Send every blob GET response body at about this rate, until changed.
    Throttle { bytes_per_sec: u64 },
}

struct State {
    upstream: String,
    plan: Mutex<Fault>,
    requests: Mutex<Vec<String>>,
    faults: AtomicU64,
}

/// The running proxy; stops accepting on drop (connections in flight finish
/// on their own, bounded by 30 s socket timeouts).
pub struct FaultProxy {
    addr: String,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listen on a free port of 127.0.0.1 and proxy to `upstream`
    /// (`"127.0.0.1:P"` of a plain-HTTP registry), with plan `Fault::None`.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            plan: Mutex::new(Fault::None),
            requests: Mutex::new(Vec::new()),
            faults: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        FaultProxy {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `"127.0.0.1:P"` of the proxy (use it as the registry host).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `"http://127.0.0.1:P"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replace the plan (takes effect for the next request).
    pub fn set(&self, f: Fault) {
        *self.state.plan.lock().unwrap() = f;
    }

    /// The current plan (e.g. to see that a one-shot fault was consumed).
    pub fn fault(&self) -> Fault {
        self.state.plan.lock().unwrap().clone()
    }

    /// Every request seen so far, in arrival order: the request line
    /// (`"GET /v2/x/blobs/sha256:.. HTTP/1.1"`), followed by
    /// `" Range: <value>"` when the request had a `Range` header.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// How many times a fault was applied (one per affected response).
    pub fn faults_applied(&self) -> u64 {
        self.state.faults.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr.parse().unwrap(), Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `/v2/<name>/blobs/<digest>` (not uploads).
fn is_blob_path(path: &str) -> bool {
    path.starts_with("/v2/")
        && path
            .rsplit_once("/blobs/")
            .is_some_and(|(name, d)| name.len() > 3 && d.contains(':') && !d.contains('/'))
}

/// `/v2/<name>/manifests/<ref>`.
fn is_manifest_path(path: &str) -> bool {
    path.starts_with("/v2/")
        && path
            .rsplit_once("/manifests/")
            .is_some_and(|(name, r)| name.len() > 3 && !r.is_empty() && !r.contains('/'))
}

const IO_TIMEOUT: Duration = Duration::from_secs(30);

fn handle(client: TcpStream, st: &State) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut cw = client.try_clone()?;
    let mut cr = BufReader::new(client.try_clone()?);
    // A TLS ClientHello (a client trying https first, as skopeo with
    // --tls-verify=false does): answer in plain HTTP at once, as Go's
    // server does, so the client falls back to http without waiting for
    // its handshake timeout.
    if cr.fill_buf()?.first() == Some(&0x16) {
        cw.write_all(b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\nClient sent an HTTPS request to an HTTP server.\n")?;
        cw.flush()?;
        let _ = client.shutdown(Shutdown::Write);
        return Ok(());
    }
    let Some(mut req) = read_head(&mut cr)? else {
        return Ok(());
    };
    let mut parts = req.start.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    {
        let mut line = req.start.clone();
        if let Some(r) = req.get("range") {
            line.push_str(&format!(" Range: {r}"));
        }
        st.requests.lock().unwrap().push(line);
    }
    let get_or_head = method == "GET" || method == "HEAD";
    let blob_get = method == "GET" && is_blob_path(&path);

    // Status faults: answered here, upstream not contacted.
    if get_or_head && (is_blob_path(&path) || is_manifest_path(&path)) {
        let mut plan = st.plan.lock().unwrap();
        if let Fault::Status {
            code,
            times,
            retry_after,
        } = plan.clone()
            && times > 0
        {
            *plan = if times > 1 {
                Fault::Status {
                    code,
                    times: times - 1,
                    retry_after,
                }
            } else {
                Fault::None
            };
            drop(plan);
            st.faults.fetch_add(1, Ordering::SeqCst);
            let mut h = Head {
                start: format!("HTTP/1.1 {code} {}", reason_phrase(code)),
                headers: vec![],
            };
            if let Some(s) = retry_after {
                h.push("Retry-After", &s.to_string());
            }
            h.push("Content-Length", "0");
            h.push("Connection", "close");
            cw.write_all(&h.to_bytes())?;
            cw.flush()?;
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
    }

    // Forward the request.
    let up = TcpStream::connect_timeout(&st.upstream.parse().unwrap(), Duration::from_secs(5))?;
    up.set_read_timeout(Some(IO_TIMEOUT))?;
    up.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut uw = up.try_clone()?;
    let req_framing = request_framing(&req);
    if req
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        // The body is read here before forwarding: let the client send it.
        req.remove("expect");
        if req_framing != Framing::None {
            cw.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            cw.flush()?;
        }
    }
    for h in ["connection", "keep-alive", "proxy-connection"] {
        req.remove(h);
    }
    req.push("Connection", "close");
    uw.write_all(&req.to_bytes())?;
    {
        let mut body = BodyReader::new(&mut cr, req_framing);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                break;
            }
            write_body_part(&mut uw, req_framing, &buf[..n])?;
        }
        finish_body(&mut uw, req_framing)?;
    }

    // Relay the response.
    let mut ur = BufReader::new(up);
    let mut resp = loop {
        let h = read_head(&mut ur)?
            .ok_or_else(|| std::io::Error::other("upstream closed without a response"))?;
        if (100..200).contains(&h.status()) {
            continue; // interim responses are not relayed
        }
        break h;
    };
    let code = resp.status();
    let framing = response_framing(&method, &resp);
    let mut apply = Fault::None;
    if blob_get && (200..300).contains(&code) && framing != Framing::None {
        let mut plan = st.plan.lock().unwrap();
        match plan.clone() {
            Fault::DropBlobAfter(n) => {
                apply = Fault::DropBlobAfter(n);
                *plan = Fault::None;
            }
            f @ (Fault::CorruptBlob | Fault::Throttle { .. }) => apply = f,
            Fault::None | Fault::Status { .. } => {}
        }
        if apply != Fault::None {
            st.faults.fetch_add(1, Ordering::SeqCst);
        }
    }
    for h in ["connection", "keep-alive"] {
        resp.remove(h);
    }
    resp.push("Connection", "close");

    let mut body = BodyReader::new(&mut ur, framing);
    match apply {
        Fault::CorruptBlob => {
            // Buffer, flip the middle byte, send in the original framing
            // (blobs in these tests are small).
            let mut data = Vec::new();
            body.read_to_end(&mut data)?;
            if !data.is_empty() {
                let mid = data.len() / 2;
                data[mid] ^= 0xff;
            }
            cw.write_all(&resp.to_bytes())?;
            write_body_part(&mut cw, framing, &data)?;
            finish_body(&mut cw, framing)?;
        }
        Fault::DropBlobAfter(limit) => {
            cw.write_all(&resp.to_bytes())?;
            let mut sent = 0u64;
            let mut buf = vec![0u8; 16 * 1024];
            while sent < limit {
                let want = buf.len().min((limit - sent) as usize);
                let n = body.read(&mut buf[..want])?;
                if n == 0 {
                    break;
                }
                write_body_part(&mut cw, framing, &buf[..n])?;
                sent += n as u64;
            }
            cw.flush()?;
            // Abrupt end: no last chunk, connection closed.
        }
        Fault::Throttle { bytes_per_sec } => {
            cw.write_all(&resp.to_bytes())?;
            let bps = bytes_per_sec.max(1);
            let piece = (bps / 20).clamp(1, 16 * 1024) as usize;
            let mut buf = vec![0u8; piece];
            let start = Instant::now();
            let mut sent = 0u64;
            loop {
                let n = body.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                write_body_part(&mut cw, framing, &buf[..n])?;
                cw.flush()?;
                sent += n as u64;
                let due = Duration::from_secs_f64(sent as f64 / bps as f64);
                let elapsed = start.elapsed();
                if due > elapsed {
                    std::thread::sleep(due - elapsed);
                }
            }
            finish_body(&mut cw, framing)?;
        }
        Fault::None | Fault::Status { .. } => {
            cw.write_all(&resp.to_bytes())?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = body.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                write_body_part(&mut cw, framing, &buf[..n])?;
            }
            finish_body(&mut cw, framing)?;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}
