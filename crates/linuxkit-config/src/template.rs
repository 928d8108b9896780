//! `@pkg:` templates (yaml.md §8), applied to every string scalar (keys too)
//! of a file read from local disk, after schema validation.
//!
//! * not starting with `@` → unchanged;
//! * `@pkg:<path>` → `<path>` joined onto the YAML file's directory (a plain
//!   join: an absolute `<path>` is still appended, as upstream does) and handed
//!   to the resolver; when it cannot resolve, the scalar is left unchanged;
//! * any other `@…` scalar becomes the empty string (upstream quirk, kept).

use std::path::{Component, Path, PathBuf};

use crate::PkgResolver;
use crate::yaml::{Node, Value};

/// `filepath.Join(dir, p)`: append `p` (even if absolute) and clean lexically.
pub(crate) fn join_go(dir: &Path, p: &str) -> PathBuf {
    let mut parts: Vec<String> = Vec::new();
    let absolute = dir.is_absolute();
    let joined = format!("{}/{}", dir.to_string_lossy(), p);
    for c in Path::new(&joined).components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                if parts.last().is_some_and(|l| l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".into());
                }
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
        }
    }
    let mut out = if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    if parts.is_empty() && !absolute {
        out.push(".");
    }
    for p in parts {
        out.push(p);
    }
    out
}

fn resolve_one(s: &str, dir: &Path, resolver: Option<PkgResolver<'_>>) -> Option<String> {
    if !s.starts_with('@') {
        return None;
    }
    match s.strip_prefix("@pkg:") {
        Some(p) => resolver.and_then(|r| r(&join_go(dir, p))),
        None => Some(String::new()),
    }
}

/// Rewrite template scalars in place.
pub(crate) fn apply(node: &mut Node, dir: &Path, resolver: Option<PkgResolver<'_>>) {
    match &mut node.value {
        Value::Str(s) => {
            if let Some(new) = resolve_one(s, dir, resolver) {
                *s = new;
            }
        }
        Value::Seq(items) => {
            for item in items {
                apply(item, dir, resolver);
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                apply(k, dir, resolver);
                apply(v, dir, resolver);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_join() {
        assert_eq!(join_go(Path::new("/a/b"), "/c"), PathBuf::from("/a/b/c"));
        assert_eq!(join_go(Path::new("a/b"), "../c"), PathBuf::from("a/c"));
        assert_eq!(
            join_go(Path::new("."), "./pkg/init"),
            PathBuf::from("pkg/init")
        );
    }
}
