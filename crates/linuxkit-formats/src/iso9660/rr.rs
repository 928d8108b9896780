//! ISO 9660 identifiers and Rock Ridge (SUSP 1.12 / RRIP 1.12) System Use
//! entries: the primary-tree names (d-characters, up to 31 of them as with
//! `mkisofs -l`, unique per directory), their sort order, and the SP, CE,
//! ER, PX, PN, SL, NM and TF entries, packed into a directory record's
//! System Use area with the overflow in Continuation Areas.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Longest identifier (name part, without `;1`) as `-l` allows.
const MAX_IDENT: usize = 31;
/// Longest extension kept from a file name.
const MAX_EXT: usize = 7;
/// Longest directory record (kept even).
pub(super) const MAX_RECORD: usize = 254;
/// Size of a CE entry.
const CE_LEN: usize = 28;
/// Logical block size.
const BLOCK: usize = 2048;

/// A primary-tree identifier: `base` and `ext` are d-characters; files are
/// recorded as `BASE.EXT;1`, directories as `BASE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IsoName {
    base: Vec<u8>,
    ext: Vec<u8>,
    dir: bool,
}

impl IsoName {
    /// The File Identifier bytes as recorded.
    pub(super) fn ident(&self) -> Vec<u8> {
        let mut v = self.base.clone();
        if !self.dir {
            v.push(b'.');
            v.extend_from_slice(&self.ext);
            v.extend_from_slice(b";1");
        }
        v
    }

    fn key(&self) -> Vec<u8> {
        let mut v = self.base.clone();
        if !self.dir {
            v.push(b'.');
            v.extend_from_slice(&self.ext);
        }
        v
    }
}

/// Compare two byte strings as ECMA-119 9.3 does: the shorter one padded
/// with spaces.
fn cmp_padded(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().max(b.len());
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(b' ');
    (0..n)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// ECMA-119 directory record order: name, then extension (version is
/// always 1).
pub(super) fn iso_cmp(a: &IsoName, b: &IsoName) -> Ordering {
    cmp_padded(&a.base, &b.base).then_with(|| cmp_padded(&a.ext, &b.ext))
}

fn d_chars(s: &str) -> Vec<u8> {
    s.bytes()
        .map(|c| match c {
            b'a'..=b'z' => c.to_ascii_uppercase(),
            b'A'..=b'Z' | b'0'..=b'9' => c,
            _ => b'_',
        })
        .collect()
}

fn first_name(real: &str, dir: bool) -> IsoName {
    let (mut base, mut ext) = match real.rfind('.') {
        Some(i) if i > 0 && !dir => (d_chars(&real[..i]), d_chars(&real[i + 1..])),
        _ => (d_chars(real), Vec::new()),
    };
    ext.truncate(MAX_EXT);
    let max_base = if dir {
        MAX_IDENT
    } else {
        MAX_IDENT - 1 - ext.len()
    };
    base.truncate(max_base);
    if base.is_empty() {
        base.push(b'_');
    }
    IsoName { base, ext, dir }
}

/// Identifiers for the children of one directory, given as (real name, is
/// directory) in a fixed order; the result is unique within the directory
/// and depends only on the input.
pub(super) fn iso_names(children: &[(&str, bool)]) -> Vec<IsoName> {
    let mut used = BTreeSet::new();
    children
        .iter()
        .map(|&(real, dir)| {
            let mut n = first_name(real, dir);
            if !used.contains(&n.key()) {
                used.insert(n.key());
                return n;
            }
            let max_base = if dir {
                MAX_IDENT
            } else {
                MAX_IDENT - 1 - n.ext.len()
            };
            let stem = n.base.clone();
            for i in 1u64.. {
                let suffix = i.to_string().into_bytes();
                let keep = stem.len().min(max_base.saturating_sub(suffix.len()));
                n.base = stem[..keep].to_vec();
                n.base.extend_from_slice(&suffix);
                if !used.contains(&n.key()) {
                    break;
                }
            }
            used.insert(n.key());
            n
        })
        .collect()
}

/// Both-endian 32-bit field (ECMA-119 7.3.3).
pub(super) fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

/// Both-endian 16-bit field (ECMA-119 7.2.3).
pub(super) fn both16(v: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..].copy_from_slice(&v.to_be_bytes());
    b
}

/// Civil date (year, month, day, hour, minute, second) for unix seconds.
pub(super) fn civil(secs: i64) -> (i64, u8, u8, u8, u8, u8) {
    let c = crate::time::civil(secs);
    (
        c.year,
        c.month as u8,
        c.day as u8,
        c.hour as u8,
        c.minute as u8,
        c.second as u8,
    )
}

/// The 7-byte recording date (ECMA-119 9.1.5), UTC, clamped to the
/// representable years 1900..=2155.
pub(super) fn date7(secs: i64) -> [u8; 7] {
    // 1900-01-01 and 2155-12-31T23:59:59
    let secs = secs.clamp(-2_208_988_800, 5_992_405_199);
    let (y, mo, d, h, mi, s) = civil(secs);
    [(y - 1900) as u8, mo, d, h, mi, s, 0]
}

/// The 17-byte volume descriptor date (ECMA-119 8.4.26.1), UTC.
pub(super) fn date17(secs: i64) -> [u8; 17] {
    let secs = secs.clamp(-62_135_596_800, 253_402_300_799); // years 1..=9999
    let (y, mo, d, h, mi, s) = civil(secs);
    let txt = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00");
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(txt.as_bytes());
    out
}

fn entry(sig: &[u8; 2], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(sig);
    v.push((4 + payload.len()) as u8);
    v.push(1);
    v.extend_from_slice(payload);
    v
}

/// SUSP `SP`: the SUSP indicator, first entry of the root's `.` record.
pub(super) fn sp() -> Vec<u8> {
    entry(b"SP", &[0xBE, 0xEF, 0])
}

/// SUSP `ER` announcing RRIP 1991A (Rock Ridge 1.10/1.12 as Linux and
/// libisofs expect).
pub(super) fn er() -> Vec<u8> {
    let id = b"RRIP_1991A";
    let des =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    let src = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    let mut p = vec![id.len() as u8, des.len() as u8, src.len() as u8, 1];
    p.extend_from_slice(id);
    p.extend_from_slice(des);
    p.extend_from_slice(src);
    entry(b"ER", &p)
}

/// SUSP `CE`: where the rest of the System Use entries continue.
pub(super) fn ce(block: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(24);
    p.extend_from_slice(&both32(block));
    p.extend_from_slice(&both32(offset));
    p.extend_from_slice(&both32(len));
    entry(b"CE", &p)
}

/// RRIP `PX` with the file serial number (RRIP 1.12 layout, 44 bytes).
pub(super) fn px(mode: u32, nlink: u32, uid: u32, gid: u32, ino: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    for v in [mode, nlink, uid, gid, ino] {
        p.extend_from_slice(&both32(v));
    }
    entry(b"PX", &p)
}

/// RRIP `PN`: device number split as glibc's 64-bit `dev_t` (what libisofs
/// records and Linux decodes).
pub(super) fn pn(major: u32, minor: u32) -> Vec<u8> {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    let dev = (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & !0xff) << 12) | ((ma & !0xfff) << 32);
    let mut p = Vec::with_capacity(16);
    p.extend_from_slice(&both32((dev >> 32) as u32));
    p.extend_from_slice(&both32(dev as u32));
    entry(b"PN", &p)
}

/// RRIP `TF`: modification, access and attribute-change times.
pub(super) fn tf(mtime: i64) -> Vec<u8> {
    let mut p = vec![0x0E];
    for _ in 0..3 {
        p.extend_from_slice(&date7(mtime));
    }
    entry(b"TF", &p)
}

/// RRIP `NM` entries carrying the real name (split when over 250 bytes).
pub(super) fn nm(name: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = name.chunks(250).collect();
    let last = chunks.len().saturating_sub(1);
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut p = vec![u8::from(i != last)];
            p.extend_from_slice(c);
            entry(b"NM", &p)
        })
        .collect()
}

/// RRIP `SL` entries for a symlink target (split as needed).
pub(super) fn sl(target: &str) -> Vec<Vec<u8>> {
    // component records: flags, len, content
    let mut comps: Vec<Vec<u8>> = Vec::new();
    if target.starts_with('/') {
        comps.push(vec![0x08, 0]);
    }
    for c in target.split('/').filter(|c| !c.is_empty()) {
        match c {
            "." => comps.push(vec![0x02, 0]),
            ".." => comps.push(vec![0x04, 0]),
            _ => {
                let pieces: Vec<&[u8]> = c.as_bytes().chunks(248).collect();
                let last = pieces.len() - 1;
                for (i, p) in pieces.iter().enumerate() {
                    let mut r = vec![u8::from(i != last), p.len() as u8];
                    r.extend_from_slice(p);
                    comps.push(r);
                }
            }
        }
    }
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new()];
    for c in comps {
        if payloads.last().is_some_and(|p| p.len() + c.len() > 250) {
            payloads.push(Vec::new());
        }
        if let Some(p) = payloads.last_mut() {
            p.extend_from_slice(&c);
        }
    }
    let last = payloads.len() - 1;
    payloads
        .iter()
        .enumerate()
        .map(|(i, comps)| {
            let mut p = vec![u8::from(i != last)];
            p.extend_from_slice(comps);
            entry(b"SL", &p)
        })
        .collect()
}

/// A CE entry whose block is relative to the start of the [`CePool`].
#[derive(Debug, Clone, Copy)]
pub(super) struct CeRef {
    pub(super) rel_block: u32,
    pub(super) offset: u32,
    pub(super) len: u32,
}

/// The System Use area of one directory record: inline entries, maybe
/// ending in a CE that points into the pool.
#[derive(Debug, Clone, Default)]
pub(super) struct Sua {
    pub(super) inline: Vec<u8>,
    pub(super) ce: Option<CeRef>,
}

impl Sua {
    /// Bytes in the record.
    pub(super) fn len(&self) -> usize {
        self.inline.len() + if self.ce.is_some() { CE_LEN } else { 0 }
    }

    /// The bytes as recorded once the pool starts at `pool_lba`.
    pub(super) fn bytes(&self, pool_lba: u32) -> Vec<u8> {
        let mut v = self.inline.clone();
        if let Some(c) = self.ce {
            v.extend(ce(pool_lba + c.rel_block, c.offset, c.len));
        }
        v
    }
}

/// Continuation Areas for all records, laid out in whole blocks; no area
/// crosses a block boundary.
#[derive(Debug, Default)]
pub(super) struct CePool {
    buf: Vec<u8>,
    /// Positions of CE block fields (both-endian) to relocate.
    fixups: Vec<usize>,
}

impl CePool {
    /// Size in blocks.
    pub(super) fn blocks(&self) -> u32 {
        self.buf.len().div_ceil(BLOCK) as u32
    }

    /// The pool's bytes once it starts at `lba` (padded to whole blocks).
    pub(super) fn bytes(&self, lba: u32) -> Vec<u8> {
        let mut v = self.buf.clone();
        v.resize(self.blocks() as usize * BLOCK, 0);
        for &at in &self.fixups {
            let mut le = [0u8; 4];
            le.copy_from_slice(&v[at..at + 4]);
            let abs = u32::from_le_bytes(le) + lba;
            v[at..at + 8].copy_from_slice(&both32(abs));
        }
        v
    }

    fn alloc(&mut self, len: usize) -> usize {
        let used = self.buf.len() % BLOCK;
        if used != 0 && used + len > BLOCK {
            self.buf.resize(self.buf.len() + BLOCK - used, 0);
        }
        let at = self.buf.len();
        self.buf.resize(at + len, 0);
        at
    }

    /// Store `entries` (each at most 255 bytes) in one or more chained
    /// areas and return the CE that leads to them.
    fn place(&mut self, entries: &[Vec<u8>]) -> CeRef {
        let total: usize = entries.iter().map(Vec::len).sum();
        let (n, len) = if total <= BLOCK {
            (entries.len(), total)
        } else {
            let mut n = 0;
            let mut len = 0;
            while len + entries[n].len() + CE_LEN <= BLOCK {
                len += entries[n].len();
                n += 1;
            }
            (n, len + CE_LEN)
        };
        let at = self.alloc(len);
        let mut bytes: Vec<u8> = entries[..n].concat();
        if n < entries.len() {
            let next = self.place(&entries[n..]);
            self.fixups.push(at + bytes.len() + 4);
            bytes.extend(ce(next.rel_block, next.offset, next.len));
        }
        self.buf[at..at + len].copy_from_slice(&bytes);
        CeRef {
            rel_block: (at / BLOCK) as u32,
            offset: (at % BLOCK) as u32,
            len: len as u32,
        }
    }

    /// Pack entries into a record's System Use area of at most `room`
    /// bytes, moving what does not fit into the pool.
    pub(super) fn pack(&mut self, entries: &[Vec<u8>], room: usize) -> Sua {
        let total: usize = entries.iter().map(Vec::len).sum();
        if total <= room {
            return Sua {
                inline: entries.concat(),
                ce: None,
            };
        }
        let mut n = 0;
        let mut len = 0;
        while n < entries.len() && len + entries[n].len() + CE_LEN <= room {
            len += entries[n].len();
            n += 1;
        }
        Sua {
            inline: entries[..n].concat(),
            ce: Some(self.place(&entries[n..])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_ordered() {
        let kids = [
            ("README", false),
            ("a-very-long-file-name-that-goes-beyond-31.tar.gz", false),
            ("a-very-long-file-name-that-goes-beyond-31.tar.xz", false),
            ("boot", true),
            ("Boot", true),
            (".profile", false),
            ("x.y.z", true),
        ];
        let n = iso_names(&kids);
        let ids: Vec<String> = n
            .iter()
            .map(|n| String::from_utf8(n.ident()).unwrap())
            .collect();
        assert_eq!(ids[0], "README.;1");
        assert_eq!(ids[1], "A_VERY_LONG_FILE_NAME_THAT_G.GZ;1");
        assert_eq!(ids[2], "A_VERY_LONG_FILE_NAME_THAT_G.XZ;1");
        assert_eq!(ids[3], "BOOT");
        assert_eq!(ids[4], "BOOT1");
        assert_eq!(ids[5], "_PROFILE.;1");
        assert_eq!(ids[6], "X_Y_Z");
        assert!(ids.iter().all(|i| i.len() <= 33));
        // 9.3: "A" sorts before "A0" even though ';' > '0'
        let a = first_name("a", false);
        let a0 = first_name("a0", false);
        assert_eq!(iso_cmp(&a, &a0), Ordering::Less);
        let d = first_name("foo", true);
        let f = first_name("foo.txt", false);
        assert_eq!(iso_cmp(&d, &f), Ordering::Less);
    }

    #[test]
    fn many_collisions_stay_unique() {
        let names: Vec<String> = (0..200).map(|i| format!("same-{i:03}")).collect();
        let kids: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), false)).collect();
        let n = iso_names(&kids);
        let set: BTreeSet<Vec<u8>> = n.iter().map(IsoName::ident).collect();
        assert_eq!(set.len(), 200);
    }

    #[test]
    fn dates() {
        assert_eq!(date7(1_492_533_000), [117, 4, 18, 16, 30, 0, 0]);
        assert_eq!(&date17(0)[..16], b"1970010100000000");
        assert_eq!(date7(-1)[0], 69);
    }

    #[test]
    fn symlink_components() {
        let e = sl("/usr/../bin/./sh");
        assert_eq!(e.len(), 1);
        let p = &e[0];
        assert_eq!(&p[..2], b"SL");
        assert_eq!(
            &p[5..],
            &[
                8, 0, 0, 3, b'u', b's', b'r', 4, 0, 0, 3, b'b', b'i', b'n', 2, 0, 0, 2, b's', b'h'
            ]
        );
        let long = "x".repeat(600);
        let e = sl(&long);
        assert!(e.len() >= 3);
        assert!(e.iter().all(|x| x.len() <= 255 && x[2] as usize == x.len()));
    }

    #[test]
    fn pool_chains_long_areas() {
        let mut pool = CePool::default();
        let entries: Vec<Vec<u8>> = (0..20).map(|_| entry(b"NM", &[0u8; 200])).collect();
        let sua = pool.pack(&entries, 100);
        assert!(sua.ce.is_some());
        assert!(sua.len() <= 100);
        assert!(pool.blocks() >= 2);
        let bytes = pool.bytes(1000);
        // the first area ends in a CE pointing at block >= 1000
        let first = sua.ce.unwrap();
        let end = first.offset as usize + first.len as usize;
        let ce_at = end - CE_LEN;
        assert_eq!(&bytes[ce_at..ce_at + 2], b"CE");
        let blk = u32::from_le_bytes(bytes[ce_at + 4..ce_at + 8].try_into().unwrap());
        assert!(blk >= 1001);
    }
}
