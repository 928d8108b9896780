//! The `ar` archive format that wraps a `.deb`: the global header
//! `!<arch>\n`, then members, each a 60-byte header (name, mtime, uid, gid,
//! mode, decimal size, `` `\n ``) followed by the data padded to an even
//! length. Names may end in `/` (GNU), use the GNU long-name table (`//`
//! member, names `/OFFSET`) or the BSD form (`#1/LEN`, the name stored
//! before the data). The GNU symbol table (`/`, `/SYM64/`) and the BSD
//! `__.SYMDEF` are skipped. Parsing only, from a byte slice, no copies.

/// One member of an `ar` archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArMember<'a> {
    /// Member name, without GNU's trailing `/`.
    pub name: String,
    /// Stored modification time.
    pub mtime: u64,
    /// Stored mode (octal field).
    pub mode: u32,
    /// The member's data.
    pub data: &'a [u8],
}

const MAGIC: &[u8] = b"!<arch>\n";
const HEADER: usize = 60;

/// Parse an `ar` archive. Errors say what is wrong and where (byte offset).
pub fn parse_ar(bytes: &[u8]) -> Result<Vec<ArMember<'_>>, String> {
    if !bytes.starts_with(MAGIC) {
        return Err("not an ar archive (no `!<arch>` header)".into());
    }
    let mut pos = MAGIC.len();
    let mut long_names: &[u8] = &[];
    let mut out = Vec::new();
    while pos < bytes.len() {
        // A single trailing newline padding is tolerated.
        if bytes.len() - pos == 1 && bytes[pos] == b'\n' {
            break;
        }
        let Some(h) = bytes.get(pos..pos + HEADER) else {
            return Err(format!("truncated member header at byte {pos}"));
        };
        if &h[58..60] != b"`\n" {
            return Err(format!("bad member header at byte {pos} (no end marker)"));
        }
        let raw_name = field_str(&h[0..16]);
        let mtime = field_num(&h[16..28], 10).unwrap_or(0);
        let mode = field_num(&h[40..48], 8).unwrap_or(0) as u32;
        let size = field_num(&h[48..58], 10)
            .ok_or_else(|| format!("bad size field in member header at byte {pos}"))?;
        let start = pos + HEADER;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                format!("member {raw_name:?} at byte {pos} is truncated (size {size})")
            })?;
        let mut data = &bytes[start..end];
        pos = end + (end - start) % 2;
        let name = if raw_name == "/" || raw_name == "/SYM64/" || raw_name == "__.SYMDEF" {
            continue;
        } else if raw_name == "//" {
            long_names = data;
            continue;
        } else if let Some(len) = raw_name.strip_prefix("#1/") {
            // BSD: the name is the first LEN bytes of the data.
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("bad BSD name {raw_name:?} at byte {}", start - HEADER))?;
            let name = data.get(..len).ok_or_else(|| {
                format!("BSD name of member at byte {} is truncated", start - HEADER)
            })?;
            data = &data[len..];
            let name = String::from_utf8_lossy(name);
            let name = name.trim_end_matches('\0');
            if name == "__.SYMDEF" || name == "__.SYMDEF SORTED" {
                continue;
            }
            name.to_string()
        } else if let Some(off) = raw_name.strip_prefix('/') {
            // GNU: an offset into the `//` table, the name ending in "/\n".
            let off: usize = off
                .trim()
                .parse()
                .map_err(|_| format!("bad member name {raw_name:?} at byte {}", start - HEADER))?;
            let rest = long_names
                .get(off..)
                .ok_or_else(|| format!("long name offset {off} is outside the name table"))?;
            let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let name = String::from_utf8_lossy(&rest[..len]);
            name.trim_end_matches('/').to_string()
        } else {
            raw_name.strip_suffix('/').unwrap_or(&raw_name).to_string()
        };
        out.push(ArMember {
            name,
            mtime,
            mode,
            data,
        });
    }
    Ok(out)
}

fn field_str(f: &[u8]) -> String {
    String::from_utf8_lossy(f).trim_end().to_string()
}

fn field_num(f: &[u8], radix: u32) -> Option<u64> {
    let s = std::str::from_utf8(f).ok()?.trim();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, radix).ok()
}

/// Build an `ar` archive (for tests and tools): GNU-style short names.
pub fn write_ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (name, data) in members {
        out.extend_from_slice(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                "100644",
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: usize) -> String {
        format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
            1700000000, 0, 0, "100644"
        )
    }

    #[test]
    fn odd_sized_members_are_padded() {
        let ar = write_ar(&[
            ("debian-binary", b"2.0\n"),
            ("odd", b"abc"),
            ("next", b"xy"),
        ]);
        let m = parse_ar(&ar).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name, "debian-binary");
        assert_eq!(m[0].data, b"2.0\n");
        assert_eq!(m[1].data, b"abc");
        assert_eq!(m[2].name, "next");
        assert_eq!(m[2].data, b"xy");
        assert_eq!(m[2].mode, 0o100644);
    }

    #[test]
    fn gnu_names_and_long_name_table() {
        let table = b"a-very-long-member-name.tar.xz/\nsecond-long-name-here.bin/\n";
        let mut ar = MAGIC.to_vec();
        ar.extend_from_slice(header("/", 4).as_bytes());
        ar.extend_from_slice(b"\0\0\0\0");
        ar.extend_from_slice(header("//", table.len()).as_bytes());
        ar.extend_from_slice(table);
        assert_eq!(table.len() % 2, 1);
        ar.push(b'\n');
        ar.extend_from_slice(header("short.txt/", 1).as_bytes());
        ar.extend_from_slice(b"s\n");
        ar.extend_from_slice(header("/0", 2).as_bytes());
        ar.extend_from_slice(b"L1");
        ar.extend_from_slice(header("/32", 2).as_bytes());
        ar.extend_from_slice(b"L2");
        let m = parse_ar(&ar).unwrap();
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "short.txt",
                "a-very-long-member-name.tar.xz",
                "second-long-name-here.bin"
            ]
        );
        assert_eq!(m[0].data, b"s");
        assert_eq!(m[0].mtime, 1700000000);
        assert_eq!(m[2].data, b"L2");
    }

    #[test]
    fn bsd_names() {
        let mut ar = MAGIC.to_vec();
        ar.extend_from_slice(header("#1/20", 20 + 3).as_bytes());
        ar.extend_from_slice(b"control.tar.gz\0\0\0\0\0\0abc\n");
        ar.extend_from_slice(header("#1/4", 4 + 2).as_bytes());
        ar.extend_from_slice(b"datadd");
        let m = parse_ar(&ar).unwrap();
        assert_eq!(m[0].name, "control.tar.gz");
        assert_eq!(m[0].data, b"abc");
        assert_eq!(m[1].name, "data");
        assert_eq!(m[1].data, b"dd");
    }

    #[test]
    fn malformed_archives_are_errors() {
        assert!(
            parse_ar(b"PK\x03\x04")
                .unwrap_err()
                .contains("not an ar archive")
        );
        let mut ar = write_ar(&[("a", b"hello")]);
        ar.truncate(ar.len() - 3);
        assert!(parse_ar(&ar).unwrap_err().contains("truncated"));
        let mut ar = write_ar(&[("a", b"hi")]);
        ar[MAGIC.len() + 58] = b'x';
        assert!(parse_ar(&ar).unwrap_err().contains("end marker"));
        let ar = [MAGIC, &b"abc"[..]].concat();
        assert!(
            parse_ar(&ar)
                .unwrap_err()
                .contains("truncated member header")
        );
        // An empty archive has no members.
        assert!(parse_ar(MAGIC).unwrap().is_empty());
    }
}
