//! Byte buffers: one zeroed shared allocation filled in place, an image
//! assembled from segments, and the fast all-zeros test the writers share.

use std::sync::Arc;

/// Whether `buf` is all zeros, compared a page at a time with a zero page
/// (`memcmp`: an order of magnitude faster than a byte loop, which matters
/// for 1 GiB disks that are mostly zeros).
pub fn is_zero(buf: &[u8]) -> bool {
    static ZERO_PAGE: [u8; 4096] = [0; 4096];
    buf.chunks(ZERO_PAGE.len())
        .all(|c| c == &ZERO_PAGE[..c.len()])
}

/// `len` bytes holding each `(offset, bytes)` segment, zeros elsewhere, in
/// one shared allocation (each byte copied once). Segments must lie inside
/// `len`.
pub fn assemble_shared<'a>(
    len: usize,
    segments: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Arc<[u8]> {
    let mut out = zeroed_shared(len);
    if let Some(dst) = Arc::get_mut(&mut out) {
        for (off, bytes) in segments {
            let at = off as usize;
            dst[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }
    out
}

/// A zeroed shared buffer of `len` bytes, to be filled through
/// `Arc::get_mut` before it is shared. The memory comes zeroed from the
/// allocator (fresh pages for large buffers), so nothing is written twice.
pub fn zeroed_shared(len: usize) -> Arc<[u8]> {
    let zeroed = Arc::<[u8]>::new_zeroed_slice(len);
    // SAFETY: the allocation is zero-initialized (`new_zeroed_slice`), and
    // an all-zero byte is a valid `u8`.
    unsafe { zeroed.assume_init() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_zero_and_assemble_shared() {
        assert!(super::is_zero(&vec![0u8; 10_000]));
        let mut b = vec![0u8; 10_000];
        b[9_999] = 1;
        assert!(!super::is_zero(&b));
        let a = super::assemble_shared(8, [(1u64, &[1u8, 2][..]), (6, &[3u8][..])]);
        assert_eq!(&a[..], &[0, 1, 2, 0, 0, 0, 3, 0]);
    }

    #[test]
    fn zeroed_shared_is_zero_and_unique() {
        let mut b = super::zeroed_shared(5 << 20);
        assert!(b.iter().all(|&x| x == 0));
        let m = std::sync::Arc::get_mut(&mut b).expect("not shared yet");
        m[7] = 1;
        assert_eq!(b[7], 1);
    }
}
