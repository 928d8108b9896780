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
    let mut crc = crate::buf::Crc32::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The streaming form of [`gzip_parallel`]: the same bytes for the same
/// input, written as the input arrives, with memory bounded by a batch of
/// blocks (4 per thread). A block of zeros is compressed once and its
/// deflate output reused (blocks are independent, so the output is the
/// same): a sparse disk image costs little more than its data.
pub struct GzipParallelWriter<W: Write> {
    out: W,
    level: u32,
    block: Vec<u8>,
    /// Full blocks not compressed yet (the newest is kept back until more
    /// input comes, since only the last block is final).
    pending: Vec<Vec<u8>>,
    crc: crate::buf::Crc32,
    zero_block: Option<Vec<u8>>,
    started: bool,
}

const PAR_BLOCK: usize = 1 << 20;

fn deflate_block(b: &[u8], level: u32, last: bool) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    let mut enc = DeflateEncoder::new(
        Vec::with_capacity(b.len() / 2 + 64),
        Compression::new(level),
    );
    let ok = enc.write_all(b).is_ok();
    debug_assert!(ok, "writing to a Vec cannot fail");
    if last {
        enc.finish().unwrap_or_default()
    } else {
        let _ = enc.flush();
        std::mem::take(enc.get_mut())
    }
}

/// Whether `b` is a whole block of zeros.
fn is_zero_block(b: &[u8]) -> bool {
    b.len() == PAR_BLOCK && crate::buf::is_zero(b)
}

impl<W: Write> GzipParallelWriter<W> {
    /// Compress into `out` at `level`.
    pub fn new(out: W, level: u32) -> Self {
        GzipParallelWriter {
            out,
            level,
            block: Vec::with_capacity(PAR_BLOCK),
            pending: Vec::new(),
            crc: crate::buf::Crc32::new(),
            zero_block: None,
            started: false,
        }
    }

    fn header(&mut self) -> std::io::Result<()> {
        if !self.started {
            self.out
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
            self.started = true;
        }
        Ok(())
    }

    /// Compress `blocks` (none of them the final one) and write them out.
    fn flush_blocks(&mut self, blocks: Vec<Vec<u8>>) -> std::io::Result<()> {
        self.header()?;
        let level = self.level;
        // Which blocks are all zeros, tested once (memcmp speed: a sparse
        // 1 GiB disk is mostly such blocks).
        let zeros: Vec<bool> = blocks.iter().map(|b| is_zero_block(b)).collect();
        let is_zero = |i: usize| zeros[i];
        if self.zero_block.is_none() && zeros.iter().any(|&z| z) {
            self.zero_block = Some(deflate_block(&vec![0u8; PAR_BLOCK], level, false));
        }
        let zero = self.zero_block.as_deref();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(1);
        let n = blocks.len();
        let mut parts: Vec<Option<Vec<u8>>> = vec![None; n];
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.min(n.max(1)))
                .map(|t| {
                    let blocks = &blocks;
                    let is_zero = &is_zero;
                    s.spawn(move || {
                        (t..n)
                            .step_by(threads)
                            .filter(|&i| !is_zero(i))
                            .map(|i| (i, deflate_block(&blocks[i], level, false)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                if let Ok(done) = h.join() {
                    for (i, v) in done {
                        parts[i] = Some(v);
                    }
                }
            }
        });
        for (i, p) in parts.iter().enumerate() {
            match p {
                Some(v) => self.out.write_all(v)?,
                None => match zero {
                    Some(z) if is_zero(i) => self.out.write_all(z)?,
                    _ => {
                        return Err(std::io::Error::other("a compression thread failed"));
                    }
                },
            }
        }
        Ok(())
    }

    /// Write the last block and the trailer; returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let mut blocks = std::mem::take(&mut self.pending);
        let last = if self.block.is_empty() {
            blocks.pop()
        } else {
            Some(std::mem::take(&mut self.block))
        };
        if !blocks.is_empty() {
            self.flush_blocks(blocks)?;
        }
        self.header()?;
        let last = deflate_block(last.as_deref().unwrap_or(&[]), self.level, true);
        self.out.write_all(&last)?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for GzipParallelWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let take = buf.len().min(PAR_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..take]);
        self.crc.update(&buf[..take]);
        if self.block.len() == PAR_BLOCK {
            let full = std::mem::replace(&mut self.block, Vec::with_capacity(PAR_BLOCK));
            self.pending.push(full);
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            if self.pending.len() > 4 * threads {
                // keep the newest back: it may be the final block
                let keep = self.pending.pop();
                let batch = std::mem::take(&mut self.pending);
                self.flush_blocks(batch)?;
                self.pending.extend(keep);
            }
        }
        Ok(take)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_streaming_writer_gives_the_same_bytes() {
        for size in [0usize, 10, 1 << 20, (1 << 20) + 1, (13 << 20) + 5] {
            // mostly zero blocks (cheap, and the zero-block cache is used), a
            // few with data, sizes around the block edges and past a batch
            let data: Vec<u8> = (0..size)
                .map(|i| {
                    if (i >> 20) % 4 == 0 {
                        (i * 31 % 251) as u8
                    } else {
                        0
                    }
                })
                .collect();
            let mut w = GzipParallelWriter::new(Vec::new(), 1);
            for chunk in data.chunks(70_000) {
                w.write_all(chunk).unwrap();
            }
            let gz = w.finish().unwrap();
            assert!(gz == gzip_parallel(&data, 1), "size {size}");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "size {size}");
        }
    }

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
