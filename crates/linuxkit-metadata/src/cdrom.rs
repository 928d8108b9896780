//! The CD-ROM provider, as upstream's: every `/dev/sr*` device and every
//! block device whose ISO 9660 volume label is `CIDATA` or `cidata` (the
//! cloud-init NoCloud convention) is mounted read-only in turn; the first
//! with a `user-data` or `config` file gives the user data (and
//! `meta-data`, when present, is kept beside it).
//!
//! Difference from upstream: only ISO 9660 labels are read (upstream also
//! reads FAT labels).

use std::path::{Path, PathBuf};

/// Files that hold the user data, in upstream's order.
pub const USERDATA_FILES: [&str; 2] = ["user-data", "config"];
/// The NoCloud meta-data file.
pub const METADATA_FILE: &str = "meta-data";

/// What a disc gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The device, e.g. `/dev/sr0`.
    pub device: PathBuf,
    /// `user-data` or `config`.
    pub userdata: Vec<u8>,
    /// `meta-data`, if any.
    pub metadata: Option<Vec<u8>>,
}

/// The volume identifier of an ISO 9660 image or device (trailing spaces
/// removed), or `None` when `dev` holds no ISO 9660 file system.
pub fn iso_label(dev: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(dev).ok()?;
    f.seek(SeekFrom::Start(16 * 2048)).ok()?;
    let mut pvd = [0u8; 72];
    f.read_exact(&mut pvd).ok()?;
    if pvd[0] != 1 || &pvd[1..6] != b"CD001" {
        return None;
    }
    Some(String::from_utf8_lossy(&pvd[40..72]).trim_end().to_string())
}

/// Candidate devices under `dev` (`/dev`) and `sys_block`
/// (`/sys/class/block`): CIDATA-labelled block devices first, then
/// CD-ROMs, each once.
pub fn candidates(dev: &Path, sys_block: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in &names {
        if n.starts_with("loop") || n.starts_with("ram") {
            continue;
        }
        let p = dev.join(n);
        if matches!(iso_label(&p).as_deref(), Some("CIDATA" | "cidata")) {
            out.push(p);
        }
    }
    let mut srs: Vec<PathBuf> = std::fs::read_dir(dev)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    n.strip_prefix("sr")
                        .is_some_and(|d| d.starts_with(|c: char| c.is_ascii_digit()))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    srs.sort();
    for s in srs {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Read the user data from a mounted disc at `root`.
pub fn read_disc(device: &Path, root: &Path) -> Option<Found> {
    let userdata = USERDATA_FILES
        .iter()
        .find_map(|f| std::fs::read(root.join(f)).ok())?;
    Some(Found {
        device: device.to_path_buf(),
        userdata,
        metadata: std::fs::read(root.join(METADATA_FILE)).ok(),
    })
}

/// Mount each candidate read-only at `mnt` and read it; the first disc
/// with user data wins. `log` gets one line per device tried.
pub fn probe(candidates: &[PathBuf], mnt: &Path, log: &mut dyn FnMut(String)) -> Option<Found> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    for dev in candidates {
        log(format!("Trying CDROM {}", dev.display()));
        if let Err(e) = std::fs::create_dir_all(mnt) {
            log(format!("cannot create {}: {e}", mnt.display()));
            return None;
        }
        if let Err(e) = mount(
            Some(dev.as_path()),
            mnt,
            Some("iso9660"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        ) {
            log(format!("CDROM {}: cannot mount: {e}", dev.display()));
            continue;
        }
        let found = read_disc(dev, mnt);
        let _ = umount2(mnt, MntFlags::MNT_DETACH);
        match found {
            Some(f) => return Some(f),
            None => log(format!(
                "CDROM {}: no user-data or config file",
                dev.display()
            )),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(label: &str) -> Vec<u8> {
        let mut v = vec![0u8; 17 * 2048];
        let p = 16 * 2048;
        v[p] = 1;
        v[p + 1..p + 6].copy_from_slice(b"CD001");
        v[p + 40..p + 72].fill(b' ');
        v[p + 40..p + 40 + label.len()].copy_from_slice(label.as_bytes());
        v
    }

    #[test]
    fn labels_and_candidates() {
        let t = tempfile::tempdir().unwrap();
        let (dev, sys) = (t.path().join("dev"), t.path().join("sys"));
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(&sys).unwrap();
        for (n, content) in [
            ("vdb", iso("CIDATA")),
            ("vdc", iso("cidata")),
            ("vdd", iso("config")),
            ("vda", vec![0u8; 100]),
            ("loop0", iso("CIDATA")),
            ("sr0", iso("config")),
            ("sr1", vec![]),
            ("srx", vec![]),
        ] {
            std::fs::write(dev.join(n), content).unwrap();
            std::fs::create_dir(sys.join(n)).unwrap();
        }
        assert_eq!(iso_label(&dev.join("vdd")).as_deref(), Some("config"));
        assert_eq!(iso_label(&dev.join("vda")), None);
        let c = candidates(&dev, &sys);
        let names: Vec<_> = c
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["vdb", "vdc", "sr0", "sr1"]);
    }

    #[test]
    fn user_data_before_config_and_meta_data_kept() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        assert_eq!(read_disc(Path::new("/dev/sr0"), r), None);
        std::fs::write(r.join("config"), b"c").unwrap();
        assert_eq!(read_disc(Path::new("/dev/sr0"), r).unwrap().userdata, b"c");
        std::fs::write(r.join("user-data"), b"u").unwrap();
        std::fs::write(r.join("meta-data"), b"instance-id: i\n").unwrap();
        let f = read_disc(Path::new("/dev/sr0"), r).unwrap();
        assert_eq!(f.userdata, b"u");
        assert_eq!(f.metadata.as_deref(), Some(&b"instance-id: i\n"[..]));
    }
}
