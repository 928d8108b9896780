//! Alias bombs are refused before they allocate: a 10×10 nested node bomb
//! and one long anchored string aliased many times both fail with a clear
//! error, and the parser's peak heap use stays a small multiple of the
//! input. The peak is measured by a counting global allocator, so this file
//! holds a single test (tests of one binary share the allocator).

use linuxkit_config::yaml;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, keeping the current and the peak number of bytes
/// allocated.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as `GlobalAlloc::alloc`, passed through.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as `GlobalAlloc::dealloc`, passed through.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Parse `text`; return the error messages and the peak heap growth.
fn parse_measured(text: &str) -> (Result<(), String>, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let result = match yaml::parse(text) {
        Ok(_) => Ok(()),
        Err(errs) => Err(errs
            .iter()
            .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
            .collect::<Vec<_>>()
            .join("\n")),
    };
    (result, PEAK.load(Ordering::SeqCst) - base)
}

/// At most this many bytes of heap for parsing a document of a few KB.
const LIMIT: usize = 64 << 20;

#[test]
fn alias_bombs_are_refused_before_they_allocate() {
    // Ten levels, each a list of ten aliases of the level below: 10^10 nodes.
    let mut nodes = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        nodes.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    // One 10 KB string aliased 4000 times: 40 MB of text from 30 KB.
    let mut strings = format!("s: &s \"{}\"\nl:\n", "A".repeat(10_000));
    for _ in 0..4000 {
        strings.push_str("  - *s\n");
    }
    for (name, text) in [("node bomb", &nodes), ("string bomb", &strings)] {
        let (result, peak) = parse_measured(text);
        eprintln!("{name}: {} bytes of input, peak {peak} bytes", text.len());
        let err = match result {
            Ok(()) => panic!("{name}: accepted"),
            Err(e) => e,
        };
        assert!(
            err.contains("too large after expanding aliases"),
            "{name}: unexpected error {err}"
        );
        assert!(
            peak < LIMIT,
            "{name}: parsing allocated {peak} bytes before refusing"
        );
    }
    // A document using aliases moderately is still fine.
    let fine = "base: &b {x: 1, y: [a, b, c]}\nm: [*b, *b, *b, *b]\n";
    assert_eq!(parse_measured(fine).0, Ok(()));
}
