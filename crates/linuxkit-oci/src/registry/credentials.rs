//! Registry credentials from Docker's client configuration, as `docker login`
//! writes it: `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`)
//! with `auths` (base64 `user:password`, or `username`/`password`, or an
//! `identitytoken`), `credHelpers` (per registry) and `credsStore` (default
//! helper), the helpers being `docker-credential-<name>` programs that answer
//! `get` with JSON on stdout. Docker Hub is looked up under its historical key
//! `https://index.docker.io/v1/` as well as `docker.io`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use super::RegistryError;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password (or a personal access token as password).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token service.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

/// The parsed docker client configuration (possibly absent).
#[derive(Debug, Default)]
pub struct Credentials {
    path: PathBuf,
    config: ConfigFile,
    /// Where helper programs are looked for (tests); `None` = `$PATH`.
    helper_dir: Option<PathBuf>,
}

/// The registry keys under which `docker login` may have stored `registry`.
fn keys(registry: &str) -> Vec<String> {
    let mut k = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        k.insert(0, "https://index.docker.io/v1/".to_string());
        k.push("index.docker.io".to_string());
        k.push("registry-1.docker.io".to_string());
        k.push("docker.io".to_string());
    }
    k
}

impl Credentials {
    /// The default location: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
            return PathBuf::from(d).join("config.json");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".docker").join("config.json")
    }

    /// Read the configuration at `path`; a missing file means no credentials.
    pub fn load(path: PathBuf) -> Result<Credentials, RegistryError> {
        let config = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                RegistryError::Config(format!(
                    "cannot parse the docker client configuration {}: {e}; fix the JSON or point \
                     DOCKER_CONFIG at another directory",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => return Err(RegistryError::io("cannot read", &path, e)),
        };
        Ok(Credentials {
            path,
            config,
            helper_dir: None,
        })
    }

    /// Where the configuration was looked for (for error messages).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Credentials for `registry` (host[:port]), if any.
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let keys = keys(registry);
        if let Some(helper) = keys.iter().find_map(|k| self.config.cred_helpers.get(k)) {
            return self.helper(helper, registry);
        }
        for k in &keys {
            if let Some(e) = self.config.auths.get(k)
                && let Some(c) = self.entry(k, e)?
            {
                return Ok(Some(c));
            }
        }
        if let Some(store) = &self.config.creds_store {
            return self.helper(store, registry);
        }
        Ok(None)
    }

    fn entry(&self, key: &str, e: &AuthEntry) -> Result<Option<Credential>, RegistryError> {
        if let Some(t) = e.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken(t.to_string())));
        }
        if let Some(a) = e.auth.as_deref().filter(|a| !a.is_empty()) {
            let bad = || {
                RegistryError::Config(format!(
                    "the `auth` of {key} in {} is not base64 of `user:password`; log in again \
                     (`docker login {key}`)",
                    self.path.display()
                ))
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| bad())?;
            let s = String::from_utf8(raw).map_err(|_| bad())?;
            let (u, p) = s.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credential::Basic {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
        match (&e.username, &e.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential::Basic {
                username: u.clone(),
                password: p.clone(),
            })),
            _ => Ok(None),
        }
    }

    /// Ask `docker-credential-<helper> get` for `registry`.
    fn helper(&self, helper: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let program = format!("docker-credential-{helper}");
        let server = if matches!(registry, "docker.io" | "index.docker.io") {
            "https://index.docker.io/v1/".to_string()
        } else {
            registry.to_string()
        };
        let fail = |what: String| {
            RegistryError::Config(format!(
                "credential helper {program} (configured in {}) failed for {registry}: {what}; \
                 check that it is installed and logged in",
                self.path.display()
            ))
        };
        let exe = match &self.helper_dir {
            Some(d) => d.join(&program),
            None => PathBuf::from(&program),
        };
        let mut child = Command::new(&exe)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(server.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            // The helpers' protocol: "credentials not found in native keychain".
            if stdout.contains("credentials not found") {
                return Ok(None);
            }
            return Err(fail(format!(
                "{} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct HelperAnswer {
            username: String,
            secret: String,
        }
        let a: HelperAnswer =
            serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad answer: {e}")))?;
        if a.username == "<token>" {
            return Ok(Some(Credential::IdentityToken(a.secret)));
        }
        Ok(Some(Credential::Basic {
            username: a.username,
            password: a.secret,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> Credentials {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(&p, json).unwrap();
        Credentials::load(p).unwrap()
    }

    #[test]
    fn auths_in_all_spellings() {
        let c = load(
            r#"{"auths": {
                "reg.example:5000": {"auth": "dTpw"},
                "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
                "tok.example": {"identitytoken": "abc"}
            }}"#,
        );
        assert_eq!(
            c.get("reg.example:5000").unwrap(),
            Some(Credential::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            c.get("docker.io").unwrap(),
            Some(Credential::Basic {
                username: "hub".into(),
                password: "pw".into()
            })
        );
        assert_eq!(
            c.get("tok.example").unwrap(),
            Some(Credential::IdentityToken("abc".into()))
        );
        assert_eq!(c.get("other.example").unwrap(), None);
    }

    #[test]
    fn bad_auth_names_the_file_and_key() {
        let c = load(r#"{"auths": {"r.example": {"auth": "!!!"}}}"#);
        let e = c.get("r.example").unwrap_err().to_string();
        assert!(e.contains("r.example") && e.contains("config.json"), "{e}");
    }

    #[test]
    fn helpers_are_run_with_the_server_on_stdin() {
        let d = tempfile::tempdir().unwrap();
        let helper = d.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread s\n[ \"$1\" = get ] || exit 2\necho \"{\\\"Username\\\":\\\"h-$s\\\",\\\"Secret\\\":\\\"sec\\\"}\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = load(r#"{"credHelpers": {"reg.example": "fake"}, "credsStore": "absent"}"#);
        c.helper_dir = Some(d.path().to_path_buf());
        assert_eq!(
            c.get("reg.example").unwrap(),
            Some(Credential::Basic {
                username: "h-reg.example".into(),
                password: "sec".into()
            })
        );
        // The default store is used for other registries; a missing helper is a clear error.
        let e = c.get("other.example").unwrap_err().to_string();
        assert!(e.contains("docker-credential-absent"), "{e}");
    }
}
