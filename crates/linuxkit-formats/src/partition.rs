//! Partition tables: the classic MBR (four primary entries, LBA with CHS
//! fields as fdisk writes them) and GPT (protective MBR, primary header and
//! 128-entry array at LBA 1..33, backup array and header at the end of the
//! disk, CRC32s over both).
//!
//! Only the tables are produced, as byte blocks with their offsets; the
//! caller writes them and the partition contents. GUIDs are kept in their
//! on-disk mixed-endian byte order ([`Guid`]); deterministic ones come from
//! a SHA-256 of a seed. The CRC32 (IEEE, as in zlib) is our own table, no
//! extra crate. Not written: extended/logical MBR partitions, hybrid MBRs,
//! sector sizes other than 512.

use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, Seek, SeekFrom, Write};
use std::str::FromStr;

/// Sector size of every table written here.
pub const SECTOR: u64 = 512;
/// First LBA of a 1 MiB-aligned first partition (and the alignment unit).
pub const ALIGN_LBA: u64 = 2048;
/// Number of GPT partition entries (the usual 128 × 128 bytes).
pub const GPT_ENTRIES: usize = 128;
const GPT_ENTRY_SIZE: usize = 128;
const GPT_ARRAY_SECTORS: u64 = (GPT_ENTRIES * GPT_ENTRY_SIZE) as u64 / SECTOR;

/// MBR type: FAT32 with LBA addressing.
pub const MBR_FAT32_LBA: u8 = 0x0C;
/// MBR type: FAT16 with LBA addressing.
pub const MBR_FAT16_LBA: u8 = 0x0E;
/// MBR type: Linux filesystem (what `sfdisk ",<size>,;"` creates).
pub const MBR_LINUX: u8 = 0x83;
/// MBR type: EFI system partition.
pub const MBR_EFI: u8 = 0xEF;
/// MBR type: GPT protective entry.
pub const MBR_GPT_PROTECTIVE: u8 = 0xEE;

/// GPT attribute bit 0: required by the platform.
pub const GPT_ATTR_REQUIRED: u64 = 1 << 0;
/// GPT attribute bit 1: no block I/O protocol.
pub const GPT_ATTR_NO_BLOCK_IO: u64 = 1 << 1;
/// GPT attribute bit 2: legacy BIOS bootable (upstream raw-efi sets it).
pub const GPT_ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

/// Failure to lay out a partition table.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// Disk size not a whole number of sectors, or too small for the table.
    #[error("disk size {0} is not usable for a partition table")]
    DiskSize(u64),
    /// More partitions than entries.
    #[error("{got} partitions, the table holds {max}")]
    TooMany {
        /// Capacity.
        max: usize,
        /// Requested.
        got: usize,
    },
    /// MBR boot code longer than 440 bytes.
    #[error("MBR boot code is {0} bytes, at most 440 fit")]
    BootCode(usize),
    /// A partition outside the usable sectors, empty, or beyond 32-bit LBA
    /// on an MBR.
    #[error("partition {index} (LBA {first}..={last}) outside the usable LBA {min}..={max}")]
    OutOfRange {
        /// 1-based partition number.
        index: usize,
        /// Its first LBA.
        first: u64,
        /// Its last LBA.
        last: u64,
        /// First usable LBA.
        min: u64,
        /// Last usable LBA.
        max: u64,
    },
    /// Two partitions overlap.
    #[error("partitions {0} and {1} overlap")]
    Overlap(usize, usize),
    /// GPT names hold 36 UTF-16 units.
    #[error("GPT partition name {0:?} is longer than 36 UTF-16 units")]
    NameTooLong(String),
    /// The nil GUID marks unused GPT entries.
    #[error("partition {0} has the nil type GUID")]
    NilType(usize),
    /// Not a GUID string.
    #[error("invalid GUID {0:?}")]
    InvalidGuid(String),
    /// Only the last partition may take the rest of the disk.
    #[error("only the last partition may fill the rest of the disk")]
    FillNotLast,
}

/// A GUID in on-disk (mixed-endian) byte order: the first three fields
/// little-endian, the last two as written.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The nil GUID.
    pub const NIL: Guid = Guid([0; 16]);

    /// The GUID whose canonical text is the big-endian hex of `v`, e.g.
    /// `Guid::from_u128(0xC12A7328_F81F_11D2_BA4B_00A0C93EC93B)`.
    pub const fn from_u128(v: u128) -> Guid {
        let b = v.to_be_bytes();
        Guid([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ])
    }

    /// The canonical value as a big-endian integer.
    pub const fn to_u128(self) -> u128 {
        let b = self.0;
        u128::from_be_bytes([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ])
    }

    /// A deterministic random-style (version 4, RFC 4122 variant) GUID from
    /// the SHA-256 of `seed`.
    pub fn from_seed(seed: &[u8]) -> Guid {
        let h = Sha256::digest(seed);
        let mut v = [0u8; 16];
        v.copy_from_slice(&h[..16]);
        let g = u128::from_be_bytes(v);
        let g = (g & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
        Guid::from_u128(g)
    }
}

impl FromStr for Guid {
    type Err = PartitionError;

    /// Parse `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (any case, optional
    /// braces).
    fn from_str(s: &str) -> Result<Guid, PartitionError> {
        let bad = || PartitionError::InvalidGuid(s.to_string());
        let t = s
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(s);
        let dashes_ok = t.len() == 36
            && t.char_indices()
                .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
        let hex: String = t.chars().filter(|c| *c != '-').collect();
        if !dashes_ok || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        u128::from_str_radix(&hex, 16)
            .map(Guid::from_u128)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.to_u128();
        write!(
            f,
            "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            v >> 96,
            (v >> 80) & 0xFFFF,
            (v >> 64) & 0xFFFF,
            (v >> 48) & 0xFFFF,
            v & 0xFFFF_FFFF_FFFF
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// EFI system partition type.
pub const GUID_ESP: Guid = Guid::from_u128(0xC12A7328_F81F_11D2_BA4B_00A0C93EC93B);
/// Linux filesystem data type.
pub const GUID_LINUX_FS: Guid = Guid::from_u128(0x0FC63DAF_8483_4772_8E79_3D69D8477DE4);
/// BIOS boot partition type (GRUB's core image on GPT).
pub const GUID_BIOS_BOOT: Guid = Guid::from_u128(0x21686148_6449_6E6F_744E_656564454649);
/// Linux root (x86-64), discoverable partitions spec.
pub const GUID_LINUX_ROOT_X86_64: Guid = Guid::from_u128(0x4F68BCE3_E8CD_4DB1_96E7_FBCAF984B709);
/// Linux root (AArch64), discoverable partitions spec.
pub const GUID_LINUX_ROOT_ARM64: Guid = Guid::from_u128(0xB921B045_1DF0_41C3_AF44_4C6F280D3FAE);
/// Linux root (RISC-V 64), discoverable partitions spec.
pub const GUID_LINUX_ROOT_RISCV64: Guid = Guid::from_u128(0x72EC70A6_CF74_40E6_BD49_4BDA08E8F224);

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3, reflected, as zlib and the UEFI spec use).
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// CHS address of an LBA as fdisk writes it for LBA disks (255 heads, 63
/// sectors per track), `FE FF FF` beyond cylinder 1023.
pub fn chs(lba: u64) -> [u8; 3] {
    let c = lba / (255 * 63);
    if c > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let h = (lba / 63) % 255;
    let s = lba % 63 + 1;
    [h as u8, (s as u8) | ((c >> 2) as u8 & 0xC0), c as u8]
}

/// One primary MBR partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrPartition {
    /// Active flag (0x80).
    pub bootable: bool,
    /// Partition type byte ([`MBR_LINUX`], [`MBR_FAT32_LBA`], ...).
    pub part_type: u8,
    /// First LBA.
    pub first_lba: u64,
    /// Length in sectors.
    pub sectors: u64,
}

fn mbr_entry(b: &mut [u8], bootable: bool, typ: u8, first: u64, sectors: u64) {
    b[0] = if bootable { 0x80 } else { 0 };
    b[1..4].copy_from_slice(&chs(first));
    b[4] = typ;
    b[5..8].copy_from_slice(&chs(first + sectors - 1));
    b[8..12].copy_from_slice(&(first as u32).to_le_bytes());
    b[12..16].copy_from_slice(&(sectors as u32).to_le_bytes());
}

fn disk_sectors(disk_size: u64) -> Result<u64, PartitionError> {
    if !disk_size.is_multiple_of(SECTOR) || disk_size < 2 * SECTOR {
        return Err(PartitionError::DiskSize(disk_size));
    }
    Ok(disk_size / SECTOR)
}

/// Check 1-based ranges `(first, last)` lie in `min..=max` and don't overlap.
fn check_ranges(ranges: &[(u64, u64)], min: u64, max: u64) -> Result<(), PartitionError> {
    for (i, &(first, last)) in ranges.iter().enumerate() {
        if first < min || last > max || last < first {
            return Err(PartitionError::OutOfRange {
                index: i + 1,
                first,
                last,
                min,
                max,
            });
        }
    }
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].0);
    for w in order.windows(2) {
        if ranges[w[1]].0 <= ranges[w[0]].1 {
            return Err(PartitionError::Overlap(
                w[0].min(w[1]) + 1,
                w[0].max(w[1]) + 1,
            ));
        }
    }
    Ok(())
}

/// The MBR sector of a disk of `disk_size` bytes: boot code (up to 440
/// bytes), disk signature, up to four primary partitions, 0x55AA.
pub fn mbr(
    disk_size: u64,
    parts: &[MbrPartition],
    boot_code: Option<&[u8]>,
    disk_signature: u32,
) -> Result<[u8; 512], PartitionError> {
    let n = disk_sectors(disk_size)?;
    if parts.len() > 4 {
        return Err(PartitionError::TooMany {
            max: 4,
            got: parts.len(),
        });
    }
    let max = (n - 1).min(u64::from(u32::MAX));
    let ranges: Vec<(u64, u64)> = parts
        .iter()
        .map(|p| {
            (
                p.first_lba,
                p.first_lba.saturating_add(p.sectors).wrapping_sub(1),
            )
        })
        .collect();
    check_ranges(&ranges, 1, max)?;
    let mut s = [0u8; 512];
    if let Some(code) = boot_code {
        if code.len() > 440 {
            return Err(PartitionError::BootCode(code.len()));
        }
        s[..code.len()].copy_from_slice(code);
    }
    s[440..444].copy_from_slice(&disk_signature.to_le_bytes());
    for (i, p) in parts.iter().enumerate() {
        let e = 446 + 16 * i;
        mbr_entry(
            &mut s[e..e + 16],
            p.bootable,
            p.part_type,
            p.first_lba,
            p.sectors,
        );
    }
    s[510] = 0x55;
    s[511] = 0xAA;
    Ok(s)
}

/// One GPT partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartition {
    /// Partition type ([`GUID_ESP`], [`GUID_LINUX_FS`], ...).
    pub type_guid: Guid,
    /// Unique partition GUID (PARTUUID).
    pub part_guid: Guid,
    /// Name (PARTLABEL), up to 36 UTF-16 units.
    pub name: String,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive.
    pub last_lba: u64,
    /// Attribute bits ([`GPT_ATTR_LEGACY_BIOS_BOOTABLE`], ...).
    pub attributes: u64,
}

/// The usable LBA range `(first, last)` of a GPT disk of `disk_size` bytes.
pub fn gpt_usable(disk_size: u64) -> Result<(u64, u64), PartitionError> {
    let n = disk_sectors(disk_size)?;
    let first = 2 + GPT_ARRAY_SECTORS;
    match n.checked_sub(2 + GPT_ARRAY_SECTORS) {
        Some(last) if last >= first => Ok((first, last)),
        _ => Err(PartitionError::DiskSize(disk_size)),
    }
}

/// A laid-out GPT: the blocks to write and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptLayout {
    /// Protective MBR (LBA 0).
    pub protective_mbr: [u8; 512],
    /// Primary header and entry array (LBA 1..=33), at byte 512.
    pub primary: Vec<u8>,
    /// Backup entry array and header (the last 33 sectors).
    pub backup: Vec<u8>,
    /// Byte offset of `backup`.
    pub backup_offset: u64,
}

impl GptLayout {
    /// Put boot code (up to 440 bytes) into the protective MBR.
    pub fn set_boot_code(&mut self, code: &[u8]) -> Result<(), PartitionError> {
        if code.len() > 440 {
            return Err(PartitionError::BootCode(code.len()));
        }
        self.protective_mbr[..440].fill(0);
        self.protective_mbr[..code.len()].copy_from_slice(code);
        Ok(())
    }

    /// Mark the protective MBR entry active (some BIOSes only boot a disk
    /// with an active entry).
    pub fn set_protective_bootable(&mut self, bootable: bool) {
        self.protective_mbr[446] = if bootable { 0x80 } else { 0 };
    }

    /// The three blocks as `(byte offset, bytes)`, in offset order.
    pub fn segments(&self) -> [(u64, &[u8]); 3] {
        [
            (0, &self.protective_mbr[..]),
            (SECTOR, &self.primary[..]),
            (self.backup_offset, &self.backup[..]),
        ]
    }

    /// Write the three blocks into a disk (file) already of the right size.
    pub fn write_at<W: Write + Seek>(&self, w: &mut W) -> io::Result<()> {
        for (off, bytes) in self.segments() {
            w.seek(SeekFrom::Start(off))?;
            w.write_all(bytes)?;
        }
        Ok(())
    }
}

fn gpt_header(
    my_lba: u64,
    alt_lba: u64,
    entries_lba: u64,
    usable: (u64, u64),
    disk_guid: Guid,
    entries_crc: u32,
) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&my_lba.to_le_bytes());
    h[32..40].copy_from_slice(&alt_lba.to_le_bytes());
    h[40..48].copy_from_slice(&usable.0.to_le_bytes());
    h[48..56].copy_from_slice(&usable.1.to_le_bytes());
    h[56..72].copy_from_slice(&disk_guid.0);
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[80..84].copy_from_slice(&(GPT_ENTRIES as u32).to_le_bytes());
    h[84..88].copy_from_slice(&(GPT_ENTRY_SIZE as u32).to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    let crc = crc32(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Lay out a GPT for a disk of `disk_size` bytes; partition `i` of `parts`
/// becomes entry `i` (partition number `i + 1`).
pub fn gpt(
    disk_size: u64,
    parts: &[GptPartition],
    disk_guid: Guid,
) -> Result<GptLayout, PartitionError> {
    let usable = gpt_usable(disk_size)?;
    let n = disk_size / SECTOR;
    if parts.len() > GPT_ENTRIES {
        return Err(PartitionError::TooMany {
            max: GPT_ENTRIES,
            got: parts.len(),
        });
    }
    let ranges: Vec<(u64, u64)> = parts.iter().map(|p| (p.first_lba, p.last_lba)).collect();
    check_ranges(&ranges, usable.0, usable.1)?;
    let mut entries = vec![0u8; GPT_ENTRIES * GPT_ENTRY_SIZE];
    for (i, (p, e)) in parts
        .iter()
        .zip(entries.chunks_exact_mut(GPT_ENTRY_SIZE))
        .enumerate()
    {
        if p.type_guid == Guid::NIL {
            return Err(PartitionError::NilType(i + 1));
        }
        let name: Vec<u16> = p.name.encode_utf16().collect();
        if name.len() > 36 {
            return Err(PartitionError::NameTooLong(p.name.clone()));
        }
        e[..16].copy_from_slice(&p.type_guid.0);
        e[16..32].copy_from_slice(&p.part_guid.0);
        e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
        e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
        e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
        for (k, u) in name.iter().enumerate() {
            e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
        }
    }
    let entries_crc = crc32(&entries);
    let backup_entries_lba = n - 1 - GPT_ARRAY_SECTORS;
    let mut primary = gpt_header(1, n - 1, 2, usable, disk_guid, entries_crc).to_vec();
    primary.extend_from_slice(&entries);
    let mut backup = entries;
    backup.extend_from_slice(&gpt_header(
        n - 1,
        1,
        backup_entries_lba,
        usable,
        disk_guid,
        entries_crc,
    ));
    let mut pmbr = [0u8; 512];
    mbr_entry(
        &mut pmbr[446..462],
        false,
        MBR_GPT_PROTECTIVE,
        1,
        (n - 1).min(u64::from(u32::MAX)),
    );
    pmbr[510] = 0x55;
    pmbr[511] = 0xAA;
    Ok(GptLayout {
        protective_mbr: pmbr,
        primary,
        backup,
        backup_offset: backup_entries_lba * SECTOR,
    })
}

/// Place partitions one after another, each starting on a 1 MiB boundary
/// (the first at LBA 2048). `sizes` are in bytes, rounded up to sectors;
/// `None` (last only) takes the rest of the usable disk. Returns inclusive
/// `(first_lba, last_lba)` pairs; `gpt` reserves the backup table.
pub fn place_aligned(
    disk_size: u64,
    sizes: &[Option<u64>],
    gpt: bool,
) -> Result<Vec<(u64, u64)>, PartitionError> {
    let last_usable = if gpt {
        gpt_usable(disk_size)?.1
    } else {
        disk_sectors(disk_size)? - 1
    };
    let mut out = Vec::with_capacity(sizes.len());
    let mut next = ALIGN_LBA;
    for (i, size) in sizes.iter().enumerate() {
        let last = match size {
            Some(b) => next.saturating_add(b.div_ceil(SECTOR).max(1) - 1),
            None if i + 1 == sizes.len() => last_usable,
            None => return Err(PartitionError::FillNotLast),
        };
        if last > last_usable || last < next {
            return Err(PartitionError::OutOfRange {
                index: i + 1,
                first: next,
                last,
                min: ALIGN_LBA,
                max: last_usable,
            });
        }
        out.push((next, last));
        next = (last + 1).next_multiple_of(ALIGN_LBA);
    }
    Ok(out)
}

/// The smallest whole-MiB disk holding partitions of `sizes` bytes placed by
/// [`place_aligned`] (plus the backup GPT when `gpt`); saturates at
/// `u64::MAX` for absurd sizes (which no table then accepts).
pub fn aligned_disk_size(sizes: &[u64], gpt: bool) -> u64 {
    let align = |v: u64, to: u64| v.checked_next_multiple_of(to).unwrap_or(u64::MAX);
    let end = sizes.iter().fold(ALIGN_LBA, |next, b| {
        align(next.saturating_add(b.div_ceil(SECTOR).max(1)), ALIGN_LBA)
    });
    let tail = if gpt { 1 + GPT_ARRAY_SECTORS } else { 0 };
    align(end.saturating_add(tail).saturating_mul(SECTOR), 1 << 20)
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
