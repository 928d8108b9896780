//! Flattening an image's layers into one filesystem view, the way upstream
//! (go-containerregistry's `mutate.Extract`) does it — topmost layer first,
//! first occurrence of a name wins, whiteouts hide lower entries, names under
//! a whited-out or non-directory path are dropped — plus what upstream lacks:
//! opaque directories (`.wh..wh..opq`) and rejection of hostile entries
//! (paths escaping the root, absolute paths, whiteouts of parents, hard links
//! out of the tree, writes through symlinks). Nothing here touches the host
//! filesystem: entries are only ever written into archives.

use crate::error::BuildError;
use linuxkit_formats::{Entry, Kind};
use std::collections::{HashMap, HashSet};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

pub use linuxkit_formats::path::clean;

fn escapes(name: &str) -> bool {
    name == ".." || name.starts_with("../")
}

fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[..i])
}

/// Flatten `layers` (bottom to top, each in archive order) into entries with
/// cleaned names, in upstream's output order (top layer's entries first).
/// `layer_digests` name the layers in errors.
pub fn flatten(
    image: &str,
    layers: Vec<Vec<Entry>>,
    layer_digests: &[String],
) -> Result<Vec<Entry>, BuildError> {
    let mut seen: HashMap<String, bool> = HashMap::new(); // name -> hides children
    let mut opaque: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut from_layer: Vec<usize> = Vec::new(); // index of the layer each entry came from
    let n = layers.len();
    for (rev_i, layer) in layers.into_iter().rev().enumerate() {
        let idx = n - 1 - rev_i;
        let digest = layer_digests.get(idx).cloned().unwrap_or_default();
        let bad = |message: String| BuildError::Layer {
            image: image.to_string(),
            digest: digest.clone(),
            message,
        };
        let mut layer_opaque = Vec::new();
        let mut layer_links: HashMap<String, String> = HashMap::new();
        for mut e in layer {
            let raw = e.path.clone();
            if raw.starts_with('/') && clean(&raw) != "/" {
                return Err(bad(format!(
                    "entry {raw:?} has an absolute path; layers must hold relative names"
                )));
            }
            let name = clean(raw.trim_start_matches('/'));
            if escapes(&name) {
                return Err(bad(format!(
                    "entry {raw:?} points outside the image root (\"..\")"
                )));
            }
            if name == "." {
                continue; // the root itself
            }
            let (dir, base) = match name.rfind('/') {
                Some(i) => (&name[..i], &name[i + 1..]),
                None => ("", name.as_str()),
            };
            if base == OPAQUE {
                layer_opaque.push(dir.to_string());
                continue;
            }
            let mut tombstone = false;
            let mut key = name.clone();
            if let Some(hidden) = base.strip_prefix(WHITEOUT) {
                if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                    return Err(bad(format!(
                        "whiteout {raw:?} names a parent directory or nothing; only files and directories can be whited out"
                    )));
                }
                tombstone = true;
                key = if dir.is_empty() {
                    hidden.to_string()
                } else {
                    format!("{dir}/{hidden}")
                };
            }
            if let Some(p) = parents(&key).find(|p| layer_links.contains_key(*p)) {
                return Err(bad(format!(
                    "entry {raw:?} would be written through the symlink {p:?} (-> {:?}) of the same layer; a layer may not write through a symlink",
                    layer_links[p]
                )));
            }
            if e.kind == Kind::Symlink {
                layer_links.insert(key.clone(), e.link.clone());
            }
            if seen.contains_key(&key) {
                continue;
            }
            if parents(&key).any(|p| seen.get(p) == Some(&true) || opaque.contains(p))
                || opaque.contains("")
            {
                continue;
            }
            seen.insert(key.clone(), tombstone || e.kind != Kind::Dir);
            if tombstone {
                continue;
            }
            if e.kind == Kind::Hardlink {
                if e.link.starts_with('/') {
                    return Err(bad(format!(
                        "hard link {raw:?} points to the absolute path {:?}; hard links must stay inside the image",
                        e.link
                    )));
                }
                let target = clean(&e.link);
                if escapes(&target) || target == "." {
                    return Err(bad(format!(
                        "hard link {raw:?} points outside the image ({:?})",
                        e.link
                    )));
                }
                if let Some(p) = parents(&target).find(|p| layer_links.contains_key(*p)) {
                    return Err(bad(format!(
                        "hard link {raw:?} points through the symlink {p:?} (-> {:?}); hard links must name a file inside the image",
                        layer_links[p]
                    )));
                }
                e.link = target;
            }
            e.path = key;
            out.push(e);
            from_layer.push(idx);
        }
        opaque.extend(layer_opaque);
    }
    // A later entry must not be written through a symlink of the same image:
    // unpacked, it would land wherever the link points.
    let links: HashMap<&str, (&str, usize)> = out
        .iter()
        .zip(&from_layer)
        .filter(|(e, _)| e.kind == Kind::Symlink)
        .map(|(e, &l)| (e.path.as_str(), (e.link.as_str(), l)))
        .collect();
    if !links.is_empty() {
        for (e, &layer) in out.iter().zip(&from_layer) {
            let through = parents(&e.path)
                .find(|p| links.contains_key(p))
                .or_else(|| {
                    (e.kind == Kind::Hardlink)
                        .then(|| parents(&e.link).find(|p| links.contains_key(p)))
                        .flatten()
                });
            if let Some(p) = through {
                let (target, link_layer) = links[p];
                let digest = |i: usize| layer_digests.get(i).cloned().unwrap_or_default();
                return Err(BuildError::Layer {
                    image: image.to_string(),
                    digest: digest(layer),
                    message: format!(
                        "entry {:?} would be written through the symlink {p:?} (-> {target:?}) of layer {}; a layer may not write through a symlink",
                        e.path,
                        digest(link_layer)
                    ),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: &str) -> Entry {
        Entry::file(p, 0o644, 0, b"x".to_vec())
    }
    fn d(p: &str) -> Entry {
        Entry::dir(p, 0o755, 0)
    }
    fn names(v: &[Entry]) -> Vec<&str> {
        v.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn upper_first_and_whiteouts() {
        let lower = vec![d("a"), f("a/x"), f("a/y"), f("b")];
        let upper = vec![f("a/.wh.x"), f("./b"), f("c")];
        let out = flatten("img", vec![lower, upper], &["l".into(), "u".into()]).unwrap();
        assert_eq!(names(&out), ["b", "c", "a", "a/y"]);
    }

    #[test]
    fn opaque_directories_hide_lower_content() {
        let lower = vec![d("a"), f("a/x"), f("keep")];
        let upper = vec![d("a"), f("a/.wh..wh..opq"), f("a/new")];
        let out = flatten("img", vec![lower, upper], &[]).unwrap();
        assert_eq!(names(&out), ["a", "a/new", "keep"]);
    }

    #[test]
    fn file_over_dir_hides_children() {
        let lower = vec![d("a"), f("a/x")];
        let upper = vec![f("a")];
        let out = flatten("img", vec![lower, upper], &[]).unwrap();
        assert_eq!(names(&out), ["a"]);
    }

    #[test]
    fn first_duplicate_wins() {
        let mut second = f("a");
        second.data = b"second".to_vec().into();
        let out = flatten("img", vec![vec![f("a"), second]], &[]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(&*out[0].data, b"x");
    }

    #[test]
    fn hostile_entries_are_rejected() {
        for bad in ["../etc/passwd", "a/../../x", "/etc/passwd"] {
            let e = flatten("img", vec![vec![f(bad)]], &["sha256:ab".into()]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("img") && msg.contains("sha256:ab"), "{msg}");
        }
        let e = flatten("img", vec![vec![f("a/.wh..")]], &[]).unwrap_err();
        assert!(e.to_string().contains("whiteout"));
        let mut h = f("h");
        h.kind = Kind::Hardlink;
        h.link = "../../etc/shadow".into();
        assert!(flatten("img", vec![vec![h.clone()]], &[]).is_err());
        h.link = "/etc/shadow".into();
        assert!(flatten("img", vec![vec![h]], &[]).is_err());
        let link = Entry::symlink("evil", "/etc", 0o777, 0);
        let e = flatten("img", vec![vec![link, f("evil/passwd")]], &[]).unwrap_err();
        assert!(e.to_string().contains("through the symlink"));
    }
}
