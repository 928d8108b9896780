//! Kernel modules as both sides see them: a module's name (`-` and `_` are
//! the same character to the kernel, so names are normalised to `_`), the
//! file that holds it (`<name>.ko`, uncompressed: `/init` loads modules with
//! `init_module(2)`, which takes the ELF image itself), and the `key=value`
//! strings of its `.modinfo` ELF section (`depends=`, `alias=`, ...), read
//! without `modules.dep` (the kernel packages do not ship it: depmod makes
//! it on install). Used by the build (the root initrd's modules and their
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

/// The suffix of a module file `/init` can load.
pub const MODULE_SUFFIX: &str = ".ko";

/// A module name as the kernel compares it: `virtio-net` → `virtio_net`
/// (used for names from files, `depends=`, `/etc/modules` and the command line).
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// A module's name from its file name or path: `virtio-net.ko` →
/// `virtio_net`; `None` for other files, compressed modules (`.ko.xz`)
/// included, since `/init` cannot load them.
pub fn module_name(file: &str) -> Option<String> {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.strip_suffix(MODULE_SUFFIX)?;
    (!stem.is_empty()).then(|| normalize(stem))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(module_name("virtio-net.ko").as_deref(), Some("virtio_net"));
        assert_eq!(
            module_name("lib/modules/6.6/kernel/fs/overlayfs/overlay.ko").as_deref(),
            Some("overlay")
        );
        assert_eq!(module_name("x.ko.xz"), None);
        assert_eq!(module_name("modules.order"), None);
        assert_eq!(module_name(".ko"), None);
        assert_eq!(normalize("sd-mod"), "sd_mod");
    }

    /// A minimal ELF64 with a `.modinfo` section holding `modinfo_data`.
    fn elf_with_modinfo(modinfo_data: &[u8]) -> Vec<u8> {
        let shstr = b"\0.modinfo\0.shstrtab\0";
        let mut elf = vec![0u8; 64];
        elf[0..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        let mi_off = elf.len();
        elf.extend_from_slice(modinfo_data);
        let st_off = elf.len();
        elf.extend_from_slice(shstr);
        while !elf.len().is_multiple_of(8) {
            elf.push(0);
        }
        let shoff = elf.len();
        let mut sh = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        };
        sh(0, 0, 0);
        sh(1, mi_off, modinfo_data.len());
        sh(10, st_off, shstr.len());
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3E..0x40].copy_from_slice(&2u16.to_le_bytes());
        elf
    }

    #[test]
    fn modinfo_and_depends() {
        let elf = elf_with_modinfo(b"license=GPL\0depends=a,b-c\0alias=pci:v*\0");
        let info = modinfo(&elf).unwrap_or_default();
        assert!(info.contains(&("depends".into(), "a,b-c".into())));
        assert_eq!(info.len(), 3);
        assert_eq!(depends(&elf), ["a", "b_c"]);
        assert!(modinfo(b"not an elf").is_none());
        assert!(modinfo(&elf[..100]).is_none());
        assert!(depends(&elf_with_modinfo(b"depends=\0")).is_empty());
    }
}
