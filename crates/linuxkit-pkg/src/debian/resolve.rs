//! Resolving `contents.debian.packages` to a [`Lock`] with the host's apt.
//!
//! apt is asked only for facts, never to install anything:
//! `apt-cache show --no-all-versions NAME...` gives each name's candidate
//! version record (version, architecture, `Depends`, `Pre-Depends`,
//! `Provides`, `Priority`, `Filename`, `Size`, `SHA256`), and
//! `apt-cache showpkg NAME...` gives the providers (`Reverse Provides`) of
//! names with no candidate, i.e. virtual packages. Both are called once per
//! level of the dependency graph with every new name of that level. The
//! closure itself is computed here, because apt's own resolver (`apt-get
//! install --simulate`) works against the host's installed packages and
//! pulls in the `Essential` set.
//!
//! Rules, chosen to be predictable:
//! - only `Pre-Depends` and `Depends` are followed (no `Recommends`,
//!   `Suggests`), and nothing is added implicitly (no `Essential: yes`
//!   set): the image holds the requested packages and their closure only;
//! - each version is apt's candidate (`apt-cache policy NAME`); version
//!   constraints of dependencies are not checked again (a suite's candidates
//!   are consistent);
//! - a dependency group `a | b` is satisfied by an alternative already
//!   chosen; otherwise the first alternative that has a candidate is taken;
//!   a virtual alternative becomes its provider, preferring by `Priority`
//!   (required, important, standard, optional, extra) then by name;
//! - a group that names an excluded package (or whose choice is excluded) is
//!   skipped, with everything only it would pull in; a package needed by
//!   another path is still installed;
//! - a requested virtual name with one provider becomes that provider; with
//!   several it is an error asking for a choice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use super::deb822;
use super::{DebianError, Lock, LockedPackage};

/// Resolve `packages` and their dependencies, minus `exclude`, for the
/// Debian architecture `arch`, with the host's apt. The result is sorted by
/// name and is the same for the same apt lists.
pub fn resolve(packages: &[String], exclude: &[String], arch: &str) -> Result<Lock, DebianError> {
    let exclude: BTreeSet<&str> = exclude.iter().map(String::as_str).collect();
    // name → record, in selection order.
    let mut selected: BTreeMap<String, Record> = BTreeMap::new();
    let mut frontier: Vec<String> = Vec::new();

    let requested: Vec<String> = {
        let mut seen = BTreeSet::new();
        packages
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| seen.insert(p.clone()))
            .collect()
    };
    for name in &requested {
        let valid = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !valid {
            return Err(DebianError::UnknownPackage {
                name: name.clone(),
                hint: format!(
                    "{name:?} is not a Debian package name: names are lowercase letters, digits and `+-.` (like `busybox-static`), with no version or architecture (apt chooses the version and the lock file records it; the architecture is the build's)"
                ),
            });
        }
    }
    let mut apt = Apt::new(arch)?;
    apt.load_records(&requested)?;
    let virtuals: Vec<String> = requested
        .iter()
        .filter(|n| apt.record(n).is_none())
        .cloned()
        .collect();
    apt.load_providers(&virtuals)?;
    for name in &requested {
        let chosen = if apt.record(name).is_some() {
            name.clone()
        } else {
            match apt.providers.get(name.as_str()) {
                None => return Err(apt.unknown(name)),
                Some(p) if p.is_empty() => return Err(apt.unknown(name)),
                Some(p) if p.len() == 1 => p[0].clone(),
                Some(p) => {
                    return Err(DebianError::VirtualPackage {
                        name: name.clone(),
                        providers: p.clone(),
                    });
                }
            }
        };
        if !selected.contains_key(&chosen) {
            let r = apt
                .record(&chosen)
                .cloned()
                .ok_or_else(|| apt.unknown(&chosen))?;
            selected.insert(chosen.clone(), r);
            frontier.push(chosen);
        }
    }

    while !frontier.is_empty() {
        // Prefetch every name this level mentions, then their providers.
        let names: Vec<String> = frontier
            .iter()
            .flat_map(|n| selected[n].groups.iter().flatten().cloned())
            .collect();
        apt.load_records(&names)?;
        let virtuals: Vec<String> = names
            .iter()
            .filter(|n| apt.record(n).is_none())
            .cloned()
            .collect();
        apt.load_providers(&virtuals)?;

        let mut next = Vec::new();
        for pkg in std::mem::take(&mut frontier) {
            let groups = selected[&pkg].groups.clone();
            for group in groups {
                match choose(&apt, &group, &selected, &exclude) {
                    Choice::Satisfied => {}
                    Choice::Skipped(name) => {
                        tracing::debug!(
                            "{pkg}: skipping dependency {} ({name} is excluded)",
                            group.join(" | ")
                        );
                    }
                    Choice::Pick(name) => {
                        let r = apt
                            .record(&name)
                            .cloned()
                            .ok_or_else(|| apt.unknown(&name))?;
                        tracing::debug!("{pkg} needs {name} {}", r.version);
                        selected.insert(name.clone(), r);
                        next.push(name);
                    }
                    Choice::Unsatisfiable => {
                        return Err(DebianError::Unsatisfiable {
                            package: pkg.clone(),
                            version: selected[&pkg].version.clone(),
                            dependency: group.join(" | "),
                        });
                    }
                }
            }
        }
        frontier = next;
    }

    let mut lock = Lock::default();
    for r in selected.into_values() {
        let (Some(sha256), Some(size), Some(filename)) = (r.sha256, r.size, r.filename) else {
            return Err(DebianError::NotDownloadable {
                name: r.name,
                version: r.version,
            });
        };
        lock.packages.push(LockedPackage {
            name: r.name,
            version: r.version,
            architecture: r.architecture,
            sha256: sha256.to_ascii_lowercase(),
            size,
            filename,
        });
    }
    lock.sort();
    Ok(lock)
}

enum Choice {
    Satisfied,
    Skipped(String),
    Pick(String),
    Unsatisfiable,
}

fn choose(
    apt: &Apt,
    group: &[String],
    selected: &BTreeMap<String, Record>,
    exclude: &BTreeSet<&str>,
) -> Choice {
    let providers = |alt: &str| -> &[String] {
        match apt.record(alt) {
            Some(_) => &[],
            None => apt.providers.get(alt).map(Vec::as_slice).unwrap_or(&[]),
        }
    };
    for alt in group {
        if selected.contains_key(alt) || providers(alt).iter().any(|p| selected.contains_key(p)) {
            return Choice::Satisfied;
        }
    }
    if let Some(x) = group.iter().find(|a| exclude.contains(a.as_str())) {
        return Choice::Skipped(x.clone());
    }
    for alt in group {
        let pick = if apt.record(alt).is_some() {
            alt.as_str()
        } else if let Some(p) = providers(alt).first() {
            p.as_str()
        } else {
            continue;
        };
        return if exclude.contains(pick) {
            Choice::Skipped(pick.to_string())
        } else {
            Choice::Pick(pick.to_string())
        };
    }
    Choice::Unsatisfiable
}

/// A candidate version as `apt-cache show` describes it.
#[derive(Debug, Clone)]
struct Record {
    name: String,
    version: String,
    architecture: String,
    sha256: Option<String>,
    size: Option<u64>,
    filename: Option<String>,
    /// `Pre-Depends` then `Depends` groups.
    groups: Vec<Vec<String>>,
    provides: Vec<String>,
    priority: u8,
}

/// What apt said so far, memoised.
struct Apt {
    arch: String,
    /// `:arch` appended to names when `arch` is not the host's.
    suffix: String,
    /// name → candidate record (None: no candidate for `arch`).
    records: HashMap<String, Option<Record>>,
    /// virtual name → providers with a candidate that provides it, best
    /// first; absent: apt does not know the name at all.
    providers: HashMap<String, Vec<String>>,
    /// Names given to `showpkg` already.
    asked_providers: BTreeSet<String>,
    /// A private apt binary cache for this resolution: hosts that disable
    /// `Dir::Cache::pkgcache` (Docker-style images) would otherwise rebuild
    /// it on every call (~0.5 s each).
    cache_dir: Option<tempfile::TempDir>,
}

impl Apt {
    fn new(arch: &str) -> Result<Apt, DebianError> {
        let native = run("dpkg", &["--print-architecture".to_string()])?;
        let native = native.stdout.trim().to_string();
        let suffix = if arch == native || arch.is_empty() {
            String::new()
        } else {
            format!(":{arch}")
        };
        Ok(Apt {
            arch: if arch.is_empty() {
                native
            } else {
                arch.to_string()
            },
            suffix,
            records: HashMap::new(),
            providers: HashMap::new(),
            asked_providers: BTreeSet::new(),
            cache_dir: tempfile::Builder::new()
                .prefix("linuxkit-apt-")
                .tempdir()
                .ok(),
        })
    }

    /// `apt-cache` with the private binary cache and `args`.
    fn apt_cache(&self, args: &[String]) -> Result<Output, DebianError> {
        let mut all = Vec::with_capacity(args.len() + 2);
        if let Some(d) = &self.cache_dir {
            all.push("-o".to_string());
            all.push(format!(
                "Dir::Cache::pkgcache={}",
                d.path().join("pkgcache.bin").display()
            ));
        }
        all.extend_from_slice(args);
        let out = run("apt-cache", &all)?;
        out.check_errors("apt-cache", args)?;
        Ok(out)
    }

    fn record(&self, name: &str) -> Option<&Record> {
        self.records.get(name).and_then(Option::as_ref)
    }

    /// Ask `apt-cache show` about the names not asked yet.
    fn load_records(&mut self, names: &[String]) -> Result<(), DebianError> {
        let todo = not_yet(names, |n| self.records.contains_key(n));
        if todo.is_empty() {
            return Ok(());
        }
        let mut args = vec!["show".to_string(), "--no-all-versions".to_string()];
        args.extend(todo.iter().map(|n| format!("{n}{}", self.suffix)));
        let out = self.apt_cache(&args)?;
        for p in deb822::parse(&out.stdout) {
            let Some(name) = p.get("Package").cloned() else {
                continue;
            };
            let architecture = p.get("Architecture").cloned().unwrap_or_default();
            if architecture != self.arch && architecture != "all" {
                continue;
            }
            if matches!(self.records.get(&name), Some(Some(_))) {
                continue;
            }
            let mut groups = Vec::new();
            for field in ["Pre-Depends", "Depends"] {
                if let Some(v) = p.get(field) {
                    groups.extend(deb822::relations(v));
                }
            }
            let provides = p
                .get("Provides")
                .map(|v| deb822::relations(v).into_iter().flatten().collect())
                .unwrap_or_default();
            let priority = match p.get("Priority").map(String::as_str) {
                Some("required") => 0,
                Some("important") => 1,
                Some("standard") => 2,
                Some("optional") => 3,
                Some("extra") => 4,
                _ => 5,
            };
            self.records.insert(
                name.clone(),
                Some(Record {
                    name,
                    version: p.get("Version").cloned().unwrap_or_default(),
                    architecture,
                    sha256: p.get("SHA256").cloned(),
                    size: p.get("Size").and_then(|s| s.parse().ok()),
                    filename: p.get("Filename").cloned(),
                    groups,
                    provides,
                    priority,
                }),
            );
        }
        for n in todo {
            self.records.entry(n).or_insert(None);
        }
        Ok(())
    }

    /// Ask `apt-cache showpkg` for the providers of names without a
    /// candidate, then keep those whose candidate provides the name.
    fn load_providers(&mut self, names: &[String]) -> Result<(), DebianError> {
        let todo = not_yet(names, |n| self.asked_providers.contains(n));
        if todo.is_empty() {
            return Ok(());
        }
        self.asked_providers.extend(todo.iter().cloned());
        let mut args = vec!["showpkg".to_string()];
        args.extend(todo.iter().map(|n| format!("{n}{}", self.suffix)));
        let out = self.apt_cache(&args)?;
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut cur: Option<String> = None;
        let mut in_reverse_provides = false;
        for line in out.stdout.lines() {
            if let Some(n) = line.strip_prefix("Package: ") {
                let n = n.trim().split(':').next().unwrap_or("").to_string();
                found.entry(n.clone()).or_default();
                cur = Some(n);
                in_reverse_provides = false;
            } else if line.starts_with("Reverse Provides:") {
                in_reverse_provides = true;
            } else if in_reverse_provides {
                if line.trim().is_empty() || line.ends_with(':') {
                    in_reverse_provides = false;
                    continue;
                }
                let provider = line.split_whitespace().next().unwrap_or("");
                let provider = provider.split(':').next().unwrap_or("").to_string();
                if let Some(c) = &cur
                    && !provider.is_empty()
                {
                    let list = found.entry(c.clone()).or_default();
                    if !list.contains(&provider) {
                        list.push(provider);
                    }
                }
            }
        }
        let all: Vec<String> = found.values().flatten().cloned().collect();
        self.load_records(&all)?;
        for (virt, candidates) in found {
            let mut providers: Vec<&Record> = candidates
                .iter()
                .filter_map(|p| self.record(p))
                .filter(|r| r.provides.contains(&virt))
                .collect();
            providers.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
            let providers = providers.into_iter().map(|r| r.name.clone()).collect();
            self.providers.insert(virt, providers);
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> DebianError {
        let known = self.providers.contains_key(name)
            || self.records.get(name).is_some_and(Option::is_some);
        let mut hint = if known {
            format!(
                "no version of the Debian package {name} can be installed for {}: apt knows the name but has no candidate (check `apt-cache policy {name}`), or run `apt-get update`",
                self.arch
            )
        } else {
            format!(
                "no Debian package named {name} for {}; check the spelling with `apt-cache search {name}`, or run `apt-get update`",
                self.arch
            )
        };
        if !has_package_lists() {
            hint.push_str(
                " (apt has no package lists on this machine yet: run `apt-get update` first)",
            );
        }
        DebianError::UnknownPackage {
            name: name.to_string(),
            hint,
        }
    }
}

/// Whether apt has any `Packages` list (false before the first `apt-get update`).
fn has_package_lists() -> bool {
    run("apt-cache", &["policy".to_string()])
        .map(|o| {
            o.stdout
                .lines()
                .any(|l| l.trim_end().ends_with("Packages") && !l.contains("/var/lib/dpkg/status"))
        })
        .unwrap_or(false)
}

pub(super) struct Output {
    pub(super) success: bool,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Output {
    /// Fail on apt errors other than "no packages found" (which only means
    /// some names are unknown, decided by the caller).
    fn check_errors(&self, program: &str, args: &[String]) -> Result<(), DebianError> {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("E:") && !l.contains("No packages found"))
            .collect();
        if errors.is_empty() && (self.success || self.stderr.contains("No packages found")) {
            return Ok(());
        }
        Err(DebianError::Apt {
            command: format!("{program} {}", args.join(" ")),
            message: format!(
                "{}; check that apt works on this machine (`apt-get update`)",
                if errors.is_empty() {
                    self.stderr.trim().to_string()
                } else {
                    errors.join(" ")
                }
            ),
        })
    }
}

/// Run an apt tool in the C locale, capturing its output.
pub(super) fn run(program: &str, args: &[String]) -> Result<Output, DebianError> {
    run_in(program, args, None)
}

pub(super) fn run_in(
    program: &str,
    args: &[String],
    dir: Option<&Path>,
) -> Result<Output, DebianError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    tracing::debug!("running {program} {}", args.join(" "));
    let out = cmd.output().map_err(|e| DebianError::Apt {
        command: format!("{program} {}", args.join(" ")),
        message: format!(
            "cannot run it: {e}; Debian package contents need the host's apt (a Debian or Ubuntu machine with apt-get and dpkg)"
        ),
    })?;
    Ok(Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The names of `names` that `asked` says were not asked yet, sorted, each
/// once.
fn not_yet(names: &[String], asked: impl Fn(&str) -> bool) -> Vec<String> {
    let mut todo: Vec<String> = names.iter().filter(|n| !asked(n)).cloned().collect();
    todo.sort();
    todo.dedup();
    todo
}
