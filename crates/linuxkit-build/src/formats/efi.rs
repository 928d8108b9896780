//! The EFI images. All of them boot a unified kernel image (the systemd
//! EFI stub with the kernel, initrd, command line and an os-release
//! `NAME="LinuxKit"` as PE sections) placed where firmware looks on
//! removable media, `EFI/BOOT/BOOTX64.EFI` of a FAT file system:
//!
//! - `uki`: the UKI itself;
//! - `raw-efi` / `qcow2-efi`: a GPT disk with one EFI System Partition
//!   from LBA 2048 (FAT32, see [`esp_fat`]);
//! - `iso-efi` / `iso-efi-initrd`: an ISO whose El Torito EFI boot image is
//!   a FAT image holding the UKI (`iso-efi-initrd` also carries `kernel`,
//!   `initrd.img` and `cmdline` in the ISO tree, as upstream's).
//!
//! Upstream boots GRUB (ISOs, qcow2-efi) or systemd-boot plus a UKI
//! (raw-efi); the UKI alone needs no boot loader configuration. GUIDs,
//! serial numbers and the MBR signature are derived from the contents.

use super::{BootFiles, Kit};
use crate::error::BuildError;
use linuxkit_formats::Shared;
use linuxkit_formats::disk::{DiskSource, SparseImage};
use linuxkit_formats::fat::{FatBuilder, FatImage, FatOptions};
use linuxkit_formats::iso9660::{EfiBoot, IsoOptions, write_iso};
use linuxkit_formats::partition::{self, GUID_ESP, GptPartition, Guid};
use linuxkit_formats::{Entry, uki};
use sha2::{Digest, Sha256};

/// Where firmware looks for a boot program on removable media (x86_64).
pub const BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";

/// The os-release section of the UKI.
pub const OS_RELEASE: &str = "NAME=\"LinuxKit\"\n";

/// Clusters a FAT32 volume must have to be FAT32 for every reader
/// (Microsoft's rule; below it mtools and fsck.fat call it FAT16).
const FAT32_MIN_CLUSTERS: u64 = 65_525;

/// Build the UKI from the stub in the boot loader image.
/// Its kernel and initrd sections are the kit's own buffers (see
/// [`uki::build_uki_segments`]): nothing large is copied.
pub fn uki(kit: &Kit, boot: &BootFiles) -> Result<SparseImage, BuildError> {
    let stub = boot.get("efi/linuxx64.efi.stub")?;
    uki::build_uki_segments(
        &stub,
        &kit.kernel,
        &kit.initrd,
        kit.cmdline.trim(),
        OS_RELEASE,
    )
    .map_err(|e| BuildError::Other(format!("cannot build the unified kernel image: {e}")))
}

/// What identifies the UKI for its IDs: its length and CRC-32. The IDs
/// only need to follow the content (reproducible, and different for a
/// different UKI in practice); CRC-32 runs at memory speed where SHA-256 of
/// the 47 MB UKI cost 25 ms per ID. Computed once per image.
type Fingerprint = [u8; 12];

fn fingerprint(uki: &SparseImage) -> Fingerprint {
    // The CRC-32 of the image's bytes, gaps (zeros) included: the same value
    // as for the UKI in one piece.
    let crc = linuxkit_formats::buf::crc32_image(uki.len(), uki.segments());
    let mut fp = [0u8; 12];
    fp[..8].copy_from_slice(&uki.len().to_le_bytes());
    fp[8..].copy_from_slice(&crc.to_le_bytes());
    fp
}

/// The seed of a volume ID or GUID: SHA-256 of the label and fingerprint.
fn seed(label: &[u8], fp: &Fingerprint) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((label.len() as u64).to_le_bytes());
    h.update(label);
    h.update(fp);
    h.finalize().into()
}

/// The smallest FAT32 volume with 512-byte clusters that has 65525
/// clusters: 34 MiB.
const MIN_FAT32_SMALL: u64 = 34 << 20;

/// Clusters of a FAT32 image, from its size (32 reserved sectors, two
/// FATs of 4 bytes per cluster).
fn fat32_clusters(img: &FatImage) -> u64 {
    img.size().saturating_sub(32 * 512) / (img.cluster_size() + 8)
}

/// The ESP file system holding the UKI (a FAT32 volume): upstream's
/// `mkfs.vfat -F 32 -S 512 -s 8 -R 32` ([`FatOptions::esp`]) when that
/// gives a real FAT32 (65525 clusters or more: a volume of about 256 MiB),
/// else 512-byte clusters, the volume grown to 34 MiB if needed
/// (fsck.fat and mtools reject a FAT32 with fewer clusters).
pub fn esp_fat(uki: Shared, mtime: i64, hidden_sectors: u32) -> Result<FatImage, BuildError> {
    let uki = SparseImage::whole(uki);
    esp_fat_with(&uki, &fingerprint(&uki), mtime, hidden_sectors)
}

fn esp_fat_with(
    uki: &SparseImage,
    fp: &Fingerprint,
    mtime: i64,
    hidden_sectors: u32,
) -> Result<FatImage, BuildError> {
    let s = seed(b"linuxkit-esp-volume", fp);
    let base = FatOptions {
        volume_id: u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        label: "LINUXKIT".into(),
        mtime,
        hidden_sectors,
        ..FatOptions::esp()
    };
    let mut b = FatBuilder::new();
    b.add_file_pieces(BOOT_PATH, uki.len(), uki.segments().to_vec())
        .map_err(|e| BuildError::Other(format!("cannot build the EFI system partition: {e}")))?;
    let build = |o: &FatOptions| {
        b.build(o)
            .map_err(|e| BuildError::Other(format!("cannot build the EFI system partition: {e}")))
    };
    let img = build(&base)?;
    if fat32_clusters(&img) >= FAT32_MIN_CLUSTERS {
        return Ok(img);
    }
    let small = FatOptions {
        sectors_per_cluster: Some(1),
        ..base
    };
    let img = build(&small)?;
    if fat32_clusters(&img) >= FAT32_MIN_CLUSTERS {
        return Ok(img);
    }
    build(&FatOptions {
        size_bytes: Some(MIN_FAT32_SMALL),
        ..small
    })
}

/// The `raw-efi` disk: protective MBR, GPT, one ESP (type EF00, "legacy
/// BIOS bootable" as upstream, name `EFI System`) from LBA 2048 holding the
/// UKI, sized to the content (whole MiB).
pub fn esp_disk(uki: Shared, mtime: i64) -> Result<SparseImage, BuildError> {
    esp_disk_of(&SparseImage::whole(uki), mtime)
}

/// [`esp_disk`] of a UKI in segments.
pub fn esp_disk_of(uki: &SparseImage, mtime: i64) -> Result<SparseImage, BuildError> {
    let err =
        |e: &dyn std::fmt::Display| BuildError::Other(format!("cannot lay out the EFI disk: {e}"));
    let fp = fingerprint(uki);
    let fat = esp_fat_with(uki, &fp, mtime, partition::ALIGN_LBA as u32)?;
    let disk_size = partition::aligned_disk_size(&[fat.size()], true);
    let place =
        partition::place_aligned(disk_size, &[Some(fat.size())], true).map_err(|e| err(&e))?;
    let (first, last) = place[0];
    let s = seed(b"linuxkit-efi-disk", &fp);
    let part = GptPartition {
        type_guid: GUID_ESP,
        part_guid: Guid::from_seed(&[&s[..], b"partition"].concat()),
        name: "EFI System".into(),
        first_lba: first,
        last_lba: last,
        attributes: partition::GPT_ATTR_LEGACY_BIOS_BOOTABLE,
    };
    let gpt = partition::gpt(
        disk_size,
        &[part],
        Guid::from_seed(&[&s[..], b"disk"].concat()),
    )
    .map_err(|e| err(&e))?;
    let base = first * partition::SECTOR;
    let mut segments: Vec<(u64, Shared)> = Vec::new();
    let [pmbr, primary, backup] = gpt.segments();
    segments.push((pmbr.0, pmbr.1.into()));
    segments.push((primary.0, primary.1.into()));
    for (off, bytes) in fat.shared_segments() {
        segments.push((base + off, bytes));
    }
    segments.push((backup.0, backup.1.into()));
    SparseImage::new(disk_size, segments).map_err(|e| err(&e))
}

/// An ISO booting the UKI through its El Torito EFI image (a FAT image,
/// hidden from the tree, like upstream's `boot.img`), written straight to
/// `out`; with `kit`, the tree also holds `kernel`, `initrd.img` and
/// `cmdline`.
pub fn write_efi_iso(
    uki: &SparseImage,
    kit: Option<&Kit>,
    mtime: i64,
    out: &mut dyn std::io::Write,
) -> Result<(), BuildError> {
    let fat = {
        let s = seed(b"linuxkit-efi-iso", &fingerprint(uki));
        let opts = FatOptions {
            volume_id: u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            label: "LINUXKIT".into(),
            mtime,
            ..FatOptions::default()
        };
        let mut b = FatBuilder::new();
        b.add_file_pieces(BOOT_PATH, uki.len(), uki.segments().to_vec())
            .and_then(|_| b.build(&opts))
            .map_err(|e| BuildError::Other(format!("cannot build the EFI boot image: {e}")))?
    };
    let mut entries = Vec::new();
    if let Some(kit) = kit {
        entries.push(Entry::file("kernel", 0o644, mtime, kit.kernel.clone()));
        entries.push(Entry::file("initrd.img", 0o644, mtime, kit.initrd.clone()));
        entries.push(Entry::file(
            "cmdline",
            0o644,
            mtime,
            kit.cmdline.as_bytes().to_vec(),
        ));
    }
    let mut opts = IsoOptions::new("LinuxKit", mtime);
    opts.efi_boot = Some(EfiBoot {
        image: fat.to_sparse(),
        path: None,
    });
    write_iso(&entries, &opts, out)
        .map_err(|e| BuildError::Other(format!("cannot write the EFI ISO image: {e}")))?;
    Ok(())
}
