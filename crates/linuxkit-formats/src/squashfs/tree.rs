//! The filesystem tree the squashfs writer builds from the entries: paths
//! cleaned and resolved, parents created, later entries replacing earlier
//! ones, hard links as extra names of one node; then the inode plan.

use super::SquashfsError;
use super::meta::Xattr;
use crate::Shared;
use crate::entry::{Entry, Kind};
use crate::path::clean;
use std::collections::BTreeMap;

const MAX_NAME: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeKind {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
}

impl NodeKind {
    /// Basic inode type, as directory entries store it.
    pub(super) fn basic_type(self) -> u16 {
        match self {
            NodeKind::Dir => 1,
            NodeKind::File => 2,
            NodeKind::Symlink => 3,
            NodeKind::Block => 4,
            NodeKind::Char => 5,
            NodeKind::Fifo => 6,
        }
    }
}

/// One inode of the tree; hard links are several names for one node.
pub(super) struct Node {
    pub(super) kind: NodeKind,
    pub(super) mode: u16,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: u32,
    /// File contents, or the symlink target.
    pub(super) data: Shared,
    pub(super) rdev: u32,
    pub(super) xattrs: Vec<Xattr>,
    /// Directory entries, sorted by name bytes as squashfs requires.
    pub(super) children: BTreeMap<String, usize>,
}

pub(super) fn secs(t: i64) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

impl Node {
    fn dir(mtime: u32) -> Node {
        Node {
            kind: NodeKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime,
            data: Shared::new(),
            rdev: 0,
            xattrs: Vec::new(),
            children: BTreeMap::new(),
        }
    }

    fn from_entry(e: &Entry, kind: NodeKind) -> Result<Node, SquashfsError> {
        let too_large = |what| SquashfsError::TooLarge {
            path: e.path.clone(),
            what,
        };
        let data: Shared = match kind {
            NodeKind::File => e.data.clone(),
            NodeKind::Symlink => Shared::from(e.link.as_bytes()),
            _ => Shared::new(),
        };
        let rdev = match kind {
            NodeKind::Char | NodeKind::Block => {
                let (major, minor) = (e.devmajor, e.devminor);
                if major > 0xfff || minor > 0xf_ffff {
                    return Err(too_large("device number"));
                }
                (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
            }
            _ => 0,
        };
        let xattrs = e
            .pax
            .iter()
            .filter_map(|(k, v)| Xattr::parse(k.strip_prefix("SCHILY.xattr.")?, v))
            .collect();
        Ok(Node {
            kind,
            mode: (e.mode & 0o7777) as u16,
            uid: u32::try_from(e.uid).map_err(|_| too_large("uid"))?,
            gid: u32::try_from(e.gid).map_err(|_| too_large("gid"))?,
            mtime: secs(e.mtime),
            data,
            rdev,
            xattrs,
            children: BTreeMap::new(),
        })
    }
}

/// Split a cleaned relative path; `[]` is the root.
fn components(path: &str) -> Result<Vec<String>, SquashfsError> {
    let p = clean(path.trim_start_matches('/'));
    if p == "." {
        return Ok(Vec::new());
    }
    let bad = |reason| SquashfsError::BadPath {
        path: path.to_string(),
        reason,
    };
    let parts: Vec<String> = p.split('/').map(str::to_string).collect();
    for c in &parts {
        if c == ".." {
            return Err(bad("path leaves the root"));
        }
        if c.contains('\0') {
            return Err(bad("name contains a NUL byte"));
        }
        if c.len() > MAX_NAME {
            return Err(bad("name longer than 256 bytes"));
        }
    }
    Ok(parts)
}

/// The filesystem tree built from the entries; node 0 is the root.
pub(super) struct Tree {
    pub(super) nodes: Vec<Node>,
}

impl Tree {
    pub(super) fn build(entries: &[Entry], mtime: u32) -> Result<Tree, SquashfsError> {
        let mut t = Tree {
            nodes: vec![Node::dir(mtime)],
        };
        for e in entries {
            t.insert(e, mtime)?;
        }
        Ok(t)
    }

    fn lookup(&self, parts: &[String]) -> Option<usize> {
        parts.iter().try_fold(0, |at, name| {
            let n = &self.nodes[at];
            (n.kind == NodeKind::Dir)
                .then(|| n.children.get(name).copied())
                .flatten()
        })
    }

    fn insert(&mut self, e: &Entry, mtime: u32) -> Result<(), SquashfsError> {
        let parts = components(&e.path)?;
        let Some((name, parents)) = parts.split_last() else {
            // The root itself: only a directory may describe it.
            if e.kind != Kind::Dir {
                return Err(SquashfsError::BadPath {
                    path: e.path.clone(),
                    reason: "the root must be a directory",
                });
            }
            return self.update_dir(0, e);
        };
        let mut dir = 0;
        for (i, p) in parents.iter().enumerate() {
            dir = match self.nodes[dir].children.get(p) {
                Some(&c) if self.nodes[c].kind == NodeKind::Dir => c,
                Some(_) => {
                    return Err(SquashfsError::NotADirectory {
                        path: e.path.clone(),
                        parent: parts[..=i].join("/"),
                    });
                }
                None => {
                    self.nodes.push(Node::dir(mtime));
                    let c = self.nodes.len() - 1;
                    self.nodes[dir].children.insert(p.clone(), c);
                    c
                }
            };
        }
        let existing = self.nodes[dir].children.get(name).copied();
        let kind = match e.kind {
            Kind::Dir => match existing {
                Some(c) if self.nodes[c].kind == NodeKind::Dir => return self.update_dir(c, e),
                _ => NodeKind::Dir,
            },
            Kind::File => NodeKind::File,
            Kind::Symlink => NodeKind::Symlink,
            Kind::Char => NodeKind::Char,
            Kind::Block => NodeKind::Block,
            Kind::Fifo => NodeKind::Fifo,
            Kind::Hardlink => {
                let err = |reason| SquashfsError::HardLink {
                    path: e.path.clone(),
                    target: e.link.clone(),
                    reason,
                };
                let target = components(&e.link)?;
                let id = self.lookup(&target).ok_or_else(|| err("does not exist"))?;
                if self.nodes[id].kind == NodeKind::Dir {
                    return Err(err("is a directory"));
                }
                self.nodes[dir].children.insert(name.clone(), id);
                return Ok(());
            }
        };
        self.nodes.push(Node::from_entry(e, kind)?);
        let id = self.nodes.len() - 1;
        self.nodes[dir].children.insert(name.clone(), id);
        Ok(())
    }

    fn update_dir(&mut self, id: usize, e: &Entry) -> Result<(), SquashfsError> {
        let fresh = Node::from_entry(e, NodeKind::Dir)?;
        let n = &mut self.nodes[id];
        n.mode = fresh.mode;
        n.uid = fresh.uid;
        n.gid = fresh.gid;
        n.mtime = fresh.mtime;
        n.xattrs = fresh.xattrs;
        Ok(())
    }

    /// Inode order (post-order over sorted names, so a directory's children
    /// precede it and the root comes last), inode numbers, link counts and
    /// each directory's parent. Unreachable (replaced) nodes get number 0.
    pub(super) fn plan(&self) -> Plan {
        let n = self.nodes.len();
        let mut p = Plan {
            order: Vec::new(),
            number: vec![0; n],
            nlink: vec![0; n],
            parent: vec![0; n],
        };
        let kids = |d: usize| -> Vec<usize> { self.nodes[d].children.values().copied().collect() };
        let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(0, kids(0), 0)];
        while let Some((dir, list, pos)) = stack.last_mut() {
            let dir = *dir;
            let next = list.get(*pos).copied();
            *pos += 1;
            match next {
                Some(c) if self.nodes[c].kind == NodeKind::Dir => {
                    p.nlink[dir] += 1;
                    p.parent[c] = dir;
                    stack.push((c, kids(c), 0));
                }
                Some(c) => {
                    p.nlink[c] += 1;
                    if p.number[c] == 0 {
                        p.order.push(c);
                        p.number[c] = p.order.len() as u32;
                    }
                }
                None => {
                    stack.pop();
                    p.nlink[dir] += 2;
                    p.order.push(dir);
                    p.number[dir] = p.order.len() as u32;
                }
            }
        }
        p
    }
}

pub(super) struct Plan {
    pub(super) order: Vec<usize>,
    pub(super) number: Vec<u32>,
    pub(super) nlink: Vec<u32>,
    pub(super) parent: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000;

    fn hardlink(path: &str, target: &str) -> Entry {
        let mut e = Entry::file(path, 0o644, T, Vec::new());
        e.kind = Kind::Hardlink;
        e.link = target.into();
        e
    }

    fn build(e: &[Entry]) -> Result<Tree, SquashfsError> {
        Tree::build(e, 0)
    }

    #[test]
    fn errors() {
        assert!(matches!(
            build(&[hardlink("a", "missing")]),
            Err(SquashfsError::HardLink { .. })
        ));
        assert!(matches!(
            build(&[Entry::dir("d", 0o755, T), hardlink("a", "d")]),
            Err(SquashfsError::HardLink { .. })
        ));
        assert!(matches!(
            build(&[
                Entry::file("f", 0o644, T, Vec::new()),
                Entry::file("f/g", 0o644, T, Vec::new())
            ]),
            Err(SquashfsError::NotADirectory { .. })
        ));
        assert!(matches!(
            build(&[Entry::file("../x", 0o644, T, Vec::new())]),
            Err(SquashfsError::BadPath { .. })
        ));
        assert!(matches!(
            build(&[Entry::file("x".repeat(257), 0o644, T, Vec::new())]),
            Err(SquashfsError::BadPath { .. })
        ));
        assert!(matches!(
            build(&[Entry::file(".", 0o644, T, Vec::new())]),
            Err(SquashfsError::BadPath { .. })
        ));
    }

    #[test]
    fn plan_counts_links_and_orders_children_first() {
        let t = build(&[
            Entry::file("./a/f", 0o644, T, b"x".to_vec()),
            hardlink("b/g", "a/f"),
            hardlink("b/h", "./a/f"),
            Entry::dir("a/sub/", 0o755, T),
        ])
        .unwrap();
        let p = t.plan();
        let f = t.lookup(&["a".into(), "f".into()]).unwrap();
        let a = t.lookup(&["a".into()]).unwrap();
        assert_eq!(p.nlink[f], 3);
        assert_eq!(p.nlink[a], 3, "2 + one subdirectory");
        assert_eq!(p.nlink[0], 4, "2 + a + b");
        assert_eq!(*p.order.last().unwrap(), 0, "root last");
        assert_eq!(p.order.len(), 5, "root, a, a/f, a/sub, b");
        assert!(p.number[f] < p.number[a]);
    }
}
