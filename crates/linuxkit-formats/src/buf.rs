//! Shared byte buffers: one zeroed allocation to be filled in place.

use std::sync::Arc;

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
    fn zeroed_shared_is_zero_and_unique() {
        let mut b = super::zeroed_shared(5 << 20);
        assert!(b.iter().all(|&x| x == 0));
        let m = std::sync::Arc::get_mut(&mut b).expect("not shared yet");
        m[7] = 1;
        assert_eq!(b[7], 1);
    }
}
