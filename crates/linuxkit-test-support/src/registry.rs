//! A real OCI distribution registry for the registry client's integration
//! tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a
//! free port, anonymous, with HTTP basic auth (htpasswd), over TLS with a
//! throw-away CA, or with token auth whose token issuer runs in this process.
//! Also: skopeo and docker-config helpers, and a synthetic multi-arch OCI
//! image layout to seed the registry with.
//!
//! Everything here only uses independent tools (`docker-registry`, `openssl`,
//! `htpasswd`, `skopeo`, `curl`), never the client under test. Every wait is
//! bounded.
//!
//! The fault-injecting proxy lives in `fault_proxy.rs` and is re-exported
//! here.

use crate::acceptor::Acceptor;
pub use crate::fixtures::free_port;
use crate::tools::Run;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::fault_proxy::{Fault, FaultProxy};

/// How long `Registry::start` waits for the registry to answer `GET /v2/`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `service` the token-auth registry announces and accepts as `aud`.
pub const TOKEN_SERVICE: &str = "linuxkit-test-registry";
/// The `iss` of the tokens the test token server issues.
pub const TOKEN_ISSUER: &str = "linuxkit-test-issuer";

/// How clients authenticate to a [`Registry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Plain HTTP, no authentication: anyone can pull and push.
    Anonymous,
    /// Plain HTTP with HTTP basic authentication against an htpasswd file
    /// (bcrypt, made with `htpasswd -Bbn`). `GET /v2/` without credentials
    /// answers 401 with `WWW-Authenticate: Basic realm=...`.
    Basic { user: String, password: String },
    /// HTTPS with a server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`)
    /// signed by a throw-away test CA ([`Registry::ca_pem`]); anonymous.
    Tls,
    /// Plain HTTP with bearer-token auth: the registry answers 401 with
    /// `WWW-Authenticate: Bearer realm="http://127.0.0.1:T/token",service=...`,
    /// and the [`TokenServer`] run by this process issues RS256 JWTs to
    /// clients presenting these basic credentials (401 otherwise).
    Token { user: String, password: String },
}

impl Auth {
    /// `Auth::Basic` with the given credentials.
    pub fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic {
            user: user.into(),
            password: password.into(),
        }
    }
    /// `Auth::Token` with the given credentials.
    pub fn token(user: &str, password: &str) -> Auth {
        Auth::Token {
            user: user.into(),
            password: password.into(),
        }
    }
}

/// A running `docker-registry serve` on 127.0.0.1, with its storage in a
/// private temporary directory. Killed (and reaped) on drop.
pub struct Registry {
    /// `"127.0.0.1:PORT"`.
    pub addr: String,
    /// The authentication mode it was started with.
    pub auth: Auth,
    /// For [`Auth::Tls`]: the PEM file of the test CA that signed the server
    /// certificate (what a client should trust).
    pub ca_pem: Option<PathBuf>,
    /// For [`Auth::Tls`]: a directory holding `ca.crt` (a copy of `ca_pem`),
    /// in the layout skopeo's `--cert-dir` and `/etc/docker/certs.d/HOST/`
    /// expect.
    pub cert_dir: Option<PathBuf>,
    /// For [`Auth::Basic`] and [`Auth::Token`]: the valid `(user, password)`.
    pub creds: Option<(String, String)>,
    /// For [`Auth::Token`]: the token issuer the registry's realm points to.
    pub token: Option<TokenServer>,
    /// The registry's storage root (`storage: filesystem: rootdirectory`).
    pub storage: PathBuf,
    /// The scratch directory (config, certificates, htpasswd, log).
    pub dir: PathBuf,
    child: Child,
    _tmp: tempfile::TempDir,
}

/// The `docker-registry` binary: `$LINUXKIT_TEST_REGISTRY_BIN`, else
/// `/usr/bin/docker-registry`, else `docker-registry` on `PATH`.
pub fn registry_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("LINUXKIT_TEST_REGISTRY_BIN") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from("/usr/bin/docker-registry");
    if p.exists() {
        p
    } else {
        PathBuf::from("docker-registry")
    }
}

impl Registry {
    /// Start a registry with the given authentication mode on a free port
    /// and wait (at most [`STARTUP_TIMEOUT`] per attempt) until it answers
    /// `GET /v2/` (200 or 401). Retries with another port if the chosen one
    /// was taken in the meantime. Panics with the registry's log on failure.
    pub fn start(auth: Auth) -> Registry {
        let tmp = tempfile::Builder::new()
            .prefix("lk-registry-")
            .tempdir()
            .expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();

        let mut ca_pem = None;
        let mut cert_dir = None;
        let mut creds = None;
        let mut token = None;
        let mut auth_yaml = String::new();
        let mut tls_yaml = String::new();
        match &auth {
            Auth::Anonymous => {}
            Auth::Basic { user, password } => {
                let o = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .run_output();
                assert!(
                    o.status.success(),
                    "htpasswd: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                let path = dir.join("htpasswd");
                std::fs::write(&path, &o.stdout).unwrap();
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: linuxkit-test\n    path: {}\n",
                    yaml_str(&path)
                );
                creds = Some((user.clone(), password.clone()));
            }
            Auth::Tls => {
                let pki = dir.join("pki");
                std::fs::create_dir_all(&pki).unwrap();
                let (ca, cert, key) = make_tls_pki(&pki);
                tls_yaml = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    yaml_str(&cert),
                    yaml_str(&key)
                );
                let cd = dir.join("certs.d");
                std::fs::create_dir_all(&cd).unwrap();
                std::fs::copy(&ca, cd.join("ca.crt")).unwrap();
                ca_pem = Some(ca);
                cert_dir = Some(cd);
            }
            Auth::Token { user, password } => {
                let pki = dir.join("token-pki");
                std::fs::create_dir_all(&pki).unwrap();
                let ts = TokenServer::start(&pki, user, password);
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    yaml_str(ts.realm()),
                    TOKEN_SERVICE,
                    TOKEN_ISSUER,
                    yaml_str(&ts.cert_pem)
                );
                creds = Some((user.clone(), password.clone()));
                token = Some(ts);
            }
        }

        let log_path = dir.join("registry.log");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: {addr}\n  secret: linuxkit-test-secret\n{tls_yaml}\
                 {auth_yaml}",
                storage = yaml_str(&storage),
            );
            let cfg_path = dir.join("config.yml");
            std::fs::write(&cfg_path, &config).unwrap();
            let log = std::fs::File::create(&log_path).unwrap();
            let mut cmd = Command::new(registry_bin());
            cmd.arg("serve")
                .arg(&cfg_path)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(k);
                }
            }
            let mut child = cmd.run_spawn();
            let deadline = Instant::now() + STARTUP_TIMEOUT;
            let mut up = false;
            let mut exited = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    exited = true;
                    break;
                }
                let ok = match &ca_pem {
                    None => ping_plain(&addr),
                    Some(ca) => ping_tls(&addr, ca),
                };
                if ok {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // It may have answered and died at once (another process owned
            // the port): check it is still ours.
            if up && matches!(child.try_wait(), Ok(None)) {
                return Registry {
                    addr,
                    auth,
                    ca_pem,
                    cert_dir,
                    creds,
                    token,
                    storage,
                    dir,
                    child,
                    _tmp: tmp,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if exited && last_log.contains("address already in use") {
                continue;
            }
            if !exited || up {
                // Timed out (or lost the port): retry once more on another port.
                continue;
            }
            panic!("docker-registry exited at startup:\n{config}\n--- log ---\n{last_log}");
        }
        panic!("docker-registry did not come up within {STARTUP_TIMEOUT:?}:\n{last_log}");
    }

    /// `"http://127.0.0.1:P"`, or `"https://127.0.0.1:P"` for [`Auth::Tls`].
    pub fn url(&self) -> String {
        let scheme = if self.auth == Auth::Tls {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// `"127.0.0.1:P"` (the registry part of image references).
    pub fn host(&self) -> &str {
        &self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Whether it is served over TLS.
    pub fn is_tls(&self) -> bool {
        self.auth == Auth::Tls
    }

    /// `docker://127.0.0.1:P/<name_and_ref>` for skopeo (e.g.
    /// `reg.docker_ref("test/img:v1")`).
    pub fn docker_ref(&self, name_and_ref: &str) -> String {
        format!("docker://{}/{name_and_ref}", self.addr)
    }

    /// `127.0.0.1:P/<name_and_ref>` (an image reference for the client
    /// under test).
    pub fn image_ref(&self, name_and_ref: &str) -> String {
        format!("{}/{name_and_ref}", self.addr)
    }

    /// Number of requests the token server saw (0 unless [`Auth::Token`]).
    pub fn token_requests(&self) -> usize {
        self.token.as_ref().map_or(0, |t| t.count())
    }

    /// The registry's own log (errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yaml_str(p: impl AsRef<std::ffi::OsStr>) -> String {
    let s = p.as_ref().to_string_lossy().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One plain-HTTP `GET /v2/`: true when it answers 200 or 401.
fn ping_plain(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(500))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(
        format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .is_err()
    {
        return false;
    }
    let mut line = String::new();
    if BufReader::new(s).read_line(&mut line).is_err() {
        return false;
    }
    line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.1 401")
}

/// `GET https://addr/v2/` with curl trusting `ca` (this also checks the
/// generated certificates); plain TCP connect if curl is missing.
fn ping_tls(addr: &str, ca: &Path) -> bool {
    match Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
            "--cacert",
        ])
        .arg(ca)
        .arg(format!("https://{addr}/v2/"))
        .output()
    {
        Ok(o) => {
            let code = String::from_utf8_lossy(&o.stdout);
            code == "200" || code == "401"
        }
        Err(_) => {
            TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(500)).is_ok()
        }
    }
}

// ---------------------------------------------------------------------------
// openssl

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = linuxkit-test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_srv]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[v3_sign]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
";

/// Run openssl in `dir`; panic with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .env_remove("OPENSSL_CONF")
        .stdin(Stdio::null())
        .run_output();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Write `openssl.cnf` in `dir` and a new RSA key `key` with a self-signed
/// certificate `out` for `subject`, using the config's `extensions`.
fn self_signed(dir: &Path, extensions: &str, key: &str, out: &str, subject: &str) {
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-extensions",
            extensions,
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            out,
            "-days",
            "3",
            "-subj",
            subject,
        ],
    );
}

/// A test CA and a server certificate signed by it, valid for 127.0.0.1 and
/// localhost. Returns (ca.pem, server.pem, server.key).
fn make_tls_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    self_signed(dir, "v3_ca", "ca.key", "ca.pem", "/CN=linuxkit-test-ca");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "3",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "v3_srv",
            "-out",
            "server.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// The DER bytes of the first certificate in a PEM file.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let mut b64 = String::new();
    let mut inside = false;
    for line in pem.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
        } else if line.starts_with("-----END CERTIFICATE") {
            break;
        } else if inside {
            b64.push_str(line);
        }
    }
    base64_decode(&b64).expect("PEM base64")
}

// ---------------------------------------------------------------------------
// base64 (std and url-safe), to keep the harness free of extra dependencies

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding.
pub fn base64_std(data: &[u8]) -> String {
    b64(data, B64_STD, true)
}

/// URL-safe base64 without padding (JOSE).
pub fn base64_url(data: &[u8]) -> String {
    b64(data, B64_URL, false)
}

/// Decode standard or URL-safe base64, padded or not; None if invalid.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1 plumbing shared with the fault proxy

/// A request or response head: the start line and the header fields in
/// order.
#[derive(Clone, Debug, Default)]
pub struct Head {
    /// `"GET /v2/ HTTP/1.1"` or `"HTTP/1.1 200 OK"`.
    pub start: String,
    /// Header fields as received (names keep their case).
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Remove every field of that name.
    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
    /// Append a field.
    pub fn push(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }
    /// The serialized head, ending with the empty line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
    /// The status code of a response head (0 if unparsable).
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
    /// Whether the body is `Transfer-Encoding: chunked`.
    pub fn chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
    /// The `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.get("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Read one HTTP head (at most 64 KiB). `Ok(None)` on a clean EOF before
/// any byte.
pub fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut head = Head::default();
    let mut total = 0usize;
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if first {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "EOF in HTTP head",
            ));
        }
        total += n;
        if total > 64 * 1024 {
            return Err(std::io::Error::other("HTTP head too large"));
        }
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if first {
            if line.is_empty() {
                continue; // tolerate a stray CRLF between messages
            }
            head.start = line;
            first = false;
            continue;
        }
        if line.is_empty() {
            return Ok(Some(head));
        }
        if let Some((k, v)) = line.split_once(':') {
            head.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// The body framing of a request.
pub fn request_framing(h: &Head) -> Framing {
    if h.chunked() {
        Framing::Chunked
    } else {
        match h.content_length() {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    }
}

/// The body framing of a response to a request with `method`.
pub fn response_framing(method: &str, h: &Head) -> Framing {
    let code = h.status();
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&code)
        || code == 204
        || code == 304
    {
        return Framing::None;
    }
    if h.chunked() {
        Framing::Chunked
    } else {
        match h.content_length() {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    }
}

/// A reader of a message body's decoded bytes.
pub struct BodyReader<'a, R: BufRead> {
    r: &'a mut R,
    framing: Framing,
    /// Bytes left in the current chunk or in the Content-Length.
    left: u64,
    done: bool,
}

impl<'a, R: BufRead> BodyReader<'a, R> {
    /// Read the body following a head with this framing from `r`.
    pub fn new(r: &'a mut R, framing: Framing) -> Self {
        let (left, done) = match framing {
            Framing::None => (0, true),
            Framing::Length(n) => (n, n == 0),
            Framing::Chunked | Framing::Close => (0, false),
        };
        BodyReader {
            r,
            framing,
            left,
            done,
        }
    }

    /// Read at most the `left` bytes still due into `buf`; the end of the
    /// stream before them is an error saying `short`.
    fn read_left(&mut self, buf: &mut [u8], short: &str) -> std::io::Result<usize> {
        let want = buf.len().min(self.left as usize);
        let n = self.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                short.to_string(),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl<R: BufRead> Read for BodyReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::None => Ok(0),
            Framing::Close => {
                let n = self.r.read(buf)?;
                if n == 0 {
                    self.done = true;
                }
                Ok(n)
            }
            Framing::Length(_) => {
                let n = self.read_left(buf, "short body")?;
                if self.left == 0 {
                    self.done = true;
                }
                Ok(n)
            }
            Framing::Chunked => {
                if self.left == 0 {
                    let mut line = String::new();
                    self.r.read_line(&mut line)?;
                    let size = line
                        .trim()
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    let size = u64::from_str_radix(&size, 16).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("bad chunk size {line:?}"),
                        )
                    })?;
                    if size == 0 {
                        // Trailers up to the empty line.
                        loop {
                            let mut t = String::new();
                            if self.r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                                break;
                            }
                        }
                        self.done = true;
                        return Ok(0);
                    }
                    self.left = size;
                }
                let n = self.read_left(buf, "short chunk")?;
                if self.left == 0 {
                    let mut crlf = String::new();
                    self.r.read_line(&mut crlf)?;
                }
                Ok(n)
            }
        }
    }
}

/// Write body bytes in the given framing (chunked: one chunk per call).
pub fn write_body_part(w: &mut impl Write, framing: Framing, data: &[u8]) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if framing == Framing::Chunked {
        write!(w, "{:x}\r\n", data.len())?;
        w.write_all(data)?;
        w.write_all(b"\r\n")
    } else {
        w.write_all(data)
    }
}

/// Finish a body in the given framing (the last chunk for chunked).
pub fn finish_body(w: &mut impl Write, framing: Framing) -> std::io::Result<()> {
    if framing == Framing::Chunked {
        w.write_all(b"0\r\n\r\n")?;
    }
    w.flush()
}

/// Decode `%XX` and `+` of a query-string component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hexv = |c: u8| (c as char).to_digit(16);
                match (hexv(b[i + 1]), hexv(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The `(key, value)` pairs of a query string or form body, decoded.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The reason phrase for common status codes ("Status" otherwise).
pub fn reason_phrase(code: u16) -> &'static str {
    reason(code)
}

/// Write a complete response with `Connection: close`.
fn respond(
    w: &mut impl Write,
    code: u16,
    extra: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut h = Head {
        start: format!("HTTP/1.1 {code} {}", reason(code)),
        headers: vec![],
    };
    for (k, v) in extra {
        h.push(k, v);
    }
    h.push("Content-Length", &body.len().to_string());
    h.push("Connection", "close");
    w.write_all(&h.to_bytes())?;
    w.write_all(body)?;
    w.flush()
}

// ---------------------------------------------------------------------------
// Token server

/// One request the [`TokenServer`] received.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The user of the basic credentials (or the `username` form field),
    /// if any were presented.
    pub user: Option<String>,
    /// Whether a token was issued (credentials correct).
    pub granted: bool,
    /// The `service` parameter.
    pub service: Option<String>,
    /// Every `scope` parameter (space-separated scopes split apart).
    pub scopes: Vec<String>,
}

/// The token issuer of an [`Auth::Token`] registry: an HTTP server on
/// 127.0.0.1 (a thread, std only) answering `GET /token?service=..&scope=..`
/// (and the OAuth2 `POST /token` password grant) for clients presenting the
/// configured basic credentials; 401 otherwise. Tokens are RS256 JWTs
/// signed with `openssl dgst -sha256 -sign`, carrying the signing
/// certificate in the `x5c` header (the certificate is the registry's
/// `rootcertbundle`), and grant every action requested in the scopes.
pub struct TokenServer {
    /// `"127.0.0.1:PORT"`.
    pub addr: String,
    /// The signing certificate (the registry's `rootcertbundle`).
    pub cert_pem: PathBuf,
    /// The signing key.
    pub key_pem: PathBuf,
    state: Arc<TokenState>,
    _acceptor: Acceptor,
}

struct TokenState {
    user: String,
    password: String,
    key_pem: PathBuf,
    x5c: String,
    log: Mutex<Vec<TokenRequest>>,
    serial: AtomicU64,
}

impl TokenServer {
    /// Generate a signing key and self-signed certificate in `dir` and
    /// start serving on a free port.
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        self_signed(
            dir,
            "v3_sign",
            "token.key",
            "token.pem",
            "/CN=linuxkit-test-token-issuer",
        );
        let cert_pem = dir.join("token.pem");
        let key_pem = dir.join("token.key");
        let der = pem_to_der(&std::fs::read_to_string(&cert_pem).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(TokenState {
            user: user.to_string(),
            password: password.to_string(),
            key_pem: key_pem.clone(),
            x5c: base64_std(&der),
            log: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
        });
        let acceptor = Acceptor::start(listener, state.clone(), serve_token);
        TokenServer {
            addr,
            cert_pem,
            key_pem,
            state,
            _acceptor: acceptor,
        }
    }

    /// `http://127.0.0.1:P/token` (the realm).
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// Number of requests received so far.
    pub fn count(&self) -> usize {
        self.state.log.lock().unwrap().len()
    }

    /// Number of tokens issued so far.
    pub fn issued(&self) -> usize {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.granted)
            .count()
    }

    /// Issue a token for these scopes directly (as the server would).
    pub fn issue(&self, sub: &str, service: &str, scopes: &[String]) -> String {
        make_jwt(&self.state, sub, service, scopes)
    }
}

fn serve_token(conn: TcpStream, st: &TokenState) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let Some(head) = read_head(&mut r)? else {
        return Ok(());
    };
    let mut parts = head.start.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut body = Vec::new();
    BodyReader::new(&mut r, request_framing(&head))
        .take(1 << 20)
        .read_to_end(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut params = parse_query(query);
    if method == "POST" {
        params.extend(parse_query(&String::from_utf8_lossy(&body)));
    }
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    let service = param("service");

    // Credentials: basic auth, or the password-grant form fields.
    let mut presented: Option<(String, String)> = head
        .get("authorization")
        .and_then(|a| {
            a.strip_prefix("Basic ")
                .or_else(|| a.strip_prefix("basic "))
        })
        .and_then(|b| base64_decode(b.trim()))
        .and_then(|d| {
            let s = String::from_utf8_lossy(&d).to_string();
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    if presented.is_none()
        && method == "POST"
        && param("grant_type").as_deref() == Some("password")
        && let (Some(u), Some(p)) = (param("username"), param("password"))
    {
        presented = Some((u, p));
    }
    let granted = path == "/token"
        && presented
            .as_ref()
            .is_some_and(|(u, p)| *u == st.user && *p == st.password);
    st.log.lock().unwrap().push(TokenRequest {
        method: method.clone(),
        target: target.clone(),
        user: presented.as_ref().map(|(u, _)| u.clone()),
        granted,
        service: service.clone(),
        scopes: scopes.clone(),
    });
    if path != "/token" {
        return respond(
            &mut w,
            404,
            &[("Content-Type", "text/plain")],
            b"not found\n",
        );
    }
    if !granted {
        return respond(
            &mut w,
            401,
            &[
                ("Content-Type", "application/json"),
                ("WWW-Authenticate", "Basic realm=\"linuxkit-test-token\""),
            ],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
        );
    }
    let sub = presented.unwrap().0;
    let jwt = make_jwt(
        st,
        &sub,
        service.as_deref().unwrap_or(TOKEN_SERVICE),
        &scopes,
    );
    let body = serde_json::json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": 300,
        "issued_at": rfc3339(now_secs()),
    });
    respond(
        &mut w,
        200,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The `access` claim for scopes `type:name:action,action` (the name may
/// itself contain `:` for e.g. a port, so split at the first and last).
fn access_claim(scopes: &[String]) -> serde_json::Value {
    let mut v = Vec::new();
    for s in scopes {
        let Some((typ, rest)) = s.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
        v.push(serde_json::json!({"type": typ, "name": name, "actions": actions}));
    }
    serde_json::Value::Array(v)
}

fn make_jwt(st: &TokenState, sub: &str, service: &str, scopes: &[String]) -> String {
    let now = now_secs();
    let n = st.serial.fetch_add(1, Ordering::SeqCst);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [st.x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": sub,
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("linuxkit-test-{now}-{n}-{}", std::process::id()),
        "access": access_claim(scopes),
    });
    let signing_input = format!(
        "{}.{}",
        base64_url(header.to_string().as_bytes()),
        base64_url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&st.key_pem)
        .env_remove("OPENSSL_CONF")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .run_spawn();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "openssl dgst -sign: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    format!("{signing_input}.{}", base64_url(&o.stdout))
}

// ---------------------------------------------------------------------------
// skopeo and docker config

/// Run `skopeo --insecure-policy ARGS` with a 120 s bound (killed after).
pub fn skopeo(args: &[&str]) -> Output {
    let mut child = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .run_spawn();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// The skopeo flags to reach `reg` for commands with one image (`inspect`,
/// `delete`, `list-tags`): `--creds user:pass` when it has credentials,
/// `--cert-dir DIR` (holding `ca.crt`) for TLS, `--tls-verify=false` for
/// plain HTTP (skopeo then falls back from https to http).
pub fn skopeo_creds(reg: &Registry) -> Vec<String> {
    skopeo_creds_for(reg, "")
}

/// Like [`skopeo_creds`] with the flag names of one side of `skopeo copy`:
/// `side` is `"src"` or `"dest"` (giving `--dest-creds`, `--dest-cert-dir`,
/// `--dest-tls-verify=false`), or `""` for the plain names.
pub fn skopeo_creds_for(reg: &Registry, side: &str) -> Vec<String> {
    let p = if side.is_empty() {
        String::new()
    } else {
        format!("{side}-")
    };
    let mut v = Vec::new();
    if let Some((u, pw)) = &reg.creds {
        v.push(format!("--{p}creds={u}:{pw}"));
    }
    match &reg.cert_dir {
        Some(d) => v.push(format!("--{p}cert-dir={}", d.display())),
        None => v.push(format!("--{p}tls-verify=false")),
    }
    v
}

/// [`skopeo`] with `args`; panics with skopeo's stderr on failure, else
/// returns its stdout.
pub fn skopeo_ok(args: &[String]) -> Vec<u8> {
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let o = skopeo(&a);
    assert!(
        o.status.success(),
        "skopeo {a:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// `skopeo copy --all <layout> docker://HOST/<dest>` with the right
/// credentials; panics with skopeo's stderr on failure.
pub fn skopeo_push(reg: &Registry, layout: &SyntheticLayout, dest: &str) {
    let mut args: Vec<String> = vec!["copy".into(), "--all".into()];
    args.extend(skopeo_creds_for(reg, "dest"));
    args.push(layout.oci_ref());
    args.push(reg.docker_ref(dest));
    skopeo_ok(&args);
}

/// `skopeo inspect --raw docker://HOST/<name_and_ref>`: the manifest bytes
/// as stored; panics on failure.
pub fn skopeo_inspect_raw(reg: &Registry, name_and_ref: &str) -> Vec<u8> {
    let mut args: Vec<String> = vec!["inspect".into(), "--raw".into()];
    args.extend(skopeo_creds(reg));
    args.push(reg.docker_ref(name_and_ref));
    skopeo_ok(&args)
}

/// Write `dir/config.json` in the docker CLI format, with
/// `{"auths": {"127.0.0.1:P": {"auth": base64(user:pass)}}}` when the
/// registry has credentials (`{"auths": {}}` otherwise), and return the
/// file's path. Point `DOCKER_CONFIG` at `dir` for the client under test.
pub fn docker_config(dir: &Path, reg: &Registry) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut auths = serde_json::Map::new();
    if let Some((u, p)) = &reg.creds {
        auths.insert(
            reg.addr.clone(),
            serde_json::json!({"auth": base64_std(format!("{u}:{p}").as_bytes())}),
        );
    }
    let path = dir.join("config.json");
    let v = serde_json::json!({"auths": auths});
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    path
}

// ---------------------------------------------------------------------------
// Synthetic OCI image layout

/// OCI media types used by [`synthetic_layout`].
pub const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
pub const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer media type.
pub const MT_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A blob of the layout: `sha256:<hex>` digest and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// One per-architecture image of a [`SyntheticLayout`].
#[derive(Clone, Debug)]
pub struct LayoutImage {
    /// The architecture (`amd64`, `arm64`, ...).
    pub arch: String,
    /// The variant, when the arch was given as `arch/variant`.
    pub variant: Option<String>,
    /// The image manifest.
    pub manifest: Blob,
    /// The config blob.
    pub config: Blob,
    /// The gzip layers in order.
    pub layers: Vec<Blob>,
    /// The diff_ids (sha256 of each uncompressed tar) in order.
    pub diff_ids: Vec<String>,
    /// Paths of the regular files in each layer (in order of layers).
    pub files: Vec<Vec<String>>,
}

/// An OCI image layout written by [`synthetic_layout`].
#[derive(Clone, Debug)]
pub struct SyntheticLayout {
    /// The layout directory (holds `oci-layout`, `index.json`, `blobs/`).
    pub dir: PathBuf,
    /// The image index tagged `latest` in `index.json`.
    pub index: Blob,
    /// The per-architecture images, in the order of `arches`.
    pub images: Vec<LayoutImage>,
}

impl SyntheticLayout {
    /// `oci:<dir>:latest` for skopeo.
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:latest", self.dir.display())
    }
    /// The path of a blob in the layout.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').unwrap();
        self.dir.join("blobs").join(alg).join(hex)
    }
    /// The bytes of a blob in the layout.
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        std::fs::read(self.blob_path(digest)).unwrap()
    }
    /// The image for an architecture.
    pub fn image(&self, arch: &str) -> &LayoutImage {
        self.images
            .iter()
            .find(|i| i.arch == arch)
            .expect("no such arch in layout")
    }
}

/// A deterministic xorshift64* byte stream (incompressible for gzip).
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

fn seed_of(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_le_bytes(d[..8].try_into().unwrap())
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn write_blob(dir: &Path, data: &[u8]) -> Blob {
    let digest = sha256_digest(data);
    let p = dir.join("blobs/sha256").join(&digest["sha256:".len()..]);
    std::fs::write(p, data).unwrap();
    Blob {
        digest,
        size: data.len() as u64,
    }
}

/// Write an OCI image layout under `dir/layout`: one image per entry of
/// `arches` (`"amd64"`, or `"arm/v7"` for a variant), each with
/// `layers_per_image` gzip tar layers of about `layer_size` bytes of
/// deterministic pseudo-random (incompressible) file content (split over
/// three files plus a small text file naming arch and layer), an OCI config
/// with os `linux`, the architecture and the rootfs diff_ids; a multi-arch
/// image index over them; and `index.json` referencing that index with
/// annotation `org.opencontainers.image.ref.name: latest`. Deterministic:
/// the same arguments give the same digests.
pub fn synthetic_layout(
    dir: &Path,
    arches: &[&str],
    layers_per_image: usize,
    layer_size: usize,
) -> SyntheticLayout {
    let root = dir.join("layout");
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut images = Vec::new();
    let mut index_manifests = Vec::new();
    for a in arches {
        let (arch, variant) = match a.split_once('/') {
            Some((x, v)) => (x.to_string(), Some(v.to_string())),
            None => (a.to_string(), None),
        };
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let mut files = Vec::new();
        for l in 0..layers_per_image {
            let mut rng = XorShift::new(seed_of(&format!("{a}/{l}/{layer_size}")));
            let mut tb = tar::Builder::new(Vec::new());
            let mut names = Vec::new();
            let base = format!("data/{}/layer{l}", a.replace('/', "-"));
            let mut dir_h = tar::Header::new_gnu();
            dir_h.set_entry_type(tar::EntryType::Directory);
            dir_h.set_mode(0o755);
            dir_h.set_mtime(0);
            dir_h.set_uid(0);
            dir_h.set_gid(0);
            dir_h.set_size(0);
            tb.append_data(&mut dir_h, format!("{base}/"), std::io::empty())
                .unwrap();
            let sizes = [
                layer_size / 2,
                layer_size / 4,
                layer_size - layer_size / 2 - layer_size / 4,
            ];
            let mut add = |tb: &mut tar::Builder<Vec<u8>>, name: String, data: &[u8]| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_mtime(0);
                h.set_uid(0);
                h.set_gid(0);
                h.set_size(data.len() as u64);
                tb.append_data(&mut h, &name, data).unwrap();
                names.push(name);
            };
            for (i, s) in sizes.iter().enumerate() {
                let data = rng.bytes(*s);
                add(&mut tb, format!("{base}/file{i}.bin"), &data);
            }
            add(
                &mut tb,
                format!("{base}/info.txt"),
                format!("arch {a} layer {l}\n").as_bytes(),
            );
            let tar_bytes = tb.into_inner().unwrap();
            diff_ids.push(sha256_digest(&tar_bytes));
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar_bytes).unwrap();
            let gz_bytes = gz.finish().unwrap();
            layers.push(write_blob(&root, &gz_bytes));
            files.push(names);
        }
        let mut cfg = serde_json::json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": (0..layers_per_image).map(|l| serde_json::json!({
                "created": "1970-01-01T00:00:00Z",
                "created_by": format!("synthetic layer {l}"),
            })).collect::<Vec<_>>(),
        });
        if let Some(v) = &variant {
            cfg["variant"] = serde_json::json!(v);
        }
        let config = write_blob(&root, &serde_json::to_vec(&cfg).unwrap());
        let manifest_json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": config.digest, "size": config.size},
            "layers": layers.iter().map(|b| serde_json::json!({
                "mediaType": MT_LAYER_GZIP, "digest": b.digest, "size": b.size,
            })).collect::<Vec<_>>(),
        });
        let manifest = write_blob(&root, &serde_json::to_vec(&manifest_json).unwrap());
        let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
        if let Some(v) = &variant {
            platform["variant"] = serde_json::json!(v);
        }
        index_manifests.push(serde_json::json!({
            "mediaType": MT_MANIFEST,
            "digest": manifest.digest,
            "size": manifest.size,
            "platform": platform,
        }));
        images.push(LayoutImage {
            arch,
            variant,
            manifest,
            config,
            layers,
            diff_ids,
            files,
        });
    }
    let index_json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": index_manifests,
    });
    let index = write_blob(&root, &serde_json::to_vec(&index_json).unwrap());
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{
            "mediaType": MT_INDEX,
            "digest": index.digest,
            "size": index.size,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(root.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    SyntheticLayout {
        dir: root,
        index,
        images,
    }
}

// ---------------------------------------------------------------------------
// Small HTTP helpers for harness-level checks (no client under test)

/// A raw plain-HTTP request to `addr` (one request, `Connection: close`);
/// returns the response head and the body as read until close (bounded by
/// a 30 s read timeout). For checks that must not depend on the client
/// under test.
pub fn raw_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(Head, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s.try_clone()?);
    let head = read_head(&mut r)?.ok_or_else(|| std::io::Error::other("no response"))?;
    let mut body = Vec::new();
    let framing = response_framing(method, &head);
    let res = BodyReader::new(&mut r, framing).read_to_end(&mut body);
    let _ = s.shutdown(Shutdown::Both);
    res.map(|_| (head, body))
}
