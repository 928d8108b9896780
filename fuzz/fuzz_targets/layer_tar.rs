//! Fuzz the layer reader and flattener: arbitrary (possibly gzip) tar bytes
//! must give entries or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    if let Ok(entries) = linuxkit_build::layers::read_tar_entries(&mut r) {
        let split = entries.len() / 2;
        let mut lower = entries;
        let upper = lower.split_off(split);
        let _ = linuxkit_build::flatten::flatten("fuzz", vec![lower, upper], &[]);
    }
});
