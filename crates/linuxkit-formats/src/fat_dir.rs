//! Directory entries for the FAT writer ([`super`]): name validation,
//! deterministic 8.3 short names (`README.TXT`, or `LONGNA~1.TXT` basis
//! names with numeric tails, as Windows and Linux vfat generate them), VFAT
//! long-name (LFN) entries with their checksums, and DOS timestamps.

use super::FatError;
use std::collections::HashSet;

/// Attribute: read-only.
pub const ATTR_READ_ONLY: u8 = 0x01;
/// Attribute: hidden.
pub const ATTR_HIDDEN: u8 = 0x02;
/// Attribute: system.
pub const ATTR_SYSTEM: u8 = 0x04;
/// Attribute: volume label.
pub const ATTR_VOLUME_ID: u8 = 0x08;
/// Attribute: directory.
pub const ATTR_DIRECTORY: u8 = 0x10;
/// Attribute: archive (set on every regular file we write).
pub const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_LFN: u8 = 0x0F;

/// NT "lowercase base" flag (byte 12 of a short entry).
const CASE_LOWER_BASE: u8 = 0x08;
/// NT "lowercase extension" flag.
const CASE_LOWER_EXT: u8 = 0x10;

/// A DOS timestamp: date, time (2-second resolution) and the 10 ms units
/// that carry the odd second in the creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosTime {
    /// `(year-1980)<<9 | month<<5 | day`.
    pub date: u16,
    /// `hour<<11 | minute<<5 | second/2`.
    pub time: u16,
    /// Creation time fine resolution (0 or 100).
    pub tenths: u8,
}

/// DOS timestamp of unix seconds (taken as local time = UTC), clamped to the
/// representable range 1980-01-01 .. 2107-12-31.
pub fn dos_time(secs: i64) -> DosTime {
    let s = secs.clamp(315_532_800, 4_354_819_199);
    let c = crate::time::civil(s);
    DosTime {
        date: (((c.year - 1980) << 9) | (c.month << 5) | c.day) as u16,
        time: ((c.hour << 11) | (c.minute << 5) | (c.second / 2)) as u16,
        tenths: ((c.second % 2) * 100) as u8,
    }
}

/// Characters allowed in a short name besides `A-Z` and `0-9`.
fn short_special(c: char) -> bool {
    "!#$%&'()-@^_`{}~".contains(c)
}

/// Check one path component as a VFAT long name; `Err` carries the reason.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name == "." || name == ".." {
        return Err("'.' and '..' are reserved");
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("names may not end with a dot or space");
    }
    if name
        .chars()
        .any(|c| c < ' ' || "\"*/:<>?\\|\u{7f}".contains(c))
    {
        return Err("character not allowed in a FAT name");
    }
    if name.encode_utf16().count() > 255 {
        return Err("longer than 255 UTF-16 units");
    }
    Ok(())
}

/// The names one directory entry is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirName {
    /// The 8.3 name, space padded (`NAME    EXT`).
    pub short: [u8; 11],
    /// NT case flags for short-only lowercase names.
    pub case: u8,
    /// UTF-16 long name when one is needed.
    pub lfn: Option<Vec<u16>>,
}

impl DirName {
    /// Number of 32-byte directory slots this name takes.
    pub fn slots(&self) -> usize {
        1 + self.lfn.as_ref().map_or(0, |u| u.len().div_ceil(13))
    }
}

fn pad11(base: &[u8], ext: &[u8]) -> [u8; 11] {
    let mut s = [b' '; 11];
    s[..base.len()].copy_from_slice(base);
    s[8..8 + ext.len()].copy_from_slice(ext);
    s
}

/// A name that is a valid 8.3 name whose base and extension are each in one
/// case is stored as a short entry alone (with NT case flags for lowercase).
fn short_only(name: &str) -> Option<([u8; 11], u8)> {
    let (base, ext) = match name.split_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    let ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || short_special(c))
    };
    if base.is_empty()
        || base.len() > 8
        || ext.len() > 3
        || ext.contains('.')
        || (name.contains('.') && ext.is_empty())
        || !ok(base)
        || !ok(ext)
    {
        return None;
    }
    let mixed = |s: &str| {
        s.chars().any(|c| c.is_ascii_lowercase()) && s.chars().any(|c| c.is_ascii_uppercase())
    };
    if mixed(base) || mixed(ext) {
        return None;
    }
    let mut case = 0;
    if base.chars().any(|c| c.is_ascii_lowercase()) {
        case |= CASE_LOWER_BASE;
    }
    if ext.chars().any(|c| c.is_ascii_lowercase()) {
        case |= CASE_LOWER_EXT;
    }
    let up = |s: &str| s.to_ascii_uppercase().into_bytes();
    Some((pad11(&up(base), &up(ext)), case))
}

/// The Windows "basis name" of a long name: uppercased, spaces and extra
/// periods dropped, other invalid characters as `_`, base cut to 8 and
/// extension to 3 characters. `lossy` is true when information was lost.
fn basis(name: &str) -> (Vec<u8>, Vec<u8>, bool) {
    let trimmed = name.trim_start_matches('.');
    let mut lossy = trimmed.len() != name.len();
    let (b, e) = match trimmed.rfind('.') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (trimmed, ""),
    };
    let mut conv = |s: &str, max: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for c in s.chars() {
            let b = match c {
                ' ' | '.' => {
                    lossy = true;
                    continue;
                }
                c if c.is_ascii_alphanumeric() || short_special(c) => c.to_ascii_uppercase() as u8,
                _ => {
                    lossy = true;
                    b'_'
                }
            };
            if out.len() == max {
                lossy = true;
                break;
            }
            out.push(b);
        }
        out
    };
    let mut base = conv(b, 8);
    let ext = conv(e, 3);
    if base.is_empty() {
        base.push(b'_');
        lossy = true;
    }
    (base, ext, lossy)
}

/// Assign the names of one directory's children (in the order given,
/// already validated and unique ignoring case). Short-only names are
/// reserved first, then long names get a basis name, with a `~N` tail when
/// it is lossy or taken.
pub fn plan_names(names: &[&str]) -> Result<Vec<DirName>, FatError> {
    let mut taken: HashSet<[u8; 11]> = HashSet::new();
    let mut out: Vec<Option<DirName>> = names
        .iter()
        .map(|n| {
            short_only(n).map(|(short, case)| {
                taken.insert(short);
                DirName {
                    short,
                    case,
                    lfn: None,
                }
            })
        })
        .collect();
    for (slot, name) in out.iter_mut().zip(names) {
        if slot.is_some() {
            continue;
        }
        let (base, ext, lossy) = basis(name);
        let plain = pad11(&base, &ext);
        let short = if !lossy && !taken.contains(&plain) {
            plain
        } else {
            (1..=999_999u32)
                .map(|n| {
                    let tail = format!("~{n}");
                    let keep = base.len().min(8 - tail.len());
                    let mut b = base[..keep].to_vec();
                    b.extend_from_slice(tail.as_bytes());
                    pad11(&b, &ext)
                })
                .find(|s| !taken.contains(s))
                .ok_or_else(|| FatError::InvalidName {
                    name: (*name).to_string(),
                    reason: "no free short name",
                })?
        };
        taken.insert(short);
        *slot = Some(DirName {
            short,
            case: 0,
            lfn: Some(name.encode_utf16().collect()),
        });
    }
    Ok(out.into_iter().flatten().collect())
}

/// The LFN checksum of a short name.
pub fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Append a short (8.3) directory entry.
pub fn push_short(
    out: &mut Vec<u8>,
    short: &[u8; 11],
    case: u8,
    attr: u8,
    cluster: u32,
    size: u32,
    t: DosTime,
) {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(short);
    e[11] = attr;
    e[12] = case;
    e[13] = t.tenths;
    e[14..16].copy_from_slice(&t.time.to_le_bytes());
    e[16..18].copy_from_slice(&t.date.to_le_bytes());
    e[18..20].copy_from_slice(&t.date.to_le_bytes());
    e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    e[22..24].copy_from_slice(&t.time.to_le_bytes());
    e[24..26].copy_from_slice(&t.date.to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&e);
}

/// Append the LFN entries (last part first) and the short entry of a name.
pub fn push_named(out: &mut Vec<u8>, n: &DirName, attr: u8, cluster: u32, size: u32, t: DosTime) {
    if let Some(units) = &n.lfn {
        const POS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        let sum = lfn_checksum(&n.short);
        let parts = units.len().div_ceil(13);
        for i in (0..parts).rev() {
            let mut e = [0u8; 32];
            e[0] = (i as u8 + 1) | if i + 1 == parts { 0x40 } else { 0 };
            e[11] = ATTR_LFN;
            e[13] = sum;
            for (k, pos) in POS.iter().enumerate() {
                let u = match units.get(i * 13 + k) {
                    Some(&u) => u,
                    None if i * 13 + k == units.len() => 0,
                    None => 0xFFFF,
                };
                e[*pos..pos + 2].copy_from_slice(&u.to_le_bytes());
            }
            out.extend_from_slice(&e);
        }
    }
    push_short(out, &n.short, n.case, attr, cluster, size, t);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(s: &[u8; 11]) -> String {
        String::from_utf8_lossy(s).into_owned()
    }

    #[test]
    fn dos_times() {
        // 2017-04-18 16:30:00
        let t = dos_time(1_492_533_000);
        assert_eq!(t.date, (37 << 9) | (4 << 5) | 18);
        assert_eq!(t.time, (16 << 11) | (30 << 5));
        assert_eq!(t.tenths, 0);
        assert_eq!(dos_time(1_492_533_001).tenths, 100);
        assert_eq!(dos_time(0).date, (1 << 5) | 1);
        assert_eq!(dos_time(i64::MAX).date, (127 << 9) | (12 << 5) | 31);
    }

    #[test]
    fn names() {
        let plan = plan_names(&[
            "BOOT",
            "kernel",
            "grub.cfg",
            "Readme.txt",
            "BOOTX64.EFI",
            "linuxkit.efi",
            "initrd.img.gz",
            "a b.txt",
            "longfilename.text",
            "longfilename.other",
            "LONGFI~1.TEX",
        ])
        .unwrap();
        let s: Vec<String> = plan.iter().map(|n| short(&n.short)).collect();
        assert_eq!(
            s,
            [
                "BOOT       ",
                "KERNEL     ",
                "GRUB    CFG",
                "README  TXT",
                "BOOTX64 EFI",
                "LINUXKITEFI",
                "INITRD~1GZ ",
                "AB~1    TXT",
                "LONGFI~2TEX",
                "LONGFI~1OTH",
                "LONGFI~1TEX",
            ]
        );
        assert_eq!(plan[1].case, CASE_LOWER_BASE);
        assert_eq!(plan[2].case, CASE_LOWER_BASE | CASE_LOWER_EXT);
        assert!(plan[0].lfn.is_none() && plan[1].lfn.is_none());
        assert!(plan[3].lfn.is_some() && plan[7].lfn.is_some());
        assert_eq!(plan[8].slots(), 3);
    }

    #[test]
    fn lfn_layout() {
        let n = plan_names(&["Hello World.txt"]).unwrap().remove(0);
        let mut out = Vec::new();
        push_named(&mut out, &n, ATTR_ARCHIVE, 3, 10, dos_time(0));
        assert_eq!(out.len(), 3 * 32);
        assert_eq!(out[0], 0x42);
        assert_eq!(out[32], 0x01);
        assert_eq!(out[11], ATTR_LFN);
        assert_eq!(out[13], lfn_checksum(&n.short));
        // second part holds "xt", then NUL, then 0xFFFF padding
        assert_eq!(&out[1..7], &[b'x', 0, b't', 0, 0, 0]);
        assert_eq!(&out[7..9], &[0xFF, 0xFF]);
        assert_eq!(&out[64..75], b"HELLOW~1TXT");
        assert!(validate_name("a:b").is_err());
        assert!(validate_name("x.").is_err());
        assert!(validate_name("ok name.EFI").is_ok());
    }
}
