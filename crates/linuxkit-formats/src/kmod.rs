//! Kernel module metadata: the `key=value` strings of a module's
//! `.modinfo` ELF section (`depends=`, `alias=`, ...), read without
//! `modules.dep` (the kernel packages do not ship it: depmod makes it on
//! install). Used by the build (the root initrd's modules and their
//! dependencies) and by the in-VM `/init` (loading modules).

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// The `key=value` strings of an ELF64 module's `.modinfo` section.
pub fn modinfo(elf: &[u8]) -> Option<Vec<(String, String)>> {
    if elf.get(0..4)? != b"\x7fELF" || *elf.get(4)? != 2 {
        return None;
    }
    let shoff = u64_at(elf, 0x28)? as usize;
    let shentsize = u16_at(elf, 0x3A)? as usize;
    let shnum = u16_at(elf, 0x3C)? as usize;
    let shstrndx = u16_at(elf, 0x3E)? as usize;
    let sh = |i: usize| -> Option<(u32, usize, usize)> {
        let o = shoff.checked_add(i.checked_mul(shentsize)?)?;
        Some((
            u32_at(elf, o)?,
            u64_at(elf, o + 0x18)? as usize,
            u64_at(elf, o + 0x20)? as usize,
        ))
    };
    let (_, stroff, strsize) = sh(shstrndx)?;
    let strtab = elf.get(stroff..stroff.checked_add(strsize)?)?;
    for i in 0..shnum {
        let (name, off, size) = sh(i)?;
        let n = strtab.get(name as usize..)?;
        let n = &n[..n.iter().position(|&b| b == 0)?];
        if n == b".modinfo" {
            let data = elf.get(off..off.checked_add(size)?)?;
            return Some(
                data.split(|&b| b == 0)
                    .filter_map(|kv| {
                        let s = String::from_utf8_lossy(kv);
                        s.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect(),
            );
        }
    }
    None
}

/// The modules the root initrd of `kernel+squashfs|erofs|iso` carries and
/// loads (with their dependencies) when the kernel has them as modules:
/// the buses and disk drivers of virtual machines, CD-ROMs, and the three
/// root file system types plus overlayfs.
pub const ROOT_DISK_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "ata_piix",
    "ahci",
    "nvme",
    "squashfs",
    "erofs",
    "isofs",
    "overlay",
];

/// A module's name from its file name: `virtio-net.ko` → `virtio_net`
/// (compressed modules, `.ko.xz` and the like, included).
pub fn module_name(file: &str) -> Option<String> {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.split_once(".ko").map(|(s, _)| s)?;
    Some(stem.replace('-', "_"))
}

/// The module names a module depends on (its `depends=`).
pub fn depends(elf: &[u8]) -> Vec<String> {
    modinfo(elf)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "depends")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect::<Vec<_>>()
        })
        .collect()
}
