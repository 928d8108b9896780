//! A bound on tar extension headers, checked before the `tar` crate reads
//! them. GNU long names and links (`L`, `K`) and PAX records (`x`, `g`) are
//! read whole into memory by the `tar` crate, so a 1 GiB long name in a
//! 1 MB gzip layer would cost a gigabyte. [`HeaderGuard`] follows the
//! archive's header chain as its bytes go by (a 512-byte header, then its
//! data rounded up to 512, sizes taken from PAX `size` records exactly as
//! the `tar` crate does) and refuses an extension header larger than
//! [`MAX_EXTENSION`] when its header block is read, before its data is.

use std::io::{self, Read};

/// The largest GNU long name/link or PAX header body accepted: far above
/// any real image (a path is at most 4 KiB on Linux, xattrs 64 KiB), far
/// below memory.
pub const MAX_EXTENSION: u64 = 1 << 20;

const BLOCK: u64 = 512;

/// Follows the header chain of a tar archive fed to it in order.
#[derive(Debug, Default)]
pub struct HeaderGuard {
    /// Offset of the next header block.
    next: u64,
    /// Bytes of the next header block (or of a PAX body) seen so far.
    partial: Vec<u8>,
    /// Reading the body of a PAX `x` header (to find its `size` record):
    /// how many bytes it has.
    pax_body: Option<u64>,
    /// A PAX `size` for the next entry that is not an extension header.
    pax_size: Option<u64>,
    /// Past the end of the archive, or at an entry whose layout this guard
    /// does not follow (GNU sparse: refused by the reader anyway).
    done: bool,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A numeric header field: octal, or base-256 when its top bit is set.
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// The value of the last `size` record of a PAX body, as the `tar` crate
/// reads it (records `LEN key=value\n`; parsing stops at a malformed one).
fn pax_size(mut body: &[u8]) -> Option<u64> {
    let mut size = None;
    while !body.is_empty() {
        let space = body.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&body[..space]).ok()?.parse().ok()?;
        if len <= space || len > body.len() {
            return size;
        }
        let record = &body[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(v) = record.strip_prefix(b"size=") {
            size = std::str::from_utf8(v).ok().and_then(|v| v.parse().ok());
        }
        body = &body[len..];
    }
    size
}

impl HeaderGuard {
    /// A guard for an archive starting at offset 0.
    pub fn new() -> HeaderGuard {
        HeaderGuard::default()
    }

    /// Look at `bytes`, the archive's bytes from offset `pos`. Calls must
    /// cover the archive in order; bytes the guard does not need (file
    /// contents) may be skipped.
    pub fn feed(&mut self, pos: u64, bytes: &[u8]) -> io::Result<()> {
        let end = pos + bytes.len() as u64;
        while !self.done {
            let want = match self.pax_body {
                Some(n) => n,
                None => BLOCK,
            };
            let have_until = self.next + self.partial.len() as u64;
            if have_until < pos {
                // Bytes the chain needed were skipped: the reader does not
                // read this archive as a tar; stop following it.
                self.done = true;
                break;
            }
            if have_until >= end {
                break;
            }
            let from = (have_until - pos) as usize;
            let take = ((want - self.partial.len() as u64) as usize).min(bytes.len() - from);
            self.partial.extend_from_slice(&bytes[from..from + take]);
            if (self.partial.len() as u64) < want {
                break;
            }
            match self.pax_body.take() {
                Some(n) => {
                    self.pax_size = pax_size(&self.partial);
                    self.next += n.div_ceil(BLOCK) * BLOCK;
                }
                None => self.header()?,
            }
            self.partial.clear();
        }
        Ok(())
    }

    /// Check the complete header block in `partial` and find the next one.
    fn header(&mut self) -> io::Result<()> {
        let h = &self.partial;
        if h.iter().all(|b| *b == 0) {
            // The `tar` crate stops at the first zero block.
            self.done = true;
            return Ok(());
        }
        let kind = h[156];
        let recognized = &h[257..265] == b"ustar\x0000" || &h[257..265] == b"ustar  \x00";
        let Some(mut size) = number(&h[124..136]) else {
            // Not a number: the `tar` crate refuses the header.
            self.done = true;
            return Ok(());
        };
        let extension = matches!(kind, b'L' | b'K' | b'x' | b'g');
        if extension && size > MAX_EXTENSION {
            let what = match kind {
                b'L' => "GNU long name",
                b'K' => "GNU long link name",
                b'x' => "PAX extended header",
                _ => "PAX global header",
            };
            return Err(invalid(format!(
                "a {what} of {size} bytes at offset {} (the limit is {} bytes: no real \
                 image needs more; the layer is malformed or hostile)",
                self.next, MAX_EXTENSION
            )));
        }
        if !extension && let Some(s) = self.pax_size.take() {
            size = s;
        }
        if kind == b'S' {
            // GNU sparse headers are followed by extension blocks; the
            // reader refuses sparse entries, so nothing after matters.
            self.done = true;
            return Ok(());
        }
        self.next += BLOCK;
        if kind == b'x' && recognized {
            // Read its body (at most MAX_EXTENSION) for a `size` record.
            if size == 0 {
                self.pax_size = None;
            } else {
                self.pax_body = Some(size);
            }
            return Ok(());
        }
        self.next = size
            .div_ceil(BLOCK)
            .checked_mul(BLOCK)
            .and_then(|d| self.next.checked_add(d))
            .ok_or_else(|| invalid("a tar entry size overflows".into()))?;
        Ok(())
    }
}

/// A reader passing an archive through a [`HeaderGuard`].
pub struct Guarded<R> {
    inner: R,
    pos: u64,
    guard: HeaderGuard,
}

impl<R: Read> Guarded<R> {
    /// Guard the tar archive read from `inner`.
    pub fn new(inner: R) -> Guarded<R> {
        Guarded {
            inner,
            pos: 0,
            guard: HeaderGuard::new(),
        }
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.guard.feed(self.pos, &buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path("x").unwrap();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn a_huge_long_name_is_refused_at_its_header() {
        let mut archive = header(b'0', 3);
        archive.extend_from_slice(&[b'a'; 512]);
        archive.extend(header(b'L', 1 << 30));
        // Fed one byte at a time, as a slow reader would.
        let mut g = HeaderGuard::new();
        let mut err = None;
        for (i, b) in archive.iter().enumerate() {
            if let Err(e) = g.feed(i as u64, std::slice::from_ref(b)) {
                err = Some((i, e));
                break;
            }
        }
        let (at, e) = err.expect("refused");
        assert_eq!(at, 1535, "refused on the last byte of its header");
        assert!(
            e.to_string().contains("GNU long name of 1073741824 bytes"),
            "{e}"
        );
    }

    #[test]
    fn a_pax_size_moves_the_next_header_as_the_tar_crate_does() {
        // x header with size=1024 for the next entry, whose header says 0.
        let body = b"13 size=1024\n";
        let mut archive = header(b'x', body.len() as u64);
        let mut block = body.to_vec();
        block.resize(512, 0);
        archive.extend(block);
        archive.extend(header(b'0', 0));
        archive.extend(vec![b'z'; 1024]);
        archive.extend(header(b'K', 2 << 20));
        let e = HeaderGuard::new().feed(0, &archive).unwrap_err();
        assert!(e.to_string().contains("GNU long link name"), "{e}");
        // Small extension headers pass.
        let mut ok = header(b'L', 100);
        ok.extend(vec![b'n'; 512]);
        ok.extend(header(b'0', 0));
        ok.extend(vec![0; 1024]);
        HeaderGuard::new().feed(0, &ok).unwrap();
    }
}
