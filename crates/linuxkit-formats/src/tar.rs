//! A deterministic PAX tar writer. Every header is ustar; a PAX extended
//! header precedes an entry when it carries provenance records
//! (`LINUXKIT.source` / `LINUXKIT.location`), extra records, or a field that
//! does not fit ustar (long or non-ASCII names, large ids, sizes or times).
//! The archive ends with two zero blocks, as Go's `archive/tar` writes it.
//! [`read_entries`] is the one tar reader (layers, input tars, .deb data);
//! extension headers it reads are bounded by [`guard`].

use crate::Shared;
use crate::entry::{Entry, Kind};
use std::io::{self, Read, Write};
use std::sync::Arc;

pub mod guard;

const BLOCK: usize = 512;

/// Streams entries into a tar archive.
pub struct TarWriter<W: Write> {
    w: W,
    provenance: bool,
    written: u64,
}

fn put_octal(field: &mut [u8], value: u64) -> bool {
    // width-1 octal digits followed by NUL
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    if s.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    true
}

fn put_str(field: &mut [u8], s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > field.len() || !s.is_ascii() {
        let n = b.len().min(field.len());
        field[..n].copy_from_slice(&b[..n]);
        return false;
    }
    field[..b.len()].copy_from_slice(b);
    true
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    // "<len> <key>=<value>\n" where len counts the whole record
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    loop {
        let total = body + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

fn type_flag(kind: Kind) -> u8 {
    match kind {
        Kind::File => b'0',
        Kind::Hardlink => b'1',
        Kind::Symlink => b'2',
        Kind::Char => b'3',
        Kind::Block => b'4',
        Kind::Dir => b'5',
        Kind::Fifo => b'6',
    }
}

fn checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// Build a ustar header; returns the header and the PAX records needed for
/// fields that did not fit.
fn ustar_header(
    name: &str,
    e: &Entry,
    typeflag: u8,
    size: u64,
    pax: &mut Vec<(String, String)>,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    if !put_str(&mut h[0..100], name) {
        pax.push(("path".into(), name.to_string()));
    }
    put_octal(&mut h[100..108], u64::from(e.mode & 0o7_777_777));
    if !put_octal(&mut h[108..116], e.uid) {
        pax.push(("uid".into(), e.uid.to_string()));
        put_octal(&mut h[108..116], 0);
    }
    if !put_octal(&mut h[116..124], e.gid) {
        pax.push(("gid".into(), e.gid.to_string()));
        put_octal(&mut h[116..124], 0);
    }
    if !put_octal(&mut h[124..136], size) {
        pax.push(("size".into(), size.to_string()));
        put_octal(&mut h[124..136], 0);
    }
    let mtime = if e.mtime < 0 {
        None
    } else {
        Some(e.mtime as u64)
    };
    match mtime {
        Some(m) if put_octal(&mut h[136..148], m) => {}
        _ => {
            pax.push(("mtime".into(), e.mtime.to_string()));
            put_octal(&mut h[136..148], 0);
        }
    }
    h[156] = typeflag;
    if !put_str(&mut h[157..257], &e.link) {
        pax.push(("linkpath".into(), e.link.clone()));
    }
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    if !put_str(&mut h[265..297], &e.uname) {
        pax.push(("uname".into(), e.uname.clone()));
    }
    if !put_str(&mut h[297..329], &e.gname) {
        pax.push(("gname".into(), e.gname.clone()));
    }
    if matches!(e.kind, Kind::Char | Kind::Block) {
        put_octal(&mut h[329..337], u64::from(e.devmajor));
        put_octal(&mut h[337..345], u64::from(e.devminor));
    } else {
        put_octal(&mut h[329..337], 0);
        put_octal(&mut h[337..345], 0);
    }
    h
}

impl<W: Write> TarWriter<W> {
    /// A writer that emits `LINUXKIT.*` provenance records.
    pub fn new(w: W) -> TarWriter<W> {
        TarWriter {
            w,
            provenance: true,
            written: 0,
        }
    }

    /// A writer that omits provenance records (plain archives, e.g. the
    /// `tar-kernel-initrd` output).
    pub fn without_provenance(w: W) -> TarWriter<W> {
        TarWriter {
            w,
            provenance: false,
            written: 0,
        }
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.put(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Append one entry (header, PAX records if any, contents).
    pub fn write_entry(&mut self, e: &Entry) -> io::Result<()> {
        let size = if e.kind == Kind::File { e.size() } else { 0 };
        let mut pax: Vec<(String, String)> = Vec::new();
        if self.provenance {
            if !e.source.is_empty() {
                pax.push(("LINUXKIT.source".into(), e.source.to_string()));
            }
            if !e.location.is_empty() {
                pax.push(("LINUXKIT.location".into(), e.location.to_string()));
            }
        }
        pax.extend(e.pax.iter().cloned());
        let mut header = ustar_header(&e.path, e, type_flag(e.kind), size, &mut pax);
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                pax_record(&mut body, k, v);
            }
            let base = e
                .path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            let mut pname = format!("PaxHeaders.0/{base}");
            pname.truncate(
                (0..=pname.len().min(100))
                    .rev()
                    .find(|&i| pname.is_char_boundary(i))
                    .unwrap_or(0),
            );
            let mut ph = Entry::file(pname.clone(), 0o644, e.mtime.max(0), Vec::new());
            ph.kind = Kind::File;
            let mut ignored = Vec::new();
            let mut xh = ustar_header(&pname, &ph, b'x', body.len() as u64, &mut ignored);
            checksum(&mut xh);
            self.put(&xh)?;
            self.put(&body)?;
            self.pad(body.len() as u64)?;
        }
        checksum(&mut header);
        self.put(&header)?;
        if size > 0 {
            let data = e.data.clone();
            self.put(&data)?;
            self.pad(size)?;
        }
        Ok(())
    }

    /// Append bytes that are already whole tar entries (e.g. a cached run
    /// of entries written earlier by this writer).
    pub fn write_raw(&mut self, data: &[u8]) -> io::Result<()> {
        debug_assert_eq!(data.len() % BLOCK, 0);
        self.put(data)
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Write the end-of-archive marker and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[0u8; BLOCK * 2])?;
        self.w.flush()?;
        Ok(self.w)
    }
}

fn pax_u64(v: &str) -> Option<u64> {
    v.split('.').next().and_then(|s| s.parse().ok())
}

fn pax_i64(v: &str) -> Option<i64> {
    v.split('.').next().and_then(|s| s.parse().ok())
}

/// Read every entry of an (uncompressed) tar stream as [`Entry`] values with
/// names exactly as stored; PAX `uid`/`gid`/`mtime`/`uname`/`gname` override
/// the header, `SCHILY.xattr.*` records are kept and `LINUXKIT.*` provenance
/// records are read back. A header's size is not trusted for allocation.
pub fn read_entries(r: &mut dyn Read) -> io::Result<Vec<Entry>> {
    let mut archive = tar::Archive::new(guard::Guarded::new(r));
    collect(archive.entries()?, |item| {
        // The header's size is untrusted: take at most what a sane layer
        // needs up front (zeroed by the allocator: fresh pages are not
        // written twice) and let the buffer grow with real data beyond it.
        let want = item.size().min(64 << 20) as usize;
        let mut data = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match item.read(&mut data[got..])? {
                0 => break,
                n => got += n,
            }
        }
        if got < want {
            data.truncate(got);
            data.shrink_to_fit();
        } else {
            item.read_to_end(&mut data)?;
        }
        Ok(Shared::from(data))
    })
}

/// [`read_entries`] of a tar archive held in `archive` (a mapped cache
/// file): file contents are slices of it, not copies.
pub fn read_entries_shared(archive: &Shared) -> io::Result<Vec<Entry>> {
    guard::HeaderGuard::new().feed(0, &archive[..])?;
    let mut a = tar::Archive::new(io::Cursor::new(&archive[..]));
    collect(a.entries_with_seek()?, |item| {
        let start = item.raw_file_position();
        let end = start
            .checked_add(item.size())
            .filter(|&e| e <= archive.len() as u64);
        match end {
            Some(end) => Ok(archive.slice(start as usize..end as usize)),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file's contents reach past the end of the archive",
            )),
        }
    })
}

/// The entries of `entries`, each regular file's contents from `data_of`.
fn collect<'a, R: Read + 'a>(
    entries: tar::Entries<'a, R>,
    mut data_of: impl FnMut(&mut tar::Entry<'a, R>) -> io::Result<Shared>,
) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for item in entries {
        let mut item = item?;
        let header = item.header().clone();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::Hardlink,
            tar::EntryType::Char => Kind::Char,
            tar::EntryType::Block => Kind::Block,
            tar::EntryType::Fifo => Kind::Fifo,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "entry {} has unsupported tar type {:?}",
                        String::from_utf8_lossy(&item.path_bytes()),
                        other
                    ),
                ));
            }
        };
        let path = String::from_utf8(item.path_bytes().into_owned()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "entry name is not valid UTF-8")
        })?;
        let link = match item.link_name_bytes() {
            Some(l) => String::from_utf8(l.into_owned()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("link target of {path} is not valid UTF-8"),
                )
            })?,
            None => String::new(),
        };
        let mut uid = header.uid().unwrap_or(0);
        let mut gid = header.gid().unwrap_or(0);
        let mut mtime = header.mtime().map(|m| m as i64).unwrap_or(0);
        let mut uname = header.username().ok().flatten().unwrap_or("").to_string();
        let mut gname = header.groupname().ok().flatten().unwrap_or("").to_string();
        let mut pax = Vec::new();
        let mut source = String::new();
        let mut location = String::new();
        if let Some(exts) = item.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                let (Ok(k), Ok(v)) = (ext.key(), ext.value()) else {
                    continue;
                };
                match k {
                    "uid" => uid = pax_u64(v).unwrap_or(uid),
                    "gid" => gid = pax_u64(v).unwrap_or(gid),
                    "mtime" => mtime = pax_i64(v).unwrap_or(mtime),
                    "uname" => uname = v.to_string(),
                    "gname" => gname = v.to_string(),
                    "LINUXKIT.source" => source = v.to_string(),
                    "LINUXKIT.location" => location = v.to_string(),
                    k if k.starts_with("SCHILY.xattr.") => pax.push((k.to_string(), v.to_string())),
                    _ => {}
                }
            }
        }
        let data = if kind == Kind::File {
            data_of(&mut item)?
        } else {
            Shared::new()
        };
        out.push(Entry {
            path,
            kind,
            mode: header.mode().unwrap_or(0o644),
            uid,
            gid,
            mtime,
            link,
            devmajor: header.device_major().ok().flatten().unwrap_or(0),
            devminor: header.device_minor().ok().flatten().unwrap_or(0),
            uname,
            gname,
            data,
            pax,
            source: Arc::from(source),
            location: Arc::from(location),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", "a");
        assert_eq!(v, b"9 path=a\n");
        let mut v = Vec::new();
        pax_record(&mut v, "k", &"x".repeat(95));
        let s = String::from_utf8(v).unwrap();
        let n: usize = s.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, s.len());
    }

    #[test]
    fn header_checksum_and_fields() {
        let mut w = TarWriter::new(Vec::new());
        let e = Entry::file("etc/hosts", 0o644, 1_492_533_000, b"hi".to_vec())
            .with_origin(&Arc::from("src"), &Arc::from("loc"));
        w.write_entry(&e).unwrap();
        let out = w.finish().unwrap();
        // pax header + body block + header + data block + 2 zero blocks
        assert_eq!(out.len(), 512 * 6);
        assert_eq!(out[156], b'x');
        let body = &out[512..1024];
        assert!(body.starts_with(b"23 LINUXKIT.source=src\n"));
        let h = &out[1024..1536];
        assert_eq!(&h[0..9], b"etc/hosts");
        assert_eq!(h[156], b'0');
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        assert_eq!(sum, stored);
        assert_eq!(&out[1536..1538], b"hi");
    }

    #[test]
    fn long_names_go_to_pax() {
        let mut w = TarWriter::without_provenance(Vec::new());
        let long = "d/".repeat(80) + "f";
        w.write_entry(&Entry::file(long.clone(), 0o600, 0, Vec::new()))
            .unwrap();
        let out = w.finish().unwrap();
        let body = String::from_utf8_lossy(&out[512..1024]).to_string();
        assert!(body.contains(&format!("path={long}\n")));
    }

    #[test]
    fn entries_of_a_shared_archive_are_slices_of_it_and_equal_to_a_read() {
        let mut w = TarWriter::new(Vec::new());
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 249) as u8).collect();
        for e in [
            Entry::dir("etc", 0o755, 5),
            Entry::file("etc/hosts", 0o644, 7, b"127.0.0.1 localhost\n".to_vec()),
            Entry::file("big", 0o600, 9, big.clone()),
            Entry::symlink("link", "big", 0o777, 3),
            Entry::file("empty", 0o644, 1, Vec::new()),
            Entry::file(("x/".repeat(70)) + "long", 0o644, 2, b"pax".to_vec()),
        ] {
            w.write_entry(&e).unwrap();
        }
        let bytes = Shared::from(w.finish().unwrap());
        let read = read_entries(&mut &bytes[..]).unwrap();
        let shared = read_entries_shared(&bytes).unwrap();
        assert_eq!(read.len(), 6);
        for (a, b) in read.iter().zip(&shared) {
            assert_eq!(
                (&a.path, a.kind, a.mode, a.mtime, &a.link, &a.data[..]),
                (&b.path, b.kind, b.mode, b.mtime, &b.link, &b.data[..])
            );
        }
        let data = &shared[2].data;
        assert_eq!(&data[..], &big[..]);
        let inside = bytes.as_ptr_range();
        assert!(inside.contains(&data.as_ptr()), "a slice, not a copy");
        // Cut inside the big file's contents: an error, not a short file.
        let cut = Shared::from(bytes[..3 * 512 + 50_000].to_vec());
        assert!(read_entries_shared(&cut).is_err());
        assert!(read_entries(&mut &cut[..]).is_err());
    }
}
