//! The HTTP side of the distribution API: one `ureq` agent (rustls, the
//! system CA bundle plus `--cert-file` certificates, proxies from the
//! environment), endpoints (mirrors first, then the registry; plain HTTP for
//! chosen registries and, after a failed TLS handshake, for loopback ones),
//! authentication (anonymous, basic, bearer tokens per scope) and retries with
//! exponential backoff on connection errors, 5xx and 429 (honouring
//! `Retry-After`).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use ureq::http;

use super::RegistryError;
use super::auth::{Challenge, TokenAnswer, parse_challenge, query_escape};
use super::credentials::{Credential, Credentials};
use super::progress::{NoProgress, Progress};

/// A response from the registry.
pub type Response = http::Response<ureq::Body>;

/// Retry policy for connection errors, 5xx and 429.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubled each time.
    pub base: Duration,
    /// Longest wait, also the cap on `Retry-After`.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

/// A registry mirror: requests for `registry` (`*` = all) go to `url` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Registry host the mirror stands in for, or `*`.
    pub registry: String,
    /// Base URL (`http://…` or `https://…`, no trailing slash).
    pub url: String,
}

impl Mirror {
    /// Parse upstream's `--mirror` syntax: `<registry>=<url>` or `<url>`.
    pub fn parse(spec: &str) -> Result<Mirror, RegistryError> {
        let (registry, url) = match spec.split_once('=') {
            Some((r, u)) => (r.trim().to_string(), u.trim()),
            None => ("*".to_string(), spec.trim()),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RegistryError::Config(format!(
                "mirror \"{url}\" must start with http:// or https://"
            )));
        }
        Ok(Mirror {
            registry,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    fn serves(&self, registry: &str) -> bool {
        self.registry == "*"
            || self.registry == registry
            || (self.registry == "docker.io" && is_docker_hub(registry))
    }
}

/// Is `registry` one of Docker Hub's names?
pub fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Options of the registry client.
#[derive(Clone)]
pub struct RegistryOptions {
    /// Mirrors (tried before the registry itself).
    pub mirrors: Vec<Mirror>,
    /// Registries (host[:port]) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Extra CA certificates (PEM files) trusted for registry TLS.
    pub ca_files: Vec<PathBuf>,
    /// Docker client configuration with credentials (default: `$DOCKER_CONFIG`, `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// Blobs downloaded or uploaded at once.
    pub parallel: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Blobs larger than this are uploaded in chunks of this size.
    pub chunk_size: u64,
    /// The slowest blob download accepted (default from the environment).
    pub min_progress: super::stall::MinProgress,
    /// Progress reports.
    pub progress: Arc<dyn Progress>,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            mirrors: Vec::new(),
            insecure: Vec::new(),
            ca_files: Vec::new(),
            docker_config: None,
            parallel: 4,
            retry: RetryPolicy::default(),
            chunk_size: 32 << 20,
            min_progress: super::stall::MinProgress::from_env(),
            progress: Arc::new(NoProgress),
        }
    }
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("mirrors", &self.mirrors)
            .field("insecure", &self.insecure)
            .field("ca_files", &self.ca_files)
            .field("parallel", &self.parallel)
            .finish_non_exhaustive()
    }
}

/// Where requests for one registry go.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `scheme://host[:port]` (a mirror may add a path prefix).
    pub base: String,
    /// The registry named in the image reference (for credentials and errors).
    pub registry: String,
    /// Is this a mirror?
    pub mirror: bool,
}

/// What a request is about, for error messages.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Image reference as the user wrote or we expanded it.
    pub reference: String,
    /// Registry host.
    pub registry: String,
    /// Repository path.
    pub repository: String,
}

/// A request body that can be sent again on retry.
#[derive(Debug, Clone, Copy)]
pub enum ReqBody<'a> {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A region of a file.
    File {
        /// The file.
        path: &'a Path,
        /// Start.
        offset: u64,
        /// Length.
        len: u64,
    },
}

/// One request.
#[derive(Debug, Clone)]
pub struct Req<'a> {
    /// HTTP method.
    pub method: &'static str,
    /// Path below the endpoint (`/v2/…`) or an absolute URL (upload locations).
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: ReqBody<'a>,
    /// Token scope (`repository:name:pull`); several separated by spaces.
    pub scope: String,
    /// "pull" or "push", for errors.
    pub action: &'static str,
}

impl<'a> Req<'a> {
    /// A body-less request.
    pub fn new(method: &'static str, path: String, scope: String, action: &'static str) -> Req<'a> {
        Req {
            method,
            path,
            headers: Vec::new(),
            body: ReqBody::Empty,
            scope,
            action,
        }
    }
}

#[derive(Debug, Clone)]
enum AuthState {
    Basic(String),
    Bearer {
        realm: String,
        service: Option<String>,
        tokens: HashMap<String, String>,
    },
}

/// The registry client.
pub struct Client {
    agent: ureq::Agent,
    pub(crate) opts: RegistryOptions,
    creds: Credentials,
    auth: Mutex<HashMap<String, AuthState>>,
    plain_http: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("opts", &self.opts).finish()
    }
}

fn load_roots(ca_files: &[PathBuf]) -> Result<ureq::tls::RootCerts, RegistryError> {
    use ureq::tls::{Certificate, PemItem, RootCerts, parse_pem};
    if ca_files.is_empty() {
        return Ok(RootCerts::WebPki);
    }
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    let mut add = |path: &Path, required: bool| -> Result<(), RegistryError> {
        let pem = match std::fs::read(path) {
            Ok(p) => p,
            Err(_) if !required => return Ok(()),
            Err(e) => return Err(RegistryError::io("cannot read certificate file", path, e)),
        };
        let before = certs.len();
        for item in parse_pem(&pem) {
            if let Ok(PemItem::Certificate(c)) = item {
                certs.push(c);
            }
        }
        if required && certs.len() == before {
            return Err(RegistryError::Config(format!(
                "certificate file {} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(())
    };
    // The system's bundle (Debian's ca-certificates) stays trusted beside the extra CAs.
    for sys in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ] {
        add(Path::new(sys), false)?;
    }
    for f in ca_files {
        add(f, true)?;
    }
    Ok(RootCerts::new_with_certs(&certs))
}

fn is_loopback(host: &str) -> bool {
    let h = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]" || h.ends_with(".localhost")
}

/// Is a transport error worth retrying?
fn retryable(e: &ureq::Error) -> bool {
    // A name that does not resolve will not resolve in a second either.
    let dns =
        matches!(e, ureq::Error::Io(io) if io.to_string().contains("failed to lookup address"));
    !tls_error(e)
        && !dns
        && matches!(
            e,
            ureq::Error::Io(_)
                | ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::Protocol(_)
        )
}

fn tls_error(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => true,
        // rustls reports handshake failures through the socket as InvalidData.
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// Did a TLS handshake fail because the server answered in plain HTTP?
/// (Not for certificate errors: those must stay errors.)
fn speaks_plain_http(e: &ureq::Error) -> bool {
    let text = e.to_string();
    tls_error(e) && (text.contains("InvalidContentType") || text.contains("corrupt message"))
}

/// Delay from a `Retry-After` header (seconds; HTTP dates are not used by registries).
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// Read a small response body (manifests, errors, tokens): at most 8 MiB.
pub fn read_small(resp: Response) -> Result<Vec<u8>, ureq::Error> {
    resp.into_body()
        .into_with_config()
        .limit(8 << 20)
        .read_to_vec()
}

/// The registry's error text (`{"errors":[{"code","message"}]}`) or the raw body.
pub fn error_detail(status: u16, body: &[u8]) -> (String, Vec<String>) {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Es {
        #[serde(default)]
        errors: Vec<E>,
    }
    if let Ok(es) = serde_json::from_slice::<Es>(body)
        && !es.errors.is_empty()
    {
        let codes = es.errors.iter().map(|e| e.code.clone()).collect();
        let text = es
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return (format!("{status} {text}"), codes);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        (format!("{status}"), Vec::new())
    } else {
        let short: String = text.chars().take(200).collect();
        (format!("{status} {short}"), Vec::new())
    }
}

impl Client {
    /// A client with these options.
    pub fn new(opts: RegistryOptions) -> Result<Client, RegistryError> {
        let roots = load_roots(&opts.ca_files)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .accept_encoding("identity")
            .user_agent(concat!("linuxkit-rs/", env!("CARGO_PKG_VERSION")))
            .proxy(ureq::Proxy::try_from_env())
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_recv_body(None)
            .timeout_per_read(Some(Duration::from_secs(60)))
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build();
        let path = opts
            .docker_config
            .clone()
            .map(|d| if d.is_dir() { d.join("config.json") } else { d })
            .unwrap_or_else(Credentials::default_path);
        let creds = Credentials::load(path)?;
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            opts,
            creds,
            auth: Mutex::new(HashMap::new()),
            plain_http: Mutex::new(HashMap::new()),
        })
    }

    /// The progress sink.
    pub fn progress(&self) -> &dyn Progress {
        self.opts.progress.as_ref()
    }

    /// The docker config consulted, for messages.
    fn config_path(&self) -> String {
        self.creds.path().display().to_string()
    }

    /// Endpoints for `registry`: its mirrors, then the registry itself.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut eps: Vec<Endpoint> = self
            .opts
            .mirrors
            .iter()
            .filter(|m| m.serves(registry))
            .map(|m| Endpoint {
                base: m.url.clone(),
                registry: registry.to_string(),
                mirror: true,
            })
            .collect();
        let host = if is_docker_hub(registry) {
            "registry-1.docker.io"
        } else {
            registry
        };
        let plain = self
            .opts
            .insecure
            .iter()
            .any(|h| h == registry || h == host);
        eps.push(Endpoint {
            base: format!("{}://{host}", if plain { "http" } else { "https" }),
            registry: registry.to_string(),
            mirror: false,
        });
        eps
    }

    /// The base URL to use now (a loopback registry found to speak plain HTTP is switched).
    fn effective_base(&self, ep: &Endpoint) -> String {
        if let Ok(m) = self.plain_http.lock()
            && m.get(&ep.base).copied().unwrap_or(false)
        {
            return ep.base.replacen("https://", "http://", 1);
        }
        ep.base.clone()
    }

    fn state_of(&self, base: &str) -> Option<AuthState> {
        self.auth.lock().ok()?.get(base).cloned()
    }

    fn auth_header(&self, base: &str, scope: &str) -> Option<String> {
        match self.state_of(base)? {
            AuthState::Basic(h) => Some(h),
            AuthState::Bearer { tokens, .. } => tokens.get(scope).map(|t| format!("Bearer {t}")),
        }
    }

    fn credential(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        self.creds.get(registry)
    }

    fn unreachable(&self, ctx: &Ctx, e: &ureq::Error) -> RegistryError {
        let hint = if tls_error(e) {
            " (TLS: if the registry uses a private CA, pass its certificate with --cert-file; if it \
             speaks plain HTTP, name it with --insecure-registry)"
                .to_string()
        } else {
            String::new()
        };
        RegistryError::Unreachable {
            registry: ctx.registry.clone(),
            reference: ctx.reference.clone(),
            cause: e.to_string(),
            hint,
        }
    }

    fn backoff(&self, attempt: u32, resp: Option<&Response>) -> Duration {
        let p = &self.opts.retry;
        if let Some(d) = resp.and_then(retry_after) {
            return d.min(p.max);
        }
        jitter(p.base.saturating_mul(1 << attempt.min(16)).min(p.max))
    }

    /// Send a request: authentication, TLS fallback for loopback registries and
    /// retries are handled here. 401 after authenticating becomes an error;
    /// every other status is returned for the caller to interpret (after
    /// retries for 5xx and 429).
    pub fn send(&self, ep: &Endpoint, ctx: &Ctx, req: &Req<'_>) -> Result<Response, RegistryError> {
        let attempts = self.opts.retry.attempts.max(1);
        let mut attempt = 0;
        let mut authenticated = false;
        loop {
            let base = self.effective_base(ep);
            let url = if req.path.starts_with("http://") || req.path.starts_with("https://") {
                req.path.clone()
            } else {
                format!("{base}{}", req.path)
            };
            let result = self.send_once(&url, &base, req);
            match result {
                Err(e) => {
                    if base.starts_with("https://")
                        && is_loopback(&ep.registry)
                        && !ep.mirror
                        && speaks_plain_http(&e)
                    {
                        // A loopback registry that speaks plain HTTP (as go-containerregistry allows).
                        if let Ok(mut m) = self.plain_http.lock() {
                            m.insert(ep.base.clone(), true);
                        }
                        continue;
                    }
                    attempt += 1;
                    if retryable(&e) && attempt < attempts {
                        let d = self.backoff(attempt - 1, None);
                        self.progress().retry(&ctx.reference, &e.to_string(), d);
                        std::thread::sleep(d);
                        continue;
                    }
                    return Err(self.unreachable(ctx, &e));
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 401 {
                        let challenge = resp
                            .headers()
                            .get_all("www-authenticate")
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .filter_map(parse_challenge)
                            .next();
                        let body = read_small(resp).unwrap_or_default();
                        let (detail, _) = error_detail(status, &body);
                        if authenticated || challenge.is_none() {
                            return Err(self.auth_failure(ep, ctx, &detail)?);
                        }
                        if let Some(c) = challenge {
                            self.authenticate(ep, &base, ctx, req, c)?;
                        }
                        authenticated = true;
                        continue;
                    }
                    if (status == 429 || (500..600).contains(&status) && status != 501)
                        && attempt + 1 < attempts
                    {
                        attempt += 1;
                        let d = self.backoff(attempt - 1, Some(&resp));
                        self.progress().retry(
                            &ctx.reference,
                            &format!(
                                "{} {}",
                                status,
                                resp.status().canonical_reason().unwrap_or("")
                            ),
                            d,
                        );
                        drop(read_small(resp));
                        std::thread::sleep(d);
                        continue;
                    }
                    return Ok(resp);
                }
            }
        }
    }

    fn auth_failure(
        &self,
        ep: &Endpoint,
        ctx: &Ctx,
        detail: &str,
    ) -> Result<RegistryError, RegistryError> {
        let had = self.credential(&ep.registry)?.is_some();
        Ok(self.credentials_error(ctx, had, detail))
    }

    /// No credentials (`had` false) or rejected ones, for `ctx`.
    fn credentials_error(&self, ctx: &Ctx, had: bool, detail: &str) -> RegistryError {
        if had {
            RegistryError::BadCredentials {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                detail: detail.to_string(),
                config: self.config_path(),
            }
        } else {
            RegistryError::NoCredentials {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                config: self.config_path(),
            }
        }
    }

    fn send_once(&self, url: &str, base: &str, req: &Req<'_>) -> Result<Response, ureq::Error> {
        let mut b = http::Request::builder().method(req.method).uri(url);
        // Credentials go only to the registry itself, never to a redirect target
        // or an absolute upload URL on another host.
        if url.starts_with(base)
            && let Some(h) = self.auth_header(base, &req.scope)
        {
            b = b.header("authorization", h);
        }
        for (k, v) in &req.headers {
            b = b.header(*k, v.as_str());
        }
        match req.body {
            ReqBody::Empty => {
                let r = b.body(()).map_err(ureq::Error::Http)?;
                self.agent.run(r)
            }
            ReqBody::Bytes(data) => {
                let r = b.body(data).map_err(ureq::Error::Http)?;
                self.agent.run(r)
            }
            ReqBody::File { path, offset, len } => {
                let mut f = std::fs::File::open(path)?;
                f.seek(SeekFrom::Start(offset))?;
                let reader = f.take(len);
                let r = b
                    .header("content-length", len.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(ureq::Error::Http)?;
                self.agent.run(r)
            }
        }
    }

    /// Answer a challenge: remember basic credentials, or fetch a token for the scope.
    fn authenticate(
        &self,
        ep: &Endpoint,
        base: &str,
        ctx: &Ctx,
        req: &Req<'_>,
        challenge: Challenge,
    ) -> Result<(), RegistryError> {
        let cred = self.credential(&ep.registry)?;
        match challenge {
            Challenge::Basic => {
                let Some(Credential::Basic { username, password }) = cred else {
                    return Err(RegistryError::NoCredentials {
                        registry: ctx.registry.clone(),
                        reference: ctx.reference.clone(),
                        config: self.config_path(),
                    });
                };
                let h = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                );
                if let Ok(mut m) = self.auth.lock() {
                    m.insert(base.to_string(), AuthState::Basic(h));
                }
                Ok(())
            }
            Challenge::Bearer { realm, service, .. } => {
                let token =
                    self.fetch_token(ctx, &realm, service.as_deref(), &req.scope, cred.as_ref())?;
                if let Ok(mut m) = self.auth.lock() {
                    let entry = m
                        .entry(base.to_string())
                        .or_insert_with(|| AuthState::Bearer {
                            realm: realm.clone(),
                            service: service.clone(),
                            tokens: HashMap::new(),
                        });
                    match entry {
                        AuthState::Bearer {
                            tokens,
                            realm: r,
                            service: s,
                        } => {
                            *r = realm;
                            *s = service;
                            tokens.insert(req.scope.clone(), token);
                        }
                        AuthState::Basic(_) => {
                            let mut tokens = HashMap::new();
                            tokens.insert(req.scope.clone(), token);
                            *entry = AuthState::Bearer {
                                realm,
                                service,
                                tokens,
                            };
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn fetch_token(
        &self,
        ctx: &Ctx,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", query_escape(s)));
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(format!("scope={}", query_escape(s)));
        }
        let attempts = self.opts.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            let result = match cred {
                Some(Credential::IdentityToken(t)) => {
                    let mut form = vec![
                        "grant_type=refresh_token".to_string(),
                        format!("refresh_token={}", query_escape(t)),
                        "client_id=linuxkit".to_string(),
                    ];
                    form.extend(query.iter().cloned());
                    let body = form.join("&");
                    http::Request::builder()
                        .method("POST")
                        .uri(realm)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .map_err(ureq::Error::Http)
                        .and_then(|r| self.agent.run(r))
                }
                other => {
                    let sep = if realm.contains('?') { '&' } else { '?' };
                    let url = if query.is_empty() {
                        realm.to_string()
                    } else {
                        format!("{realm}{sep}{}", query.join("&"))
                    };
                    let mut b = http::Request::builder().method("GET").uri(url);
                    if let Some(Credential::Basic { username, password }) = other {
                        b = b.header(
                            "authorization",
                            format!(
                                "Basic {}",
                                base64::engine::general_purpose::STANDARD
                                    .encode(format!("{username}:{password}"))
                            ),
                        );
                    }
                    b.body(())
                        .map_err(ureq::Error::Http)
                        .and_then(|r| self.agent.run(r))
                }
            };
            match result {
                Err(e) => {
                    attempt += 1;
                    if retryable(&e) && attempt < attempts {
                        std::thread::sleep(self.backoff(attempt - 1, None));
                        continue;
                    }
                    return Err(RegistryError::Unreachable {
                        registry: ctx.registry.clone(),
                        reference: ctx.reference.clone(),
                        cause: format!("token service {realm}: {e}"),
                        hint: String::new(),
                    });
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (status == 429 || status >= 500) && attempt + 1 < attempts {
                        attempt += 1;
                        let d = self.backoff(attempt - 1, Some(&resp));
                        std::thread::sleep(d);
                        continue;
                    }
                    let body = read_small(resp).map_err(|e| self.unreachable(ctx, &e))?;
                    if status == 401 || status == 403 {
                        let (detail, _) = error_detail(status, &body);
                        return Err(self.credentials_error(
                            ctx,
                            cred.is_some(),
                            &format!("token service {realm} answered {detail}"),
                        ));
                    }
                    if status != 200 {
                        let (detail, _) = error_detail(status, &body);
                        return Err(RegistryError::Status {
                            registry: ctx.registry.clone(),
                            reference: ctx.reference.clone(),
                            request: format!("GET {realm}"),
                            detail,
                        });
                    }
                    let answer: TokenAnswer =
                        serde_json::from_slice(&body).map_err(|e| RegistryError::BadManifest {
                            registry: ctx.registry.clone(),
                            reference: ctx.reference.clone(),
                            message: format!("the token service {realm} sent no token: {e}"),
                        })?;
                    return answer.token().ok_or_else(|| RegistryError::BadManifest {
                        registry: ctx.registry.clone(),
                        reference: ctx.reference.clone(),
                        message: format!("the token service {realm} sent an empty token"),
                    });
                }
            }
        }
    }

    /// Turn an unexpected status into the error that says what to check.
    pub fn status_error(
        &self,
        ctx: &Ctx,
        req: &Req<'_>,
        resp: Response,
        what: &str,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let body = read_small(resp).unwrap_or_default();
        let (detail, codes) = error_detail(status, &body);
        let has = |c: &str| codes.iter().any(|x| x == c);
        match status {
            403 => RegistryError::Denied {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                action: req.action,
                detail,
            },
            404 if has("NAME_UNKNOWN") => RegistryError::RepositoryNotFound {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                repository: ctx.repository.clone(),
                detail,
            },
            404 if what.starts_with("manifest ") => RegistryError::ManifestNotFound {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                repository: ctx.repository.clone(),
                tag: what.trim_start_matches("manifest ").to_string(),
                detail,
            },
            _ => RegistryError::Status {
                registry: ctx.registry.clone(),
                reference: ctx.reference.clone(),
                request: format!("{} {}", req.method, req.path),
                detail: if status == 429 || status >= 500 {
                    format!(
                        "{detail} (after {} attempts)",
                        self.opts.retry.attempts.max(1)
                    )
                } else {
                    detail
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors() {
        let m = Mirror::parse("docker.io=http://127.0.0.1:5000/").unwrap();
        assert_eq!(m.url, "http://127.0.0.1:5000");
        assert!(m.serves("docker.io") && m.serves("index.docker.io") && !m.serves("quay.io"));
        let all = Mirror::parse("https://m.example").unwrap();
        assert!(all.serves("quay.io"));
        let e = Mirror::parse("docker.io=m.example")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must start with http:// or https://"), "{e}");
    }

    #[test]
    fn endpoints_put_mirrors_first() {
        let c = Client::new(RegistryOptions {
            mirrors: vec![Mirror::parse("docker.io=http://m:1").unwrap()],
            insecure: vec!["plain.example:5000".into()],
            docker_config: Some(PathBuf::from("/nonexistent/config.json")),
            ..Default::default()
        })
        .unwrap();
        let eps = c.endpoints("docker.io");
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].base, "http://m:1");
        assert_eq!(eps[1].base, "https://registry-1.docker.io");
        assert_eq!(
            c.endpoints("plain.example:5000")[0].base,
            "http://plain.example:5000"
        );
        assert_eq!(c.endpoints("quay.io")[0].base, "https://quay.io");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("registry.example:5000"));
    }

    #[test]
    fn registry_errors_are_summarised() {
        let (d, codes) = error_detail(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#,
        );
        assert_eq!(d, "404 MANIFEST_UNKNOWN manifest unknown");
        assert_eq!(codes, vec!["MANIFEST_UNKNOWN"]);
        assert_eq!(error_detail(500, b"").0, "500");
    }
}
