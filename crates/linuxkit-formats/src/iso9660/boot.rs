//! El Torito (boot record volume descriptor, boot catalog, boot-info
//! table) and the isohybrid MBR, laid out as xorriso/libisofs do.

/// Sectors per track and heads of the isohybrid geometry (libisofs and
/// syslinux `isohybrid` defaults); a cylinder is 1 MiB.
const SECTORS: u64 = 32;
const HEADS: u64 = 64;
/// Size the hybrid image is padded to, in bytes (one cylinder).
pub(super) const CYLINDER: u64 = SECTORS * HEADS * 512;

/// One El Torito boot entry, located.
#[derive(Debug, Clone, Copy)]
pub(super) struct BootEntry {
    /// Platform id: 0 for x86 BIOS, 0xEF for EFI.
    pub(super) platform: u8,
    /// Sector count (virtual 512-byte sectors loaded).
    pub(super) sectors: u16,
    /// LBA of the image.
    pub(super) lba: u32,
}

/// The boot record volume descriptor pointing at the catalog.
pub(super) fn boot_record(catalog_lba: u32) -> Vec<u8> {
    let mut s = vec![0u8; 2048];
    s[0] = 0;
    s[1..6].copy_from_slice(b"CD001");
    s[6] = 1;
    let id = b"EL TORITO SPECIFICATION";
    s[7..7 + id.len()].copy_from_slice(id);
    s[0x47..0x4B].copy_from_slice(&catalog_lba.to_le_bytes());
    s
}

fn section_entry(e: &BootEntry) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 0x88; // bootable
    b[1] = 0; // no emulation
    // load segment 0 (= 0x7C0), system type 0
    b[6..8].copy_from_slice(&e.sectors.to_le_bytes());
    b[8..12].copy_from_slice(&e.lba.to_le_bytes());
    b
}

/// The boot catalog (one 2048-byte sector): validation entry, the first
/// entry as initial/default entry, every further one in its own section
/// (the last section header marked final), as libisofs writes them.
pub(super) fn catalog(entries: &[BootEntry]) -> Vec<u8> {
    let mut s = vec![0u8; 2048];
    let Some(first) = entries.first() else {
        return s;
    };
    s[0] = 1;
    s[1] = first.platform;
    s[30] = 0x55;
    s[31] = 0xAA;
    let sum = s[..32].chunks(2).fold(0u16, |a, w| {
        a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    s[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    s[32..64].copy_from_slice(&section_entry(first));
    let mut at = 64;
    let rest = &entries[1..];
    for (i, e) in rest.iter().enumerate() {
        s[at] = if i + 1 == rest.len() { 0x91 } else { 0x90 };
        s[at + 1] = e.platform;
        s[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
        s[at + 32..at + 64].copy_from_slice(&section_entry(e));
        at += 64;
    }
    s
}

/// Patch a boot-info table (mkisofs `-boot-info-table`) into a copy of
/// the boot image: PVD LBA, image LBA, image length and the 32-bit sum of
/// the image from byte 64 on, at offset 8; bytes 24..64 cleared.
pub(super) fn boot_info_table(image: &[u8], pvd_lba: u32, lba: u32) -> Vec<u8> {
    let mut v = image.to_vec();
    let sum = image[64..].chunks(4).fold(0u32, |a, w| {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        a.wrapping_add(u32::from_le_bytes(b))
    });
    v[8..12].copy_from_slice(&pvd_lba.to_le_bytes());
    v[12..16].copy_from_slice(&lba.to_le_bytes());
    v[16..20].copy_from_slice(&(image.len() as u32).to_le_bytes());
    v[20..24].copy_from_slice(&sum.to_le_bytes());
    v[24..64].fill(0);
    v
}

/// C/H/S of a 512-byte LBA in the isohybrid geometry, clamped at 1023
/// cylinders.
fn chs(lba: u64) -> [u8; 3] {
    let s = lba % SECTORS + 1;
    let t = lba / SECTORS;
    let (mut h, mut c, mut s) = (t % HEADS, t / HEADS, s);
    if c >= 1024 {
        (c, h, s) = (1023, HEADS - 1, SECTORS);
    }
    [
        h as u8,
        (s as u8) | (((c & 0x300) >> 2) as u8),
        (c & 0xff) as u8,
    ]
}

/// Where the EFI image lies, for the MBR's 0xEF partition.
#[derive(Debug, Clone, Copy)]
pub(super) struct EfiPart {
    pub(super) lba: u32,
    pub(super) bytes: u64,
}

/// The isohybrid MBR (what xorriso's `-isohybrid-mbr` writes): the
/// template's first 432 bytes, the isolinux.bin LBA in 512-byte sectors
/// as a 64-bit LE value at 432, the disk signature at 440, partition 1
/// bootable from 0 over the whole (padded) image, type 0x17, or 0x00 when
/// an EFI partition 2 of type 0xEF describes the EFI boot image (as with
/// `-isohybrid-gpt-basdat`, minus the GPT), and 0x55AA.
pub(super) fn hybrid_mbr(
    template: &[u8],
    boot_lba: u32,
    signature: u32,
    image_bytes: u64,
    efi: Option<EfiPart>,
) -> [u8; 512] {
    let mut m = [0u8; 512];
    m[..432].copy_from_slice(&template[..432]);
    m[432..440].copy_from_slice(&(u64::from(boot_lba) * 4).to_le_bytes());
    m[440..444].copy_from_slice(&signature.to_le_bytes());
    let blocks = image_bytes / 512;
    let p = &mut m[446..462];
    p[0] = 0x80;
    p[1..4].copy_from_slice(&chs(0));
    p[4] = if efi.is_some() { 0x00 } else { 0x17 };
    p[5..8].copy_from_slice(&chs(blocks.saturating_sub(1)));
    p[8..12].copy_from_slice(&0u32.to_le_bytes());
    p[12..16].copy_from_slice(&(blocks.min(0xffff_ffff) as u32).to_le_bytes());
    if let Some(e) = efi {
        let p = &mut m[462..478];
        p[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        p[4] = 0xef;
        p[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        p[8..12].copy_from_slice(&(e.lba.wrapping_mul(4)).to_le_bytes());
        p[12..16].copy_from_slice(&(e.bytes.div_ceil(512).min(0xffff_ffff) as u32).to_le_bytes());
    }
    m[510] = 0x55;
    m[511] = 0xAA;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_checksums() {
        let c = catalog(&[
            BootEntry {
                platform: 0,
                sectors: 4,
                lba: 30,
            },
            BootEntry {
                platform: 0xEF,
                sectors: 2880,
                lba: 40,
            },
        ]);
        let sum = c[..32].chunks(2).fold(0u16, |a, w| {
            a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        assert_eq!(sum, 0);
        assert_eq!(&c[30..32], &[0x55, 0xAA]);
        assert_eq!(c[32], 0x88);
        assert_eq!(c[64], 0x91);
        assert_eq!(c[65], 0xEF);
        assert_eq!(u32::from_le_bytes(c[104..108].try_into().unwrap()), 40);
    }

    #[test]
    fn chs_geometry() {
        assert_eq!(chs(0), [0, 1, 0]);
        // 1 MiB - 1 sector: cylinder 0, head 63, sector 32
        assert_eq!(chs(2047), [63, 32, 0]);
        assert_eq!(chs(2048 * 1024), [63, 32 | 0xC0, 0xff]);
    }
}
