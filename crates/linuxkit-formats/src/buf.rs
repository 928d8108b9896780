//! Byte buffers: an image assembled from segments, and the fast all-zeros
//! test the writers share.

use crate::Shared;

/// Whether `buf` is all zeros, compared a page at a time with a zero page
/// (`memcmp`: an order of magnitude faster than a byte loop, which matters
/// for 1 GiB disks that are mostly zeros).
/// A slice of [`ZEROS`] is known to be zero without a look.
pub fn is_zero(buf: &[u8]) -> bool {
    static ZERO_PAGE: [u8; 4096] = [0; 4096];
    let z = ZEROS.as_ptr_range();
    let b = buf.as_ptr_range();
    if z.start <= b.start && b.end <= z.end {
        return true;
    }
    buf.chunks(ZERO_PAGE.len())
        .all(|c| c == &ZERO_PAGE[..c.len()])
}

/// 64 KiB of zeros to write from; [`is_zero`] recognises its slices by
/// address, so a writer that turns zeros into holes does not read through
/// the zeros of a mostly empty 1 GiB disk.
pub static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// `len` bytes holding each `(offset, bytes)` segment, zeros elsewhere, in
/// one buffer (each byte copied once; the zeros come from the allocator's
/// fresh pages). Segments must lie inside `len`.
pub fn assemble_shared<'a>(
    len: usize,
    segments: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Shared {
    assemble(len, segments).into()
}

/// [`assemble_shared`], as a vector.
pub fn assemble<'a>(len: usize, segments: impl IntoIterator<Item = (u64, &'a [u8])>) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (off, bytes) in segments {
        let at = off as usize;
        out[at..at + bytes.len()].copy_from_slice(bytes);
    }
    out
}

/// CRC-32 (IEEE, as gzip's) of a stream, with the byte count: the API of
/// `flate2::Crc` over `crc32fast`, which picks the widest carry-less
/// multiply the CPU has at run time (AVX-512 VPCLMULQDQ here: 4.2 ms for
/// 47 MB, where zlib-rs's 128-bit fold behind `flate2::Crc` took 13 ms).
#[derive(Clone, Default)]
pub struct Crc32 {
    hasher: crc32fast::Hasher,
    amount: u64,
}

impl Crc32 {
    /// An empty CRC.
    pub fn new() -> Crc32 {
        Crc32::default()
    }

    /// Add `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.amount += data.len() as u64;
    }

    /// The CRC-32 of everything added.
    pub fn sum(&self) -> u32 {
        self.hasher.clone().finalize()
    }

    /// The number of bytes added, modulo 2^32 (gzip's ISIZE).
    pub fn amount(&self) -> u32 {
        self.amount as u32
    }

    /// Append the CRC of the bytes that follow.
    pub fn combine(&mut self, later: &Crc32) {
        self.hasher.combine(&later.hasher);
        self.amount += later.amount;
    }
}

/// CRC-32 of a `len`-byte image made of `segments` (offset, bytes; sorted,
/// disjoint, inside `len`) with zeros between them: the value of the image
/// in one piece. Large images are split at the middle of their bytes and
/// the halves computed on two threads, then combined (CRC-32 composes).
pub fn crc32_image(len: u64, segments: &[(u64, Shared)]) -> u32 {
    // The image as runs of bytes or of zeros, in order.
    enum Run<'a> {
        Bytes(&'a [u8]),
        Zeros(u64),
    }
    let mut runs = Vec::with_capacity(segments.len() * 2 + 1);
    let mut at = 0u64;
    for (off, bytes) in segments {
        if *off > at {
            runs.push(Run::Zeros(off - at));
        }
        runs.push(Run::Bytes(bytes));
        at = off + bytes.len() as u64;
    }
    if len > at {
        runs.push(Run::Zeros(len - at));
    }
    let crc_of = |runs: &[Run<'_>]| {
        let mut crc = Crc32::new();
        for r in runs {
            match r {
                Run::Bytes(b) => crc.update(b),
                Run::Zeros(n) => {
                    let mut n = *n;
                    while n > 0 {
                        let k = n.min(ZEROS.len() as u64) as usize;
                        crc.update(&ZEROS[..k]);
                        n -= k as u64;
                    }
                }
            }
        }
        crc
    };
    if len < PARALLEL_CRC_MIN {
        return crc_of(&runs).sum();
    }
    // Split at the middle byte (inside a run if need be).
    let half = len / 2;
    let mut seen = 0u64;
    let mut first: Vec<Run<'_>> = Vec::new();
    let mut second: Vec<Run<'_>> = Vec::new();
    for r in runs {
        let n = match &r {
            Run::Bytes(b) => b.len() as u64,
            Run::Zeros(n) => *n,
        };
        if seen >= half {
            second.push(r);
        } else if seen + n <= half {
            first.push(r);
        } else {
            let k = half - seen;
            match r {
                Run::Bytes(b) => {
                    first.push(Run::Bytes(&b[..k as usize]));
                    second.push(Run::Bytes(&b[k as usize..]));
                }
                Run::Zeros(n) => {
                    first.push(Run::Zeros(k));
                    second.push(Run::Zeros(n - k));
                }
            }
        }
        seen += n;
    }
    std::thread::scope(|s| {
        let later = s.spawn(|| crc_of(&second));
        let mut crc = crc_of(&first);
        let rest = later.join().unwrap_or_else(|_| crc_of(&second));
        crc.combine(&rest);
        crc.sum()
    })
}

/// Images from this size on get their CRC-32 on two threads.
const PARALLEL_CRC_MIN: u64 = 4 << 20;

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_image_is_the_crc_of_the_flat_image() {
        use crate::Shared;
        let noise = |n: usize, seed: u8| -> Vec<u8> {
            (0..n)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect()
        };
        for (len, segs) in [
            (100u64, vec![(3u64, noise(10, 1))]),
            (
                9 << 20,
                vec![(0, noise(5 << 20, 2)), (6 << 20, noise(1000, 3))],
            ),
            (9 << 20, vec![(1 << 20, noise(1 << 20, 4))]),
            (12 << 20, vec![(4 << 20, noise(4 << 20, 5))]),
        ] {
            let shared: Vec<(u64, Shared)> = segs
                .iter()
                .map(|(o, b)| (*o, Shared::from(b.clone())))
                .collect();
            let mut flat = vec![0u8; len as usize];
            for (o, b) in &segs {
                flat[*o as usize..*o as usize + b.len()].copy_from_slice(b);
            }
            let mut want = flate2::Crc::new(); // zlib-rs: an independent implementation
            want.update(&flat);
            assert_eq!(super::crc32_image(len, &shared), want.sum(), "len {len}");
        }
    }

    #[test]
    fn is_zero_and_assemble_shared() {
        assert!(super::is_zero(&vec![0u8; 10_000]));
        let mut b = vec![0u8; 10_000];
        b[9_999] = 1;
        assert!(!super::is_zero(&b));
        let a = super::assemble_shared(8, [(1u64, &[1u8, 2][..]), (6, &[3u8][..])]);
        assert_eq!(&a[..], &[0, 1, 2, 0, 0, 0, 3, 0]);
    }
}
