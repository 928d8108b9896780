//! The in-memory tree the ISO writer lays out: inodes (nodes) and names
//! (directory children). Hard links are extra names for one node.

use super::IsoError;
use crate::Shared;
use crate::disk::SparseImage;
use crate::entry::{Entry, Kind};
use crate::path::clean;
use std::collections::BTreeMap;

/// What a node holds.
#[derive(Debug, Clone)]
pub(super) enum Body {
    /// Directory: real name to node.
    Dir(BTreeMap<String, usize>),
    /// Regular file.
    File(Shared),
    /// A regular file given in segments (the EFI boot image: a FAT image
    /// whose big file is the kernel's and initrd's own buffers).
    Image(SparseImage),
    /// The El Torito boot catalog (contents made by the writer).
    Catalog,
    /// Symbolic link and its target.
    Symlink(String),
    /// Device node.
    Dev { block: bool, major: u32, minor: u32 },
    /// Named pipe.
    Fifo,
}

impl Body {
    /// The size of a regular file's contents (0 for anything else).
    pub(super) fn file_len(&self) -> u64 {
        match self {
            Body::File(d) => d.len() as u64,
            Body::Image(img) => crate::disk::DiskSource::len(img),
            _ => 0,
        }
    }
}

/// One inode.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) body: Body,
    pub(super) perm: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: i64,
}

impl Node {
    /// A node owned by root.
    pub(super) fn new(body: Body, perm: u32, mtime: i64) -> Node {
        Node {
            body,
            perm,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    /// The full POSIX mode (type and permission bits).
    pub(super) fn mode(&self) -> u32 {
        let t = match self.body {
            Body::Dir(_) => 0o040_000,
            Body::File(_) | Body::Image(_) | Body::Catalog => 0o100_000,
            Body::Symlink(_) => 0o120_000,
            Body::Dev { block: false, .. } => 0o020_000,
            Body::Dev { block: true, .. } => 0o060_000,
            Body::Fifo => 0o010_000,
        };
        t | (self.perm & 0o7777)
    }

    /// Whether this is a directory.
    pub(super) fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }
}

/// Split a path into its components: leading `/` and `./` dropped,
/// `..` resolved; the root is the empty list.
pub(super) fn components(path: &str) -> Result<Vec<String>, IsoError> {
    let c = clean(path.trim_start_matches('/'));
    if c == "." {
        return Ok(Vec::new());
    }
    if c == ".." || c.starts_with("../") {
        return Err(IsoError::BadPath(path.to_string()));
    }
    Ok(c.split('/').map(str::to_string).collect())
}

/// Nodes and names; node 0 is the root directory.
#[derive(Debug)]
pub(super) struct Tree {
    pub(super) nodes: Vec<Node>,
    mtime: i64,
}

impl Tree {
    /// An empty tree whose root and created parents get `mtime`.
    pub(super) fn new(mtime: i64) -> Tree {
        Tree {
            nodes: vec![Node::new(Body::Dir(BTreeMap::new()), 0o755, mtime)],
            mtime,
        }
    }

    /// Children of a directory node, in real-name order.
    pub(super) fn children(&self, id: usize) -> Vec<(&str, usize)> {
        match &self.nodes[id].body {
            Body::Dir(m) => m.iter().map(|(k, &v)| (k.as_str(), v)).collect(),
            _ => Vec::new(),
        }
    }

    /// The node at `path`, if any.
    pub(super) fn lookup(&self, path: &str) -> Result<Option<usize>, IsoError> {
        let mut cur = 0;
        for c in components(path)? {
            match &self.nodes[cur].body {
                Body::Dir(m) => match m.get(&c) {
                    Some(&n) => cur = n,
                    None => return Ok(None),
                },
                _ => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The directory that will hold `path`'s last component (created with
    /// mode 0755 as needed) and that component; `None` for the root.
    fn parent_of(&mut self, path: &str) -> Result<Option<(usize, String)>, IsoError> {
        let mut comps = components(path)?;
        let Some(name) = comps.pop() else {
            return Ok(None);
        };
        let mut cur = 0;
        for c in comps {
            let next = match &self.nodes[cur].body {
                Body::Dir(m) => m.get(&c).copied(),
                _ => return Err(IsoError::NotADirectory(path.to_string())),
            };
            cur = match next {
                Some(n) if self.nodes[n].is_dir() => n,
                Some(_) => return Err(IsoError::NotADirectory(path.to_string())),
                None => {
                    let n = self.push(Node::new(Body::Dir(BTreeMap::new()), 0o755, self.mtime));
                    self.set_child(cur, c, n);
                    n
                }
            };
        }
        Ok(Some((cur, name)))
    }

    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn set_child(&mut self, dir: usize, name: String, node: usize) {
        if let Body::Dir(m) = &mut self.nodes[dir].body {
            m.insert(name, node);
        }
    }

    /// Put `node` at `path`, replacing what was there; a directory over a
    /// directory only takes the new metadata and keeps the children.
    pub(super) fn insert(&mut self, path: &str, node: Node) -> Result<usize, IsoError> {
        let Some((dir, name)) = self.parent_of(path)? else {
            // the root itself
            if !node.is_dir() {
                return Err(IsoError::BadPath(path.to_string()));
            }
            let root = &mut self.nodes[0];
            (root.perm, root.uid, root.gid, root.mtime) =
                (node.perm, node.uid, node.gid, node.mtime);
            return Ok(0);
        };
        let existing = match &self.nodes[dir].body {
            Body::Dir(m) => m.get(&name).copied(),
            _ => None,
        };
        if let Some(old) = existing
            && self.nodes[old].is_dir()
            && node.is_dir()
        {
            let o = &mut self.nodes[old];
            (o.perm, o.uid, o.gid, o.mtime) = (node.perm, node.uid, node.gid, node.mtime);
            return Ok(old);
        }
        let id = self.push(node);
        self.set_child(dir, name, id);
        Ok(id)
    }

    /// Add `path` as another name for the non-directory node `id`.
    pub(super) fn link(&mut self, path: &str, id: usize) -> Result<(), IsoError> {
        match self.parent_of(path)? {
            Some((dir, name)) => {
                self.set_child(dir, name, id);
                Ok(())
            }
            None => Err(IsoError::BadPath(path.to_string())),
        }
    }

    /// Build the tree from archive-order entries.
    pub(super) fn build(entries: &[Entry], mtime: i64) -> Result<Tree, IsoError> {
        let mut t = Tree::new(mtime);
        let mut links = Vec::new();
        for e in entries {
            let id32 = |v: u64, what: &'static str| {
                u32::try_from(v).map_err(|_| IsoError::TooLarge {
                    path: e.path.clone(),
                    what,
                })
            };
            let body = match e.kind {
                Kind::Hardlink => {
                    links.push(e);
                    continue;
                }
                Kind::Dir => Body::Dir(BTreeMap::new()),
                Kind::File => {
                    if e.data.len() as u64 > u64::from(u32::MAX) {
                        return Err(IsoError::FileTooLarge {
                            path: e.path.clone(),
                            size: e.data.len() as u64,
                        });
                    }
                    Body::File(e.data.clone())
                }
                Kind::Symlink => Body::Symlink(e.link.clone()),
                Kind::Char | Kind::Block => Body::Dev {
                    block: e.kind == Kind::Block,
                    major: e.devmajor,
                    minor: e.devminor,
                },
                Kind::Fifo => Body::Fifo,
            };
            let node = Node {
                body,
                perm: e.mode & 0o7777,
                uid: id32(e.uid, "uid")?,
                gid: id32(e.gid, "gid")?,
                mtime: e.mtime,
            };
            t.insert(&e.path, node)?;
        }
        for e in links {
            let target = t.lookup(&e.link)?.filter(|&n| !t.nodes[n].is_dir());
            let Some(id) = target else {
                return Err(IsoError::HardlinkTarget {
                    path: e.path.clone(),
                    target: e.link.clone(),
                });
            };
            t.link(&e.path, id)?;
        }
        Ok(t)
    }

    /// Number of names of every node reachable from the root.
    pub(super) fn name_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        let mut stack = vec![0usize];
        counts[0] = 1;
        while let Some(d) = stack.pop() {
            for (_, c) in self.children(d) {
                counts[c] += 1;
                if self.nodes[c].is_dir() && counts[c] == 1 {
                    stack.push(c);
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_creates_parents() {
        let entries = vec![
            Entry::file("./a/b/c.txt", 0o644, 7, b"x".to_vec()),
            Entry::dir("a/", 0o700, 9),
            Entry::dir("./", 0o711, 3),
        ];
        let t = Tree::build(&entries, 1).unwrap();
        let a = t.lookup("a").unwrap().unwrap();
        assert_eq!(t.nodes[a].perm, 0o700);
        assert_eq!(t.nodes[a].mtime, 9);
        let b = t.lookup("/a/b").unwrap().unwrap();
        assert_eq!((t.nodes[b].perm, t.nodes[b].mtime), (0o755, 1));
        assert!(t.lookup("a/b/c.txt").unwrap().is_some());
        assert_eq!(t.nodes[0].perm, 0o711);
        assert!(matches!(components("../x"), Err(IsoError::BadPath(_))));
    }

    #[test]
    fn hardlinks_share_a_node() {
        let mut h = Entry::file("z/link", 0o644, 0, Vec::new());
        h.kind = Kind::Hardlink;
        h.link = "./f".into();
        let entries = vec![h, Entry::file("f", 0o644, 0, b"data".to_vec())];
        let t = Tree::build(&entries, 0).unwrap();
        let f = t.lookup("f").unwrap();
        assert_eq!(f, t.lookup("z/link").unwrap());
        assert_eq!(t.name_counts()[f.unwrap()], 2);
        let mut bad = Entry::file("y", 0o644, 0, Vec::new());
        bad.kind = Kind::Hardlink;
        bad.link = "missing".into();
        assert!(matches!(
            Tree::build(&[bad], 0),
            Err(IsoError::HardlinkTarget { .. })
        ));
    }
}
