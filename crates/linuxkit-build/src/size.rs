//! `--size`, the size of the `qcow2-bios` and `aws` disks: `NNNM` MiB,
//! `NNNG` or a bare `NNN` GiB (upstream's units). Parsed with checked
//! arithmetic: a size whose byte count does not fit a file offset (63
//! bits) is refused with the limit, never wrapped around to a small disk.

use std::fmt;
use std::str::FromStr;

const MIB: u64 = 1 << 20;

/// A disk size, a whole number of MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiskSize {
    mib: u64,
}

impl DiskSize {
    /// The largest size: its bytes fit a signed 64-bit file offset.
    pub const MAX_MIB: u64 = i64::MAX as u64 / MIB;

    /// A size of `mib` MiB, if not above [`DiskSize::MAX_MIB`].
    pub fn from_mib(mib: u64) -> Option<DiskSize> {
        (mib <= DiskSize::MAX_MIB).then_some(DiskSize { mib })
    }

    /// In MiB.
    pub fn mib(self) -> u64 {
        self.mib
    }

    /// In bytes (never overflows: see [`DiskSize::MAX_MIB`]).
    pub fn bytes(self) -> u64 {
        self.mib * MIB
    }
}

impl Default for DiskSize {
    /// Upstream's default, 1024M.
    fn default() -> DiskSize {
        DiskSize { mib: 1024 }
    }
}

impl fmt::Display for DiskSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}M", self.mib)
    }
}

/// A `--size` that does not parse or is too large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a number with an optional `M` or `G`.
    #[error("unable to parse disk size {0:?}: use e.g. 1024M or 4G")]
    Syntax(String),
    /// Larger than [`DiskSize::MAX_MIB`].
    #[error(
        "disk size {given:?} is too large: the largest is {max}M (8 EiB less 1 MiB, the largest file offset)",
        max = DiskSize::MAX_MIB
    )]
    TooLarge {
        /// As given.
        given: String,
    },
}

impl FromStr for DiskSize {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<DiskSize, SizeError> {
        let t = s.trim();
        let (num, mul) = if let Some(n) = t.strip_suffix(['M', 'm']) {
            (n, 1u64)
        } else if let Some(n) = t.strip_suffix(['G', 'g']) {
            (n, 1024)
        } else {
            (t, 1024)
        };
        let too_large = || SizeError::TooLarge {
            given: s.to_string(),
        };
        let v: u64 = num
            .parse()
            .map_err(|e: std::num::ParseIntError| match e.kind() {
                std::num::IntErrorKind::PosOverflow => too_large(),
                _ => SizeError::Syntax(s.to_string()),
            })?;
        v.checked_mul(mul)
            .and_then(DiskSize::from_mib)
            .ok_or_else(too_large)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mib(s: &str) -> Result<u64, SizeError> {
        s.parse::<DiskSize>().map(DiskSize::mib)
    }

    #[test]
    fn units() {
        assert_eq!(mib("1024M"), Ok(1024));
        assert_eq!(mib("4G"), Ok(4096));
        assert_eq!(mib("4g"), Ok(4096));
        assert_eq!(mib("2"), Ok(2048));
        assert_eq!(DiskSize::default().mib(), 1024);
        for bad in ["big", "", "M", "-1G", "1.5G", "1T"] {
            assert!(
                matches!(mib(bad), Err(SizeError::Syntax(_))),
                "{bad}: {:?}",
                mib(bad)
            );
        }
    }

    #[test]
    fn overflow_is_refused_with_the_limit() {
        // 2^54 + 1 GiB is 2^64 + 1024 MiB: it used to wrap to a 1 GiB disk.
        let e = mib("18014398509481985G").unwrap_err();
        assert!(matches!(e, SizeError::TooLarge { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("too large") && msg.contains("8796093022207M"),
            "{msg}"
        );
        // Beyond u64 even as a number.
        assert!(matches!(
            mib("99999999999999999999999M"),
            Err(SizeError::TooLarge { .. })
        ));
        // The limit itself is fine, one more is not; bytes never overflow.
        let max = DiskSize::MAX_MIB;
        assert_eq!(mib(&format!("{max}M")), Ok(max));
        assert_eq!(
            format!("{max}M").parse::<DiskSize>().unwrap().bytes(),
            max * MIB
        );
        assert!(mib(&format!("{}M", max + 1)).is_err());
        assert!(mib(&format!("{}G", max / 1024 + 1)).is_err());
    }
}
