//! The configuration of a build: one or more YAML texts parsed,
//! validated and merged in order, with `@pkg:DIR` templates resolved to
//! the tags of those local packages (which [`crate::Build`] then builds
//! into the cache unless already there). Reading the texts (files,
//! standard input, URLs) is the caller's: this module takes text, so the
//! library needs no notion of where a configuration came from beyond its
//! name and whether it is a local file.

use crate::error::BuildError;
use linuxkit_config::{Input, Moby};
use std::path::{Path, PathBuf};

/// One configuration text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path, URL or `-`, as given: used in messages and for the default
    /// output name.
    pub name: String,
    /// The YAML.
    pub text: String,
    /// A local file: `@pkg:` templates resolve against its directory.
    pub local: bool,
}

/// A merged configuration, ready to build.
#[derive(Debug, Clone)]
pub struct Config {
    /// The merged configuration.
    pub moby: Moby,
    /// The local package directories its `@pkg:` templates name, in order.
    pub packages: Vec<PathBuf>,
    /// The directories of the sources that are local files (absolute),
    /// where the default `--bootloaders` package is looked for.
    pub local_dirs: Vec<PathBuf>,
    /// The default output name: the base name of the last source without
    /// its extension (`moby` for standard input), as upstream names it.
    pub name: String,
}

impl Config {
    /// Parse, validate and merge `sources` in order.
    pub fn load(sources: &[Source]) -> Result<Config, BuildError> {
        let packages = std::cell::RefCell::new(Vec::<PathBuf>::new());
        let pkg_opts = linuxkit_pkg::build::BuildOptions::default();
        let unresolved = std::cell::RefCell::new(Vec::<String>::new());
        let resolver = |dir: &Path| {
            let tag = match linuxkit_pkg::build::show_tag(dir, &pkg_opts) {
                Ok(t) => t,
                Err(e) => {
                    unresolved.borrow_mut().push(unresolved_pkg(dir, &e));
                    return None;
                }
            };
            let mut p = packages.borrow_mut();
            if !p.iter().any(|d| d == dir) {
                p.push(dir.to_path_buf());
            }
            Some(tag.canonical)
        };
        let mut moby = Moby::default();
        let mut local_dirs = Vec::new();
        for s in sources {
            if s.local
                && let Some(d) = std::path::absolute(&s.name)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                local_dirs.push(d);
            }
            let dir = Path::new(&s.name).parent().map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            });
            let input = Input {
                name: &s.name,
                text: &s.text,
                template_dir: if s.local { dir } else { None },
            };
            let m = linuxkit_config::parse(&input, Some(&resolver)).map_err(|e| {
                let why = unresolved.borrow().join("\n");
                if why.is_empty() {
                    BuildError::Config(e)
                } else {
                    BuildError::Other(format!("invalid config:\n{why}\n{e}"))
                }
            })?;
            linuxkit_config::merge(&mut moby, m).map_err(BuildError::Config)?;
        }
        Ok(Config {
            moby,
            packages: packages.into_inner(),
            local_dirs,
            name: base_name(sources.last().map(|s| s.name.as_str()).unwrap_or("-")),
        })
    }
}

/// The output name upstream derives from a configuration's path or URL.
pub fn base_name(arg: &str) -> String {
    if arg == "-" {
        return "moby".into();
    }
    let last = arg.trim_end_matches('/').rsplit('/').next().unwrap_or(arg);
    match last.rfind('.') {
        Some(i) if i > 0 => last[..i].to_string(),
        _ => last.to_string(),
    }
}

/// Why an `@pkg:` template naming `dir` did not resolve, for the error the
/// unresolved `@pkg:...` scalar then causes.
fn unresolved_pkg(dir: &Path, e: &linuxkit_pkg::PkgError) -> String {
    if !dir.is_dir() {
        format!(
            "@pkg:{}: the package directory {} does not exist",
            dir.display(),
            std::path::absolute(dir)
                .unwrap_or_else(|_| dir.to_path_buf())
                .display()
        )
    } else {
        format!("@pkg:{}: {e}", dir.display())
    }
}

/// The default `--bootloaders`: the first `pkg/bootloaders` package (a
/// directory with a `build.yml`) found in the directory of a local
/// configuration file, `cwd`, or one of their parents, as `@pkg:DIR`.
/// Resolved at run time, so an installed binary works from any directory
/// of a checkout; elsewhere the error says to pass `--bootloaders`.
pub fn default_bootloaders(config: &Config, cwd: &Path) -> Result<String, BuildError> {
    let starts = config.local_dirs.iter().map(PathBuf::as_path).chain([cwd]);
    for start in starts {
        for dir in start.ancestors() {
            let pkg = dir.join("pkg/bootloaders");
            if pkg.join("build.yml").is_file() {
                return Ok(format!("@pkg:{}", pkg.display()));
            }
        }
    }
    Err(BuildError::Other(
        "this format needs boot loader files, and no pkg/bootloaders package was found beside the configuration or in the current directory (or their parents): pass --bootloaders @pkg:DIR (a checkout's pkg/bootloaders) or --bootloaders REF (an image holding the files, see pkg/bootloaders/README.md)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(base_name("examples/minimal.yml"), "minimal");
        assert_eq!(base_name("-"), "moby");
        assert_eq!(base_name("https://x/y/a.yaml"), "a");
    }

    #[test]
    fn merges_in_order_and_names_after_the_last() {
        let src = |name: &str, text: &str| Source {
            name: name.into(),
            text: text.into(),
            local: false,
        };
        let c = Config::load(&[
            src("a.yml", "kernel:\n  image: k:1\n  cmdline: console=ttyS0\n"),
            src("dir/b.yml", "kernel:\n  image: k:2\n"),
        ])
        .unwrap();
        assert_eq!(c.moby.kernel.image, "k:2");
        assert_eq!(c.name, "b");
        let e = Config::load(&[src("bad.yml", "kernel:\n  imgae: k:1\n")]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("invalid config:\nbad.yml:2:3:"), "{msg}");
    }
}
