//! Squashfs building blocks: zlib block compression, the stream of 8 KiB
//! metadata blocks (inode, directory and xattr tables), lookup tables,
//! directory listings and the xattr table.

use flate2::{Compression, write::ZlibEncoder};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

/// Uncompressed size of one metadata block.
pub(super) const META_SIZE: usize = 8192;
/// Fragment index of a file without a tail in a fragment block.
pub(super) const NO_FRAGMENT: u32 = 0xffff_ffff;
/// Xattr index of an inode without extended attributes.
pub(super) const NO_XATTR: u32 = 0xffff_ffff;
/// Set in a data block's size word when the block is stored uncompressed.
const DATA_UNCOMPRESSED: u32 = 1 << 24;
/// Set in a metadata block's header when the block is stored uncompressed.
const META_UNCOMPRESSED: u16 = 1 << 15;
/// At most this many entries follow one directory header.
const DIR_HEADER_MAX: usize = 256;

/// zlib stream at mksquashfs' default gzip settings (level 9, window 15).
pub(super) fn zlib(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 64), Compression::best());
    e.write_all(data)?;
    e.finish()
}

/// A data or fragment block as stored, and its block-list size word: the
/// compressed bytes `c` (the zlib stream of `data`) when smaller, else the
/// raw bytes flagged uncompressed.
pub(super) fn stored_block(data: &[u8], c: Vec<u8>) -> (Cow<'_, [u8]>, u32) {
    // Blocks are at most 1 MiB, so the length fits the 24-bit size field.
    if c.len() < data.len() {
        let size = c.len() as u32;
        (Cow::Owned(c), size)
    } else {
        (Cow::Borrowed(data), data.len() as u32 | DATA_UNCOMPRESSED)
    }
}

/// Append one metadata block (at most [`META_SIZE`] bytes of input) with
/// its 16-bit length header.
pub(super) fn meta_block(out: &mut Vec<u8>, chunk: &[u8]) -> io::Result<()> {
    let c = zlib(chunk)?;
    if c.len() < chunk.len() {
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(&c);
    } else {
        out.extend_from_slice(&(chunk.len() as u16 | META_UNCOMPRESSED).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    Ok(())
}

/// Little-endian record builder.
#[derive(Default)]
pub(super) struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn w16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn w32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn w64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// A table stored as consecutive metadata blocks. Records may straddle
/// blocks; a reference is `(offset of the block from the table start) << 16
/// | offset inside the uncompressed block`.
#[derive(Default)]
pub(super) struct MetaWriter {
    done: Vec<u8>,
    cur: Vec<u8>,
}

impl MetaWriter {
    /// Reference of the next byte written.
    pub fn reference(&self) -> u64 {
        ((self.done.len() as u64) << 16) | self.cur.len() as u64
    }

    /// Offset of the current block from the table start.
    pub fn block(&self) -> usize {
        self.done.len()
    }

    /// Offset inside the current uncompressed block (below 8192).
    pub fn offset(&self) -> u16 {
        self.cur.len() as u16
    }

    pub fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.cur.extend_from_slice(b);
        if self.cur.len() >= META_SIZE {
            let full = self.cur.len() / META_SIZE * META_SIZE;
            for chunk in self.cur[..full].chunks(META_SIZE) {
                meta_block(&mut self.done, chunk)?;
            }
            self.cur.drain(..full);
        }
        Ok(())
    }

    /// The stored table.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        if !self.cur.is_empty() {
            meta_block(&mut self.done, &self.cur)?;
        }
        Ok(self.done)
    }
}

/// One directory entry as the listing stores it.
pub(super) struct Child<'a> {
    pub name: &'a str,
    pub inode_ref: u64,
    pub number: u32,
    pub basic_type: u16,
}

/// Encode a directory listing (entries sorted by name): runs of at most 256
/// entries sharing one inode metadata block and an inode number base that
/// every entry's number is within ±32767 of.
pub(super) fn listing(children: &[Child<'_>]) -> Vec<u8> {
    let mut b = Bytes::default();
    let mut i = 0;
    while i < children.len() {
        let block = children[i].inode_ref >> 16;
        let base = children[i].number;
        let run = children[i..]
            .iter()
            .take(DIR_HEADER_MAX)
            .take_while(|c| {
                c.inode_ref >> 16 == block
                    && i16::try_from(i64::from(c.number) - i64::from(base)).is_ok()
            })
            .count();
        b.w32(run as u32 - 1).w32(block as u32).w32(base);
        for c in &children[i..i + run] {
            let diff = (i64::from(c.number) - i64::from(base)) as i16;
            b.w16((c.inode_ref & 0xffff) as u16)
                .w16(diff as u16)
                .w16(c.basic_type)
                .w16(c.name.len() as u16 - 1)
                .raw(c.name.as_bytes());
        }
        i += run;
    }
    b.0
}

/// One extended attribute: squashfs prefix id (0 `user.`, 1 `trusted.`,
/// 2 `security.`), the name without the prefix, and the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Xattr {
    pub prefix: u16,
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

impl Xattr {
    /// Split a full attribute name; `None` for namespaces squashfs cannot
    /// store (e.g. `system.`).
    pub fn parse(full: &str, value: &str) -> Option<Xattr> {
        let (prefix, name) = [("user.", 0), ("trusted.", 1), ("security.", 2)]
            .iter()
            .find_map(|(p, id)| full.strip_prefix(p).map(|n| (*id, n)))?;
        if name.is_empty() || name.len() > 255 || value.len() > 65536 {
            return None;
        }
        Some(Xattr {
            prefix,
            name: name.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        })
    }
}

/// The key/value pairs of every distinct attribute set, and the id table
/// the inodes index.
#[derive(Default)]
pub(super) struct XattrTable {
    kv: MetaWriter,
    ids: Vec<u8>,
    count: u32,
    seen: HashMap<Vec<Xattr>, u32>,
}

impl XattrTable {
    /// Index of the set, stored on first use.
    pub fn add(&mut self, set: &[Xattr]) -> io::Result<u32> {
        if let Some(&id) = self.seen.get(set) {
            return Ok(id);
        }
        let reference = self.kv.reference();
        let mut b = Bytes::default();
        for x in set {
            // Name and value lengths are bounded by `Xattr::parse`.
            b.w16(x.prefix)
                .w16(x.name.len() as u16)
                .raw(&x.name)
                .w32(x.value.len() as u32)
                .raw(&x.value);
        }
        self.kv.write(&b.0)?;
        let mut rec = Bytes::default();
        rec.w64(reference)
            .w32(set.len() as u32)
            .w32(b.0.len() as u32);
        self.ids.extend_from_slice(&rec.0);
        let id = self.count;
        self.count += 1;
        self.seen.insert(set.to_vec(), id);
        Ok(id)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The stored key/value table, the id records and their count.
    pub fn finish(self) -> io::Result<(Vec<u8>, Vec<u8>, u32)> {
        Ok((self.kv.finish()?, self.ids, self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_blocks_split_at_8k() {
        let mut m = MetaWriter::default();
        m.write(&[1u8; 8000]).unwrap();
        assert_eq!(m.reference(), 8000);
        m.write(&[2u8; 500]).unwrap();
        // First block flushed; the next record starts 308 bytes into block 2.
        assert_eq!(m.offset(), 308);
        assert!(m.block() > 0 && m.block() < 8192);
        let out = m.finish().unwrap();
        let first = u16::from_le_bytes([out[0], out[1]]);
        assert_eq!(first & META_UNCOMPRESSED, 0, "repetitive data compresses");
    }

    #[test]
    fn listing_headers() {
        let names: Vec<String> = (0..300).map(|i| format!("f{i:03}")).collect();
        let kids: Vec<Child<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Child {
                name: n,
                inode_ref: (i as u64) * 20,
                number: i as u32 + 1,
                basic_type: 2,
            })
            .collect();
        let l = listing(&kids);
        // 300 entries → two headers (256 + 44).
        assert_eq!(u32::from_le_bytes(l[0..4].try_into().unwrap()), 255);
        let second = 12 + 256 * (8 + 4);
        assert_eq!(
            u32::from_le_bytes(l[second..second + 4].try_into().unwrap()),
            43
        );
        assert_eq!(l.len(), 2 * 12 + 300 * 12);
    }

    #[test]
    fn xattr_namespaces() {
        assert_eq!(Xattr::parse("security.capability", "x").unwrap().prefix, 2);
        assert_eq!(Xattr::parse("user.a", "").unwrap().name, b"a");
        assert!(Xattr::parse("system.posix_acl_access", "x").is_none());
        assert!(Xattr::parse("user.", "x").is_none());
    }
}
