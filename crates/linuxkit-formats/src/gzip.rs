//! Deterministic parallel gzip: the input is cut into fixed 1 MiB blocks,
//! each deflated independently on its own thread (pigz's `-i` scheme), so
//! the output depends only on the input and the level, never on the number
//! of threads or their timing.

use std::io::Write;

/// Deterministic parallel gzip (pigz-style independent blocks): the input is
/// cut into fixed 1 MiB blocks, each deflated on its own and ended with a
/// full flush, so the output depends only on the input and the level, never
/// on the number of threads.
pub fn gzip_parallel(data: &[u8], level: u32) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    const BLOCK: usize = 1 << 20;
    let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
    let n = blocks.len();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    // Each block is an independent raw deflate stream; all but the last end
    // with a sync flush (byte-aligned, not final), the last with BFINAL.
    let compress_one = |i: usize, b: &[u8]| -> Vec<u8> {
        let mut enc = DeflateEncoder::new(
            Vec::with_capacity(b.len() / 2 + 64),
            Compression::new(level),
        );
        let ok = enc.write_all(b).is_ok();
        debug_assert!(ok, "writing to a Vec cannot fail");
        if i + 1 == n {
            enc.finish().unwrap_or_default()
        } else {
            let _ = enc.flush();
            std::mem::take(enc.get_mut())
        }
    };
    let mut parts: Vec<Vec<u8>> = vec![Vec::new(); n];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(n.max(1)))
            .map(|t| {
                let blocks = &blocks;
                let compress_one = &compress_one;
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, compress_one(i, blocks[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, v) in done {
                    parts[i] = v;
                }
            }
        }
    });
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 32);
    // gzip header: no name, mtime 0, XFL 0, OS 255 (unknown) — fixed bytes.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    if n == 0 {
        out.extend_from_slice(
            &DeflateEncoder::new(Vec::new(), Compression::new(level))
                .finish()
                .unwrap_or_default(),
        );
    }
    for p in &parts {
        out.extend_from_slice(p);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parallel_gzip_round_trips() {
        for size in [0usize, 10, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 77] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let gz = gzip_parallel(&data, 6);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "size {size}");
            assert_eq!(gz, gzip_parallel(&data, 6));
        }
    }
}
