//! The global allocator: the system's, with large buffers backed by
//! transparent huge pages where the kernel allows it (`madvise` mode).
//!
//! A build moves tens of MB through fresh buffers (the initrd, the kernel,
//! a UKI, a FAT or ISO image). With 4 KiB pages the first touch of each
//! page is a fault: 12,000 of them for a 47 MB initrd, which measured as a
//! sizeable part of a warm build's time. Advising huge pages for buffers of
//! 4 MiB and more turns that into one fault per 2 MiB. Where the kernel has
//! transparent huge pages off, the advice is ignored and nothing changes.

use std::alloc::{GlobalAlloc, Layout, System};

/// [`System`], advising huge pages for large allocations.
pub struct HugeForLarge;

/// Allocations from this size on are advised.
const LARGE: usize = 4 << 20;
/// The huge page size on x86-64 and the alignment the advice needs.
const HUGE: usize = 2 << 20;

/// Advise huge pages for the whole 2 MiB pages inside `[p, p + len)`.
fn advise(p: *mut u8, len: usize) {
    if p.is_null() || len < LARGE {
        return;
    }
    let start = (p as usize).next_multiple_of(HUGE);
    let end = (p as usize).saturating_add(len) / HUGE * HUGE;
    if end > start {
        // SAFETY: the range lies inside an allocation just made and owned by
        // the caller; MADV_HUGEPAGE changes how the kernel backs the pages,
        // never their contents, and a failure (THP unavailable) is harmless.
        let _ = unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                end - start,
                rustix::mm::Advice::LinuxHugepage,
            )
        };
    }
}

// SAFETY: every method delegates to `System` with the same arguments and
// returns its result; `advise` does not touch the memory's contents.
unsafe impl GlobalAlloc for HugeForLarge {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}
