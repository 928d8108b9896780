//! The sink of the streamable formats `tar` and `docker`: the filesystem
//! stream written as one tar archive straight to its file or to standard
//! output. Keyed runs of entries are stored in the [`SegmentCache`] once
//! written (their tar bytes, PAX records included) and replayed by later
//! builds. Nothing here decides which entries go in: that is the
//! assembler's job.

use crate::error::BuildError;
use crate::pending::PendingFile;
use crate::segment_cache::SegmentCache;
use crate::{SegmentKey, Sink};
use linuxkit_formats::Entry;
use linuxkit_formats::tar::TarWriter;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Where a streamable format goes.
pub enum StreamTarget {
    /// A file, committed on success.
    File(Box<PendingFile>),
    /// Standard output.
    Stdout,
}

/// A writer that can also record what passes through it.
struct Recorder {
    out: BufWriter<Box<dyn Write>>,
    rec: Option<Vec<u8>>,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(r) = &mut self.rec {
            r.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Streams the filesystem tar (formats `tar`, `docker`).
pub struct TarSink {
    w: TarWriter<Recorder>,
    pending: Option<Box<PendingFile>>,
    cache: Option<SegmentCache>,
    recording: Option<PathBuf>,
    replaying: bool,
}

impl TarSink {
    /// Stream to `target`, caching keyed segments in `cache`.
    pub fn new(target: StreamTarget, cache: Option<SegmentCache>) -> Result<TarSink, BuildError> {
        let (out, pending): (Box<dyn Write>, _) = match target {
            StreamTarget::Stdout => (Box::new(std::io::stdout()), None),
            StreamTarget::File(mut p) => {
                let f = p
                    .file()
                    .try_clone()
                    .map_err(|e| BuildError::io("cannot open the output file", e))?;
                (Box::new(f), Some(p))
            }
        };
        Ok(TarSink {
            w: TarWriter::new(Recorder {
                out: BufWriter::with_capacity(1 << 20, out),
                rec: None,
            }),
            pending,
            cache,
            recording: None,
            replaying: false,
        })
    }

    /// Store the segment being recorded, if any.
    fn close(&mut self) {
        let recorded = self.w.get_mut().rec.take();
        if let (Some(path), Some(bytes), Some(cache)) =
            (self.recording.take(), recorded, &self.cache)
        {
            cache.store_tar(&path, &bytes);
        }
        self.replaying = false;
    }

    /// Finish the archive; returns the committed path (None for stdout).
    pub fn finish(mut self) -> Result<Option<PathBuf>, BuildError> {
        self.close();
        let mut w = self
            .w
            .finish()
            .map_err(|e| BuildError::io("cannot write the tar output", e))?;
        w.flush()
            .map_err(|e| BuildError::io("cannot write the tar output", e))?;
        drop(w);
        self.pending.map(|p| p.commit()).transpose()
    }
}

impl Sink for TarSink {
    fn segment(&mut self, key: Option<SegmentKey<'_>>) -> Result<bool, BuildError> {
        self.close();
        let (Some(key), Some(cache)) = (key, &self.cache) else {
            return Ok(false);
        };
        let path = cache.tar_path(key);
        if let Some(bytes) = cache.load_tar(&path) {
            self.w
                .write_raw(&bytes)
                .map_err(|e| BuildError::io("cannot write the tar output", e))?;
            self.replaying = true;
            return Ok(true);
        }
        self.w.get_mut().rec = Some(Vec::new());
        self.recording = Some(path);
        Ok(false)
    }

    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if self.replaying {
            return Ok(());
        }
        self.w
            .write_entry(&e)
            .map_err(|x| BuildError::io(format!("cannot write {} to the tar output", e.path), x))
    }
}
