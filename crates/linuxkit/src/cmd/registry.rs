//! The registry side of the CLI: one client built from the global flags
//! (`--mirror`, `--cert-file`, `--insecure-registry` and their environment
//! variables), progress bars per blob (plain log lines when stderr is not a
//! terminal), and the pulls `build` makes for images the cache lacks.

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use linuxkit_oci::registry::{Client, Mirror, Platforms, Progress, RegistryOptions};
use linuxkit_oci::{Cache, Descriptor, Platform, Reference};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The registry flags shared by every command.
#[derive(Debug, Clone, Default)]
pub struct RegistryFlags {
    /// `--mirror` specs.
    pub mirrors: Vec<String>,
    /// `--cert-file` paths.
    pub cert_files: Vec<PathBuf>,
    /// `--insecure-registry` hosts.
    pub insecure: Vec<String>,
    /// `-q`: no progress output.
    pub quiet: bool,
    /// `pkg --registry-creds`: `REGISTRY=USER:PASSWORD` or `REGISTRY=TOKEN`,
    /// used before the docker client configuration.
    pub creds: Vec<String>,
}

fn env_list(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl RegistryFlags {
    /// A client for these flags.
    pub fn client(&self) -> Result<Client> {
        let mut mirrors = Vec::new();
        for spec in env_list("LINUXKIT_MIRROR")
            .iter()
            .chain(self.mirrors.iter())
        {
            mirrors.push(Mirror::parse(spec)?);
        }
        // The command line wins over the environment for the same registry.
        let mut seen = std::collections::HashSet::new();
        let mut deduped: Vec<Mirror> = mirrors
            .into_iter()
            .rev()
            .filter(|m| seen.insert(m.registry.clone()))
            .collect();
        deduped.reverse();
        let mut insecure = env_list("LINUXKIT_INSECURE_REGISTRIES");
        insecure.extend(self.insecure.iter().cloned());
        let progress: Arc<dyn Progress> = Arc::new(Bars::new(self.quiet));
        // `--registry-creds` go into a private copy of the docker client
        // configuration (read once, when the client is made).
        let config_dir = if self.creds.is_empty() {
            None
        } else {
            Some(self.config_with_creds()?)
        };
        let mut opts = RegistryOptions {
            mirrors: deduped,
            insecure,
            ca_files: self.cert_files.clone(),
            progress,
            docker_config: config_dir.as_ref().map(|d| d.path().join("config.json")),
            ..Default::default()
        };
        if let Ok(n) = std::env::var("LINUXKIT_REGISTRY_PARALLEL")
            && let Ok(n) = n.parse::<usize>()
        {
            opts.parallel = n.clamp(1, 32);
        }
        if let Ok(n) = std::env::var("LINUXKIT_REGISTRY_CHUNK_SIZE")
            && let Ok(n) = n.parse::<u64>()
        {
            opts.chunk_size = n.max(1);
        }
        Ok(Client::new(opts)?)
    }

    /// A temporary directory holding the docker client configuration with
    /// the `--registry-creds` entries added to (replacing) its `auths`.
    fn config_with_creds(&self) -> Result<tempfile::TempDir> {
        let path = linuxkit_oci::registry::credentials::Credentials::default_path();
        let mut config: serde_json::Value = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("cannot parse {}", path.display()))?,
            Err(_) => serde_json::json!({}),
        };
        if !config.is_object() {
            config = serde_json::json!({});
        }
        let auths = config
            .as_object_mut()
            .map(|o| o.entry("auths").or_insert_with(|| serde_json::json!({})));
        let Some(serde_json::Value::Object(auths)) = auths else {
            anyhow::bail!("{}: \"auths\" is not an object", path.display());
        };
        for spec in &self.creds {
            let Some((registry, cred)) = spec
                .split_once('=')
                .filter(|(r, c)| !r.is_empty() && !c.is_empty())
            else {
                anyhow::bail!(
                    "--registry-creds {spec:?}: use REGISTRY=USER:PASSWORD or REGISTRY=TOKEN"
                );
            };
            let entry = match cred.split_once(':') {
                Some((user, password)) => {
                    serde_json::json!({"username": user, "password": password})
                }
                None => serde_json::json!({"identitytoken": cred}),
            };
            auths.insert(registry.to_string(), entry);
        }
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        std::fs::write(dir.path().join("config.json"), serde_json::to_vec(&config)?)
            .context("cannot write the registry credentials")?;
        Ok(dir)
    }
}

/// Progress bars, one per blob, under a shared multi-bar.
struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

impl Bars {
    fn new(quiet: bool) -> Bars {
        let tty = std::io::stderr().is_terminal() && !quiet;
        Bars {
            multi: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(HashMap::new()),
            quiet,
        }
    }
}

impl Progress for Bars {
    fn blob_start(&self, digest: &str, total: u64, done: u64, push: bool) {
        let verb = if push { "push" } else { "pull" };
        let Some(multi) = &self.multi else {
            if !self.quiet {
                if done > 0 {
                    tracing::info!(
                        "{verb} {} ({total} bytes, resuming at {done})",
                        short(digest)
                    );
                } else {
                    tracing::debug!("{verb} {} ({total} bytes)", short(digest));
                }
            }
            return;
        };
        let bar = multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{verb} {}", short(digest)));
        bar.set_position(done);
        if let Ok(mut b) = self.bars.lock() {
            b.insert(digest.to_string(), bar);
        }
    }

    fn blob_advance(&self, digest: &str, n: u64) {
        if let Ok(b) = self.bars.lock()
            && let Some(bar) = b.get(digest)
        {
            bar.inc(n);
        }
    }

    fn blob_done(&self, digest: &str) {
        if let Ok(mut b) = self.bars.lock()
            && let Some(bar) = b.remove(digest)
        {
            bar.finish_and_clear();
        }
        if self.multi.is_none() && !self.quiet {
            tracing::debug!("done {}", short(digest));
        }
    }

    fn retry(&self, reference: &str, cause: &str, wait: Duration) {
        if !self.quiet {
            let msg = format!(
                "{reference}: {cause}; retrying in {:.1}s",
                wait.as_secs_f64()
            );
            match &self.multi {
                Some(m) => {
                    let _ = m.println(msg);
                }
                None => tracing::warn!("{msg}"),
            }
        }
    }

    fn message(&self, msg: &str) {
        if !self.quiet {
            match &self.multi {
                Some(m) => {
                    let _ = m.println(msg);
                }
                None => tracing::info!("{msg}"),
            }
        }
    }
}

/// Pull `written` (as in YAML) for `platform` and name it `canonical` in the cache.
pub fn pull_for_build(
    client: &Client,
    cache: &Cache,
    written: &str,
    canonical: &str,
    platform: &Platform,
) -> Result<Descriptor> {
    let r = Reference::parse(written)?;
    tracing::info!("Pull image: {canonical}");
    let pulled = client
        .pull(cache, &r, Platforms::One(platform))
        .with_context(|| format!("could not pull image {written}"))?;
    cache.set_name(canonical, pulled.root.clone())?;
    Ok(pulled.root)
}

/// The [`linuxkit_build::Registry`] of `build`: pulls with a client made
/// from the flags on the first pull (a build served by the cache alone
/// never needs one).
pub struct BuildPuller<'a> {
    flags: &'a RegistryFlags,
    client: Option<Client>,
}

impl RegistryFlags {
    /// The puller `build` hands to the library.
    pub fn puller(&self) -> BuildPuller<'_> {
        BuildPuller {
            flags: self,
            client: None,
        }
    }
}

impl linuxkit_build::Registry for BuildPuller<'_> {
    fn pull(
        &mut self,
        cache: &Cache,
        written: &str,
        canonical: &str,
        platform: &Platform,
    ) -> Result<(), linuxkit_build::PullError> {
        // The client is made on the first pull only: a build from the cache
        // never reads credentials.
        let client = match &mut self.client {
            Some(c) => c,
            slot => slot.insert(self.flags.client()?),
        };
        pull_for_build(client, cache, written, canonical, platform)?;
        Ok(())
    }
}
